"""Sending a payload to a target ARN as an AWS service does it: a queue, a topic, a function (invoked
asynchronously), an event bus or a state machine (an execution with the payload as input). Lambda's
async destinations and EventBridge Scheduler share it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

# the target's service -> the action the sending role must be allowed on the target
TARGET_ACTIONS = {
    "sqs": "sqs:SendMessage",
    "sns": "sns:Publish",
    "lambda": "lambda:InvokeFunction",
    "events": "events:PutEvents",
    "states": "states:StartExecution",
}


def target_service(arn: str) -> str:
    return arn.split(":")[2]


def send(
    arn: str,
    body: str,
    client: Callable[[str], Any],
    invoke_async: Callable[[str, Any, str], Any],
    trigger: str,
    event: tuple[str, str, Sequence[str]] = ("", "", ()),
) -> None:
    """`body` to the target; a function gets it as its (JSON) event; an event bus as the detail of an
    event whose `event` is (source, detail type, resources)."""
    service = target_service(arn)
    if service == "sqs":
        sqs = client("sqs")
        sqs.send_message(
            QueueUrl=sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"], MessageBody=body
        )
    elif service == "sns":
        client("sns").publish(TopicArn=arn, Message=body)
    elif service == "lambda":
        invoke_async(arn, json.loads(body), trigger)
    elif service == "states":
        client("stepfunctions").start_execution(stateMachineArn=arn, input=body)
    else:
        source, detail_type, resources = event
        entry: dict[str, Any] = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": body,
            "EventBusName": arn,
        }
        if resources:
            entry["Resources"] = list(resources)
        client("events").put_events(Entries=[entry])
