"""No loss, no duplicates: 1,000 orders through the local runtime, 10 % poison, some delivered twice.

900 valid orders (100 through the API, 800 straight onto OrdersQueue, 100 of those sent a second time as
SQS redeliveries) and 100 poison messages (not JSON, not an order, or an order OrdersTable refuses) must end
as exactly 900 orders stored once each, exactly 100 messages in OrdersDLQ with their bodies unchanged and
exactly one OrderCreated event per stored order. OrderCreated events are counted by a capture rule added
to the orders bus (through the runtime's AWS endpoint) with an SQS target: every event order_processor
puts on the bus lands there, so a duplicate emit is seen even though the projection is idempotent.

The test runs the app in a runtime of its own (the same dev assembly as the e2e session's): it is the
longest test of the suite, and on the session runtime it would run after every other e2e test on one
parallel worker. The least-privilege report does not need it: the e2e flows make the same calls.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from local_runtime.runtime import Runtime
from tests.e2e.conftest import LOCAL_ONLY, REMOTE, sign_up, start_runtime
from tests.e2e.test_flows import aws_client, env_of, queue_url, refused_by_the_table
from tests.helpers import eventually

USERS = 10
VALID_VIA_API = 100
VALID_VIA_QUEUE = 800
REDELIVERED = 100
POISON = 100
# Long enough that a batch in progress is never redelivered, with up to 5 batches at once on a loaded
# 2-core machine (the template's 180 s would take minutes to move a poison message to the DLQ after its
# 3 receives); the redrive policy under test is untouched.
VISIBILITY_TIMEOUT_S = 8


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Receive and delete every message on `url` until the queue holds none, visible or in flight.

    Called once OrdersQueue is empty, i.e. every batch has finished: by then moto has put each OrderCreated
    on the capture queue (EventBridge delivers to an SQS target within PutEvents) and moved each poison
    message to the DLQ (on the receive after its last), so nothing more can arrive.
    """
    received: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        ).get("Messages", [])
        if messages:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            received.extend(messages)
        elif _holds_nothing(sqs, url):
            return received


def _holds_nothing(sqs: Any, url: str) -> bool:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    counts = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    return all(attributes[name] == "0" for name in counts)


def _order(order_id: str, user_id: str, number: int) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "userId": user_id,
        "items": [{"sku": f"SKU-{number % 7}", "quantity": 1 + number % 3, "unitPriceCents": 100 + number}],
        "totalCents": (1 + number % 3) * (100 + number),
        "status": "ACCEPTED",
        "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def _poison(run: str, number: int) -> str:
    kind = number % 3
    if kind == 0:  # not JSON at all
        return f"not json {run} #{number}"
    if kind == 1:  # JSON, but not an order
        return json.dumps({"orderId": f"{run}-poison-{number}", "items": "not a list"})
    return json.dumps(refused_by_the_table(_order(f"{run}-refused-{number}", f"{run}-poison-user", number)))


def _send_batch(sqs: Any, url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        sent = sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)]
        )
        assert not sent.get("Failed"), sent["Failed"]


def _capture_order_created(local_app: Runtime, run: str) -> str:
    """A rule on the orders bus matching what the projection's rule matches, targeting a new queue."""
    sqs, events = aws_client(local_app, "sqs"), aws_client(local_app, "events")
    bus = env_of(local_app, "OrderProcessor", "EVENT_BUS_NAME")
    url = sqs.create_queue(QueueName=f"capture-order-created-{run}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"capture-order-created-{run}"
    events.put_rule(
        Name=rule,
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["orders"], "detail-type": ["OrderCreated"]}),
    )
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "capture", "Arn": arn}])
    return url


@pytest.fixture(scope="module")
def pipeline_app(dev_assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    if REMOTE:
        pytest.skip(LOCAL_ONLY)
    runtime = start_runtime(dev_assembly, tmp_path_factory.mktemp("pipeline-state"))
    yield runtime
    runtime.stop()


def test_1000_orders_with_poison_and_redelivery_lose_nothing_and_duplicate_nothing(
    pipeline_app: Runtime,
) -> None:
    api_url = pipeline_app.api_servers[0].base_url
    admin = sign_up(pipeline_app, admin=True, name="admin")
    run = uuid.uuid4().hex[:8]
    sqs = aws_client(pipeline_app, "sqs")
    orders_queue = queue_url(pipeline_app, "OrdersQueue3DFA1D51")
    orders_dlq = queue_url(pipeline_app, "OrdersDLQ8E8CD9EE")
    orders_table = env_of(pipeline_app, "OrderProcessor", "ORDERS_TABLE_NAME")
    dynamodb = pipeline_app.client("dynamodb")
    capture = _capture_order_created(pipeline_app, run)
    previous = sqs.get_queue_attributes(QueueUrl=orders_queue, AttributeNames=["VisibilityTimeout"])
    lowered = {"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S)}
    sqs.set_queue_attributes(QueueUrl=orders_queue, Attributes=lowered)
    lowered_at = time.monotonic()
    try:
        callers = [sign_up(pipeline_app, name=f"load{n}") for n in range(USERS)]
        for n, caller in enumerate(callers):
            profile = {"name": f"Load {n}", "email": caller.email}
            created = requests.post(f"{api_url}users", json=profile, headers=caller.headers, timeout=30)
            assert created.status_code == 201, created.text
        users = [caller.sub for caller in callers]
        # A long poll already under way when the timeout was lowered (<= 1 s) still uses the old one.
        time.sleep(max(0.0, lowered_at + 2.5 - time.monotonic()))
        expected: set[str] = set()
        for n in range(VALID_VIA_API):
            order = _order("ignored", users[n % USERS], n)
            accepted = requests.post(
                f"{api_url}orders",
                json={"items": order["items"]},
                headers=callers[n % USERS].headers,
                timeout=30,
            )
            assert accepted.status_code == 202, accepted.text
            expected.add(accepted.json()["orderId"])
        direct = [json.dumps(_order(f"{run}-{n:04d}", users[n % USERS], n)) for n in range(VALID_VIA_QUEUE)]
        expected |= {json.loads(body)["orderId"] for body in direct}
        poison = [_poison(run, n) for n in range(POISON)]
        # Interleaved: poison shares batches with valid orders; the second copies arrive while the first
        # ones are still being processed (at-least-once delivery as SQS does it). The poison goes among
        # the first 300 orders, so its three visibility timeouts pass while the rest is processed.
        mixed: list[str] = []
        for n, body in enumerate(direct):
            mixed += [body, poison[n // 3]] if n % 3 == 0 and n // 3 < POISON else [body]
        _send_batch(sqs, orders_queue, mixed[: len(mixed) // 2])
        _send_batch(sqs, orders_queue, direct[:REDELIVERED] + mixed[len(mixed) // 2 :])
        assert len(expected) == VALID_VIA_API + VALID_VIA_QUEUE == 900

        # Every message was either processed and deleted or dead-lettered: none waiting, none in flight.
        def queue_empty() -> bool:
            time.sleep(0.8)  # polled gently: scans and polls compete with the pipeline for the same cores
            return _holds_nothing(sqs, orders_queue)

        eventually(queue_empty, timeout_s=480, what="OrdersQueue to be empty")

        # 1. Every valid order stored, once (the table's key is orderId; no poison order was stored).
        items = _scan_orders(dynamodb, orders_table, set(users) | {f"{run}-poison-user"})
        assert len(items) == len(expected)
        assert Counter(item["orderId"]["S"] for item in items) == Counter(expected)
        assert {item["status"]["S"] for item in items} == {"CONFIRMED"}

        # 2. Every poison message in the DLQ with its body intact, and nothing else of this run.
        dead = [m for m in _drain(sqs, orders_dlq) if run in m["Body"]]
        assert Counter(m["Body"] for m in dead) == Counter(poison)
        assert len({m["MessageId"] for m in dead}) == POISON
        assert all(int(m["Attributes"]["ApproximateReceiveCount"]) >= 3 for m in dead)

        # 3. Exactly one OrderCreated per stored order.
        events = [json.loads(m["Body"]) for m in _drain(sqs, capture)]
        announced = Counter(e["detail"]["orderId"] for e in events if e["detail"]["userId"] in users)
        assert sum(announced.values()) == len(expected), announced.most_common(3)
        assert announced == Counter(expected)

        # 4. The projection counted each order once on its user.
        def projected() -> list[int] | None:
            counts = [
                requests.get(f"{api_url}users/{u}", headers=admin.headers, timeout=10).json()["orderCount"]
                for u in users
            ]
            if counts == [90] * USERS:
                return counts
            time.sleep(1)
            return None

        eventually(projected, timeout_s=300, what="90 orders projected on each user")
    finally:
        restored = {"VisibilityTimeout": previous["Attributes"]["VisibilityTimeout"]}
        sqs.set_queue_attributes(QueueUrl=orders_queue, Attributes=restored)


def _scan_orders(dynamodb: Any, table: str, user_ids: set[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**request)
        items.extend(item for item in page["Items"] if item.get("userId", {}).get("S") in user_ids)
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
