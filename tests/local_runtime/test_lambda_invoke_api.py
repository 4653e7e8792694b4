"""A function invoking another with the SDK (`lambda.invoke`): authorized by its role's
lambda:InvokeFunction, run by the runtime's workers, answered as Lambda's Invoke API answers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.runtime import Runtime
from tests.helpers import eventually, policy_role, python_function, running_stack

CALLER = """
import base64
import json
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    try:
        answer = boto3.client("lambda").invoke(
            FunctionName=event["target"],
            InvocationType=event.get("type", "RequestResponse"),
            LogType=event.get("log", "None"),
            Payload=json.dumps(event.get("payload", {})),
        )
    except ClientError as error:
        return {"error": error.response["Error"]["Code"]}
    body = answer["Payload"].read()
    return {
        "status": answer["StatusCode"],
        "payload": json.loads(body) if body else None,
        "functionError": answer.get("FunctionError"),
        "log": answer.get("LogResult"),
    }
"""
TARGET = """
def handler(event, context):
    print("target got", event)
    if event.get("fail"):
        raise RuntimeError("target failed")
    return {"echo": event, "arn": context.invoked_function_arn}
"""
TEMPLATE = {
    "Resources": {
        "CallerRole": policy_role(
            {
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": {"Fn::GetAtt": ["Target", "Arn"]},
            },
            {
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": {"Fn::Sub": "arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:missing"},
            },
        ),
        "Caller": python_function("asset.caller", "CallerRole", Timeout=15),
        "Target": python_function("asset.target", FunctionName="target"),
        "Other": python_function("asset.target", FunctionName="other"),
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(
        tmp_path_factory, "Invoke", TEMPLATE, {"asset.caller": CALLER, "asset.target": TARGET}
    ) as started:
        yield started


def _call(runtime: Runtime, **event: Any) -> dict[str, Any]:
    caller = next(s for s in runtime.specs if s.logical_id == "Caller")
    invocation = runtime.invoke(caller.arn, event)
    assert invocation.ok, invocation.error
    return invocation.result


def test_request_response_with_result_error_and_log_tail(runtime: Runtime) -> None:
    answer = _call(runtime, target="target", payload={"n": 1}, log="Tail")
    assert answer["status"] == 200 and answer["functionError"] is None
    assert answer["payload"] == {
        "echo": {"n": 1},
        "arn": "arn:aws:lambda:us-east-1:123456789012:function:target",
    }
    assert "target got {'n': 1}" in base64.b64decode(answer["log"]).decode()
    failed = _call(runtime, target="target", payload={"fail": True})
    assert failed["functionError"] == "Unhandled"
    assert (
        failed["payload"]["errorType"] == "RuntimeError"
        and failed["payload"]["errorMessage"] == "target failed"
    )


def test_an_event_invocation_runs_asynchronously(runtime: Runtime) -> None:
    assert _call(runtime, target="target", type="Event", payload={"async": "yes"})["status"] == 202
    log = runtime.options.state_dir / "logs" / "Target.log"
    eventually(lambda: log.exists() and "'async': 'yes'" in log.read_text(), what="the async invocation")
    assert _call(runtime, target="target", type="DryRun")["status"] == 204
    # Lambda's payload limit for an asynchronous invocation is 1 MB (6 MB synchronous).
    too_large = {"blob": "x" * (1024 * 1024)}
    assert _call(runtime, target="target", type="Event", payload=too_large) == {
        "error": "RequestEntityTooLargeException"
    }
    assert _call(runtime, target="target", payload=too_large)["status"] == 200


def test_the_callers_role_decides_and_a_missing_function_is_not_found(runtime: Runtime) -> None:
    assert _call(runtime, target="other") == {"error": "AccessDeniedException"}
    assert _call(runtime, target="missing") == {"error": "ResourceNotFoundException"}
