"""upload_indexer against moto: URL-encoded keys, create then remove, ordering, and loud failures."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import boto3
import pytest
from moto import mock_aws

from tests.conftest import load_function
from tests.events import LambdaContext, s3_event, s3_record

BUCKET = "orders-test-uploads"
TABLE = "orders-test-files"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        boto3.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "fileKey", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "fileKey", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield


@pytest.fixture
def handler(aws, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("FILES_TABLE_NAME", TABLE)
    return load_function("upload_indexer")


def upload(key: str, body: bytes, content_type: str) -> None:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)


def created(key: str, sequencer: str = "0055AED6DCD90281E5") -> dict:
    return s3_record("ObjectCreated:Put", key, bucket=BUCKET, sequencer=sequencer, size=1)


def removed(key: str, sequencer: str = "0055AED6DCD90281E6") -> dict:
    return s3_record("ObjectRemoved:Delete", key, bucket=BUCKET, sequencer=sequencer)


def stored() -> dict[str, dict]:
    items = boto3.resource("dynamodb").Table(TABLE).scan()["Items"]
    return {item["fileKey"]: item for item in items}


def run(handler: ModuleType, *records: dict) -> dict:
    return handler.lambda_handler(s3_event(*records), LambdaContext("upload-indexer"))


@pytest.mark.parametrize(
    "key",
    [
        "uploads/user-1/1b4e-my report final.pdf",  # spaces arrive as '+'
        "uploads/user-1/1b4e-a+b=c&d.csv",  # a literal '+' arrives as %2B
        "uploads/user-1/1b4e-résumé 東京.txt",  # unicode arrives percent-encoded UTF-8
    ],
)
def test_encoded_keys_are_decoded_before_reading_and_indexing(handler, key):
    upload(key, b"hello world", "text/plain")
    record = created(key)
    assert record["s3"]["object"]["key"] != key  # the event really carries the encoded form

    assert run(handler, record) == {"processed": 1, "outcomes": ["indexed"]}

    item = stored()[key]
    assert item["size"] == 11
    assert item["contentType"] == "text/plain"
    assert item["userId"] == "user-1"
    assert item["bucket"] == BUCKET
    assert item["uploadedAt"] == "2025-03-14T10:00:00.000Z"


def test_create_then_remove_indexes_then_forgets_the_file(handler):
    key = "uploads/user-2/9f-photo 1.png"
    upload(key, b"\x89PNG....", "image/png")

    run(handler, created(key))
    assert stored()[key]["contentType"] == "image/png"
    assert stored()[key]["size"] == 8

    boto3.client("s3").delete_object(Bucket=BUCKET, Key=key)
    assert run(handler, removed(key)) == {"processed": 1, "outcomes": ["removed"]}
    assert stored() == {}


def test_every_record_of_an_event_is_processed(handler):
    keys = [f"uploads/user-3/{n}-file {n}.txt" for n in range(3)]
    for key in keys:
        upload(key, b"x" * 3, "text/plain")

    result = run(handler, *(created(key) for key in keys))

    assert result["processed"] == 3
    assert set(stored()) == set(keys)


def test_a_redelivered_or_out_of_order_event_does_not_undo_a_newer_one(handler):
    key = "uploads/user-4/5-notes.txt"
    upload(key, b"v2", "text/plain")
    run(handler, created(key, sequencer="0055AED6DCD90281F0"))

    # An older removal (sequencer lower) arriving late must not delete the newer upload's entry.
    assert run(handler, removed(key, sequencer="0055AED6DCD90281E0"))["outcomes"] == ["stale"]
    assert run(handler, created(key, sequencer="0055AED6DCD90281F0"))["outcomes"] == ["stale"]
    assert key in stored()


# S3 sequencers of one key can differ in length; S3 orders them after right-padding the shorter with
# zeros. "…E5FF" (20 digits) is older than "…E6" (18 digits): …E5FF < …E600. Left-padding inverts that.
OLDER_LONG = "0055AED6DCD90281E5FF"
NEWER_SHORT = "0055AED6DCD90281E6"
NEWEST = "0055AED6DCD90281E7"


def test_a_stale_create_arriving_after_a_delete_does_not_replace_the_newer_entry(handler):
    # put v1 (OLDER_LONG), delete (NEWER_SHORT), put v2 (NEWEST); the events arrive newest first.
    key = "uploads/user-7/re-uploaded.txt"
    upload(key, b"v2", "text/plain")
    assert run(handler, created(key, sequencer=NEWEST))["outcomes"] == ["indexed"]
    assert run(handler, removed(key, sequencer=NEWER_SHORT))["outcomes"] == ["stale"]

    assert run(handler, created(key, sequencer=OLDER_LONG))["outcomes"] == ["stale"]
    assert stored()[key]["sequencer"] == handler.ordered(NEWEST)


def test_a_delete_older_than_the_indexed_create_does_not_remove_it(handler):
    key = "uploads/user-7/kept.txt"
    upload(key, b"still here", "text/plain")
    assert run(handler, created(key, sequencer=NEWER_SHORT))["outcomes"] == ["indexed"]

    assert run(handler, removed(key, sequencer=OLDER_LONG))["outcomes"] == ["stale"]
    assert key in stored()


def test_a_newer_delete_with_a_shorter_sequencer_removes_the_entry(handler):
    key = "uploads/user-7/removed.txt"
    upload(key, b"v1", "text/plain")
    assert run(handler, created(key, sequencer=OLDER_LONG))["outcomes"] == ["indexed"]

    assert run(handler, removed(key, sequencer=NEWER_SHORT))["outcomes"] == ["removed"]
    assert stored() == {}


def test_sequencers_equal_after_padding_are_the_same_event(handler):
    key = "uploads/user-7/redelivered.txt"
    upload(key, b"x", "text/plain")
    run(handler, created(key, sequencer=NEWER_SHORT))
    assert run(handler, created(key, sequencer=NEWER_SHORT + "00"))["outcomes"] == ["stale"]


def test_a_record_with_a_malformed_sequencer_fails(handler):
    key = "uploads/user-7/bad.txt"
    upload(key, b"x", "text/plain")
    with pytest.raises(ExceptionGroup) as raised:
        run(handler, created(key, sequencer="not-hex"))
    assert isinstance(raised.value.exceptions[0], ValueError)
    assert stored() == {}


def test_an_object_already_deleted_when_its_create_event_arrives_is_not_indexed(handler):
    assert run(handler, created("uploads/user-5/gone.txt"))["outcomes"] == ["gone"]
    assert stored() == {}


@pytest.mark.parametrize(
    "bad_record",
    [
        s3_record("ObjectRestore:Completed", "uploads/u/x.txt", bucket=BUCKET, sequencer="01"),
        s3_record(
            "ObjectCreated:Put", "uploads/u/x.txt", bucket=BUCKET, sequencer="01", event_source="aws:sqs"
        ),
    ],
    ids=["unknown-event-name", "not-an-s3-record"],
)
def test_a_record_it_cannot_handle_fails_the_invocation_after_the_others_are_indexed(handler, bad_record):
    good = "uploads/user-6/ok.txt"
    upload(good, b"ok", "text/plain")

    with pytest.raises(ExceptionGroup) as raised:
        run(handler, bad_record, created(good))

    (error,) = raised.value.exceptions
    assert isinstance(error, handler.UnsupportedRecordError)
    assert "1 of 2 S3 records failed" in str(raised.value)
    assert good in stored()  # the good record was still processed; the retry re-applies it idempotently


def test_an_event_without_records_fails(handler):
    with pytest.raises(handler.UnsupportedRecordError, match="no Records"):
        handler.lambda_handler({"detail-type": "Scheduled Event"}, LambdaContext())
