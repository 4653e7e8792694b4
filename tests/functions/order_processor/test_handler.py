"""order_processor against moto: stores each order once, publishes OrderCreated, reports only bad records."""

from __future__ import annotations

import json

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto import mock_aws

from tests.aws_resources import capture_bus_events, create_queue, create_table, receive_all
from tests.conftest import load_function
from tests.events import LambdaContext, sqs_event


def order(order_id: str, user_id: str = "user-1") -> dict:
    return {
        "orderId": order_id,
        "userId": user_id,
        "items": [{"sku": "SKU-1", "quantity": 2, "unitPriceCents": 1250}],
        "totalCents": 2500,
        "status": "ACCEPTED",
        "createdAt": "2026-11-23T08:00:00.000Z",
    }


@pytest.fixture
def aws(monkeypatch):
    with mock_aws():
        orders = create_table("orders", "orderId")
        idempotency = create_table("idempotency", "id")
        boto3.client("events").create_event_bus(Name="orders-bus")
        captured = capture_bus_events("orders-bus", "orders", "OrderCreated")
        queue_url, queue_arn = create_queue("orders-queue")
        monkeypatch.setenv("ORDERS_TABLE_NAME", "orders")
        monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "idempotency")
        monkeypatch.setenv("EVENT_BUS_NAME", "orders-bus")
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "order-processor")
        yield {
            "orders": orders,
            "idempotency": idempotency,
            "captured": captured,
            "queue_url": queue_url,
            "queue_arn": queue_arn,
            "handler": load_function("order_processor"),
        }


def deliver(aws, *bodies: str) -> dict:
    """Send the bodies to the queue, receive them as Lambda's poller does, invoke the handler."""
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=aws["queue_url"], MessageBody=body)
    messages = receive_all(aws["queue_url"])
    assert len(messages) == len(bodies)
    event = sqs_event(messages, aws["queue_arn"])
    result = aws["handler"].lambda_handler(event, LambdaContext("order-processor"))
    return {"result": result, "ids": {m["Body"]: m["MessageId"] for m in messages}}


def published(aws) -> list[dict]:
    return [json.loads(m["Body"]) for m in receive_all(aws["captured"])]


def test_a_batch_is_stored_as_confirmed_and_announced(aws):
    outcome = deliver(aws, json.dumps(order("o-1")), json.dumps(order("o-2", "user-2")))

    assert outcome["result"] == {"batchItemFailures": []}
    stored = {item["orderId"]: item for item in aws["orders"].scan()["Items"]}
    assert set(stored) == {"o-1", "o-2"}
    confirmed_at = stored["o-1"].pop("confirmedAt")
    assert confirmed_at.endswith("+00:00") and confirmed_at >= order("o-1")["createdAt"][:10]
    # orderDate keys OrdersTable's byOrderDate index, read by the daily report.
    assert stored["o-1"] == {
        **order("o-1"),
        "status": "CONFIRMED",
        "orderDate": order("o-1")["createdAt"][:10],
    }
    events = published(aws)
    assert sorted(e["detail"]["orderId"] for e in events) == ["o-1", "o-2"]
    event = next(e for e in events if e["detail"]["orderId"] == "o-2")
    assert event["source"] == "orders" and event["detail-type"] == "OrderCreated"
    assert event["detail"] == {
        "orderId": "o-2",
        "userId": "user-2",
        "totalCents": 2500,
        "createdAt": "2026-11-23T08:00:00.000Z",
    }


@pytest.mark.parametrize(
    "bad_body",
    ["not json", json.dumps({"orderId": "o-x"}), json.dumps({**order("o-x"), "items": []})],
)
def test_only_the_bad_record_is_reported_failed(aws, bad_body):
    outcome = deliver(aws, json.dumps(order("o-1")), bad_body)

    assert outcome["result"] == {"batchItemFailures": [{"itemIdentifier": outcome["ids"][bad_body]}]}
    assert [item["orderId"] for item in aws["orders"].scan()["Items"]] == ["o-1"]
    assert [e["detail"]["orderId"] for e in published(aws)] == ["o-1"]


def test_a_redelivered_order_is_processed_once(aws):
    body = json.dumps(order("o-1"))
    deliver(aws, body)
    # The same message again (e.g. the delete after a successful batch was lost), and a duplicate send.
    again = deliver(aws, body, body)

    assert again["result"] == {"batchItemFailures": []}
    assert len(aws["orders"].scan()["Items"]) == 1
    assert [e["detail"]["orderId"] for e in published(aws)] == ["o-1"]
    (record,) = aws["idempotency"].scan()["Items"]
    assert record["status"] == "COMPLETED"
    assert "expiration" in record


def test_a_failed_publish_fails_the_record_and_a_retry_completes_it(aws, monkeypatch):
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
    aws["handler"] = load_function("order_processor")
    body = json.dumps(order("o-1"))

    # The whole batch failed: the invocation fails, so Lambda deletes nothing (and counts an error).
    with pytest.raises(BatchProcessingError, match="All records failed"):
        deliver(aws, body)

    assert aws["idempotency"].scan()["Items"] == []  # not remembered: the retry must do the work
    assert published(aws) == []

    monkeypatch.setenv("EVENT_BUS_NAME", "orders-bus")
    aws["handler"] = load_function("order_processor")
    retry = deliver(aws, body)

    assert retry["result"] == {"batchItemFailures": []}
    assert len(aws["orders"].scan()["Items"]) == 1  # stored by the first attempt, kept
    assert [e["detail"]["orderId"] for e in published(aws)] == ["o-1"]
