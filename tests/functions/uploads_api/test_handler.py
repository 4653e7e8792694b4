"""uploads_api against moto: allow-list, size limit, key shape, and a real PUT to the presigned URL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from moto import mock_aws

from tests.conftest import load_function
from tests.events import LambdaContext, api_event, cognito_claims

BUCKET = "orders-test-uploads"
MAX_BYTES = 1024
ALICE_ID = "a11ce000-0000-4000-8000-000000000001"
ALICE = cognito_claims(ALICE_ID)
KEY = re.compile(
    rf"^uploads/{ALICE_ID}/[0-9a-f]{{8}}-[0-9a-f]{{4}}-4[0-9a-f]{{3}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}-(?P<name>.+)$"
)


@pytest.fixture
def s3() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


@pytest.fixture
def handler(s3, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("UPLOADS_BUCKET_NAME", BUCKET)
    monkeypatch.setenv("UPLOAD_MAX_BYTES", str(MAX_BYTES))
    monkeypatch.setenv("PRESIGN_EXPIRY_SECONDS", "300")
    return load_function("uploads_api")


def post(handler: ModuleType, body: object, caller: dict | None = ALICE) -> tuple[int, dict]:
    event = api_event("POST", "/uploads", body=body, claims=caller)
    response = handler.lambda_handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def request(**overrides: object) -> dict:
    return {
        "fileName": "report.pdf",
        "contentType": "application/pdf",
        "size": 5,
    } | overrides


def test_issues_a_presigned_put_url_that_uploads_the_file_under_the_users_prefix(handler, s3):
    status, ticket = post(handler, request(fileName="invoice.csv", contentType="text/csv", size=12))

    assert status == 201
    match = KEY.match(ticket["key"])
    assert match and match["name"] == "invoice.csv"
    assert ticket["method"] == "PUT"
    assert ticket["headers"] == {"Content-Type": "text/csv"}
    assert ticket["expiresIn"] == 300
    url = urlsplit(ticket["uploadUrl"])
    query = parse_qs(url.query)
    assert url.scheme == "https" and url.netloc.startswith(f"{BUCKET}.s3.")
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]

    put = requests.put(ticket["uploadUrl"], data=b"sku,qty\na,1\n", headers=ticket["headers"], timeout=10)

    assert put.status_code == 200
    stored = s3.get_object(Bucket=BUCKET, Key=ticket["key"])
    assert stored["Body"].read() == b"sku,qty\na,1\n"
    assert stored["ContentType"] == "text/csv"


def test_each_request_gets_its_own_key(handler):
    keys = {post(handler, request())[1]["key"] for _ in range(3)}
    assert len(keys) == 3


@pytest.mark.parametrize(
    ("file_name", "safe"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\My Report (final).TXT", "My-Report-final.txt"),
        ("Ünïcödé résumé.txt", "Unicode-resume.txt"),
        ("notes+plus&amp;.txt", "notes-plus-amp.txt"),
        (".hidden.txt", "hidden.txt"),
        ("a" * 200 + ".txt", "a" * 96 + ".txt"),
    ],
)
def test_the_key_uses_a_safe_version_of_the_file_name(handler, file_name, safe):
    status, ticket = post(handler, request(fileName=file_name, contentType="text/plain"))

    assert status == 201
    assert KEY.match(ticket["key"])["name"] == safe


def test_a_content_type_outside_the_allow_list_is_rejected(handler):
    status, body = post(handler, request(fileName="run.sh", contentType="application/x-sh"))

    assert status == 422
    assert body["error"] == "UnsupportedContentType"
    assert body["details"][0]["field"] == "body.contentType"
    assert "application/pdf" in body["message"]


def test_a_file_name_must_match_its_content_type(handler):
    status, body = post(handler, request(fileName="photo.exe", contentType="image/png"))

    assert (status, body["error"]) == (422, "ExtensionMismatch")


def test_a_file_name_with_no_usable_characters_is_rejected(handler):
    status, body = post(handler, request(fileName="???.pdf"))

    assert (status, body["error"]) == (422, "InvalidFileName")


def test_the_size_limit_is_inclusive(handler):
    assert post(handler, request(size=MAX_BYTES))[0] == 201

    status, body = post(handler, request(size=MAX_BYTES + 1))

    assert status == 413
    assert body["error"] == "FileTooLarge"
    assert str(MAX_BYTES) in body["message"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"size": 0}, "body.size"),
        ({"size": True}, "body.size"),  # not coerced to 1 byte
        ({"userId": "b0b00000-0000-4000-8000-000000000002"}, "body.userId"),  # only under your own prefix
        ({"fileName": ""}, "body.fileName"),
        ({"bucket": "elsewhere"}, "body.bucket"),
    ],
)
def test_malformed_requests_are_rejected_with_the_field_named(handler, overrides, field):
    status, body = post(handler, request(**overrides))

    assert status == 422
    assert body["error"] == "ValidationError"
    assert field in [detail["field"] for detail in body["details"]]


def test_missing_configuration_fails_at_cold_start(s3, monkeypatch):
    monkeypatch.setenv("UPLOAD_MAX_BYTES", "10")
    monkeypatch.setenv("PRESIGN_EXPIRY_SECONDS", "300")
    monkeypatch.delenv("UPLOADS_BUCKET_NAME", raising=False)

    with pytest.raises(RuntimeError, match="UPLOADS_BUCKET_NAME"):
        load_function("uploads_api")


def test_the_prefix_is_always_the_callers_own(handler):
    bob_id = "b0b00000-0000-4000-8000-000000000002"

    keys = {post(handler, request(), caller=caller)[1]["key"] for caller in (ALICE, cognito_claims(bob_id))}

    assert {key.split("/")[1] for key in keys} == {ALICE_ID, bob_id}


@pytest.mark.parametrize("sub", ["../alice", "a/b", "", "x" * 65])
def test_a_caller_id_that_could_leave_its_prefix_is_refused(handler, s3, sub):
    status, body = post(handler, request(), caller={"sub": sub} if sub else None)

    assert (status, body["error"]) == ((403, "Forbidden") if sub else (401, "Unauthorized"))
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_responses_echo_an_allowed_browser_origin(handler):
    # The stage's origins come from CORS_ALLOW_ORIGINS (tests/conftest.py: https://app.example.com).
    for origin, allowed in (("https://app.example.com", True), ("https://evil.example.com", False)):
        event = api_event("POST", "/uploads", body=request(), claims=ALICE, headers={"Origin": origin})
        headers = handler.lambda_handler(event, LambdaContext())["multiValueHeaders"]
        assert headers.get("Access-Control-Allow-Origin") == ([origin] if allowed else None)
        assert headers["Vary"] == ["Origin"]
