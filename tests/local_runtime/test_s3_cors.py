"""S3's CORS at the AWS endpoint: a page's requests to a bucket are answered from the bucket's own CORS
rules as S3 evaluates them (local_runtime/s3_cors.py), not with moto's wildcard headers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from local_runtime.runtime import Runtime
from tests.helpers import aws_client

APP = "https://app.example.com"
RULES = [
    {"AllowedOrigins": ["https://admin.example"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-amz-*"]},
    {
        "AllowedOrigins": ["https://*.example.com"],
        "AllowedMethods": ["PUT", "GET"],
        "AllowedHeaders": ["Content-Type"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 10,
    },
]


@pytest.fixture
def buckets(sample_runtime: Runtime) -> dict[str, str]:
    """A bucket with RULES and one without any CORS configuration, each holding `doc.txt`."""
    s3 = sample_runtime.client("s3")
    names = {"cors": f"cors-{uuid.uuid4().hex[:8]}", "plain": f"plain-{uuid.uuid4().hex[:8]}"}
    for name in names.values():
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="doc.txt", Body=b"hello")
    s3.put_bucket_cors(Bucket=names["cors"], CORSConfiguration={"CORSRules": RULES})
    return names


def preflight(
    runtime: Runtime, bucket: str, origin: str, method: str, headers: str = ""
) -> requests.Response:
    assert runtime.gateway is not None
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    return requests.options(f"{runtime.gateway.url}/{bucket}/doc.txt", headers=request_headers, timeout=10)


def cors_headers(response: requests.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def test_the_first_rule_matching_origin_method_and_every_requested_header_answers(
    sample_runtime: Runtime, buckets: dict[str, str]
) -> None:
    allowed = preflight(sample_runtime, buckets["cors"], APP, "PUT", "content-type")  # any case
    assert allowed.status_code == 200, allowed.text
    assert cors_headers(allowed) == {
        "Access-Control-Allow-Origin": APP,  # the request's origin, not the rule's pattern
        "Access-Control-Allow-Methods": "PUT, GET",
        "Access-Control-Allow-Headers": "content-type",
        "Access-Control-Expose-Headers": "ETag",
        "Access-Control-Max-Age": "10",
    }
    first = preflight(sample_runtime, buckets["cors"], "https://admin.example", "GET", "x-amz-meta-owner")
    assert first.status_code == 200, first.text
    assert cors_headers(first) == {
        "Access-Control-Allow-Origin": "https://admin.example",
        "Access-Control-Allow-Methods": "GET",
        "Access-Control-Allow-Headers": "x-amz-meta-owner",
    }


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        (APP, "PUT", "content-type, x-amz-meta-owner"),  # one header no rule allows
        (APP, "DELETE", ""),  # a method no rule allows
        ("https://admin.example", "PUT", ""),  # its rule does not allow PUT; the other not its origin
        ("https://example.com", "GET", ""),  # `*.example.com` needs a subdomain
        ("http://app.example.com", "GET", ""),  # another scheme is another origin
    ],
)
def test_a_preflight_no_rule_allows_is_refused_with_403(
    sample_runtime: Runtime, buckets: dict[str, str], origin: str, method: str, headers: str
) -> None:
    refused = preflight(sample_runtime, buckets["cors"], origin, method, headers)
    assert refused.status_code == 403
    assert "<Code>AccessForbidden</Code>" in refused.text and "CORS request is not allowed" in refused.text
    assert cors_headers(refused) == {}


def test_a_bucket_without_cors_refuses_every_preflight_and_adds_no_cors_headers(
    sample_runtime: Runtime, buckets: dict[str, str]
) -> None:
    refused = preflight(sample_runtime, buckets["plain"], APP, "GET")
    assert refused.status_code == 403
    assert "CORS is not enabled for this bucket" in refused.text
    assert cors_headers(refused) == {}
    read = _get_from_page(sample_runtime, buckets["plain"], APP)
    assert read.status_code == 200 and read.content == b"hello"
    assert cors_headers(read) == {}  # the browser would not let the page read it


def test_a_page_s_request_gets_the_headers_of_the_rule_matching_its_origin_and_method(
    sample_runtime: Runtime, buckets: dict[str, str]
) -> None:
    read = _get_from_page(sample_runtime, buckets["cors"], APP)
    assert read.status_code == 200 and read.content == b"hello"
    assert read.headers["Access-Control-Allow-Origin"] == APP
    assert read.headers["Access-Control-Expose-Headers"] == "ETag"
    other = _get_from_page(sample_runtime, buckets["cors"], "https://evil.example")
    assert other.status_code == 200  # S3 serves it; only the browser withholds it from the page
    assert cors_headers(other) == {}


def test_the_sample_app_s_wildcard_rule_answers_any_origin_for_put_only(sample_runtime: Runtime) -> None:
    bucket = "test-data-bucket"  # AllowedOrigins ["*"], AllowedMethods ["PUT"] (sample_app.py)
    put = preflight(sample_runtime, bucket, "http://localhost:5173", "PUT")
    assert put.status_code == 200 and put.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert preflight(sample_runtime, bucket, "http://localhost:5173", "GET").status_code == 403


def _get_from_page(runtime: Runtime, bucket: str, origin: str) -> requests.Response:
    """GET doc.txt by a presigned URL with the page's Origin, as a browser sends it."""
    url: Any = aws_client(runtime, "s3", signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "doc.txt"}
    )
    return requests.get(url, headers={"Origin": origin}, timeout=10)
