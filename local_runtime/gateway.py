"""The AWS endpoint functions and users talk to: enforces each function's IAM policy, then proxies to moto.

A function's worker signs requests with an access key id that names the function; any other key is a
user of the local runtime (boto3, AWS CLI, presigned URLs they did not get from a function) and is not
restricted. Successful S3 object writes/deletes are reported to the notification emulator.
"""

from __future__ import annotations

import http.client
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from local_runtime.http_server import LocalServer
from local_runtime.iam import (
    ALWAYS_ALLOWED,
    AwsRequest,
    Described,
    Policy,
    Recorder,
    access_denied,
    describe_request,
)

log = logging.getLogger("local_runtime.gateway")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


@dataclass
class Identity:
    function: str  # display name
    principal_arn: str
    policy: Policy


S3Hook = Callable[[Described, dict[str, str], bytes, bytes], None]


class Gateway:
    def __init__(
        self,
        moto_port: int,
        region: str,
        account: str,
        recorder: Recorder | None,
        port: int = 0,
    ) -> None:
        self.moto_port = moto_port
        self.region = region
        self.account = account
        self.recorder = recorder
        self.identities: dict[str, Identity] = {}
        self.s3_hooks: list[S3Hook] = []
        self._server = LocalServer(self.handle, port=port, name="iam-gateway")
        self.port = self._server.port
        self.url = f"http://localhost:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    # ------------------------------------------------------------------ request handling
    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body = _read_body(handler, headers)
        request = AwsRequest(handler.command, handler.path, headers, body)
        described = describe_request(request, self.region, self.account)
        identity = self.identities.get(described.access_key or "")
        if identity is not None and described.action not in ALWAYS_ALLOWED:
            for resource in described.resources:
                decision = identity.policy.decide(described.action, resource)
                allowed = decision == "Allow"
                if self.recorder:
                    self.recorder.record(identity.function, described.action, resource, allowed)
                if not allowed:
                    log.warning("AccessDenied: %s %s on %s", identity.function, described.action, resource)
                    status, out_headers, out_body = access_denied(
                        described, identity.principal_arn, resource, decision == "ExplicitDeny"
                    )
                    self._respond(handler, status, out_headers, out_body)
                    return
        status, out_headers, out_body = self._forward(request)
        self._respond(handler, status, out_headers, out_body)
        if 200 <= status < 300 and described.service == "s3" and described.s3.get("operation"):
            for hook in self.s3_hooks:
                try:
                    hook(described, {k.lower(): v for k, v in out_headers.items()}, body, out_body)
                except Exception:
                    log.exception("S3 notification hook failed")

    def _forward(self, request: AwsRequest) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.moto_port, timeout=60)
        try:
            headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
            headers["content-length"] = str(len(request.body))
            connection.request(request.method, request.path, body=request.body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            # A HEAD response has no body but announces the object's size: keep its Content-Length.
            dropped = _HOP_BY_HOP if request.method == "HEAD" else _HOP_BY_HOP | {"content-length"}
            out = {k: v for k, v in response.getheaders() if k.lower() not in dropped}
            return response.status, out, data
        finally:
            connection.close()

    @staticmethod
    def _respond(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("server", "date", "content-length"):
                handler.send_header(key, value)
        length = {k.lower(): v for k, v in headers.items()}.get("content-length")
        handler.send_header(
            "Content-Length", length if handler.command == "HEAD" and length else str(len(body))
        )
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)


def _read_body(handler: BaseHTTPRequestHandler, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(chunks)
    length = int(headers.get("content-length") or 0)
    return handler.rfile.read(length) if length else b""


def deleted_keys(request_body: bytes) -> list[str]:
    """Keys of an S3 DeleteObjects request body."""
    try:
        root = ET.fromstring(request_body)  # noqa: S314 (our own client's request)
    except ET.ParseError:
        return []
    return [el.text or "" for el in root.iter() if el.tag.endswith("Key")]
