"""Create, inside a moto mock, the resources the orders functions use (shapes as in the data stack)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import boto3


def create_table(name: str, key: str, indexes: dict[str, tuple[str, str]] | None = None) -> Any:
    """A table keyed by `key`; `indexes`: GSI name → (partition key, sort key), all attributes projected."""
    attributes = {key} | {attribute for keys in (indexes or {}).values() for attribute in keys}
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": sort, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, (partition, sort) in indexes.items()
        ]
    return boto3.resource("dynamodb").create_table(**request)


def create_page_token_secret(monkeypatch: Any, name: str = "page-token-key") -> str:
    """The page token key as the service stack generates it (64 random letters and digits), in the env."""
    secret = secrets.token_hex(32)
    arn = boto3.client("secretsmanager").create_secret(Name=name, SecretString=secret)["ARN"]
    monkeypatch.setenv("PAGE_TOKEN_SECRET_ARN", arn)
    return arn


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
