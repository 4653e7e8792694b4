"""The local console: what the running app did and holds, and the actions a developer takes on it.

One set of actions serves the console page (console.html, polling these as JSON) and the CLI
(`python -m local_runtime redrive <dlq>` ...), both through the runtime's control port on 127.0.0.1.
Reads go straight to moto (the Lambda service's view, not IAM-checked), as the AWS console shows them.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from local_runtime.workers import FunctionSpec, Invocation

PAGE = Path(__file__).with_name("console.html")
HISTORY = 500  # invocations and denied calls kept for the page


class ConsoleError(LookupError):
    """An action names something that does not exist (404 with the names that do)."""


@dataclass
class Feed:
    """The last HISTORY entries, each with a sequence number the page polls after."""

    entries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _seq: count[int] = field(default_factory=lambda: count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry["seq"] = next(self._seq)
            self.entries.append(entry)

    def after(self, seq: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self.entries if e["seq"] > seq]


class Console:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime  # local_runtime.runtime.Runtime (not imported: it imports this module)
        self.invocations = Feed()
        self.denied = Feed()

    # ------------------------------------------------------------------ what happened
    def on_invocation(self, spec: FunctionSpec, trigger: str, invocation: Invocation) -> None:
        self.invocations.add(
            {
                "time": time.time(),
                "function": spec.display,
                "trigger": trigger,
                "requestId": invocation.request_id,
                "durationMs": round(invocation.duration_ms, 1),
                "cold": invocation.cold,
                "initMs": None if invocation.init_ms is None else round(invocation.init_ms, 1),
                "ok": invocation.ok,
                "status": status_of(invocation),
                "logs": invocation.logs,  # the worker's list: lines printed after the answer still arrive
            }
        )

    def on_iam_call(self, record: dict[str, Any]) -> None:
        if not record["allowed"]:
            self.denied.add(dict(record))

    # ------------------------------------------------------------------ what the app holds
    def overview(self) -> dict[str, Any]:
        runtime = self.runtime
        summary = runtime.summary
        return {
            "apis": [
                {"name": s.api.name, "url": s.base_url, "swagger": s.swagger_url} for s in runtime.api_servers
            ],
            "functions": [
                {
                    "name": spec.display,
                    "physicalName": spec.name,
                    "warm": runtime.pools[spec.arn].warm_count() if spec.arn in runtime.pools else 0,
                }
                for spec in runtime.specs
            ],
            "queues": self.queues(),
            "tables": summary.get("tables", []),
            "buckets": summary.get("buckets", []),
            "schedules": [
                {"name": name, "expression": expression}
                for name, expression in summary.get("schedules", {}).items()
            ],
            "users": self.users(),
        }

    def queues(self) -> list[dict[str, Any]]:
        """Every queue of the app: depth, in flight, and which queue it is the DLQ of."""
        sqs = self.runtime.client("sqs")
        rows = []
        sources = self._dlq_sources()
        for name in self.runtime.summary.get("queues", []):
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            rows.append(
                {
                    "name": name,
                    "depth": int(attributes.get("ApproximateNumberOfMessages", 0)),
                    "inFlight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                    "dlqOf": sources.get(name, []),
                    "deadLetterFor": self._dead_letter_users(name),
                }
            )
        return rows

    def _dlq_sources(self) -> dict[str, list[str]]:
        """DLQ name → the queues whose redrive policy sends to it."""
        app = self.runtime.app
        found: dict[str, list[str]] = {}
        for stack, logical_id, resource in app.all_resources("AWS::SQS::Queue"):
            policy = app.resolve(stack, resource.get("Properties", {})).get("RedrivePolicy")
            if policy:
                policy = json.loads(policy) if isinstance(policy, str) else policy
                dlq = str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1]
                found.setdefault(dlq, []).append(app.physical_name(stack, logical_id))
        return found

    def _dead_letter_users(self, queue: str) -> list[str]:
        """Functions whose failed async events go to this queue (DLQ or on-failure destination)."""
        return [
            s.display
            for s in self.runtime.specs
            for arn in (s.dead_letter_arn, s.on_failure_arn)
            if arn and arn.rsplit(":", 1)[-1] == queue
        ]

    def users(self) -> list[dict[str, Any]]:
        idp = self.runtime.client("cognito-idp")
        rows = []
        for pool in self.runtime.users.pools:
            for page in idp.get_paginator("list_users").paginate(UserPoolId=pool.pool_id):
                for user in page["Users"]:
                    attributes = {a["Name"]: a["Value"] for a in user.get("Attributes", [])}
                    groups = idp.admin_list_groups_for_user(
                        UserPoolId=pool.pool_id, Username=user["Username"]
                    )
                    rows.append(
                        {
                            "pool": pool.display,
                            "username": user["Username"],
                            "sub": attributes.get("sub"),
                            "email": attributes.get("email"),
                            "groups": [g["GroupName"] for g in groups["Groups"]],
                        }
                    )
        return rows

    # ------------------------------------------------------------------ queues and DLQs
    def _queue_url(self, name: str) -> str:
        if name not in self.runtime.summary.get("queues", []):
            known = ", ".join(self.runtime.summary.get("queues", []))
            raise ConsoleError(f"no queue called {name!r} (queues: {known})")
        return str(self.runtime.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])

    def peek(self, queue: str, limit: int = 10) -> list[dict[str, Any]]:
        """Up to `limit` messages, left on the queue (visible again at once). As in the AWS console's
        "poll for messages", each peek counts as a receive of the messages it shows."""
        sqs = self.runtime.client("sqs")
        url = self._queue_url(queue)
        response = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(10, limit)),
            VisibilityTimeout=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return [
            {
                "messageId": m["MessageId"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
            }
            for m in response.get("Messages", [])
        ]

    def _take(self, url: str, wanted: Callable[[dict[str, Any]], bool], limit: int) -> list[dict[str, Any]]:
        """Receive until each visible message was seen once; keep the wanted ones hidden, release the rest."""
        sqs = self.runtime.client("sqs")
        taken: list[dict[str, Any]] = []
        released: list[dict[str, str]] = []
        try:
            while len(taken) < limit:
                batch = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=30,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not batch:
                    break
                for message in batch:
                    if wanted(message) and len(taken) < limit:
                        taken.append(message)
                    else:
                        released.append({"Id": str(len(released)), "ReceiptHandle": message["ReceiptHandle"]})
        finally:
            for start in range(0, len(released), 10):
                entries = [
                    {**entry, "Id": str(i), "VisibilityTimeout": 0}
                    for i, entry in enumerate(released[start : start + 10])
                ]
                sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        return taken

    def delete_message(self, queue: str, message_id: str) -> dict[str, Any]:
        sqs = self.runtime.client("sqs")
        url = self._queue_url(queue)
        taken = self._take(url, lambda m: m["MessageId"] == message_id, 1)
        if not taken:
            raise ConsoleError(f"no visible message {message_id} on {queue}")
        sqs.delete_message(QueueUrl=url, ReceiptHandle=taken[0]["ReceiptHandle"])
        return {"queue": queue, "deleted": message_id}

    def redrive(self, dlq: str, to: str | None = None) -> dict[str, Any]:
        """Move every visible message of a DLQ back to its source queue (AWS: StartMessageMoveTask), with
        body and message attributes; a DLQ several queues use needs `to`."""
        sources = self._dlq_sources().get(dlq, [])
        if to is None:
            if len(sources) != 1:
                why = "it is no queue's DLQ" if not sources else f"it is the DLQ of {', '.join(sources)}"
                raise ConsoleError(f"{dlq}: name the queue to move to ({why})")
            to = sources[0]
        sqs = self.runtime.client("sqs")
        source_url, target_url = self._queue_url(dlq), self._queue_url(to)
        moved = 0
        while True:
            batch = self._take(source_url, lambda m: True, 10)
            if not batch:
                break
            for message in batch:
                request: dict[str, Any] = {"QueueUrl": target_url, "MessageBody": message["Body"]}
                if message.get("MessageAttributes"):
                    request["MessageAttributes"] = message["MessageAttributes"]
                if "MessageGroupId" in message.get("Attributes", {}):
                    request["MessageGroupId"] = message["Attributes"]["MessageGroupId"]
                    request["MessageDeduplicationId"] = message["MessageId"]
                sqs.send_message(**request)
                sqs.delete_message(QueueUrl=source_url, ReceiptHandle=message["ReceiptHandle"])
                moved += 1
        return {"from": dlq, "to": to, "moved": moved}

    # ------------------------------------------------------------------ tables, buckets
    def items(self, table: str, limit: int = 25, token: str | None = None) -> dict[str, Any]:
        if table not in self.runtime.summary.get("tables", []):
            raise ConsoleError(
                f"no table called {table!r} (tables: {', '.join(self.runtime.summary['tables'])})"
            )
        request: dict[str, Any] = {"TableName": table, "Limit": max(1, min(100, limit))}
        if token:
            request["ExclusiveStartKey"] = json.loads(token)
        page = self.runtime.client("dynamodb").scan(**request)
        return {
            "table": table,
            "items": [_plain(item) for item in page.get("Items", [])],
            "nextToken": json.dumps(page["LastEvaluatedKey"]) if page.get("LastEvaluatedKey") else None,
        }

    def objects(self, bucket: str, limit: int = 50, token: str | None = None) -> dict[str, Any]:
        if bucket not in self.runtime.summary.get("buckets", []):
            raise ConsoleError(
                f"no bucket called {bucket!r} (buckets: {', '.join(self.runtime.summary['buckets'])})"
            )
        request: dict[str, Any] = {"Bucket": bucket, "MaxKeys": max(1, min(1000, limit))}
        if token:
            request["ContinuationToken"] = token
        page = self.runtime.client("s3").list_objects_v2(**request)
        return {
            "bucket": bucket,
            "objects": [
                {"key": o["Key"], "size": o["Size"], "lastModified": o["LastModified"].isoformat()}
                for o in page.get("Contents", [])
            ],
            "nextToken": page.get("NextContinuationToken"),
        }

    # ------------------------------------------------------------------ schedules, users
    def fire(self, name: str) -> dict[str, Any]:
        """A rule's schedule, or else an EventBridge Scheduler schedule, fired now."""
        runner = self.runtime.schedule_runner
        try:
            rule = self.runtime.find_schedule(name)
        except LookupError:
            if runner is None:
                raise
            schedule = runner.find(name)
            return {"schedule": schedule.name, "targets": int(runner.fire(schedule))}
        return {"rule": rule.name, "targets": self.runtime.scheduler.fire(rule)}

    def token(self, username: str, pool: str | None = None) -> dict[str, Any]:
        answer = self.runtime.create_user(username, pool=pool)
        return {
            "username": answer["username"],
            "idToken": answer["idToken"],
            "expiresIn": answer["expiresIn"],
        }


def status_of(invocation: Invocation) -> str:
    if not invocation.ok:
        return f"ERROR {invocation.error_type}"
    result = invocation.result
    if isinstance(result, dict) and "statusCode" in result:
        return str(result["statusCode"])
    if isinstance(result, dict) and result.get("batchItemFailures"):
        return f"ok ({len(result['batchItemFailures'])} item failures)"
    return "ok"


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain JSON (the console shows values, not type descriptors)."""
    deserializer = TypeDeserializer()
    return {key: _json_value(deserializer.deserialize(value)) for key, value in item.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_json_value(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value
