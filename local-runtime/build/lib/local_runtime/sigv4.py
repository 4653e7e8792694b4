"""SigV4 verification for the local AWS endpoint: what AWS checks before it looks at a request at all.

Both forms are verified: the `Authorization` header and presigned URLs (`X-Amz-*` query). The expected
signature is recomputed with botocore's signer (`botocore.auth.SigV4Auth`): canonical request from the
method, the path as sent, the query (without `X-Amz-Signature`) and exactly the headers the client
signed (with the Host it signed), the credential scope, and the signer's secret. Presigned requests
must be inside `X-Amz-Date + X-Amz-Expires`; header-signed ones within 15 minutes of the clock.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html

A refusal is rendered in the protocol of the service that was called, with that service's error code.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_runtime.iam import AwsRequest

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 15 * 60
MAX_EXPIRES_S = 7 * 24 * 3600  # presigned URLs: at most a week
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_AUTH_FIELDS = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")


@dataclass(frozen=True)
class Secret:
    """What the runtime handed a signer: its secret access key and session token."""

    secret_key: str
    session_token: str | None = None


@dataclass(frozen=True)
class Signed:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    presigned: bool
    expires: int | None
    token: str | None


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused; `kind` picks each protocol's code and status (see `error_response`)."""

    kind: str  # missing | malformed | unsupported | expired | skewed | token | signature | content-sha
    message: str
    details: dict[str, str] = field(default_factory=dict)  # extra <Error> elements in S3's answer


def _epoch(timestamp: str) -> float:
    # By hand: time.strptime costs more than the rest of the check (this runs on every call).
    if (
        len(timestamp) != 16
        or timestamp[8] != "T"
        or timestamp[15] != "Z"
        or not timestamp[:15].replace("T", "").isdigit()
    ):
        raise ValueError(timestamp)
    fields = (int(timestamp[0:4]), int(timestamp[4:6]), int(timestamp[6:8]))
    clock = (int(timestamp[9:11]), int(timestamp[11:13]), int(timestamp[13:15]))
    if not (
        1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and clock[0] < 24 and clock[1] < 60 and clock[2] < 61
    ):
        raise ValueError(timestamp)
    return float(calendar.timegm((*fields, *clock, 0, 0, 0)))


def parse(request: AwsRequest) -> Signed | Refusal | None:
    """The request's SigV4 signature fields; None when it carries no signature at all."""
    authorization = request.header("authorization")
    query = request.query
    in_query = "X-Amz-Signature" in query or "X-Amz-Algorithm" in query or "X-Amz-Credential" in query
    if authorization and in_query:
        return Refusal(
            "malformed",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
            "parameter, Signature query string parameter or the Authorization header should be specified",
        )
    if "AWSAccessKeyId" in query or authorization.startswith("AWS "):
        # SigV2 is off for buckets created after 2020-06-24, i.e. every bucket a deploy creates now
        # (https://aws.amazon.com/blogs/aws/amazon-s3-update-sigv2-deprecation-period-extended-modified/).
        return Refusal(
            "unsupported",
            f"The authorization mechanism you have provided is not supported. Please use {ALGORITHM}.",
        )
    if in_query:
        first = {name: values[0] for name, values in query.items()}
        missing = [
            name
            for name in (
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Date",
                "X-Amz-Expires",
                "X-Amz-SignedHeaders",
                "X-Amz-Signature",
            )
            if name not in first
        ]
        if missing:
            return Refusal("malformed", f"Query-string authentication requires {', '.join(missing)}")
        if first["X-Amz-Algorithm"] != ALGORITHM:
            return Refusal("malformed", f'X-Amz-Algorithm only supports "{ALGORITHM}"')
        try:
            expires = int(first["X-Amz-Expires"])
        except ValueError:
            return Refusal("malformed", "X-Amz-Expires should be a number")
        if not 0 < expires <= MAX_EXPIRES_S:
            return Refusal("malformed", "X-Amz-Expires must be less than a week (in seconds) that is 604800")
        credential, signed_headers, signature = (
            first["X-Amz-Credential"],
            first["X-Amz-SignedHeaders"],
            first["X-Amz-Signature"],
        )
        timestamp, token = first["X-Amz-Date"], first.get("X-Amz-Security-Token")
    elif authorization:
        if not authorization.startswith(ALGORITHM + " "):
            return Refusal("unsupported", f"Unsupported Authorization Type; please use {ALGORITHM}")
        fields = dict(_AUTH_FIELDS.findall(authorization))
        if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
            return Refusal(
                "malformed",
                "Authorization header requires 'Credential', 'Signature' and "
                f"'SignedHeaders' parameters. Authorization={authorization}",
            )
        credential, signed_headers, signature = (
            fields["Credential"],
            fields["SignedHeaders"],
            fields["Signature"],
        )
        timestamp = request.header("x-amz-date")
        if not timestamp and request.header("date"):
            try:
                timestamp = parsedate_to_datetime(request.header("date")).strftime(_TIMESTAMP)
            except (TypeError, ValueError):
                timestamp = ""
        expires, token = None, request.header("x-amz-security-token") or None
    else:
        return None
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        return Refusal("malformed", f"Error parsing the X-Amz-Credential parameter: {credential}")
    try:
        _epoch(timestamp)
    except ValueError:
        return Refusal(
            "malformed",
            f"X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\": {timestamp!r}",
        )
    if scope[1] != timestamp[:8]:
        return Refusal(
            "malformed",
            f'Invalid credential date "{scope[1]}". This date is not the same as '
            f'X-Amz-Date: "{timestamp[:8]}".',
        )
    return Signed(
        access_key=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=tuple(name.strip().lower() for name in signed_headers.split(";") if name.strip()),
        signature=signature,
        timestamp=timestamp,
        presigned=in_query,
        expires=expires,
        token=token,
    )


class _SignedHeaders(dict):
    """The part of botocore's HTTPHeaders its signer uses, without email.message's per-call cost."""

    def get_all(self, name: str) -> list[str]:
        return [self[name]]


class _Expected(SigV4Auth):
    """botocore's signer, fed with the request as received: exactly its signed headers, its query and
    the payload hash the service uses (S3: the x-amz-content-sha256 value; others: the body's hash)."""

    def __init__(
        self, signed: Signed, secret: str, headers: dict[str, str], query: str, payload: str
    ) -> None:
        super().__init__(Credentials(signed.access_key, secret), signed.service, signed.region)
        self._signed = signed
        self._headers = headers
        self._query = query
        self._payload = payload

    def headers_to_sign(self, request: AWSRequest) -> _SignedHeaders:
        return _SignedHeaders((name, self._headers.get(name, "")) for name in self._signed.signed_headers)

    def canonical_query_string(self, request: AWSRequest) -> str:
        return self._query

    def payload(self, request: AWSRequest) -> str:
        return self._payload

    def _normalize_url_path(self, path: str) -> str:
        return path if self._service_name == "s3" else super()._normalize_url_path(path)


def _canonical_query(raw: str, presigned: bool) -> str:
    # AWS re-encodes each name and value (RFC 3986, '-_.~' unreserved) and sorts them.
    pairs = []
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name, value = unquote(name), unquote(value)
        if presigned and name == "X-Amz-Signature":
            continue
        pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def check(
    request: AwsRequest, signed: Signed, secret: Secret | None, region: str, now: float
) -> Refusal | None:
    """None when AWS would accept the signature. `secret` None: a caller the runtime gave no credentials
    (a developer's own); everything but the signature itself (which needs the secret) is still checked."""
    if signed.region != region:
        return Refusal(
            "malformed",
            f"The authorization header is malformed; the region '{signed.region}' is "
            f"wrong; expecting '{region}'",
            {"Region": region},
        )
    signed_at = _epoch(signed.timestamp)
    if signed.presigned:
        assert signed.expires is not None
        if now > signed_at + signed.expires:
            return Refusal(
                "expired",
                "Request has expired",
                {
                    "X-Amz-Expires": str(signed.expires),
                    "Expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(signed_at + signed.expires)),
                    "ServerTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                },
            )
        if signed_at > now + MAX_SKEW_S:
            return Refusal("expired", "Request is not valid yet")
    elif abs(now - signed_at) > MAX_SKEW_S:
        return Refusal(
            "skewed",
            f"Signature expired: {signed.timestamp} is now earlier than "
            f"{time.strftime(_TIMESTAMP, time.gmtime(now - MAX_SKEW_S))} "
            f"({time.strftime(_TIMESTAMP, time.gmtime(now))} - 15 min.)"
            if signed_at < now
            else f"Signature not yet current: {signed.timestamp} is still later "
            f"than {time.strftime(_TIMESTAMP, time.gmtime(now + MAX_SKEW_S))}",
            {
                "RequestTime": signed.timestamp,
                "ServerTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                "MaxAllowedSkewMilliseconds": str(MAX_SKEW_S * 1000),
            },
        )
    if "host" not in signed.signed_headers:
        return Refusal(
            "malformed", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    content_sha = request.header("x-amz-content-sha256")
    if signed.service == "s3":
        if not signed.presigned and not content_sha:
            return Refusal("malformed", "Missing required header for this request: x-amz-content-sha256")
        if re.fullmatch(r"[0-9a-f]{64}", content_sha):
            computed = hashlib.sha256(request.body).hexdigest()
            if computed != content_sha:
                return Refusal(
                    "content-sha",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    {
                        "ClientComputedContentSHA256": content_sha,
                        "S3ComputedContentSHA256": computed,
                    },
                )
        payload = content_sha or UNSIGNED_PAYLOAD
    else:
        payload = hashlib.sha256(request.body).hexdigest()
    if secret is None:
        return None
    if (signed.token or None) != secret.session_token:
        return Refusal("token", "The security token included in the request is invalid.")
    parts = urlsplit(request.path)
    host = request.header("host")
    expected = _Expected(
        signed, secret.secret_key, request.headers, _canonical_query(parts.query, signed.presigned), payload
    )
    aws_request = AWSRequest(method=request.method, url=f"http://{host}{parts.path}")
    aws_request.context["timestamp"] = signed.timestamp
    canonical = expected.canonical_request(aws_request)
    string_to_sign = expected.string_to_sign(aws_request, canonical)
    if hmac.compare_digest(expected.signature(string_to_sign, aws_request), signed.signature):
        return None
    return Refusal(
        "signature",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        {
            "AWSAccessKeyId": signed.access_key,
            "StringToSign": string_to_sign,
            "SignatureProvided": signed.signature,
            "CanonicalRequest": canonical,
        },
    )


# (status, code) per kind: S3 (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html),
# JSON services (DynamoDB: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
# answers 400 for signature errors) and the query protocol (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html).
_S3 = {
    "missing": (403, "AccessDenied"),
    "malformed": (400, "AuthorizationHeaderMalformed"),
    "unsupported": (400, "InvalidRequest"),
    "expired": (403, "AccessDenied"),
    "skewed": (403, "RequestTimeTooSkewed"),
    "token": (403, "InvalidToken"),
    "signature": (403, "SignatureDoesNotMatch"),
    "content-sha": (400, "XAmzContentSHA256Mismatch"),
}
_JSON = {
    "missing": (400, "MissingAuthenticationTokenException"),
    "malformed": (400, "IncompleteSignatureException"),
    "unsupported": (400, "IncompleteSignatureException"),
    "expired": (400, "InvalidSignatureException"),
    "skewed": (400, "InvalidSignatureException"),
    "token": (400, "UnrecognizedClientException"),
    "signature": (400, "InvalidSignatureException"),
    "content-sha": (400, "InvalidSignatureException"),
}
_QUERY = {
    "missing": (403, "MissingAuthenticationToken"),
    "malformed": (400, "IncompleteSignature"),
    "unsupported": (400, "IncompleteSignature"),
    "expired": (400, "RequestExpired"),
    "skewed": (400, "RequestExpired"),
    "token": (403, "InvalidClientTokenId"),
    "signature": (403, "SignatureDoesNotMatch"),
    "content-sha": (403, "SignatureDoesNotMatch"),
}
# SQS's JSON protocol is query-compatible: clients see the query protocol's codes and statuses.
_QUERY_COMPATIBLE = {"sqs"}


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_response(
    refusal: Refusal, service: str, protocol: str, request: AwsRequest
) -> tuple[int, dict, bytes]:
    """(status, headers, body) of the refusal as the called service answers it."""
    request_id = f"{time.time_ns():x}"
    if protocol == "rest-xml":
        status, code = _S3[refusal.kind]
        if refusal.kind == "malformed" and request.query.get("X-Amz-Credential"):
            code = "AuthorizationQueryParametersError"
        message = "Access Denied" if refusal.kind == "missing" else refusal.message
        extra = "".join(f"<{name}>{_xml(value)}</{name}>" for name, value in refusal.details.items())
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{_xml(message)}</Message>{extra}<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        )
        return status, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body.encode()
    if protocol == "json" and service not in _QUERY_COMPATIBLE:
        status, code = _JSON[refusal.kind]
        content_type = request.header("content-type")
        headers = {
            "Content-Type": content_type
            if content_type.startswith("application/x-amz-json")
            else "application/x-amz-json-1.1",
            "x-amzn-ErrorType": code,
            "x-amzn-RequestId": request_id,
        }
        return (
            status,
            headers,
            json.dumps({"__type": f"com.amazon.coral.service#{code}", "message": refusal.message}).encode(),
        )
    status, code = _QUERY[refusal.kind]
    if protocol == "json":
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "x-amzn-ErrorType": code,
            "x-amzn-query-error": f"{code};Sender",
            "x-amzn-RequestId": request_id,
        }
        return (
            status,
            headers,
            json.dumps({"__type": f"com.amazon.coral.service#{code}", "message": refusal.message}).encode(),
        )
    body = (
        f'<?xml version="1.0"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{_xml(refusal.message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()
