"""The users API end to end through lambda_handler, against a moto DynamoDB table."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from service_common.env import MissingEnvironmentVariableError

from tests.aws_resources import create_page_token_secret
from tests.conftest import load_function
from tests.events import LambdaContext, api_event, cognito_claims

TABLE_NAME = "users"

# Callers as the Cognito authorizer passes them: two users and an admin (ids are their tokens' subs).
ALICE_ID = "a11ce000-0000-4000-8000-000000000001"
BOB_ID = "b0b00000-0000-4000-8000-000000000002"
ALICE = cognito_claims(ALICE_ID, email="alice@example.com")
BOB = cognito_claims(BOB_ID, email="bob@example.com")
ADMIN = cognito_claims("ad000000-0000-4000-8000-000000000003", groups=("admins",))

# GET routes add no metric; Powertools warns about the empty flush on every such call.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or None when the response has no body
    request_id: str  # the API Gateway request id of the event that was sent


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        table = boto3.resource("dynamodb").create_table(
            TableName=TABLE_NAME,
            KeySchema=[{"AttributeName": "userId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "userId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv("USERS_TABLE_NAME", TABLE_NAME)
        create_page_token_secret(monkeypatch)
        yield table


@pytest.fixture
def handler(table: Any) -> ModuleType:
    return load_function("users_api")


def send(
    handler: ModuleType, method: str, path: str, *, caller: dict | None = ALICE, **event_args: Any
) -> Reply:
    event = api_event(method, path, claims=caller, **event_args)
    response = handler.lambda_handler(event, LambdaContext())
    # REST (v1) responses carry headers in multiValueHeaders.
    headers = {name: values[0] for name, values in (response.get("multiValueHeaders") or {}).items()}
    body = json.loads(response["body"]) if response.get("body") else None
    return Reply(response["statusCode"], headers, body, event["requestContext"]["requestId"])


def send_to_user(handler: ModuleType, method: str, user_id: str, **event_args: Any) -> Reply:
    return send(
        handler,
        method,
        f"/users/{user_id}",
        resource="/users/{userId}",
        path_params={"userId": user_id},
        **event_args,
    )


def create(
    handler: ModuleType, name: str = "Ada Lovelace", email: str = "ada@example.com", caller: dict = ALICE
) -> dict:
    reply = send(handler, "POST", "/users", body={"name": name, "email": email}, caller=caller)
    assert reply.status == 201, reply.body
    return reply.body


def put_users(table: Any, count: int) -> set[str]:
    """Seed the table directly, so listing is tested independently of POST."""
    ids = set()
    with table.batch_writer() as batch:
        for n in range(count):
            user_id = str(uuid.uuid4())
            batch.put_item(
                Item={
                    "userId": user_id,
                    "name": f"User {n}",
                    "email": f"user{n}@example.com",
                    "createdAt": "2024-01-01T00:00:00.000+00:00",
                }
            )
            ids.add(user_id)
    return ids


def all_items(table: Any) -> list[dict]:
    return table.scan()["Items"]


def assert_error(reply: Reply, status: int, error: str, fields: list[str] | None = None) -> None:
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    assert set(reply.body) == {"error", "message", "details", "requestId"}
    assert reply.body["error"] == error
    assert reply.body["message"]
    assert reply.body["requestId"] == reply.request_id
    if fields is not None:
        assert [detail["field"] for detail in reply.body["details"]] == fields


# --- POST /users -------------------------------------------------------------------------------


def test_create_user_stores_the_callers_own_record_under_their_sub(handler: ModuleType, table: Any) -> None:
    reply = send(handler, "POST", "/users", body={"name": "  Ada Lovelace ", "email": "ada@example.com"})

    assert reply.status == 201
    user_id = reply.body["userId"]
    assert user_id == ALICE_ID  # from the authorizer's claims, not from anything the client sent
    assert reply.headers["Location"] == f"/dev/users/{user_id}"  # followable on the default endpoint
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.body["name"] == "Ada Lovelace"  # surrounding whitespace is stripped
    assert reply.body["email"] == "ada@example.com"
    assert datetime.fromisoformat(reply.body["createdAt"]).tzinfo is not None
    assert reply.body.get("updatedAt") is None

    stored = table.get_item(Key={"userId": user_id})["Item"]
    assert stored == {
        "userId": user_id,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "createdAt": reply.body["createdAt"],
    }


def test_each_caller_creates_their_own_record(handler: ModuleType, table: Any) -> None:
    alice = create(handler, "Ada", "ada@example.com", caller=ALICE)
    bob = create(handler, "Ada", "ada@example.com", caller=BOB)

    assert (alice["userId"], bob["userId"]) == (ALICE_ID, BOB_ID)
    assert {item["userId"] for item in all_items(table)} == {ALICE_ID, BOB_ID}


def test_create_never_overwrites_the_callers_existing_record(handler: ModuleType, table: Any) -> None:
    existing = {
        "userId": ALICE_ID,
        "name": "Old",
        "email": "old@example.com",
        "createdAt": "2024-01-01T00:00:00.000+00:00",
    }
    table.put_item(Item=existing)

    reply = send(handler, "POST", "/users", body={"name": "New", "email": "new@example.com"})

    assert_error(reply, 409, "UserExists", [])
    assert all_items(table) == [existing]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Ada", "email": "not-an-email"}, "body.email"),
        ({"name": "Ada"}, "body.email"),
        ({"email": "ada@example.com"}, "body.name"),
        ({"name": "   ", "email": "ada@example.com"}, "body.name"),
        ({"name": "x" * 101, "email": "ada@example.com"}, "body.name"),
        ({"name": "Ada", "email": "ada@example.com", "role": "admin"}, "body.role"),
        ({"name": "Ada", "email": "ada@example.com", "userId": "chosen"}, "body.userId"),
    ],
)
def test_create_rejects_invalid_body_with_422_naming_the_field(
    handler: ModuleType, table: Any, body: dict, field: str
) -> None:
    reply = send(handler, "POST", "/users", body=body)

    assert_error(reply, 422, "ValidationError", [field])
    assert field in reply.body["message"]
    assert all_items(table) == []


@pytest.mark.parametrize("raw_body", ["[]", '"ada"'])
def test_create_rejects_a_body_that_is_not_an_object(handler: ModuleType, table: Any, raw_body: str) -> None:
    reply = send(handler, "POST", "/users", raw_body=raw_body)

    assert_error(reply, 422, "ValidationError", ["body"])
    assert all_items(table) == []


def test_create_without_body_is_422(handler: ModuleType, table: Any) -> None:
    assert_error(send(handler, "POST", "/users"), 422, "ValidationError", ["body"])


@pytest.mark.parametrize("raw_body", ['{"name": "Ada", ', "{'name': 'Ada'}", "not json"])
def test_create_with_malformed_json_is_400(handler: ModuleType, table: Any, raw_body: str) -> None:
    reply = send(handler, "POST", "/users", raw_body=raw_body)

    assert_error(reply, 400, "MalformedJson", [])
    assert all_items(table) == []


# --- GET /users/{userId} -----------------------------------------------------------------------


def test_get_user_returns_the_stored_user(handler: ModuleType) -> None:
    created = create(handler)

    reply = send_to_user(handler, "GET", created["userId"])

    assert reply.status == 200
    assert reply.body == created


def test_get_unknown_user_is_404(handler: ModuleType) -> None:
    create(handler)

    reply = send_to_user(handler, "GET", "no-such-user", caller=ADMIN)

    assert_error(reply, 404, "NotFound", [])
    assert "no-such-user" in reply.body["message"]


def test_get_own_record_before_creating_it_is_404(handler: ModuleType) -> None:
    assert_error(send_to_user(handler, "GET", ALICE_ID), 404, "NotFound", [])


@pytest.mark.parametrize("target", ["existing", "missing"])
def test_a_user_cannot_read_someone_elses_record(handler: ModuleType, target: str) -> None:
    if target == "existing":
        create(handler, caller=BOB)

    reply = send_to_user(handler, "GET", BOB_ID, caller=ALICE)

    # 403 whether or not Bob has a record: the refusal comes before the lookup and leaks nothing.
    assert_error(reply, 403, "Forbidden", [])
    assert "Ada" not in json.dumps(reply.body)


def test_an_admin_reads_any_record(handler: ModuleType) -> None:
    bob = create(handler, caller=BOB)

    reply = send_to_user(handler, "GET", BOB_ID, caller=ADMIN)

    assert (reply.status, reply.body) == (200, bob)


def test_user_id_longer_than_64_characters_is_422(handler: ModuleType) -> None:
    assert_error(send_to_user(handler, "GET", "x" * 65), 422, "ValidationError", ["path.userId"])


# --- GET /users --------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", [ALICE, cognito_claims(ALICE_ID, groups=("readers", "administrators"))])
def test_only_admins_may_list_users(handler: ModuleType, table: Any, caller: dict) -> None:
    put_users(table, 3)

    reply = send(handler, "GET", "/users", caller=caller)

    assert_error(reply, 403, "Forbidden", [])
    assert "items" not in reply.body


def test_list_of_empty_table(handler: ModuleType) -> None:
    reply = send(handler, "GET", "/users", caller=ADMIN)

    assert reply.status == 200
    assert reply.body == {"items": [], "nextToken": None}


def test_list_returns_20_users_by_default(handler: ModuleType, table: Any) -> None:
    ids = put_users(table, 25)

    reply = send(handler, "GET", "/users", caller=ADMIN)

    assert reply.status == 200
    assert len(reply.body["items"]) == 20
    assert {item["userId"] for item in reply.body["items"]} <= ids
    assert reply.body["nextToken"]


def test_list_returns_users_as_stored(handler: ModuleType) -> None:
    created = create(handler)

    reply = send(handler, "GET", "/users", query={"limit": "5"}, caller=ADMIN)

    assert reply.body == {"items": [created], "nextToken": None}


def test_pagination_walks_every_user_exactly_once(handler: ModuleType, table: Any) -> None:
    ids = put_users(table, 7)
    seen: list[str] = []
    query = {"limit": "2"}

    for _ in range(10):  # 4 pages are needed; the bound stops a token that never ends
        reply = send(handler, "GET", "/users", query=query, caller=ADMIN)
        assert reply.status == 200, reply.body
        assert len(reply.body["items"]) <= 2
        seen += [item["userId"] for item in reply.body["items"]]
        if reply.body["nextToken"] is None:
            break
        query = {"limit": "2", "nextToken": reply.body["nextToken"]}
    else:
        pytest.fail("pagination did not end")

    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
def test_list_rejects_limit_outside_1_to_100(handler: ModuleType, limit: str) -> None:
    reply = send(handler, "GET", "/users", query={"limit": limit}, caller=ADMIN)

    assert_error(reply, 422, "ValidationError", ["query.limit"])


@pytest.mark.parametrize("limit", ["1", "100"])
def test_list_accepts_limit_bounds(handler: ModuleType, table: Any, limit: str) -> None:
    put_users(table, 3)

    reply = send(handler, "GET", "/users", query={"limit": limit}, caller=ADMIN)

    assert reply.status == 200
    assert len(reply.body["items"]) == min(int(limit), 3)


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token!",
        base64.urlsafe_b64encode(b"\xff\xfe not json").decode(),
        _b64(["userId"]),
        _b64({"id": "abc"}),
        _b64({"userId": 42}),
        _b64({"userId": "abc", "extra": "key"}),
    ],
)
def test_list_rejects_a_bad_next_token_with_400(handler: ModuleType, token: str) -> None:
    reply = send(handler, "GET", "/users", query={"nextToken": token}, caller=ADMIN)

    assert_error(reply, 400, "InvalidNextToken", ["query.nextToken"])


def _first_token(handler: ModuleType, table: Any, caller: dict = ADMIN) -> str:
    put_users(table, 3)
    reply = send(handler, "GET", "/users", query={"limit": "1"}, caller=caller)
    assert reply.status == 200 and reply.body["nextToken"], reply.body
    return reply.body["nextToken"]


def test_a_token_forged_from_a_real_key_is_rejected(handler: ModuleType, table: Any) -> None:
    # A well-formed ExclusiveStartKey used to pass as a token: clients could start a scan anywhere.
    user_id = sorted(put_users(table, 2))[0]
    forged = _b64({"userId": user_id})

    reply = send(handler, "GET", "/users", query={"nextToken": forged}, caller=ADMIN)

    assert_error(reply, 400, "InvalidNextToken", ["query.nextToken"])


def test_a_token_with_an_altered_key_is_rejected(handler: ModuleType, table: Any) -> None:
    _, mac = _first_token(handler, table).split(".")
    altered = base64.urlsafe_b64encode(json.dumps({"userId": "zzz"}).encode()).decode().rstrip("=")

    reply = send(handler, "GET", "/users", query={"nextToken": f"{altered}.{mac}"}, caller=ADMIN)

    assert_error(reply, 400, "InvalidNextToken", ["query.nextToken"])


def test_another_admins_token_is_rejected(handler: ModuleType, table: Any) -> None:
    token = _first_token(handler, table)
    other_admin = cognito_claims("ad000000-0000-4000-8000-000000000009", groups=("admins",))

    reply = send(handler, "GET", "/users", query={"nextToken": token}, caller=other_admin)

    assert_error(reply, 400, "InvalidNextToken", ["query.nextToken"])


def test_list_rejects_an_empty_next_token(handler: ModuleType) -> None:
    # Found by schema fuzzing: `?nextToken=` used to return the first page as if no token was sent.
    reply = send(handler, "GET", "/users", query={"nextToken": ""}, caller=ADMIN)

    assert_error(reply, 422, "ValidationError", ["query.nextToken"])


# --- PUT /users/{userId} -----------------------------------------------------------------------


def test_update_replaces_fields_and_keeps_created_at(handler: ModuleType, table: Any) -> None:
    created = create(handler)

    reply = send_to_user(
        handler, "PUT", created["userId"], body={"name": "Ada King", "email": "countess@example.com"}
    )

    assert reply.status == 200
    assert reply.body["userId"] == created["userId"]
    assert reply.body["name"] == "Ada King"
    assert reply.body["email"] == "countess@example.com"
    assert reply.body["createdAt"] == created["createdAt"]
    assert datetime.fromisoformat(reply.body["updatedAt"]) >= datetime.fromisoformat(created["createdAt"])
    projection_defaults = {"orderCount": 0, "lastOrderId": None, "lastOrderAt": None}
    assert reply.body | projection_defaults == reply.body  # no orders projected yet
    stored = table.get_item(Key={"userId": created["userId"]})["Item"]
    assert stored == {k: v for k, v in reply.body.items() if k not in projection_defaults}
    assert send_to_user(handler, "GET", created["userId"]).body == reply.body


def test_update_of_own_missing_record_is_404_and_creates_nothing(handler: ModuleType, table: Any) -> None:
    reply = send_to_user(handler, "PUT", ALICE_ID, body={"name": "Ada", "email": "ada@example.com"})

    assert_error(reply, 404, "NotFound", [])
    assert all_items(table) == []


@pytest.mark.parametrize("caller", [ALICE, ADMIN], ids=["other user", "admin"])
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_nobody_changes_someone_elses_record(
    handler: ModuleType, table: Any, caller: dict, method: str
) -> None:
    create(handler, "Bob", "bob@example.com", caller=BOB)
    before = all_items(table)
    body = {"name": "Mallory", "email": "mallory@example.com"} if method == "PUT" else None

    reply = send_to_user(handler, method, BOB_ID, body=body, caller=caller)

    assert_error(reply, 403, "Forbidden", [])
    assert all_items(table) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Ada", "email": "nope"}, "body.email"),
        ({"name": "Ada", "email": "ada@example.com", "createdAt": "yesterday"}, "body.createdAt"),
    ],
)
def test_update_with_invalid_body_is_422_and_changes_nothing(
    handler: ModuleType, table: Any, body: dict, field: str
) -> None:
    created = create(handler)
    before = all_items(table)

    reply = send_to_user(handler, "PUT", created["userId"], body=body)

    assert_error(reply, 422, "ValidationError", [field])
    assert all_items(table) == before


def test_update_with_malformed_json_is_400(handler: ModuleType) -> None:
    created = create(handler)

    assert_error(send_to_user(handler, "PUT", created["userId"], raw_body="{"), 400, "MalformedJson", [])


# --- DELETE /users/{userId} --------------------------------------------------------------------


def test_delete_returns_204_and_removes_only_that_user(handler: ModuleType, table: Any) -> None:
    doomed = create(handler, "Doomed", "doomed@example.com", caller=ALICE)
    kept = create(handler, "Kept", "kept@example.com", caller=BOB)

    reply = send_to_user(handler, "DELETE", doomed["userId"])

    assert reply.status == 204
    assert reply.body is None
    assert [item["userId"] for item in all_items(table)] == [kept["userId"]]
    assert_error(send_to_user(handler, "GET", doomed["userId"]), 404, "NotFound", [])


def test_delete_twice_is_404_the_second_time(handler: ModuleType) -> None:
    created = create(handler)
    assert send_to_user(handler, "DELETE", created["userId"]).status == 204

    assert_error(send_to_user(handler, "DELETE", created["userId"]), 404, "NotFound", [])


def test_delete_of_own_missing_record_is_404_and_leaves_others(handler: ModuleType, table: Any) -> None:
    created = create(handler, caller=BOB)

    assert_error(send_to_user(handler, "DELETE", ALICE_ID), 404, "NotFound", [])
    assert [item["userId"] for item in all_items(table)] == [created["userId"]]


# --- Routing and unexpected errors -------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("GET", "/nothing"), ("PATCH", "/users"), ("POST", "/users/x")])
def test_unknown_route_is_404_json(handler: ModuleType, method: str, path: str) -> None:
    reply = send(handler, method, path)

    assert_error(reply, 404, "RouteNotFound", [])


_OWN = {"resource": "/users/{userId}", "path_params": {"userId": ALICE_ID}}
ROUTES = [
    ("POST", "/users", {"body": {"name": "Ada", "email": "ada@example.com"}}),
    ("GET", "/users", {"caller": ADMIN}),
    ("GET", f"/users/{ALICE_ID}", _OWN),
    ("PUT", f"/users/{ALICE_ID}", {**_OWN, "body": {"name": "Ada", "email": "ada@example.com"}}),
    ("DELETE", f"/users/{ALICE_ID}", _OWN),
]


@pytest.mark.parametrize(("method", "path", "event_args"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_a_request_without_a_verified_caller_is_401_and_touches_nothing(
    handler: ModuleType, table: Any, method: str, path: str, event_args: dict
) -> None:
    table.put_item(Item={"userId": ALICE_ID, "name": "Ada", "email": "a@example.com", "createdAt": "x"})
    before = all_items(table)

    reply = send(handler, method, path, **{**event_args, "caller": None})

    assert_error(reply, 401, "Unauthorized", [])
    assert all_items(table) == before


@pytest.mark.parametrize(("method", "path", "event_args"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_dynamodb_failure_is_500_without_internals(
    handler: ModuleType, table: Any, method: str, path: str, event_args: dict
) -> None:
    # A missing table is a real DynamoDB error (ResourceNotFoundException): it must not pass for a 404.
    table.delete()

    reply = send(handler, method, path, **event_args)

    assert reply.status == 500
    assert reply.body == {
        "error": "InternalError",
        "message": "Internal server error",
        "details": [],
        "requestId": reply.request_id,
    }


def test_unexpected_client_error_text_never_reaches_the_client(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: Any, **__: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "InternalServerError", "Message": "secret-table-detail"}}, "GetItem"
        )

    monkeypatch.setattr(handler.users, "get", fail)

    reply = send_to_user(handler, "GET", ALICE_ID)

    assert_error(reply, 500, "InternalError", [])
    text = json.dumps(reply.body)
    for leak in ("secret-table-detail", "ClientError", "Traceback", "InternalServerError", ".py"):
        assert leak not in text


# --- Configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_import_fails_naming_missing_table_variable(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("USERS_TABLE_NAME", raising=False)
    else:
        monkeypatch.setenv("USERS_TABLE_NAME", value)

    with pytest.raises(MissingEnvironmentVariableError, match="USERS_TABLE_NAME"):
        load_function("users_api")


def test_get_shows_the_order_projection_maintained_by_order_projection(
    handler: ModuleType, table: Any
) -> None:
    created = create(handler)
    table.update_item(
        Key={"userId": created["userId"]},
        UpdateExpression="SET orderCount = :n, lastOrderId = :id, lastOrderAt = :at",
        ExpressionAttributeValues={":n": 2, ":id": "o-2", ":at": "2026-11-23T08:00:00.000+00:00"},
    )

    reply = send_to_user(handler, "GET", created["userId"])

    assert (reply.body["orderCount"], reply.body["lastOrderId"]) == (2, "o-2")


# --- CORS: the functions' own responses carry the stage's CORS headers ---------------------------------

APP = "https://app.example.com"
ADMIN_APP = "https://admin.example.com"


def load_with_origins(monkeypatch: pytest.MonkeyPatch, origins: str) -> ModuleType:
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", origins)
    return load_function("users_api")


def cors_headers(reply: Reply) -> dict[str, str]:
    return {name: value for name, value in reply.headers.items() if name.startswith("Access-Control-")}


@pytest.mark.parametrize("origin", [APP, ADMIN_APP])
def test_an_allowed_origin_is_echoed_with_vary_origin(
    monkeypatch: pytest.MonkeyPatch, table: Any, origin: str
) -> None:
    handler = load_with_origins(monkeypatch, f"{APP},{ADMIN_APP}")
    body = {"name": "Ada Lovelace", "email": "ada@example.com"}
    created = send(handler, "POST", "/users", body=body, headers={"Origin": origin})
    assert created.status == 201
    assert created.headers["Access-Control-Allow-Origin"] == origin
    assert created.headers["Vary"] == "Origin"
    # A browser script may only read Location from a cross-origin response if it is exposed.
    assert created.headers["Access-Control-Expose-Headers"] == "Location"
    assert created.headers["Location"] == f"/dev/users/{ALICE_ID}"


@pytest.mark.parametrize(
    ("method", "path", "event_args", "status"),
    [
        ("GET", "/users/nobody", {"resource": "/users/{userId}", "path_params": {"userId": "nobody"}}, 403),
        ("POST", "/users", {"raw_body": "{not json"}, 400),
        ("POST", "/users", {"body": {"name": ""}}, 422),
        ("PATCH", "/users", {}, 404),
    ],
)
def test_error_responses_carry_cors_headers_too(
    monkeypatch: pytest.MonkeyPatch, table: Any, method: str, path: str, event_args: dict, status: int
) -> None:
    # Without them a browser cannot read the error: fetch() fails as if the network were down.
    handler = load_with_origins(monkeypatch, f"{APP},{ADMIN_APP}")
    reply = send(handler, method, path, headers={"Origin": ADMIN_APP}, **event_args)
    assert reply.status == status
    assert reply.headers["Access-Control-Allow-Origin"] == ADMIN_APP
    assert reply.headers["Vary"] == "Origin"


@pytest.mark.parametrize("origin", ["https://evil.example.com", "https://app.example.com.evil.test", "null"])
def test_a_disallowed_origin_gets_no_cors_headers(
    monkeypatch: pytest.MonkeyPatch, table: Any, origin: str
) -> None:
    handler = load_with_origins(monkeypatch, f"{APP},{ADMIN_APP}")
    reply = send(handler, "GET", "/users", caller=ADMIN, headers={"Origin": origin})
    assert reply.status == 200  # API Gateway's preflight already stops a browser from sending it
    assert cors_headers(reply) == {}
    # Still varies by Origin: a cache must not hand this response to an allowed origin, or the reverse.
    assert reply.headers["Vary"] == "Origin"


def test_a_request_without_origin_gets_no_cors_headers(monkeypatch: pytest.MonkeyPatch, table: Any) -> None:
    handler = load_with_origins(monkeypatch, APP)
    reply = send(handler, "GET", "/users", caller=ADMIN)
    assert reply.status == 200 and cors_headers(reply) == {}


def test_any_origin_when_the_stage_allows_star(monkeypatch: pytest.MonkeyPatch, table: Any) -> None:
    handler = load_with_origins(monkeypatch, "*")
    reply = send(handler, "GET", "/users", caller=ADMIN, headers={"Origin": "https://anyone.example"})
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in reply.headers  # the same answer for every origin


def test_import_fails_naming_missing_cors_variable(monkeypatch: pytest.MonkeyPatch, table: Any) -> None:
    monkeypatch.delenv("CORS_ALLOW_ORIGINS")
    with pytest.raises(MissingEnvironmentVariableError, match="CORS_ALLOW_ORIGINS"):
        load_function("users_api")


@pytest.mark.parametrize(
    "origins",
    [
        "*,https://app.example.com",
        "https://app.example.com/",
        "app.example.com",
        "https://App.example.com",
        "a,,b",
    ],
)
def test_import_fails_naming_malformed_cors_origins(
    monkeypatch: pytest.MonkeyPatch, table: Any, origins: str
) -> None:
    # Powertools compares origins as strings: one that can never match a browser's Origin is a config bug.
    with pytest.raises(ValueError, match="CORS_ALLOW_ORIGINS="):
        load_with_origins(monkeypatch, origins)
