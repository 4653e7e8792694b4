"""Upload indexer: S3 ObjectCreated/ObjectRemoved notifications for uploads/ → FilesTable.

Every record is processed; if any record cannot be handled, the invocation raises afterwards, so
Lambda retries the event and finally sends it to the function's dead-letter queue (writes are
idempotent, so retries are safe).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from files import FilesStore, ordered
from service_common.aws import client
from service_common.env import require_env
from service_common.tracing import TRACED_MODULES

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
files = FilesStore(require_env("FILES_TABLE_NAME"))


class UnsupportedRecordError(ValueError):
    """A record this function does not know how to handle (fails the invocation on purpose)."""


def object_key(record: dict[str, Any]) -> str:
    # S3 URL-encodes keys in notifications, with '+' for spaces.
    return unquote_plus(record["s3"]["object"]["key"])


def _owner(key: str) -> str | None:
    parts = key.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "uploads" and parts[1] else None


@tracer.capture_method
def index_created(record: dict[str, Any]) -> str:
    bucket, key = record["s3"]["bucket"]["name"], object_key(record)
    sequencer = ordered(record["s3"]["object"]["sequencer"])
    try:
        head = client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        # S3 answers 404 for a missing key only because the role may list uploads/ (s3:ListBucket with
        # an s3:prefix condition); a 403 proves nothing about the key, so it fails the record (retry, DLQ).
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            # Deleted before we got here: its ObjectRemoved event keeps the table right.
            logger.warning("Object is gone before indexing", extra={"key": key})
            return "gone"
        raise
    item = {
        "fileKey": key,
        "bucket": bucket,
        "size": head["ContentLength"],
        "contentType": head.get("ContentType", "binary/octet-stream"),
        "etag": head.get("ETag", "").strip('"'),
        "uploadedAt": record["eventTime"],
        "sequencer": sequencer,
    }
    if owner := _owner(key):
        item["userId"] = owner
    if version := record["s3"]["object"].get("versionId"):
        item["versionId"] = version
    return "indexed" if files.put(item) else "stale"


@tracer.capture_method
def index_removed(record: dict[str, Any]) -> str:
    key = object_key(record)
    return "removed" if files.delete(key, ordered(record["s3"]["object"]["sequencer"])) else "stale"


def handle(record: dict[str, Any]) -> str:
    source, name = record.get("eventSource"), record.get("eventName", "")
    if source != "aws:s3" or "s3" not in record:
        raise UnsupportedRecordError(f"Not an S3 notification record: eventSource={source!r}")
    if name.startswith("ObjectCreated:"):
        return index_created(record)
    if name.startswith("ObjectRemoved:"):
        return index_removed(record)
    raise UnsupportedRecordError(f"Unsupported S3 event {name!r} for key {object_key(record)!r}")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    records = event.get("Records")
    if not isinstance(records, list):
        raise UnsupportedRecordError("Event has no Records list")
    outcomes: list[str] = []
    failures: list[Exception] = []
    for record in records:
        try:
            outcome = handle(record)
        except Exception as error:  # keep going: every other record of the event is still indexed
            logger.exception("Record failed", extra={"eventName": record.get("eventName")})
            failures.append(error)
            continue
        logger.info("Record processed", extra={"eventName": record["eventName"], "outcome": outcome})
        metrics.add_metric(name=f"Files{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
        outcomes.append(outcome)
    if failures:
        # Fail the invocation: Lambda retries the whole event, then sends it to the DLQ.
        raise ExceptionGroup(f"{len(failures)} of {len(records)} S3 records failed", failures)
    return {"processed": len(outcomes), "outcomes": outcomes}
