"""order_projection against moto: counts each order once on its user, keeps the latest order."""

from __future__ import annotations

import pytest
from moto import mock_aws
from pydantic import ValidationError

from tests.aws_resources import create_table
from tests.conftest import load_function
from tests.events import LambdaContext, eventbridge_event


def created(order_id: str, at: str, user_id: str = "user-1") -> dict:
    return eventbridge_event(
        "orders",
        "OrderCreated",
        {"orderId": order_id, "userId": user_id, "totalCents": 2500, "createdAt": at},
    )


@pytest.fixture
def aws(monkeypatch):
    with mock_aws():
        users = create_table("users", "userId")
        users.put_item(Item={"userId": "user-1", "name": "Ada", "email": "ada@example.com"})
        idempotency = create_table("idempotency", "id")
        monkeypatch.setenv("USERS_TABLE_NAME", "users")
        monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "idempotency")
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "order-projection")
        handler = load_function("order_projection")
        yield {
            "users": users,
            "idempotency": idempotency,
            "invoke": lambda event: handler.lambda_handler(event, LambdaContext("order-projection")),
        }


def user(aws, user_id="user-1"):
    return aws["users"].get_item(Key={"userId": user_id}).get("Item")


def test_an_order_is_counted_on_its_user_and_becomes_the_last_order(aws):
    result = aws["invoke"](created("o-1", "2026-11-23T08:00:00.000Z"))

    assert result == {"orderId": "o-1", "outcome": "latest"}
    assert user(aws) == {
        "userId": "user-1",
        "name": "Ada",
        "email": "ada@example.com",
        "orderCount": 1,
        "lastOrderId": "o-1",
        "lastOrderAt": "2026-11-23T08:00:00.000Z",
    }


def test_the_same_event_delivered_twice_counts_once(aws):
    event = created("o-1", "2026-11-23T08:00:00.000Z")
    aws["invoke"](event)
    # EventBridge and Lambda's async retries are at-least-once: a redelivery may carry a new event id.
    aws["invoke"]({**event, "id": "another-delivery"})

    assert user(aws)["orderCount"] == 1


def test_an_older_order_arriving_late_is_counted_but_does_not_replace_the_last_order(aws):
    aws["invoke"](created("o-new", "2026-11-23T09:00:00.000Z"))
    result = aws["invoke"](created("o-old", "2026-11-23T08:00:00.000Z"))

    assert result["outcome"] == "counted"
    item = user(aws)
    assert (item["orderCount"], item["lastOrderId"]) == (2, "o-new")


def test_an_order_of_an_unknown_user_fails_so_it_is_retried_then_dead_lettered(aws):
    event = created("o-1", "2026-11-23T08:00:00.000Z", user_id="ghost")
    with pytest.raises(LookupError, match="User ghost does not exist"):
        aws["invoke"](event)

    assert user(aws, "ghost") is None
    assert user(aws)["email"] == "ada@example.com" and "orderCount" not in user(aws)
    # The failure is not remembered as done: once the user exists, a retry projects the order.
    assert aws["idempotency"].scan()["Items"] == []
    aws["users"].put_item(Item={"userId": "ghost", "name": "G", "email": "g@example.com"})
    assert aws["invoke"](event)["outcome"] == "latest"
    assert user(aws, "ghost")["orderCount"] == 1


def test_an_invalid_event_raises_so_lambda_retries_and_dead_letters_it(aws):
    event = eventbridge_event("orders", "OrderCreated", {"orderId": "o-1"})

    with pytest.raises(ValidationError):
        aws["invoke"](event)
    assert "orderCount" not in user(aws)
    assert aws["idempotency"].scan()["Items"] == []
