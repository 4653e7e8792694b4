"""Auth through the local runtime: the Cognito authorizer in front of every route and the per-user rules.

Two users and an admin of the app's user pool (moto) call the API over HTTP with their ID tokens.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource

from local_runtime.runtime import Runtime
from tests.e2e.conftest import ApiUser
from tests.helpers import eventually

ROUTES = [
    ("POST", "users"),
    ("GET", "users"),
    ("GET", "users/someone"),
    ("PUT", "users/someone"),
    ("DELETE", "users/someone"),
    ("POST", "orders"),
    ("GET", "orders/some-order"),
    ("POST", "uploads"),
]
ITEMS = {"items": [{"sku": "SKU-A", "quantity": 1, "unitPriceCents": 500}]}


def assert_error(response: requests.Response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "details", "requestId"}, body
    assert body["error"] == error and body["message"] and body["requestId"]
    return body


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def sign(claims: dict[str, Any], key: RSAKey, kid: str = "dummy") -> str:
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


# moto signs every pool's tokens with this fixed key (its own test resource): a token made with it is
# genuinely signed by the local pool, so only the claim under test is wrong.
POOL_KEY = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
UNSIGNED_HEADER = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
def alice(new_user: Callable[..., ApiUser], api_url: str) -> ApiUser:
    return _with_profile(new_user(name="alice"), "Alice", api_url)


@pytest.fixture(scope="module")
def bob(new_user: Callable[..., ApiUser], api_url: str) -> ApiUser:
    return _with_profile(new_user(name="bob"), "Bob", api_url)


def _with_profile(user: ApiUser, name: str, api_url: str) -> ApiUser:
    created = requests.post(
        f"{api_url}users", json={"name": name, "email": user.email}, headers=user.headers, timeout=30
    )
    assert created.status_code == 201, created.text
    return user


# --- the authorizer -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} /{p}" for m, p in ROUTES])
def test_every_route_refuses_a_request_without_a_token(api_url: str, method: str, path: str) -> None:
    response = requests.request(method, f"{api_url}{path}", json=ITEMS, timeout=30)

    # API Gateway answers (UNAUTHORIZED gateway response): no function runs, same JSON error contract.
    assert_error(response, 401, "Unauthorized")


TAMPERINGS = (
    "expired",
    "forged",
    "payload swapped",
    "other audience",
    "other issuer",
    "access token",
    "unsigned",
    "not a jwt",
)


@pytest.fixture(scope="module")
def tampered(alice: ApiUser) -> dict[str, str]:
    """Alice's ID token with one thing wrong each, made once (the forger's RSA key is slow to generate)."""
    claims = claims_of(alice.id_token)
    now = int(time.time())
    forger = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    header, payload, signature = alice.id_token.split(".")
    other = json.dumps({**claims, "sub": "someone-else"}).encode()
    tokens = {
        "expired": sign({**claims, "iat": now - 7200, "auth_time": now - 7200, "exp": now - 3600}, POOL_KEY),
        "forged": sign(claims, forger),  # same claims and kid, someone else's key
        "payload swapped": f"{header}.{base64.urlsafe_b64encode(other).decode().rstrip('=')}.{signature}",
        "other audience": sign({**claims, "aud": "not-a-client-of-this-pool"}, POOL_KEY),
        "other issuer": sign(
            {**claims, "iss": claims["iss"].rsplit("/", 1)[0] + "/us-east-1_Other"}, POOL_KEY
        ),
        "access token": sign({**claims, "token_use": "access"}, POOL_KEY),
        "unsigned": f"{UNSIGNED_HEADER}.{payload}.",
        "not a jwt": "let-me-in",
    }
    assert set(tokens) == set(TAMPERINGS)
    return tokens


@pytest.mark.parametrize("kind", TAMPERINGS)
def test_a_bad_token_is_refused_with_401(
    api_url: str, alice: ApiUser, tampered: dict[str, str], kind: str
) -> None:
    token = tampered[kind]

    response = requests.get(f"{api_url}users/{alice.sub}", headers={"Authorization": token}, timeout=30)

    assert_error(response, 401, "Unauthorized")
    # The same request with the real token goes through: only the tampering was refused.
    assert requests.get(f"{api_url}users/{alice.sub}", headers=alice.headers, timeout=30).status_code == 200


def test_the_callers_identity_comes_from_the_token_not_the_request(api_url: str, alice: ApiUser) -> None:
    mine = requests.get(f"{api_url}users/{alice.sub}", headers=alice.headers, timeout=30)

    assert mine.status_code == 200 and mine.json()["userId"] == alice.sub == claims_of(alice.id_token)["sub"]


# --- object-level rules ----------------------------------------------------------------------------


def test_users_read_and_change_only_their_own_record(api_url: str, alice: ApiUser, bob: ApiUser) -> None:
    bobs = f"{api_url}users/{bob.sub}"
    before = requests.get(bobs, headers=bob.headers, timeout=30).json()

    assert_error(requests.get(bobs, headers=alice.headers, timeout=30), 403, "Forbidden")
    changed = {"name": "Mallory", "email": "mallory@example.com"}
    assert_error(requests.put(bobs, json=changed, headers=alice.headers, timeout=30), 403, "Forbidden")
    assert_error(requests.delete(bobs, headers=alice.headers, timeout=30), 403, "Forbidden")

    assert requests.get(bobs, headers=bob.headers, timeout=30).json() == before
    own = requests.put(
        f"{api_url}users/{alice.sub}",
        json={"name": "Alice A", "email": alice.email},
        headers=alice.headers,
        timeout=30,
    )
    assert own.status_code == 200 and own.json()["name"] == "Alice A"


def test_only_admins_list_users_and_read_anyone(
    api_url: str, alice: ApiUser, bob: ApiUser, admin: ApiUser
) -> None:
    assert_error(requests.get(f"{api_url}users", headers=alice.headers, timeout=30), 403, "Forbidden")

    listed: set[str] = set()
    query: dict[str, Any] = {"limit": 100}
    while True:
        page = requests.get(f"{api_url}users", params=query, headers=admin.headers, timeout=30)
        assert page.status_code == 200, page.text
        listed |= {user["userId"] for user in page.json()["items"]}
        if not page.json()["nextToken"]:
            break
        query["nextToken"] = page.json()["nextToken"]
    assert {alice.sub, bob.sub} <= listed
    read = requests.get(f"{api_url}users/{bob.sub}", headers=admin.headers, timeout=30)
    assert read.status_code == 200 and read.json()["userId"] == bob.sub
    # Admins read; they do not change other people's records.
    assert_error(
        requests.delete(f"{api_url}users/{bob.sub}", headers=admin.headers, timeout=30), 403, "Forbidden"
    )


def test_orders_are_placed_for_oneself_and_hidden_from_others(
    api_url: str, alice: ApiUser, bob: ApiUser, admin: ApiUser
) -> None:
    on_behalf = requests.post(
        f"{api_url}orders", json={**ITEMS, "userId": bob.sub}, headers=alice.headers, timeout=30
    )
    assert_error(on_behalf, 422, "ValidationError")

    accepted = requests.post(f"{api_url}orders", json=ITEMS, headers=alice.headers, timeout=30)
    assert accepted.status_code == 202 and accepted.json()["userId"] == alice.sub
    order_url = f"{api_url}orders/{accepted.json()['orderId']}"
    eventually(
        lambda: requests.get(order_url, headers=alice.headers, timeout=30).status_code == 200,
        what="Alice's order to be processed",
    )

    hidden = assert_error(requests.get(order_url, headers=bob.headers, timeout=30), 404, "NotFound")
    unknown = assert_error(
        requests.get(f"{api_url}orders/no-such-order", headers=bob.headers, timeout=30), 404, "NotFound"
    )
    assert hidden["message"].replace(accepted.json()["orderId"], "X") == unknown["message"].replace(
        "no-such-order", "X"
    )
    assert requests.get(order_url, headers=admin.headers, timeout=30).json()["userId"] == alice.sub


def test_uploads_go_under_the_callers_own_prefix(api_url: str, alice: ApiUser, bob: ApiUser) -> None:
    request = {"fileName": "notes.txt", "contentType": "text/plain", "size": 5}

    keys = {
        user.sub: requests.post(f"{api_url}uploads", json=request, headers=user.headers, timeout=30).json()[
            "key"
        ]
        for user in (alice, bob)
    }

    assert all(key.startswith(f"uploads/{sub}/") for sub, key in keys.items())
    smuggled = requests.post(
        f"{api_url}uploads", json={**request, "userId": bob.sub}, headers=alice.headers, timeout=30
    )
    assert_error(smuggled, 422, "ValidationError")


def test_an_id_token_minted_for_the_local_pool_matches_what_the_runtime_created(
    local_app: Runtime, alice: ApiUser
) -> None:
    claims = claims_of(alice.id_token)
    pools = local_app.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"]
    (pool,) = [p for p in pools if claims["iss"].endswith("/" + p["Id"])]
    clients = local_app.client("cognito-idp").list_user_pool_clients(UserPoolId=pool["Id"])["UserPoolClients"]
    assert claims["aud"] in {c["ClientId"] for c in clients}
    assert claims["token_use"] == "id" and claims["email"] == alice.email
