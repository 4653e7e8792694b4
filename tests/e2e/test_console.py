"""The local console in a real browser (Debian's chromium, headless), Swagger UI served beside the API,
and the console's actions on the CLI (`python -m local_runtime redrive ...`) against this app.

Needs /usr/bin/chromium (`make browser`; CI's .ci/run installs it): skipped without it on a developer's
machine, a failure in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from local_runtime.runtime import Runtime
from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import LOCAL_ONLY, REMOTE, sign_up, start_runtime
from tests.helpers import eventually

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(bool(REMOTE), reason=LOCAL_ONLY)


@pytest.fixture(scope="module")
def console_app(dev_assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    state = tmp_path_factory.mktemp("console-state")
    runtime = start_runtime(dev_assembly, state, openapi=PROJECT_ROOT / "docs" / "openapi.json")
    yield runtime
    runtime.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install it (make browser)", pytrace=False)
        pytest.skip(f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing; run `make browser`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def _queue(runtime: Runtime, suffix: str) -> str:
    return next(q for q in runtime.summary["queues"] if q.startswith(suffix))


def test_the_console_shows_an_order_s_invocations_and_a_dlq_filling_then_emptied(
    console_app: Runtime, browser: Any, tmp_path: Path
) -> None:
    """An order of a user with no user record: the API accepts it, the processor stores it, the
    projection fails on each of its async attempts and the event lands in its DLQ."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console_url = f"http://127.0.0.1:{console_app.control_port}/"
    assert f"Console: {console_url}  (invocations, queues and DLQs, tables, buckets)" in console_app.output  # type: ignore[attr-defined]
    page.goto(console_url)
    dlq = _queue(console_app, "Orders-Dev-Data-OrderProjectionDLQ")
    depth = page.locator(f'#queues tr[data-queue="{dlq}"] .depth')
    depth.wait_for()
    assert depth.inner_text() == "0"

    user = sign_up(console_app, name="console")
    placed = requests.post(
        f"{console_app.api_servers[0].base_url}orders",
        json={"items": [{"sku": "SKU-C", "quantity": 2, "unitPriceCents": 150}]},
        headers={"Authorization": user.id_token},
        timeout=10,
    )
    assert placed.status_code == 202, placed.text

    api_row = page.locator('#invocations tr[data-function="OrdersApi"]', has_text="POST /orders")
    api_row.first.wait_for(timeout=15_000)
    assert "202" in api_row.first.inner_text()
    page.locator('#invocations tr[data-function="OrderProcessor"]').first.wait_for(timeout=15_000)
    eventually(lambda: depth.inner_text() == "1", 30, "the projection's DLQ depth in the console")
    # The first attempt and Lambda's 2 async retries (the page polls invocations and queues separately).
    failed = page.locator('#invocations tr.error[data-function="OrderProjection"]')
    eventually(lambda: failed.count() == 3, 10, "the projection's 3 failed attempts in the console")
    # A row opens to the function's own log lines for that invocation.
    api_row.first.click()
    logs = page.locator("#invocations tr:not([hidden]) pre").first
    assert "START RequestId" in logs.inner_text() and "OrderAccepted" in logs.inner_text()  # its EMF metric
    # The README's screenshot: CONSOLE_SCREENSHOT=docs/console.png regenerates it.
    page.screenshot(
        path=os.environ.get("CONSOLE_SCREENSHOT") or str(tmp_path / "console.png"), full_page=True
    )

    page.locator(f'#queues tr[data-queue="{dlq}"] button', has_text="Peek").click()
    message = page.locator("#messages .message").first
    message.wait_for()
    assert placed.json()["orderId"] in message.inner_text()
    message.locator("button", has_text="Delete").click()
    eventually(lambda: depth.inner_text() == "0", 10, "the DLQ empty after Delete")
    page.close()


def test_swagger_ui_is_served_from_the_installed_package_with_the_local_stage_as_server(
    console_app: Runtime, browser: Any
) -> None:
    server = console_app.api_servers[0]
    assert f"Swagger UI: {server.swagger_url}" in console_app.output  # type: ignore[attr-defined]
    document = requests.get(f"{server.swagger_url}openapi.json", timeout=10).json()
    assert document["servers"] == [{"url": server.base_url.rstrip("/"), "description": "local runtime"}]
    assert "/orders/{orderId}" in document["paths"]

    admin = sign_up(console_app, admin=True, name="swagger")
    page = browser.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith(server.swagger_url) or r.url.startswith("data:")
            else outside.append(r.url)
        ),
    )
    page.goto(server.swagger_url)
    page.locator(".opblock-summary-path", has_text="/users").first.wait_for(timeout=15_000)
    assert outside == [], f"Swagger UI fetched from outside the runtime: {outside}"
    # "Authorize" takes the local ID token; "Try it out" then calls the local stage with it.
    page.locator("button.authorize").first.click()
    page.locator(".modal-ux input").first.fill(admin.id_token)
    page.locator(".modal-ux button.authorize").click()
    page.locator(".modal-ux button.close-modal").click()
    operation = page.locator("#operations-Users-get_users")
    if operation.count() == 0:  # the operation id depends on the document; fall back to the path
        operation = page.locator(
            ".opblock-get", has=page.locator(".opblock-summary-path", has_text="/users")
        ).first
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=15_000)
    assert status.inner_text().strip() == "200", operation.inner_text()  # the admin's token was sent
    assert '"items"' in operation.locator(".live-responses-table tbody").inner_text()  # the users page
    page.close()


def test_cli_redrive_moves_a_dlq_message_back_to_its_queue_and_it_is_processed(console_app: Runtime) -> None:
    """The orders queue's DLQ gets a valid order message (one the processor once failed on); `redrive`
    moves it to the orders queue, whose processor stores it."""
    user = sign_up(console_app, name="redrive")
    order_id = str(uuid.uuid4())
    order = {
        "orderId": order_id,
        "userId": user.sub,
        "items": [{"sku": "SKU-R", "quantity": 1, "unitPriceCents": 500}],
        "totalCents": 500,
        "status": "ACCEPTED",
        "createdAt": datetime.now(UTC).isoformat(),
    }
    dlq = _queue(console_app, "Orders-Dev-Data-OrdersDLQ")
    sqs = console_app.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=dlq)["QueueUrl"], MessageBody=json.dumps(order))
    cli = [sys.executable, "-m", "local_runtime", "--state-dir", str(console_app.options.state_dir)]

    peeked = subprocess.run([*cli, "messages", dlq], capture_output=True, text=True, check=True, timeout=60)
    assert [m["body"] for m in json.loads(peeked.stdout)] == [json.dumps(order)]
    moved = subprocess.run([*cli, "redrive", dlq], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(moved.stdout) == {
        "from": dlq,
        "to": _queue(console_app, "Orders-Dev-Data-OrdersQueue"),
        "moved": 1,
    }
    stored = eventually(
        lambda: requests.get(
            f"{console_app.api_servers[0].base_url}orders/{order_id}",
            headers={"Authorization": user.id_token},
            timeout=10,
        ),
        20,
        "the redriven order stored",
    )
    assert stored.status_code == 200 and stored.json()["status"] == "CONFIRMED"

    # A queue that is nobody's DLQ has no source to go back to: a clear error, nothing moved.
    refused = subprocess.run(
        [*cli, "redrive", _queue(console_app, "Orders-Dev-Data-OrdersQueue")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "it is no queue's DLQ" in refused.stderr
    orders_table = next(t for t in console_app.summary["tables"] if "OrdersTable" in t)
    items = subprocess.run(
        [*cli, "items", orders_table, "--limit", "100"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert order_id in {item.get("orderId") for item in json.loads(items.stdout)["items"]}


def test_console_actions_fire_copy_token_page_items_and_objects_and_list_denied_calls(
    console_app: Runtime, browser: Any
) -> None:
    """The page's other actions, clicked in the browser: Fire now (the schedule's function runs), Copy ID
    token (a token the API accepts), a table's items and a bucket's objects; and a denied call listed."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"http://127.0.0.1:{console_app.control_port}/")
    user = sign_up(console_app, name="clipboard")

    page.locator("#schedules button", has_text="Fire now").first.click()
    page.locator('#invocations tr[data-function="DailyReport"]').first.wait_for(timeout=30_000)
    page.locator("#note", has_text="fired").wait_for()

    row = page.locator("#users tr", has_text=user.email)
    row.wait_for(timeout=10_000)
    row.locator("button", has_text="Copy ID token").click()
    page.locator("#note", has_text="ID token of").wait_for()
    token = page.evaluate("navigator.clipboard.readText()")
    answer = requests.get(
        f"{console_app.api_servers[0].base_url}orders", headers={"Authorization": token}, timeout=10
    )
    assert answer.status_code == 200, answer.text

    reports = next(b for b in console_app.summary["buckets"] if "reports" in b)
    page.select_option("#bucket-select", reports)
    page.locator("#bucket-load").click()
    page.locator("#objects td", has_text="reports/").first.wait_for(timeout=10_000)  # the fired report
    orders = next(t for t in console_app.summary["tables"] if "OrdersTable" in t)
    page.select_option("#table-select", orders)
    page.locator("#table-load").click()
    page.locator("#items table").wait_for()

    # A call with FilesApi's credentials that its role does not allow (it may never write) is refused by
    # the IAM gateway, and the console lists it.
    assert console_app.gateway is not None
    spec = console_app.find_function("FilesApi")
    identity = console_app.gateway.identities[spec.access_key]
    s3 = boto3.client(
        "s3",
        endpoint_url=console_app.gateway.url,
        region_name="us-east-1",
        aws_access_key_id=spec.access_key,
        aws_secret_access_key=identity.secret_key,
        aws_session_token=identity.session_token,
    )
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.put_object(Bucket=reports, Key="not-allowed.txt", Body=b"x")
    denied = page.locator("#denied tr", has_text="s3:PutObject")
    denied.wait_for(timeout=10_000)
    assert "FilesApi" in denied.inner_text() and "not-allowed.txt" in denied.inner_text()
    page.close()
