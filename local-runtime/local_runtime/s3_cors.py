"""A bucket's CORS configuration applied as S3 applies it, for browsers calling S3 through the endpoint.

moto's server adds wildcard CORS headers to every response (flask-cors), so locally any page could
upload to any bucket, one without CORS rules included, and send any header: a front end worked here and
was blocked by the browser after deploy. The gateway answers S3 preflights and sets S3's CORS headers
itself, from the bucket's own rules, per S3's documentation:

- S3 uses the first rule that matches: the Origin matches one of its AllowedOrigins, the method (a
  preflight's Access-Control-Request-Method) is one of its AllowedMethods and, for a preflight, every
  header of Access-Control-Request-Headers matches one of its AllowedHeaders. An AllowedOrigin or
  AllowedHeader may hold one `*` wildcard.
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketCors.html
- A preflight to a bucket without CORS configuration, or matching no rule, is refused with 403; an
  allowed one is answered with the request's origin, the rule's methods, the requested headers, its
  expose headers and max age. https://docs.aws.amazon.com/AmazonS3/latest/API/RESTOPTIONSobject.html
- Any other request from a page gets the same headers (no Access-Control-Request-* to check) when a rule
  matches its origin and method, and none when none does: the browser then refuses the page the answer.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

Rules = list[dict[str, Any]]

NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)


def rules_of(s3: Any, bucket: str) -> Rules | None:
    """The bucket's CORS rules through an S3 client ([] without a configuration), None if no such bucket."""
    try:
        return list(s3.get_bucket_cors(Bucket=bucket)["CORSRules"])
    except s3.exceptions.NoSuchBucket:
        return None
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchCORSConfiguration":
            return []
        raise


def _wildcard_match(pattern: str, value: str) -> bool:
    if "*" not in pattern:
        return pattern == value
    prefix, suffix = pattern.split("*", 1)
    return len(value) >= len(prefix) + len(suffix) and value.startswith(prefix) and value.endswith(suffix)


def _requested_headers(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def matching_rule(
    rules: Rules, origin: str, method: str, headers: list[str] | None = None
) -> dict[str, Any] | None:
    """The first rule that allows the request, or None; `headers`: a preflight's requested headers."""
    for rule in rules:
        if not any(_wildcard_match(allowed, origin) for allowed in rule.get("AllowedOrigins", [])):
            continue
        if method.upper() not in rule.get("AllowedMethods", []):
            continue
        allowed_headers = [h.lower() for h in rule.get("AllowedHeaders", [])]
        if headers and not all(any(_wildcard_match(a, h.lower()) for a in allowed_headers) for h in headers):
            continue
        return rule
    return None


def _allow_headers(rule: dict[str, Any], origin: str, requested: list[str]) -> dict[str, str]:
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ", ".join(rule["AllowedMethods"]),
    }
    if requested:
        headers["Access-Control-Allow-Headers"] = ", ".join(requested)
    if rule.get("ExposeHeaders"):
        headers["Access-Control-Expose-Headers"] = ", ".join(rule["ExposeHeaders"])
    if rule.get("MaxAgeSeconds") is not None:
        headers["Access-Control-Max-Age"] = str(rule["MaxAgeSeconds"])
    return headers


def preflight(rules: Rules, request_headers: dict[str, str]) -> tuple[int, dict[str, str], str | None]:
    """S3's answer to an OPTIONS request: (status, CORS headers, the error message of a refusal)."""
    origin = request_headers.get("origin", "")
    method = request_headers.get("access-control-request-method", "")
    if not origin:
        return 400, {}, "Insufficient information. Origin request header needed."
    if not method:
        return 400, {}, "Invalid Access-Control-Request-Method: null"
    if not rules:
        return 403, {}, NOT_ENABLED
    requested = _requested_headers(request_headers.get("access-control-request-headers", ""))
    matched = matching_rule(rules, origin, method, requested)
    if matched is None:
        return 403, {}, NOT_ALLOWED
    return 200, _allow_headers(matched, origin, requested), None


def response_headers(rules: Rules, origin: str, method: str) -> dict[str, str]:
    """The CORS headers S3 adds to the answer of a page's (non-preflight) request."""
    matched = matching_rule(rules, origin, method)
    return _allow_headers(matched, origin, []) if matched else {}


def error_body(status: int, message: str, method: str, key: str) -> bytes:
    """S3's XML error for a refused preflight."""
    code = "AccessForbidden" if status == 403 else "BadRequest"
    resource_type = "OBJECT" if key else "BUCKET"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message><Method>{escape(method)}</Method>"
        f"<ResourceType>{resource_type}</ResourceType></Error>"
    ).encode()
