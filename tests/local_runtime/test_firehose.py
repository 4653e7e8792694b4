"""Firehose delivery streams with an S3 destination as EventBridge rule targets: buffered by interval and
size into objects named as Firehose names them; the target's role must allow firehose:PutRecord."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_runtime.firehose import DeliveryStream, Firehose
from local_runtime.runtime import Runtime
from tests.helpers import eventually, running_stack

ARCHIVE = "arn:aws:firehose:us-east-1:123456789012:deliverystream/archive"


def _role(actions: list[str]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Statement": []},
            "Policies": [
                {
                    "PolicyName": "p",
                    "PolicyDocument": {
                        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]
                    },
                }
            ],
        },
    }


def _target(target_id: str, role: str) -> dict[str, Any]:
    return {
        "Id": target_id,
        "Arn": {"Fn::GetAtt": ["Archive", "Arn"]},
        "RoleArn": {"Fn::GetAtt": [role, "Arn"]},
        "RetryPolicy": {"MaximumRetryAttempts": 0},
        "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["Undelivered", "Arn"]}},
    }


TEMPLATE = {
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "archive-bucket"}},
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "audit"}},
        "Undelivered": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "undelivered"}},
        "UndeliveredPolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "Undelivered"}],
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": "*",
                        }
                    ]
                },
            },
        },
        "Archive": {
            "Type": "AWS::KinesisFirehose::DeliveryStream",
            "Properties": {
                "DeliveryStreamName": "archive",
                "ExtendedS3DestinationConfiguration": {
                    "BucketARN": {"Fn::GetAtt": ["Bucket", "Arn"]},
                    "Prefix": "events/",
                    "BufferingHints": {"IntervalInSeconds": 1, "SizeInMBs": 1},
                    "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                },
            },
        },
        "Writer": _role(["firehose:PutRecord", "firehose:PutRecordBatch"]),
        "Reader": _role(["firehose:DescribeDeliveryStream"]),
        "ToArchive": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventBusName": "audit",
                "EventPattern": {"source": ["audit"]},
                "Targets": [_target("Archive", "Writer")],
            },
        },
        "WrongRole": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventBusName": "audit",
                "EventPattern": {"source": ["audit"], "detail-type": ["denied"]},
                "Targets": [_target("Archive", "Reader")],
            },
        },
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "Firehose", TEMPLATE) as started:
        yield started


def test_rule_events_are_buffered_into_one_object_per_interval(runtime: Runtime) -> None:
    events = runtime.client("events")
    entries = [
        {"Source": "audit", "DetailType": "login", "Detail": json.dumps({"n": n}), "EventBusName": "audit"}
        for n in range(3)
    ]
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    s3 = runtime.client("s3")
    objects = eventually(
        lambda: s3.list_objects_v2(Bucket="archive-bucket").get("Contents"), 15, "the buffered object"
    )
    assert len(objects) == 1  # all three records in one object: the interval buffered them
    key = objects[0]["Key"]
    assert key.startswith(f"events/{datetime.now(UTC):%Y/%m/%d/%H}/archive-1-")
    body = s3.get_object(Bucket="archive-bucket", Key=key)["Body"].read().decode()
    decoded = json.JSONDecoder()
    records, position = [], 0
    while position < len(body):  # concatenated as they came, no separator, as Firehose writes them
        record, position = decoded.raw_decode(body, position)
        records.append(record)
    assert sorted(r["detail"]["n"] for r in records) == [0, 1, 2]


def test_a_target_role_without_put_record_sends_the_event_to_the_dlq(runtime: Runtime) -> None:
    events = runtime.client("events")
    events.put_events(
        Entries=[{"Source": "audit", "DetailType": "denied", "Detail": "{}", "EventBusName": "audit"}]
    )
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="undelivered")["QueueUrl"]
    message = eventually(
        lambda: sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"]).get("Messages"),
        15,
        "the DLQ message",
    )[0]
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"


def test_size_flush_gzip_custom_prefix_and_nothing_lost_at_stop() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="firehose-bucket")
        stream = DeliveryStream(
            "s",
            ARCHIVE,
            "firehose-bucket",
            prefix="logs/!{timestamp:yyyy}/",
            interval_s=3600,
            size_bytes=10,
            gzip=True,
        )
        firehose = Firehose([stream], lambda: s3)
        firehose.put(ARCHIVE, b"12345")
        assert "Contents" not in s3.list_objects_v2(Bucket="firehose-bucket")  # 5 of 10 bytes: still buffered
        firehose.put(ARCHIVE, b"67890")  # the buffer is full: delivered now
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="firehose-bucket")["Contents"]]
        assert (
            len(keys) == 1
            and keys[0].startswith(f"logs/{datetime.now(UTC):%Y}/s-1-")
            and keys[0].endswith(".gz")
        )
        assert (
            gzip.decompress(s3.get_object(Bucket="firehose-bucket", Key=keys[0])["Body"].read())
            == b"1234567890"
        )
        firehose.put(ARCHIVE, b"tail")
        firehose.stop()
        assert len(s3.list_objects_v2(Bucket="firehose-bucket")["Contents"]) == 2
