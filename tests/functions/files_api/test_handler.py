"""files_api against moto: the caller's files listed, fetched through a presigned GET URL, and deleted."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from moto import mock_aws

from tests.aws_resources import create_page_token_secret, create_table
from tests.conftest import load_function
from tests.events import LambdaContext, api_event, cognito_claims

BUCKET = "orders-test-uploads"
ALICE_ID = "a11ce000-0000-4000-8000-000000000001"
BOB_ID = "b0b00000-0000-4000-8000-000000000002"
ALICE = cognito_claims(ALICE_ID)
BOB = cognito_claims(BOB_ID)
ADMIN = cognito_claims("ad000000-0000-4000-8000-000000000003", groups=("admins",))

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        table = create_table("files", "fileKey", indexes={"byUser": ("userId", "uploadedAt")})
        monkeypatch.setenv("FILES_TABLE_NAME", "files")
        monkeypatch.setenv("FILES_BY_USER_INDEX", "byUser")
        monkeypatch.setenv("UPLOADS_BUCKET_NAME", BUCKET)
        monkeypatch.setenv("DOWNLOAD_EXPIRY_SECONDS", "300")
        create_page_token_secret(monkeypatch)
        yield {"s3": s3, "table": table, "handler": load_function("files_api")}


def upload(
    aws: Any, user_id: str, name: str = "report.csv", *, minute: int = 0, body: bytes = b"a,b\n"
) -> str:
    """An upload as uploads_api names it and upload_indexer records it; returns its file id."""
    file_id = f"{uuid.uuid4()}-{name}"
    key = f"uploads/{user_id}/{file_id}"
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="text/csv")
    aws["table"].put_item(
        Item={
            "fileKey": key,
            "bucket": BUCKET,
            "size": len(body),
            "contentType": "text/csv",
            "etag": "0123",
            "uploadedAt": f"2026-11-23T08:{minute:02d}:00.000Z",
            "sequencer": "0A".ljust(64, "0"),
            "userId": user_id,
        }
    )
    return file_id


def call(aws: Any, method: str, path: str, caller: dict | None = ALICE, **kwargs: Any) -> tuple[int, Any]:
    response = aws["handler"].lambda_handler(
        api_event(method, path, claims=caller, **kwargs), LambdaContext()
    )
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def on_file(aws: Any, method: str, file_id: str, caller: dict | None = ALICE) -> tuple[int, Any]:
    return call(
        aws, method, f"/files/{file_id}", caller, resource="/files/{fileId}", path_params={"fileId": file_id}
    )


def list_files(aws: Any, caller: dict = ALICE, **query: Any) -> tuple[int, Any]:
    return call(aws, "GET", "/files", caller, query={k: str(v) for k, v in query.items()} or None)


def assert_error(status: int, body: Any, expected_status: int, code: str, fields: list[str] | None = None):
    assert status == expected_status, body
    assert set(body) == {"error", "message", "details", "requestId"} and body["error"] == code
    if fields is not None:
        assert [detail["field"] for detail in body["details"]] == fields


# --- GET /files ------------------------------------------------------------------------------------


def test_list_returns_the_callers_files_newest_first(aws):
    older = upload(aws, ALICE_ID, "old.csv", minute=1)
    newer = upload(aws, ALICE_ID, "new.csv", minute=2)
    upload(aws, BOB_ID, minute=3)

    status, body = list_files(aws)

    assert status == 200
    assert [item["fileId"] for item in body["items"]] == [newer, older]
    assert body["items"][0] == {
        "fileId": newer,
        "key": f"uploads/{ALICE_ID}/{newer}",
        "fileName": "new.csv",
        "contentType": "text/csv",
        "size": 4,
        "uploadedAt": "2026-11-23T08:02:00.000Z",
    }
    assert body["nextToken"] is None


def test_pages_walk_every_file_once_and_tokens_stay_with_their_caller(aws):
    ids = [upload(aws, ALICE_ID, minute=m) for m in range(5)]
    upload(aws, BOB_ID)
    seen, token = [], None
    for _ in range(10):
        status, body = list_files(aws, limit=2, **({"nextToken": token} if token else {}))
        assert status == 200, body
        seen += [item["fileId"] for item in body["items"]]
        token = body["nextToken"]
        if token is None:
            break
        # Alice's token is no use to Bob (nor to an admin).
        for other in (BOB, ADMIN):
            assert_error(
                *list_files(aws, other, nextToken=token), 400, "InvalidNextToken", ["query.nextToken"]
            )

    assert seen == ids[::-1]


def test_a_tampered_token_is_400(aws):
    for minute in range(3):
        upload(aws, ALICE_ID, minute=minute)
    token = list_files(aws, limit=1)[1]["nextToken"]
    payload, mac = token.split(".")

    assert_error(
        *list_files(aws, nextToken=f"{payload}x.{mac}"), 400, "InvalidNextToken", ["query.nextToken"]
    )


# --- GET /files/{fileId} -------------------------------------------------------------------------


def test_get_returns_the_file_with_a_presigned_url_that_downloads_it(aws):
    file_id = upload(aws, ALICE_ID, "sales.csv", body=b"sku,qty\na,1\n")

    status, body = on_file(aws, "GET", file_id)

    assert status == 200
    assert body["fileId"] == file_id and body["fileName"] == "sales.csv" and body["expiresIn"] == 300
    query = parse_qs(urlsplit(body["downloadUrl"]).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["response-content-disposition"] == ['attachment; filename="sales.csv"']
    download = requests.get(body["downloadUrl"], timeout=10)
    assert download.status_code == 200 and download.content == b"sku,qty\na,1\n"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_someone_elses_file_is_not_found_exactly_like_a_missing_one(aws, method):
    bobs = upload(aws, BOB_ID)
    missing = f"{uuid.uuid4()}-report.csv"

    status, error = on_file(aws, method, bobs, caller=ALICE)
    missing_status, missing_error = on_file(aws, method, missing, caller=ALICE)
    admin_status, _ = on_file(aws, method, bobs, caller=ADMIN)

    assert (status, missing_status, admin_status) == (404, 404, 404)
    assert error["message"] == missing_error["message"].replace(missing, bobs)
    assert aws["s3"].get_object(Bucket=BUCKET, Key=f"uploads/{BOB_ID}/{bobs}")["Body"].read() == b"a,b\n"


# Fixed ids (no uuid4() here): pytest-xdist workers must collect the same test names.
MALFORMED_IDS = ["report.csv", "..", "x" * 200, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9-a b.csv"]


@pytest.mark.parametrize("file_id", MALFORMED_IDS)
def test_a_malformed_file_id_is_422(aws, file_id):
    assert_error(*on_file(aws, "GET", file_id), 422, "ValidationError", ["path.fileId"])


# --- DELETE /files/{fileId} ----------------------------------------------------------------------


def test_delete_removes_the_object_and_leaves_the_record_to_the_notification(aws):
    file_id = upload(aws, ALICE_ID)
    key = f"uploads/{ALICE_ID}/{file_id}"

    status, body = on_file(aws, "DELETE", file_id)

    assert (status, body) == (204, None)
    with pytest.raises(aws["s3"].exceptions.ClientError, match="404"):
        aws["s3"].head_object(Bucket=BUCKET, Key=key)
    # upload_indexer drops the record when S3's ObjectRemoved notification arrives (e2e: test_flows.py).
    assert aws["table"].get_item(Key={"fileKey": key}).get("Item")


def test_a_request_without_a_verified_caller_is_401(aws):
    file_id = upload(aws, ALICE_ID)

    assert_error(*on_file(aws, "DELETE", file_id, caller=None), 401, "Unauthorized")
    assert_error(*list_files(aws, caller=None), 401, "Unauthorized")  # type: ignore[arg-type]
    assert aws["s3"].get_object(Bucket=BUCKET, Key=f"uploads/{ALICE_ID}/{file_id}")
