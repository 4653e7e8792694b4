"""S3 event notifications: bucket configs from the template, events from the gateway's successful calls.

Sources of configuration: an AWS::S3::Bucket's NotificationConfiguration (CloudFormation shape) and
CDK's Custom::S3BucketNotifications resource (S3 API shape, what `bucket.add_event_notification` emits).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from local_runtime.gateway import deleted_keys
from local_runtime.iam import Described
from local_runtime.templates import App

log = logging.getLogger("local_runtime.s3")


@dataclass
class Target:
    kind: str  # "lambda" | "queue" | "topic" | "eventbridge" (the default bus)
    arn: str
    events: list[str]
    prefix: str = ""
    suffix: str = ""
    configuration_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def matches(self, event_name: str, key: str) -> bool:
        if not key.startswith(self.prefix) or not key.endswith(self.suffix):
            return False
        full = f"s3:{event_name}"
        for pattern in self.events:
            if pattern == full or (pattern.endswith(":*") and full.startswith(pattern[:-1])):
                return True
        return False


# A bucket with EventBridge notifications on: every object event goes to the account's default bus.
EVENTBRIDGE = Target(
    "eventbridge", "default", ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], configuration_id=""
)


def eventbridge_entry(
    bucket: str, key: str, event_name: str, size: int | None, etag: str | None
) -> dict[str, Any]:
    """The PutEvents entry S3 sends for an object event (userguide/ev-events.html)."""
    created = event_name.startswith("ObjectCreated")
    obj: dict[str, Any] = {"key": key, "sequencer": f"{time.time_ns():X}"}
    if created:
        obj.update(size=size or 0, etag=(etag or "").strip('"'))
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": "123456789012",
        "source-ip-address": "127.0.0.1",
        "reason": {
            "ObjectCreated:Put": "PutObject",
            "ObjectCreated:Copy": "CopyObject",
            "ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
        }.get(event_name, "DeleteObject"),
    }
    if not created:
        detail["deletion-type"] = "Permanently Deleted"
    return {
        "Source": "aws.s3",
        "DetailType": "Object Created" if created else "Object Deleted",
        "Detail": json.dumps(detail),
        "Resources": [f"arn:aws:s3:::{bucket}"],
        "EventBusName": "default",
    }


def _filters(rules: list[dict[str, Any]]) -> tuple[str, str]:
    prefix = suffix = ""
    for rule in rules:
        name = str(rule.get("Name", "")).lower()
        if name == "prefix":
            prefix = str(rule.get("Value", ""))
        elif name == "suffix":
            suffix = str(rule.get("Value", ""))
    return prefix, suffix


def notification_targets(app: App) -> tuple[dict[str, list[Target]], list[str]]:
    """Targets per bucket name, and warnings about configurations not emulated."""
    targets: dict[str, list[Target]] = {}
    warnings: list[str] = []
    for stack, logical_id, resource in app.all_resources("AWS::S3::Bucket"):
        config = app.resolve(stack, resource.get("Properties", {})).get("NotificationConfiguration")
        if not config:
            continue
        bucket = app.physical_name(stack, logical_id)
        for item in config.get("LambdaConfigurations", []):
            prefix, suffix = _filters(item.get("Filter", {}).get("S3Key", {}).get("Rules", []))
            targets.setdefault(bucket, []).append(
                Target("lambda", item["Function"], [item["Event"]], prefix, suffix)
            )
        for item in config.get("QueueConfigurations", []):
            prefix, suffix = _filters(item.get("Filter", {}).get("S3Key", {}).get("Rules", []))
            targets.setdefault(bucket, []).append(
                Target("queue", item["Queue"], [item["Event"]], prefix, suffix)
            )
        for item in config.get("TopicConfigurations", []):
            prefix, suffix = _filters(item.get("Filter", {}).get("S3Key", {}).get("Rules", []))
            targets.setdefault(bucket, []).append(
                Target("topic", item["Topic"], [item["Event"]], prefix, suffix)
            )
        if config.get("EventBridgeConfiguration") is not None:
            targets.setdefault(bucket, []).append(EVENTBRIDGE)
    for stack, _lid, resource in app.all_resources("Custom::S3BucketNotifications"):
        props = app.resolve(stack, resource.get("Properties", {}))
        bucket = str(props["BucketName"])
        config = props.get("NotificationConfiguration", {})
        for item in config.get("LambdaFunctionConfigurations", []):
            prefix, suffix = _filters(item.get("Filter", {}).get("Key", {}).get("FilterRules", []))
            targets.setdefault(bucket, []).append(
                Target(
                    "lambda",
                    item["LambdaFunctionArn"],
                    item["Events"],
                    prefix,
                    suffix,
                    item.get("Id") or uuid.uuid4().hex,
                )
            )
        for item in config.get("QueueConfigurations", []):
            prefix, suffix = _filters(item.get("Filter", {}).get("Key", {}).get("FilterRules", []))
            targets.setdefault(bucket, []).append(
                Target("queue", item["QueueArn"], item["Events"], prefix, suffix)
            )
        for item in config.get("TopicConfigurations", []):
            prefix, suffix = _filters(item.get("Filter", {}).get("Key", {}).get("FilterRules", []))
            targets.setdefault(bucket, []).append(
                Target("topic", item["TopicArn"], item["Events"], prefix, suffix)
            )
        if config.get("EventBridgeConfiguration") is not None:
            targets.setdefault(bucket, []).append(EVENTBRIDGE)
    return targets, warnings


def s3_record(
    region: str,
    bucket: str,
    key: str,
    event_name: str,
    principal: str,
    size: int | None,
    etag: str | None,
    configuration_id: str,
) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "sequencer": f"{time.time_ns():X}"}
    if event_name.startswith("ObjectCreated"):
        obj["size"] = size or 0
        obj["eTag"] = (etag or "").strip('"')
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-amz-id-2": uuid.uuid4().hex,
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": principal},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


class Notifier:
    """Gateway hook: turns successful object writes/deletes into notifications."""

    def __init__(
        self,
        targets: dict[str, list[Target]],
        region: str,
        invoke_async: Callable[[str, Any, str], Any],
        sqs_client: Callable[[], Any],
        sns_client: Callable[[], Any] | None = None,
        events_client: Callable[[], Any] | None = None,
    ) -> None:
        self.targets = targets
        self.region = region
        self._invoke_async = invoke_async
        self._sqs = sqs_client
        self._sns = sns_client or _no_client("sns")
        self._events = events_client or _no_client("events")

    def __call__(
        self,
        described: Described,
        response_headers: dict[str, str],
        request_body: bytes,
        response_body: bytes,
    ) -> None:
        info = described.s3
        bucket = info["bucket"]
        if bucket not in self.targets:
            return
        operation = info["operation"]
        principal = f"AWS:{described.access_key or 'anonymous'}"
        if operation == "DeleteObjects":
            for key in deleted_keys(request_body):
                self.emit(bucket, key, "ObjectRemoved:Delete", principal)
            return
        event_name = {
            "Put": "ObjectCreated:Put",
            "Copy": "ObjectCreated:Copy",
            "CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
            "Delete": "ObjectRemoved:Delete",
        }.get(operation)
        if event_name is None:
            return
        size = None
        if event_name == "ObjectCreated:Put":
            decoded = described.s3.get("decoded_length")
            size = int(decoded) if decoded else len(request_body)
        self.emit(bucket, info["key"], event_name, principal, size, response_headers.get("etag"))

    def emit(
        self,
        bucket: str,
        key: str,
        event_name: str,
        principal: str = "AWS:local",
        size: int | None = None,
        etag: str | None = None,
    ) -> int:
        sent = 0
        for target in self.targets.get(bucket, []):
            if not target.matches(event_name, key):
                continue
            if target.kind == "eventbridge":
                self._events().put_events(Entries=[eventbridge_entry(bucket, key, event_name, size, etag)])
                sent += 1
                continue
            record = s3_record(
                self.region, bucket, key, event_name, principal, size, etag, target.configuration_id
            )
            event = {"Records": [record]}
            if target.kind == "lambda":
                self._invoke_async(target.arn, event, f"s3 {event_name} {key}")
            elif target.kind == "topic":  # S3 publishes the event as the message, with this subject
                self._sns().publish(
                    TopicArn=target.arn, Message=json.dumps(event), Subject="Amazon S3 Notification"
                )
            else:
                sqs = self._sqs()
                url = sqs.get_queue_url(QueueName=target.arn.rsplit(":", 1)[-1])["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
            sent += 1
        return sent


def _no_client(service: str) -> Callable[[], Any]:
    def missing() -> Any:
        raise RuntimeError(f"a bucket notifies {service}, but no {service} client was given")

    return missing
