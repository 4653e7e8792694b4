"""S3 notifications to EventBridge (`EventBridgeConfiguration`, CDK's `eventBridgeEnabled`): every object
created or deleted is an "Object Created" / "Object Deleted" event from `aws.s3` on the default bus, which
rules match like any other event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.runtime import Runtime
from tests.helpers import aws_client, eventually, running_stack

QUEUE_ARN = {"Fn::GetAtt": ["Seen", "Arn"]}
TEMPLATE = {
    "Resources": {
        "Uploads": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": "uploads",
                "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
            },
        },
        "Seen": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "seen"}},
        "SeenPolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "Seen"}],
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": QUEUE_ARN,
                        }
                    ]
                },
            },
        },
        "CsvCreated": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created", "Object Deleted"],
                    "detail": {"bucket": {"name": ["uploads"]}, "object": {"key": [{"suffix": ".csv"}]}},
                },
                "Targets": [{"Id": "seen", "Arn": QUEUE_ARN}],
            },
        },
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "S3Eb", TEMPLATE) as started:
        yield started


def _seen(runtime: Runtime) -> list[dict[str, Any]] | None:
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="seen")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    return [json.loads(m["Body"]) for m in messages] or None


def test_object_events_reach_the_rules_of_the_default_bus(runtime: Runtime) -> None:
    s3 = aws_client(runtime, "s3")
    s3.put_object(Bucket="uploads", Key="skip.txt", Body=b"not matched")
    s3.put_object(Bucket="uploads", Key="daily.csv", Body=b"a,b\n")
    (created,) = eventually(lambda: _seen(runtime), what="the Object Created event")
    assert (created["source"], created["detail-type"]) == ("aws.s3", "Object Created")
    assert created["resources"] == ["arn:aws:s3:::uploads"]
    detail = created["detail"]
    assert (detail["bucket"], detail["object"]["key"], detail["object"]["size"]) == (
        {"name": "uploads"},
        "daily.csv",
        4,
    )
    assert detail["reason"] == "PutObject"
    s3.delete_object(Bucket="uploads", Key="daily.csv")
    (deleted,) = eventually(lambda: _seen(runtime), what="the Object Deleted event")
    assert (
        deleted["detail-type"] == "Object Deleted"
        and deleted["detail"]["deletion-type"] == "Permanently Deleted"
    )
