"""orders_api against moto: POST queues the order (202), GET reads OrdersTable, errors keep the contract."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from moto import mock_aws

from tests.aws_resources import create_page_token_secret, create_queue, create_table, receive_all
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
        table = create_table("orders", "orderId", indexes={"byUser": ("userId", "createdAt")})
        queue_url, _ = create_queue("orders-queue")
        monkeypatch.setenv("ORDERS_TABLE_NAME", "orders")
        monkeypatch.setenv("ORDERS_QUEUE_URL", queue_url)
        monkeypatch.setenv("ORDERS_BY_USER_INDEX", "byUser")
        create_page_token_secret(monkeypatch)
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
        # Found by schema fuzzing: the spec's maxLength 64 holds for the sku as sent, before stripping.
        ({"items": [{"sku": "\x85" + "S" * 64, "quantity": 1, "unitPriceCents": 1}]}, "body.items.0.sku"),
        ({"items": [{"sku": " \t ", "quantity": 1, "unitPriceCents": 1}]}, "body.items.0.sku"),  # blank
    ],
)
def test_invalid_orders_get_422_and_nothing_is_queued(aws, body, field):
    status, error, _ = call(aws, "POST", "/orders", body=body)

    assert status == 422
    assert_error(error, "ValidationError")
    assert field in [detail["field"] for detail in error["details"]]
    assert receive_all(aws["queue_url"]) == []


def test_an_sku_is_stored_without_surrounding_whitespace(aws):
    status, body, _ = call(aws, "POST", "/orders", body={"items": [{**ORDER["items"][0], "sku": " SKU-1\n"}]})

    assert status == 202 and body["items"][0]["sku"] == "SKU-1"


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


# --- GET /orders ---------------------------------------------------------------------------------


def _seed(aws, user_id, count, *, status="CONFIRMED", first_minute=0):
    """`count` orders of `user_id`, one a minute from 08:<first_minute>; returns their ids, oldest first."""
    ids = []
    for n in range(count):
        order = _order_by(user_id, f"{user_id[:4]}-{status[:1]}-{first_minute + n:02d}")
        order |= {"status": status, "createdAt": f"2026-11-23T08:{first_minute + n:02d}:00.000+00:00"}
        aws["table"].put_item(Item=order)
        ids.append(order["orderId"])
    return ids


def list_orders(aws, caller=ALICE, **query):
    return call(aws, "GET", "/orders", caller, query={k: str(v) for k, v in query.items()} or None)


def walk(aws, caller=ALICE, **query):
    """Every page of a listing: (ids in order, number of pages)."""
    ids, pages, token = [], 0, None
    while pages < 20:  # a bound, so a token that never ends fails the test
        status, body, _ = list_orders(aws, caller, **query, **({"nextToken": token} if token else {}))
        assert status == 200, body
        pages += 1
        ids += [order["orderId"] for order in body["items"]]
        token = body["nextToken"]
        if token is None:
            return ids, pages
    pytest.fail("pagination did not end")


def test_list_returns_the_callers_own_orders_newest_first(aws):
    mine = _seed(aws, ALICE_ID, 3)
    _seed(aws, BOB["sub"], 2)

    status, body, _ = list_orders(aws)

    assert status == 200
    assert [order["orderId"] for order in body["items"]] == mine[::-1]
    assert body["nextToken"] is None
    assert body["items"][0] == _order_by(ALICE_ID, mine[-1]) | {"createdAt": "2026-11-23T08:02:00.000+00:00"}


def test_pages_walk_every_order_exactly_once_in_order(aws):
    mine = _seed(aws, ALICE_ID, 7)

    ids, pages = walk(aws, limit=3)

    assert ids == mine[::-1] and pages == 3


def test_status_filter_returns_only_that_status_and_fills_pages(aws):
    confirmed = _seed(aws, ALICE_ID, 4)
    accepted = _seed(aws, ALICE_ID, 4, status="ACCEPTED", first_minute=10)

    assert walk(aws, status="CONFIRMED", limit=2) == (confirmed[::-1], 2)
    assert walk(aws, status="ACCEPTED", limit=4)[0] == accepted[::-1]


def test_an_admin_lists_any_users_orders(aws):
    alices = _seed(aws, ALICE_ID, 2)

    assert walk(aws, ADMIN, userId=ALICE_ID)[0] == alices[::-1]
    assert walk(aws, ADMIN)[0] == []  # without userId: the admin's own


def test_a_user_may_name_only_themselves_as_user_id(aws):
    _seed(aws, BOB["sub"], 1)
    assert walk(aws, ALICE, userId=ALICE_ID)[0] == []

    status, error, _ = list_orders(aws, ALICE, userId=BOB["sub"])

    assert status == 403
    assert_error(error, "Forbidden")


def _first_token(aws, caller=ALICE, **query):
    status, body, _ = list_orders(aws, caller, limit=1, **query)
    assert status == 200 and body["nextToken"], body
    return body["nextToken"]


@pytest.mark.parametrize(
    ("issued_for", "used_for"),
    [
        ({"caller": ALICE}, {"caller": BOB}),  # another user's token
        (
            {"caller": ADMIN, "userId": ALICE_ID},
            {"caller": ADMIN, "userId": BOB["sub"]},
        ),  # another user listed
        ({"caller": ALICE, "status": "CONFIRMED"}, {"caller": ALICE}),  # the filter dropped
        ({"caller": ALICE}, {"caller": ALICE, "status": "ACCEPTED"}),  # another filter
    ],
    ids=["other-caller", "other-user-listed", "filter-dropped", "other-filter"],
)
def test_a_token_is_only_good_for_the_listing_it_came_from(aws, issued_for, used_for):
    _seed(aws, ALICE_ID, 3)
    _seed(aws, ALICE_ID, 3, status="ACCEPTED", first_minute=10)
    _seed(aws, BOB["sub"], 3)
    issued = dict(issued_for)
    token = _first_token(aws, issued.pop("caller"), **issued)
    used = dict(used_for)

    status, error, _ = list_orders(aws, used.pop("caller"), nextToken=token, **used)

    assert status == 400
    assert_error(error, "InvalidNextToken")
    assert [detail["field"] for detail in error["details"]] == ["query.nextToken"]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # another mac
        lambda token: "e30" + token[token.index(".") :],  # another key ({}), the old mac
        lambda token: token.split(".")[0],  # no mac at all
        lambda token: base64.urlsafe_b64encode(b'{"orderId":"x","userId":"y","createdAt":"z"}').decode(),
        lambda token: "!!!.???",
    ],
    ids=["mac", "payload", "unsigned", "forged-key", "garbage"],
)
def test_a_tampered_or_forged_token_is_400(aws, tamper):
    _seed(aws, ALICE_ID, 3)

    status, error, _ = list_orders(aws, nextToken=tamper(_first_token(aws)))

    assert status == 400
    assert_error(error, "InvalidNextToken")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "101"}, "query.limit"),
        ({"status": "SHIPPED"}, "query.status"),
        ({"nextToken": ""}, "query.nextToken"),
        ({"userId": "x" * 65}, "query.userId"),
    ],
)
def test_invalid_list_parameters_are_422_naming_the_field(aws, query, field):
    status, error, _ = list_orders(aws, **query)

    assert status == 422
    assert_error(error, "ValidationError")
    assert [detail["field"] for detail in error["details"]] == [field]
