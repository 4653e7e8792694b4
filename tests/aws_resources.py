"""Create, inside a moto mock, the resources the orders functions use (shapes as in the data stack)."""

from __future__ import annotations

import json
from typing import Any

import boto3


def create_table(name: str, key: str) -> Any:
    dynamodb = boto3.resource("dynamodb")
    table = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def create_queue(name: str, *, dlq_arn: str | None = None, max_receive_count: int = 3) -> tuple[str, str]:
    """(url, arn) of a new queue, redriving to `dlq_arn` when given."""
    sqs = boto3.client("sqs")
    attributes = {}
    if dlq_arn:
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
        )
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive_all(queue_url: str, *, visibility_timeout: int | None = None) -> list[dict]:
    sqs = boto3.client("sqs")
    request: dict[str, Any] = {"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "AttributeNames": ["All"]}
    if visibility_timeout is not None:
        request["VisibilityTimeout"] = visibility_timeout
    return sqs.receive_message(**request).get("Messages", [])


def capture_bus_events(bus_name: str, source: str, detail_type: str) -> str:
    """A rule on `bus_name` that copies matching events into a new queue; returns the queue's url."""
    events = boto3.client("events")
    url, arn = create_queue(f"captured-{bus_name}")
    events.put_rule(
        Name="capture",
        EventBusName=bus_name,
        EventPattern=json.dumps({"source": [source], "detail-type": [detail_type]}),
    )
    events.put_targets(Rule="capture", EventBusName=bus_name, Targets=[{"Id": "queue", "Arn": arn}])
    return url
