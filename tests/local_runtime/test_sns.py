"""SNS subscriptions from a hand-written template: SQS (filter on the body, raw delivery), Lambda (filter on
attributes, Lambda's SNS event, the function's permission), a subscription DLQ for an undeliverable
message, and S3 → SNS notifications."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.runtime import Runtime
from tests.helpers import aws_client, eventually, running_stack

LISTENER = """
import json

def handler(event, context):
    print(json.dumps(event))
    return "ok"
"""


def _function(name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Handler": "handler.handler",
            "Runtime": "python3.14",
            "Role": "arn:aws:iam::123456789012:role/listener",
            "Timeout": 5,
        },
        "Metadata": {"aws:cdk:path": f"Sns/{name}/Resource", "aws:asset:path": "asset.listener"},
    }


def _queue(name: str) -> dict[str, Any]:
    return {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}}


def _allow(rtype: str, key: str, targets: list[Any], service: str, action: str) -> dict[str, Any]:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": f"{service}.amazonaws.com"},
        "Action": action,
        "Resource": "*",
    }
    return {"Type": rtype, "Properties": {key: targets, "PolicyDocument": {"Statement": [statement]}}}


def _subscription(protocol: str, endpoint: Any, **attributes: Any) -> dict[str, Any]:
    properties = {"TopicArn": {"Ref": "Events"}, "Protocol": protocol, "Endpoint": endpoint, **attributes}
    return {"Type": "AWS::SNS::Subscription", "Properties": properties}


TEMPLATE = {
    "Resources": {
        "Events": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "events"}},
        "Uploads": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "uploads"}},
        "Big": _queue("big"),
        "SubDlq": _queue("sub-dlq"),
        "S3Events": _queue("s3-events"),
        "Listener": _function("Listener"),
        "Unpermitted": _function("Unpermitted"),
        "BigOnly": _subscription(
            "sqs",
            {"Fn::GetAtt": ["Big", "Arn"]},
            FilterPolicy={"kind": ["big"]},
            FilterPolicyScope="MessageBody",
            RawMessageDelivery=True,
        ),
        "RedOnly": _subscription(
            "lambda", {"Fn::GetAtt": ["Listener", "Arn"]}, FilterPolicy={"color": ["red"]}
        ),
        "NoPermission": _subscription(
            "lambda",
            {"Fn::GetAtt": ["Unpermitted", "Arn"]},
            RedrivePolicy={"deadLetterTargetArn": {"Fn::GetAtt": ["SubDlq", "Arn"]}},
        ),
        "Mail": _subscription("email", "ops@example.com"),
        "ListenerPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Fn::GetAtt": ["Listener", "Arn"]},
                "Principal": "sns.amazonaws.com",
                "SourceArn": {"Ref": "Events"},
            },
        },
        "UploadsToQueue": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "Uploads"},
                "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": ["S3Events", "Arn"]},
                "RawMessageDelivery": "true",
            },
        },
        # What CDK adds with the subscriptions and the notification: SNS may send to the queues, S3 may
        # publish to the topic. "Unsent" has no policy: SNS's deliveries to it fail.
        "QueuesPolicy": _allow(
            "AWS::SQS::QueuePolicy", "Queues", [{"Ref": "Big"}, {"Ref": "S3Events"}], "sns", "sqs:SendMessage"
        ),
        "UploadsPolicy": _allow("AWS::SNS::TopicPolicy", "Topics", [{"Ref": "Uploads"}], "s3", "sns:Publish"),
        "Unsent": _queue("unsent"),
        "ToUnsent": _subscription("sqs", {"Fn::GetAtt": ["Unsent", "Arn"]}),
        "Files": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": "files",
                "NotificationConfiguration": {
                    "TopicConfigurations": [{"Event": "s3:ObjectCreated:*", "Topic": {"Ref": "Uploads"}}]
                },
            },
        },
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "Sns", TEMPLATE, {"asset.listener": LISTENER}) as started:
        yield started


def _receive(runtime: Runtime, queue: str) -> list[dict[str, Any]]:
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    )


def test_sqs_and_lambda_subscriptions_with_their_filters(runtime: Runtime) -> None:
    sns = runtime.client("sns")
    topic = sns.create_topic(Name="events")["TopicArn"]
    red = {"color": {"DataType": "String", "StringValue": "red"}}
    blue = {"color": {"DataType": "String", "StringValue": "blue"}}
    sns.publish(
        TopicArn=topic, Message=json.dumps({"kind": "big", "n": 1}), MessageAttributes=red, Subject="one"
    )
    sns.publish(TopicArn=topic, Message=json.dumps({"kind": "small", "n": 2}), MessageAttributes=blue)

    # SQS, filtered on the body, raw: the message itself, only the big one.
    assert not _receive(runtime, "unsent")  # its policy does not let SNS send to it
    big = eventually(lambda: _receive(runtime, "big"), what="the big message on the queue")
    assert [json.loads(m["Body"]) for m in big] == [{"kind": "big", "n": 1}]

    # Lambda, filtered on attributes: one invocation, Lambda's SNS event.
    def listener_calls() -> list[dict[str, Any]]:
        return [e for e in runtime.console.invocations.after(0) if e["function"] == "Listener"]

    calls = eventually(listener_calls, what="the listener's invocation")
    time.sleep(1.5)  # the blue message, if it were wrongly delivered, would have arrived by now
    assert len(listener_calls()) == 1 and calls[0]["ok"] and calls[0]["trigger"] == "sns events"
    event = json.loads(next(line for line in calls[0]["logs"] if line.startswith("{")))
    record = event["Records"][0]
    assert record["EventSource"] == "aws:sns" and record["EventSubscriptionArn"].startswith(topic)
    assert record["Sns"]["Message"] == json.dumps({"kind": "big", "n": 1})
    assert record["Sns"]["Subject"] == "one" and record["Sns"]["TopicArn"] == topic
    assert record["Sns"]["MessageAttributes"] == {"color": {"Type": "String", "Value": "red"}}
    assert {"SigningCertUrl", "UnsubscribeUrl", "Timestamp", "MessageId"} <= set(record["Sns"])

    # Without a permission for SNS the function is not invoked; the message goes to the subscription's DLQ.
    dead = eventually(lambda: _receive(runtime, "sub-dlq"), what="the undeliverable message in the DLQ")
    assert {json.loads(json.loads(m["Body"])["Message"])["n"] for m in dead} == {1, 2}
    assert not [e for e in runtime.console.invocations.after(0) if e["function"] == "Unpermitted"]
    assert any(
        "Mail: email subscription to ops@example.com is not delivered locally" in line
        for line in runtime.output
    )  # type: ignore[attr-defined]


def test_s3_notifications_to_a_topic(runtime: Runtime) -> None:
    s3 = aws_client(runtime, "s3")
    s3.put_object(Bucket="files", Key="report.csv", Body=b"a,b\n")
    messages = eventually(lambda: _receive(runtime, "s3-events"), what="the S3 event via SNS")
    record = json.loads(messages[0]["Body"])["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put" and record["s3"]["object"]["key"] == "report.csv"
