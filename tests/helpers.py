"""Small builders and waits the runtime's tests share: a function spec for a worker pool, a one-stack cloud
assembly from a hand-written template, and polling for what happens asynchronously."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from local_runtime.runtime import Options, Runtime
from local_runtime.workers import FunctionSpec

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout_s: float = 30.0, what: str = "condition") -> T:
    """Poll until `probe` returns something truthy (event sources are asynchronous, as in AWS)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def function_spec(code_dir: Path, **overrides: Any) -> FunctionSpec:
    """A function `fn` with handler.handler in `code_dir`; keyword arguments override any field."""
    fields: dict[str, Any] = {
        "logical_id": "Fn",
        "stack": "Test",
        "name": "fn",
        "arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "construct_names": ["Fn"],
        "handler": "handler.handler",
        "code_dir": code_dir,
        "layer_dirs": [],
        "skipped_layers": [],
        "environment": {},
        "timeout_s": 30,
        "memory_mb": 128,
        "role_arn": "",
    }
    return FunctionSpec(**{**fields, **overrides})


def write_stack_assembly(
    out: Path, stack: str, template: dict[str, Any], assets: dict[str, str] | None = None
) -> Path:
    """A cdk.out-like folder with one stack and its code assets ({"asset.x": handler.py source})."""
    out.mkdir(parents=True, exist_ok=True)
    for asset, code in (assets or {}).items():
        (out / asset).mkdir(exist_ok=True)
        (out / asset / "handler.py").write_text(code)
    (out / f"{stack}.template.json").write_text(json.dumps(template))
    artifact = {"type": "aws:cloudformation:stack", "properties": {"templateFile": f"{stack}.template.json"}}
    (out / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": {stack: artifact}}))
    return out


@contextmanager
def running(assembly: Path, state_dir: Path, **options: Any) -> Iterator[Runtime]:
    """The local runtime on an assembly, without a clock; its terminal lines in `runtime.output`."""
    lines: list[str] = []
    runtime = Runtime(
        Options(assembly_dir=assembly, state_dir=state_dir, clock=False, echo=lines.append, **options)
    )
    runtime.output = lines  # type: ignore[attr-defined]
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.stop()


@contextmanager
def running_stack(
    factory: Any, stack: str, template: dict[str, Any], assets: dict[str, str] | None = None, **options: Any
) -> Iterator[Runtime]:
    """`running` on a one-stack assembly of `template` and its code assets (write_stack_assembly), each in a
    fresh folder of `factory` (pytest's tmp_path_factory)."""
    out = write_stack_assembly(factory.mktemp(f"{stack}-cdk-out"), stack, template, assets)
    with running(out, factory.mktemp(f"{stack}-state"), **options) as runtime:
        yield runtime


def api_permission(function: str, source: str, api: str = "Api") -> dict[str, Any]:
    """The AWS::Lambda::Permission CDK adds for an API's integration or authorizer (`source` after the API
    id, e.g. "*/*/*" or "authorizers/*")."""
    arn = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + api + "}/" + source
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function, "Arn"]},
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {"Fn::Sub": arn},
        },
    }


def python_function(asset: str, role: str = "arn:aws:iam::1:role/r", **properties: Any) -> dict[str, Any]:
    """An AWS::Lambda::Function running `asset`'s handler.handler; `role` is a role ARN or the logical id
    of a role in the template."""
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Handler": "handler.handler",
            "Runtime": "python3.14",
            "Role": role if role.startswith("arn:") else {"Fn::GetAtt": [role, "Arn"]},
            **properties,
        },
        "Metadata": {"aws:asset:path": asset},
    }


def policy_role(*statements: dict[str, Any]) -> dict[str, Any]:
    """An AWS::IAM::Role with `statements` as its inline policy."""
    policies = [{"PolicyName": "p", "PolicyDocument": {"Statement": list(statements)}}] if statements else []
    return {"Type": "AWS::IAM::Role", "Properties": {"Policies": policies}}


def aws_client(runtime: Runtime, service: str, **config: Any) -> Any:
    """A standard boto3 client against the runtime's AWS endpoint, as a developer (not a function) uses
    it: signed with credentials the runtime did not issue, so IAM does not restrict it. `config`:
    botocore Config settings (e.g. inject_host_prefix=False for StartSyncExecution)."""
    assert runtime.gateway is not None
    return boto3.client(
        service,
        endpoint_url=runtime.gateway.url,
        region_name=runtime.options.region,
        aws_access_key_id="developer",
        aws_secret_access_key="developer",
        config=Config(**config) if config else None,
    )


def put_expecting_continue(
    port: int, path: str, headers: dict[str, str], body: bytes
) -> tuple[bytes, int, bytes]:
    """A PUT that sends its body only after the server's interim `100 Continue`, as botocore does for S3
    uploads: returns that interim status line, then the final status and body. A server that held its
    interim answer back (in a buffer) would leave this waiting until the socket's timeout fails it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        head = [f"PUT {path} HTTP/1.1", f"Host: localhost:{port}", f"Content-Length: {len(body)}"]
        head += ["Expect: 100-continue", *(f"{k}: {v}" for k, v in headers.items())]
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            interim += connection.recv(1)
        connection.sendall(body)
        final = http.client.HTTPResponse(connection)
        final.begin()
        return interim.split(b"\r\n", 1)[0], final.status, final.read()
