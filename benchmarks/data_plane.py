"""The data plane's own floor: moto alone, called directly with boto3 from one client, no runtime.

Every figure the runtime reaches is bounded by how fast the embedded moto answers: this measures, in the
same run, each kind of call an order makes (p50/p90) and how many orders per second one process would
manage doing nothing but an order's data-plane calls in sequence, so the runtime's figures can be read
as a ratio to that floor.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.stats import percentile
from local_runtime.runtime import free_port, start_moto

REGION = "us-east-1"


class Plane:
    """One table, one queue and one bus in a fresh moto server, and a call of each kind."""

    def __init__(self, port: int) -> None:
        def client(service: str) -> Any:
            return boto3.session.Session().client(
                service,
                endpoint_url=f"http://localhost:{port}",
                region_name=REGION,
                aws_access_key_id="bench",
                aws_secret_access_key="bench",  # noqa: S106 (moto accepts anything)
                config=Config(retries={"max_attempts": 1}),
            )

        self.dynamodb, self.sqs, self.events = client("dynamodb"), client("sqs"), client("events")
        self.dynamodb.create_table(
            TableName="Bench",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.queue = self.sqs.create_queue(QueueName="bench")["QueueUrl"]
        self.events.create_event_bus(Name="bench")
        self.calls: dict[str, Callable[[str], None]] = {
            "PutItem": self._put,
            "GetItem": lambda key: self.dynamodb.get_item(TableName="Bench", Key={"id": {"S": key}}),
            "UpdateItem": lambda key: self.dynamodb.update_item(
                TableName="Bench",
                Key={"id": {"S": key}},
                UpdateExpression="ADD orderCount :one SET lastOrderAt = :at",
                ExpressionAttributeValues={":one": {"N": "1"}, ":at": {"S": "2026-12-02T00:00:00Z"}},
            ),
            "SendMessage": lambda key: self.sqs.send_message(QueueUrl=self.queue, MessageBody=_order(key)),
            "ReceiveMessage": lambda _key: self.sqs.receive_message(
                QueueUrl=self.queue, MaxNumberOfMessages=1
            ),
            "DeleteMessage": self._delete,
            "PutEvents": lambda key: self.events.put_events(
                Entries=[
                    {
                        "EventBusName": "bench",
                        "Source": "orders",
                        "DetailType": "OrderCreated",
                        "Detail": _order(key),
                    }
                ]
            ),
        }

    def _put(self, key: str) -> None:
        item = {"id": {"S": key}, "status": {"S": "CONFIRMED"}, "totalCents": {"N": "1250"}}
        self.dynamodb.put_item(TableName="Bench", Item=item)

    def _delete(self, _key: str) -> None:
        # A receipt handle of a real message: send and receive it outside the timed call.
        self.sqs.send_message(QueueUrl=self.queue, MessageBody="x")
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=1).get("Messages", [])
        handle = messages[0]["ReceiptHandle"] if messages else "none"
        started = time.perf_counter()
        self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=handle)
        self._last = (time.perf_counter() - started) * 1000

    def one_order(self, key: str) -> int:
        """The data-plane calls one order makes, in order, as the functions make them; returns how many.

        orders_api sends it; Lambda's poller receives it (one call per batch: counted per order, an upper
        bound); order_processor writes its idempotency record, the order, OrderCreated, and completes the
        record; the poller deletes the message; order_projection writes its idempotency record, the
        user's counters, and completes the record; GET /orders/{id} reads it.
        """
        self.sqs.send_message(QueueUrl=self.queue, MessageBody=_order(key))
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=1).get("Messages", [])
        self._put(f"idem-{key}")
        self._put(key)
        self.calls["PutEvents"](key)
        self.calls["UpdateItem"](f"idem-{key}")
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        self._put(f"idem-p-{key}")
        self.calls["UpdateItem"]("user-1")
        self.calls["UpdateItem"](f"idem-p-{key}")
        self.calls["GetItem"](key)
        return 11

    def timed(self, kind: str, key: str) -> float:
        started = time.perf_counter()
        self.calls[kind](key)
        elapsed = (time.perf_counter() - started) * 1000
        return self._last if kind == "DeleteMessage" else elapsed


def _order_created(key: str) -> dict[str, str]:
    return {"EventBusName": "bench", "Source": "orders", "DetailType": "OrderCreated", "Detail": _order(key)}


def _order(key: str) -> str:
    return json.dumps({"orderId": key, "items": [{"sku": "SKU-1", "quantity": 1, "unitPriceCents": 1250}]})


def run(calls_per_kind: int, orders: int) -> dict[str, Any]:
    """The floor of the moto the runtime runs (local_runtime.moto_server), and of moto as released."""
    released = measure(calls_per_kind, orders, "moto.server")
    return {**measure(calls_per_kind, orders, "local_runtime.moto_server"), "released_moto": released}


def measure(calls_per_kind: int, orders: int, server: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-moto-") as work:
        port = free_port()
        moto = start_moto(port, Path(work) / "moto.log", server=server)
        try:
            plane = Plane(port)
            for kind in plane.calls:  # warm-up: first calls pay imports and lazy setup in moto
                plane.timed(kind, "warm-up")
            per_kind: dict[str, dict[str, float]] = {}
            samples: dict[str, list[float]] = {kind: [] for kind in plane.calls}
            for index in range(calls_per_kind):  # kinds interleaved, so drift hits each alike
                for kind in plane.calls:
                    samples[kind].append(plane.timed(kind, f"k{index % 50}"))
            for kind, values in samples.items():
                per_kind[kind] = {
                    "p50_ms": round(percentile(values, 50), 2),
                    "p90_ms": round(percentile(values, 90), 2),
                    "calls": len(values),
                }
            started = time.perf_counter()
            calls_per_order = 0
            for _ in range(orders):
                calls_per_order = plane.one_order(uuid.uuid4().hex)
            seconds = time.perf_counter() - started
        finally:
            moto.terminate()
            moto.wait(10)
    return {
        "calls": per_kind,
        "calls_per_order": calls_per_order,
        "orders": orders,
        "order_ms": round(seconds * 1000 / orders, 1),
        "orders_per_s": round(orders / seconds, 1),
    }
