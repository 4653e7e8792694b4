"""The AWS endpoint functions and users talk to: verifies SigV4, enforces each function's IAM policy,
then proxies to moto.

A function's worker signs requests with an access key id that names the function and a secret the
runtime gave it: its signatures are verified in full (sigv4.py). Any other key is a user of the local
runtime (boto3, AWS CLI, presigned URLs they did not get from a function): their requests must be signed
and in time, but their secret is unknown here, so the signature itself is not checked and IAM does not
restrict them. Unsigned requests are refused. Successful S3 object writes/deletes are reported to the
notification emulator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import logging
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from local_runtime import priority, s3_cors, sigv4
from local_runtime.dynamodb_keys import PartitionKeys
from local_runtime.http_server import LocalServer
from local_runtime.iam import (
    ALWAYS_ALLOWED,
    AwsRequest,
    Described,
    Policy,
    Recorder,
    access_denied,
    describe_request,
    global_context,
)
from local_runtime.kms import KMS_ERROR_CODES, EncryptionKeys
from local_runtime.resource_policies import Caller, ResourcePolicies
from local_runtime.tags import Tags

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
    # The credentials the runtime hands the function's workers (fresh per runtime).
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    session_token: str = field(default_factory=lambda: secrets.token_urlsafe(48))


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
        # (function ARN, request headers, payload) -> the Invoke API's answer (the runtime's workers)
        self.invoke_hook: Callable[[str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]] | None = (
            None
        )
        # bucket name -> its CORS rules ([] without any), None if there is no such bucket (the runtime's
        # S3 client); unset, moto's own CORS headers pass through.
        self.bucket_cors: Callable[[str], s3_cors.Rules | None] | None = None
        self.resource_policies = ResourcePolicies({})  # the running app's queue/bucket/topic policies
        self.keys = EncryptionKeys({}, {}, region, account)  # its customer managed KMS keys
        self.partition_keys = PartitionKeys({})  # its tables' partition keys (dynamodb:LeadingKeys)
        self.tags = Tags({})  # its roles' and resources' tags (aws:PrincipalTag, aws:ResourceTag)
        self.clock: Callable[[], float] = time.time  # tests move it to expire presigned URLs
        self.background_nice = 0  # for calls signed with a background key (priority.py)
        self._server = LocalServer(self.handle, port=port, name="iam-gateway")
        self.port = self._server.port
        # One kept-alive connection to moto per gateway thread (a thread serves one client connection):
        # a new connection per call cost moto a thread and a socket each time.
        self._moto = threading.local()
        self.url = f"http://localhost:{self.port}"

    def start(self) -> None:
        self._server.start()

    def role_session(self, service: str, role_arn: str, policy: Policy, session: str) -> tuple[str, Identity]:
        """The access key and identity an AWS service (API Gateway, Step Functions) calls with when it
        assumes `role_arn`; a redeploy's policy applies to its next call, its credentials stay."""
        key = "ASIA" + hashlib.sha256(f"{service}/{role_arn}".encode()).hexdigest().upper()[:16]
        identity = self.identities.get(key)
        if identity is None:
            name = role_arn.rsplit("/", 1)[-1]
            principal = f"arn:aws:sts::{self.account}:assumed-role/{name}/{session}"
            identity = self.identities[key] = Identity(f"{service} ({name})", principal, policy)
        identity.policy = policy
        return key, identity

    def stop(self) -> None:
        self._server.stop()

    # ------------------------------------------------------------------ request handling
    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body = _read_body(handler, headers)
        request = AwsRequest(handler.command, handler.path, headers, body)
        described = describe_request(request, self.region, self.account)
        identity = self.identities.get(described.access_key or "")
        if identity is not None and priority.is_background_key(described.access_key or ""):
            # A background worker's connection: this thread serves only it (and marks its moto calls).
            priority.enter_background(self.background_nice)
        cors_rules = self._page_to_bucket(described, headers)
        if cors_rules is not None and handler.command == "OPTIONS":
            self._answer_preflight(handler, described, headers, cors_rules)
            return
        cors = None
        if cors_rules is not None:
            cors = s3_cors.response_headers(cors_rules, headers["origin"], handler.command)

        def respond(status: int, out_headers: dict[str, str], out_body: bytes) -> None:
            self._respond(handler, status, out_headers, out_body, cors)

        # A CORS preflight carries no credentials, in AWS too (S3 answers it from the bucket's CORS rules).
        if handler.command != "OPTIONS" and not self._authenticated(respond, request, described, identity):
            return
        if identity is not None and described.action not in ALWAYS_ALLOWED:
            for resource in described.resources:
                context: dict[str, Any] = global_context(identity.principal_arn, self.account, self.region)
                context.update(described.context)
                context.update(self.tags.condition_keys(context["aws:PrincipalArn"], resource))
                if described.service == "dynamodb":
                    operation = described.action.split(":", 1)[1]
                    context.update(
                        self.partition_keys.condition_keys(operation, described.json_body, resource)
                    )
                decision = identity.policy.decide(described.action, resource, context)
                # The queue's, bucket's or topic's own policy: its Deny wins, its Allow of this role suffices.
                role = context["aws:PrincipalArn"]
                caller = Caller(self.account, role_arn=role, session_arn=identity.principal_arn)
                on_resource = self.resource_policies.decide(caller, described.action, resource, context)
                if on_resource == "ExplicitDeny" or (on_resource == "Allow" and decision == "ImplicitDeny"):
                    decision = "Allow" if on_resource == "Allow" else "ExplicitDeny"
                allowed = decision == "Allow"
                if self.recorder:
                    self.recorder.record(identity.function, described.action, resource, allowed)
                if not allowed:
                    log.warning("AccessDenied: %s %s on %s", identity.function, described.action, resource)
                    status, out_headers, out_body = access_denied(
                        described, identity.principal_arn, resource, decision == "ExplicitDeny"
                    )
                    respond(status, out_headers, out_body)
                    return
                refused = self._key_refusal(identity, caller, described, resource, context)
                if refused is not None:
                    respond(*refused)
                    return
        if described.action == "lambda:InvokeFunction" and self.invoke_hook is not None:
            # Lambda is not moto's here: the function runs in the runtime's own workers.
            status, out_headers, out_body = self.invoke_hook(described.resources[0], request.headers, body)
            respond(status, out_headers, out_body)
            return
        status, out_headers, out_body = self._forward(request)
        if identity is not None and status == 404 and _missing_key(described, request.method, out_body):
            status, out_headers, out_body = self._missing_key_answer(
                identity, described, status, out_headers, out_body
            )
        respond(status, out_headers, out_body)
        if 200 <= status < 300 and described.service == "s3" and described.s3.get("operation"):
            for hook in self.s3_hooks:
                try:
                    hook(described, {k.lower(): v for k, v in out_headers.items()}, body, out_body)
                except Exception:
                    log.exception("S3 notification hook failed")

    def _authenticated(
        self,
        respond: Callable[[int, dict[str, str], bytes], None],
        request: AwsRequest,
        described: Described,
        identity: Identity | None,
    ) -> bool:
        """Verify the request's signature as AWS does; answer the refusal and return False if it fails."""
        signed = sigv4.parse(request)
        if signed is None:
            refusal: sigv4.Refusal | None = sigv4.Refusal(
                "missing", "Request is missing Authentication Token"
            )
        elif isinstance(signed, sigv4.Refusal):
            refusal = signed
        else:
            secret = sigv4.Secret(identity.secret_key, identity.session_token) if identity else None
            refusal = sigv4.check(request, signed, secret, self.region, self.clock())
        if refusal is None:
            return True
        caller = identity.function if identity else (described.access_key or "anonymous")
        log.warning("%s: %s %s refused: %s", caller, request.method, described.action, refusal.message)
        if self.recorder:
            for resource in described.resources:
                self.recorder.record(
                    caller, described.action, resource, False, via=f"signature:{refusal.kind}"
                )
        respond(*sigv4.error_response(refusal, described.service, described.protocol, request))
        return False

    def _key_refusal(
        self, identity: Identity, caller: Caller, described: Described, resource: str, context: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes] | None:
        """The answer when the resource's customer managed KMS key refuses the caller (kms.py)."""
        use = self.keys.use(described.action, resource)
        if use is None:
            return None
        for kms_action in use.actions:
            decision = self.keys.decide(caller, identity.policy, kms_action, use, context)
            if self.recorder:
                self.recorder.record(
                    identity.function, kms_action, use.key_arn, decision == "Allow", via="kms"
                )
            if decision != "Allow":
                log.warning(
                    "AccessDenied: %s %s on %s (for %s on %s)",
                    identity.function,
                    kms_action,
                    use.key_arn,
                    described.action,
                    resource,
                )
                return access_denied(
                    described,
                    identity.principal_arn,
                    use.key_arn,
                    decision == "ExplicitDeny",
                    action=kms_action,
                    code=KMS_ERROR_CODES.get(described.service),
                )
        return None

    def _missing_key_answer(
        self, identity: Identity, described: Described, status: int, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """S3 tells a missing key (404) only to a caller allowed to list it: s3:ListBucket on the bucket,
        evaluated with the key as s3:prefix; anyone else gets 403 AccessDenied.
        https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html (Permissions)"""
        bucket_arn = f"arn:aws:s3:::{described.s3['bucket']}"
        decision = identity.policy.decide("s3:ListBucket", bucket_arn, {"s3:prefix": described.s3["key"]})
        if self.recorder:
            self.recorder.record(
                identity.function, "s3:ListBucket", bucket_arn, decision == "Allow", via="missing-key"
            )
        if decision == "Allow":
            return status, headers, body
        listing = dataclasses.replace(described, action="s3:ListBucket")
        return access_denied(listing, identity.principal_arn, bucket_arn, decision == "ExplicitDeny")

    def _forward(self, request: AwsRequest) -> tuple[int, dict[str, str], bytes]:
        connection = getattr(self._moto, "connection", None)
        if connection is None:
            connection = self._moto.connection = http.client.HTTPConnection(
                "127.0.0.1", self.moto_port, timeout=60
            )
        try:
            headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
            headers["content-length"] = str(len(request.body))
            nice = priority.background_nice()
            if nice:
                headers[priority.BACKGROUND_HEADER] = str(nice)
            connection.request(request.method, request.path, body=request.body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            self._moto.connection = None
            raise
        if response.will_close:
            connection.close()
            self._moto.connection = None
        # A HEAD response has no body but announces the object's size: keep its Content-Length.
        dropped = _HOP_BY_HOP if request.method == "HEAD" else _HOP_BY_HOP | {"content-length"}
        out = {k: v for k, v in response.getheaders() if k.lower() not in dropped}
        return response.status, out, data

    def _page_to_bucket(self, described: Described, headers: dict[str, str]) -> s3_cors.Rules | None:
        """The CORS rules of the bucket a page's request (it has an Origin) goes to; None for any other."""
        bucket = described.s3.get("bucket") if described.service == "s3" else None
        if not bucket or "origin" not in headers or self.bucket_cors is None:
            return None
        return self.bucket_cors(bucket)  # None: no such bucket, moto answers as for any request

    def _answer_preflight(
        self,
        handler: BaseHTTPRequestHandler,
        described: Described,
        headers: dict[str, str],
        rules: s3_cors.Rules,
    ) -> None:
        status, cors, refusal = s3_cors.preflight(rules, headers)
        if refusal is not None:
            method = headers.get("access-control-request-method", "")
            log.warning("S3 CORS preflight refused (%s): %s", headers.get("origin"), refusal)
            body = s3_cors.error_body(status, refusal, method, described.s3.get("key", ""))
            self._respond(handler, status, {"Content-Type": "application/xml"}, body, cors)
        else:
            self._respond(handler, status, {}, b"", cors)

    @staticmethod
    def _respond(
        handler: BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        body: bytes,
        cors: dict[str, str] | None = None,
    ) -> None:
        """`cors`: S3's CORS headers for a page's request to a bucket, in place of any moto added."""
        handler.send_response(status)
        for key, value in headers.items():
            if key.lower() in ("server", "date", "content-length"):
                continue
            if cors is not None and key.lower().startswith("access-control-"):
                continue
            handler.send_header(key, value)
        for key, value in (cors or {}).items():
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


def _missing_key(described: Described, method: str, response_body: bytes) -> bool:
    """A GET/HEAD of an object that does not exist (HEAD answers have no body to tell NoSuchKey)."""
    if described.service != "s3" or described.action != "s3:GetObject" or not described.s3.get("key"):
        return False
    return method == "HEAD" or b"<Code>NoSuchKey</Code>" in response_body


def deleted_keys(request_body: bytes) -> list[str]:
    """Keys of an S3 DeleteObjects request body."""
    try:
        root = ET.fromstring(request_body)  # noqa: S314 (our own client's request)
    except ET.ParseError:
        return []
    return [el.text or "" for el in root.iter() if el.tag.endswith("Key")]
