"""orders_api against moto: POST queues the order (202), GET reads OrdersTable, errors keep the contract."""

from __future__ import annotations

import json
import uuid

import pytest
from moto import mock_aws

from tests.aws_resources import create_queue, create_table, receive_all
from tests.conftest import load_function
from tests.events import LambdaContext, api_event, cognito_claims

ALICE_ID = "a11ce000-0000-4000-8000-000000000001"
ALICE = cognito_claims(ALICE_ID)
BOB = cognito_claims("b0b00000-0000-4000-8000-000000000002")
ADMIN = cognito_claims("ad000000-0000-4000-8000-000000000003", groups=("admins",))
ORDER = {"items": [{"sku": "SKU-1", "quantity": 2, "unitPriceCents": 1250}]}


@pytest.fixture
def aws(monkeypatch):
    with mock_aws():
        table = create_table("orders", "orderId")
        queue_url, _ = create_queue("orders-queue")
        monkeypatch.setenv("ORDERS_TABLE_NAME", "orders")
        monkeypatch.setenv("ORDERS_QUEUE_URL", queue_url)
        yield {"table": table, "queue_url": queue_url, "handler": load_function("orders_api")}


def call(aws, method, path, caller=ALICE, **kwargs):
    response = aws["handler"].lambda_handler(
        api_event(method, path, claims=caller, **kwargs), LambdaContext()
    )
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None, response


def assert_error(body, code):
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], list)
    assert body["requestId"]


def test_post_queues_the_order_and_answers_202_with_its_location(aws):
    status, body, response = call(aws, "POST", "/orders", body=ORDER)

    assert status == 202
    uuid.UUID(body["orderId"])
    assert body["status"] == "ACCEPTED"
    assert body["totalCents"] == 2500
    assert body["userId"] == ALICE_ID and body["items"] == ORDER["items"]  # the caller's own order
    assert response["multiValueHeaders"]["Location"] == [f"/dev/orders/{body['orderId']}"]
    (message,) = receive_all(aws["queue_url"])
    assert json.loads(message["Body"]) == body
    # Accepting does not write the table: order_processor does, once per orderId.
    assert aws["table"].scan()["Items"] == []


def test_each_post_is_a_new_order(aws):
    first = call(aws, "POST", "/orders", body=ORDER)[1]
    second = call(aws, "POST", "/orders", body=ORDER)[1]

    assert first["orderId"] != second["orderId"]
    assert {json.loads(m["Body"])["orderId"] for m in receive_all(aws["queue_url"])} == {
        first["orderId"],
        second["orderId"],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ORDER, "items": []}, "body.items"),
        ({**ORDER, "items": [{"sku": "A", "quantity": 0, "unitPriceCents": 1}]}, "body.items.0.quantity"),
        (
            {**ORDER, "items": [{"sku": "A", "quantity": 1, "unitPriceCents": -1}]},
            "body.items.0.unitPriceCents",
        ),
        ({**ORDER, "userId": "b0b00000-0000-4000-8000-000000000002"}, "body.userId"),  # only for yourself
        ({**ORDER, "totalCents": 1}, "body.totalCents"),  # the client cannot set the total
        # Found by schema fuzzing: JSON true/false or "2" were coerced into numbers.
        ({"items": [{"sku": "A", "quantity": 1, "unitPriceCents": True}]}, "body.items.0.unitPriceCents"),
        ({"items": [{"sku": "A", "quantity": "2", "unitPriceCents": 1}]}, "body.items.0.quantity"),
    ],
)
def test_invalid_orders_get_422_and_nothing_is_queued(aws, body, field):
    status, error, _ = call(aws, "POST", "/orders", body=body)

    assert status == 422
    assert_error(error, "ValidationError")
    assert field in [detail["field"] for detail in error["details"]]
    assert receive_all(aws["queue_url"]) == []


def test_malformed_json_gets_400(aws):
    status, error, _ = call(aws, "POST", "/orders", raw_body='{"items": ')

    assert status == 400
    assert_error(error, "MalformedJson")
    assert receive_all(aws["queue_url"]) == []


def _order_by(owner_id, order_id="o-1"):
    return {
        **ORDER,
        "userId": owner_id,
        "orderId": order_id,
        "totalCents": 2500,
        "status": "CONFIRMED",
        "createdAt": "2026-11-23T08:00:00.000+00:00",
        "orderDate": "2026-11-23",
        "confirmedAt": "2026-11-23T08:00:01.000+00:00",
    }


def get_order(aws, order_id, caller=ALICE):
    return call(
        aws,
        "GET",
        f"/orders/{order_id}",
        caller,
        resource="/orders/{orderId}",
        path_params={"orderId": order_id},
    )


@pytest.mark.parametrize("caller", [ALICE, ADMIN], ids=["owner", "admin"])
def test_get_returns_the_processed_order_to_its_owner_and_admins(aws, caller):
    stored = _order_by(ALICE_ID)
    aws["table"].put_item(Item=stored)

    status, body, _ = get_order(aws, "o-1", caller)

    assert status == 200
    assert body == stored


def test_someone_elses_order_is_not_found_exactly_like_a_missing_one(aws):
    aws["table"].put_item(Item=_order_by(ALICE_ID, "o-alice"))

    status, error, _ = get_order(aws, "o-alice", caller=BOB)
    missing_status, missing, _ = get_order(aws, "o-nope", caller=BOB)

    # 404 either way: Bob cannot tell that Alice's order id exists.
    assert (status, missing_status) == (404, 404)
    assert_error(error, "NotFound")
    assert error["message"] == missing["message"].replace("o-nope", "o-alice")
    assert "SKU-1" not in json.dumps(error) and ALICE_ID not in json.dumps(error)


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/orders", {"body": ORDER}),
        ("GET", "/orders/o-1", {"resource": "/orders/{orderId}", "path_params": {"orderId": "o-1"}}),
    ],
)
def test_a_request_without_a_verified_caller_is_401_and_queues_nothing(aws, method, path, kwargs):
    aws["table"].put_item(Item=_order_by(ALICE_ID))

    status, error, _ = call(aws, method, path, caller=None, **kwargs)

    assert status == 401
    assert_error(error, "Unauthorized")
    assert receive_all(aws["queue_url"]) == []


def test_get_of_an_unknown_order_is_404_in_the_error_contract(aws):
    status, error, _ = get_order(aws, "nope")

    assert status == 404
    assert_error(error, "NotFound")
    assert "nope" in error["message"]


def test_unknown_route_is_404_route_not_found(aws):
    status, error, _ = call(aws, "DELETE", "/orders")

    assert status == 404
    assert_error(error, "RouteNotFound")


def test_a_queue_failure_is_a_500_without_internals(aws, monkeypatch):
    monkeypatch.setenv("ORDERS_QUEUE_URL", aws["queue_url"] + "-missing")
    aws["handler"] = load_function("orders_api")

    status, error, _ = call(aws, "POST", "/orders", body=ORDER)

    assert status == 500
    assert_error(error, "InternalError")
    assert "missing" not in json.dumps(error)


def test_missing_configuration_fails_at_init_naming_the_variable(aws, monkeypatch):
    monkeypatch.delenv("ORDERS_QUEUE_URL")

    with pytest.raises(RuntimeError, match="ORDERS_QUEUE_URL"):
        load_function("orders_api")


def test_responses_echo_an_allowed_browser_origin(aws):
    # The stage's origins come from CORS_ALLOW_ORIGINS (tests/conftest.py: https://app.example.com).
    _, _, created = call(aws, "POST", "/orders", body=ORDER, headers={"Origin": "https://app.example.com"})
    headers = created["multiValueHeaders"]
    assert headers["Access-Control-Allow-Origin"] == ["https://app.example.com"]
    assert headers["Access-Control-Expose-Headers"] == ["Location"] and headers["Vary"] == ["Origin"]
    _, _, refused = call(aws, "POST", "/orders", body=ORDER, headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in refused["multiValueHeaders"]
