"""Users CRUD over HTTP against the synthesized app run by the local runtime."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from local_runtime.runtime import Runtime
from tests.e2e.conftest import ApiUser


def test_users_crud_over_http(api_url: str, new_user: Callable[..., ApiUser]) -> None:
    user = new_user()
    auth = user.headers
    created = requests.post(
        f"{api_url}users", json={"name": "Ada", "email": user.email}, headers=auth, timeout=30
    )
    assert created.status_code == 201, created.text
    assert created.json()["userId"] == user.sub  # the record is keyed by the token's sub
    # The link carries the stage, as on API Gateway's default endpoint: following it reaches the record.
    assert created.headers["Location"] == f"{urlsplit(api_url).path}users/{user.sub}"
    mine = urljoin(api_url, created.headers["Location"])
    fetched = requests.get(mine, headers=auth, timeout=10)
    assert fetched.status_code == 200 and fetched.json()["email"] == user.email
    updated = requests.put(mine, json={"name": "Ada L", "email": user.email}, headers=auth, timeout=10)
    assert updated.status_code == 200 and updated.json()["name"] == "Ada L"
    assert requests.delete(mine, headers=auth, timeout=10).status_code == 204
    missing = requests.get(mine, headers=auth, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"] == "NotFound"
    assert requests.delete(mine, headers=auth, timeout=10).status_code == 404


def test_list_pagination_and_validation(
    api_url: str, new_user: Callable[..., ApiUser], admin: ApiUser
) -> None:
    for index in range(3):
        user = new_user()
        response = requests.post(
            f"{api_url}users",
            json={"name": f"U{index}", "email": user.email},
            headers=user.headers,
            timeout=10,
        )
        assert response.status_code == 201
    page = {"limit": 2}
    first = requests.get(f"{api_url}users", params=page, headers=admin.headers, timeout=10).json()
    assert len(first["items"]) == 2 and first["nextToken"]
    second = requests.get(
        f"{api_url}users", params={**page, "nextToken": first["nextToken"]}, headers=admin.headers, timeout=10
    ).json()
    assert {u["userId"] for u in first["items"]}.isdisjoint({u["userId"] for u in second["items"]})
    someone = new_user()
    invalid = requests.post(
        f"{api_url}users", json={"name": "x", "email": "not-an-email"}, headers=someone.headers, timeout=10
    )
    assert invalid.status_code == 422 and invalid.json()["error"] == "ValidationError"
    malformed = requests.post(
        f"{api_url}users",
        data="{",
        headers={"Content-Type": "application/json", **someone.headers},
        timeout=10,
    )
    assert malformed.status_code == 400


def test_api_gateway_behaviour_for_unknown_routes_methods_and_cors(api_url: str) -> None:
    # API Gateway's own errors use the DEFAULT_4XX gateway response: the service's JSON error contract.
    unknown = requests.get(f"{api_url}nope", timeout=10)
    assert unknown.status_code == 403
    body = unknown.json()
    assert (body["error"], body["message"], body["details"]) == (
        "MISSING_AUTHENTICATION_TOKEN",
        "Missing Authentication Token",
        [],
    )
    assert body["requestId"]
    wrong_method = requests.patch(f"{api_url}users", timeout=10)
    assert wrong_method.status_code == 403 and wrong_method.json()["error"] == "MISSING_AUTHENTICATION_TOKEN"
    wrong_stage = requests.get(api_url.replace("/dev/", "/prod/") + "users", timeout=10)
    assert wrong_stage.status_code == 403 and wrong_stage.json() == {"message": "Forbidden"}
    preflight = requests.options(f"{api_url}users/abc", timeout=10)
    assert preflight.status_code == 204
    assert "DELETE" in preflight.headers["Access-Control-Allow-Methods"]


def test_measured_latency(local_app: Runtime, api_url: str, admin: ApiUser) -> None:
    """Records cold start and warm p50 (printed with -s; not asserted as timings)."""
    samples = []
    for _ in range(20):
        started = time.perf_counter()
        response = requests.get(f"{api_url}users", params={"limit": 1}, headers=admin.headers, timeout=10)
        assert response.status_code == 200
        samples.append((time.perf_counter() - started) * 1000)
    p50 = statistics.median(samples)
    print(f"\nruntime start-up {local_app.startup_s:.2f}s; warm GET /users p50 {p50:.1f} ms")
    assert p50 > 0


def test_invoke_cli_with_the_example_api_event(local_app: Runtime, capsys) -> None:
    from local_runtime.__main__ import main

    event = Path(__file__).resolve().parents[2] / "events" / "api-get-users.json"
    assert (
        main(["--state-dir", str(local_app.options.state_dir), "invoke", "UsersApi", "--event", str(event)])
        == 0
    )
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] and answer["function"] == "UsersApi"
    assert answer["result"]["statusCode"] == 200 and "items" in json.loads(answer["result"]["body"])
