"""A real browser (Debian's chromium, headless) calls the API from pages on other origins.

The app is synthesized with this test's own page origins as the stage's `corsAllowOrigins` (two allowed
pages: the first origin is API Gateway's static preflight header, the second is echoed by its mapping
template) and run by the local runtime. Each page calls the API with an ID token the way a front end
does; chromium enforces CORS (preflight for `Authorization` / `Content-Type: application/json`, then
the response's Access-Control-Allow-Origin). A page on an origin that is not listed must be blocked.

Needs /usr/bin/chromium: `make browser` installs it (CI's .ci/run does). Without it the test is skipped
on a developer's machine and fails in CI.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from local_runtime.runtime import Runtime
from tests.e2e.conftest import ApiUser, sign_up, start_runtime
from tests.stacks.conftest import PROJECT_ROOT, synthesize

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: .ci/run must install it (make browser)", pytrace=False)
    pytest.skip(
        f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing; run `make browser` (apt-get install chromium)",
        allow_module_level=True,
    )

# What the front end does: fetch with the ID token, then read the JSON (and the exposed Location).
PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>CORS probe</title></head><body>
<script>
async function call(api, method, path, token, body) {
  const headers = {};
  if (token) headers["Authorization"] = token;
  if (body !== null) headers["Content-Type"] = "application/json";
  try {
    const response = await fetch(api + path, {
      method, headers, body: body === null ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      json: text ? JSON.parse(text) : null,
      location: response.headers.get("Location"),
    };
  } catch (error) {
    // A response the browser may not read (CORS) rejects fetch with a TypeError, like a network error.
    return {blocked: true, error: `${error.name}: ${error.message}`};
  }
}
// What the front end does with an upload ticket: PUT the file to the presigned URL with the ticket's headers.
async function upload(url, headers, size) {
  try {
    const response = await fetch(url, {method: "PUT", headers, body: new Uint8Array(size)});
    return {status: response.status, etag: response.headers.get("ETag")};
  } catch (error) {
    return {blocked: true, error: `${error.name}: ${error.message}`};
  }
}
</script></body></html>"""


class _PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_servers() -> Iterator[dict[str, str]]:
    """Three page origins on free ports: two the stage allows, one it does not."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler) for _ in range(3)]
    for server in servers:
        Thread(target=server.serve_forever, daemon=True).start()
    ports = [server.server_address[1] for server in servers]
    # The API is http://localhost:<its port>: every page below is another origin.
    yield {
        "first": f"http://127.0.0.1:{ports[0]}",
        "second": f"http://localhost:{ports[1]}",
        "disallowed": f"http://127.0.0.1:{ports[2]}",
    }
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser_app(page_servers: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The dev app whose corsAllowOrigins are the two allowed pages, run by the local runtime."""
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    stages = copy.deepcopy(context["stages"])
    stages["dev"]["corsAllowOrigins"] = [page_servers["first"], page_servers["second"]]
    assembly = tmp_path_factory.mktemp("cdk-browser")
    synthesize("dev", assembly, context_overrides={"stages": stages})
    runtime = start_runtime(assembly, tmp_path_factory.mktemp("browser-state"))
    yield runtime
    runtime.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A browser tab showing the probe page from one origin; `call` runs fetch() in it."""

    def __init__(self, browser: Any, origin: str, api_url: str) -> None:
        self.tab = browser.new_page()
        self.console: list[str] = []
        self.tab.on("console", lambda message: self.console.append(message.text))
        self.tab.goto(f"{origin}/")
        self.api_url = api_url

    def call(self, method: str, path: str, user: ApiUser | None, body: Any = None) -> dict[str, Any]:
        token = user.id_token if user else None
        return self.tab.evaluate(
            "([api, method, path, token, body]) => call(api, method, path, token, body)",
            [self.api_url, method, path, token, body],
        )

    def upload(self, ticket: dict[str, Any], size: int) -> dict[str, Any]:
        return self.tab.evaluate(
            "([url, headers, size]) => upload(url, headers, size)",
            [ticket["uploadUrl"], ticket["headers"], size],
        )


def _succeeded(result: dict[str, Any], status: int, what: str) -> dict[str, Any]:
    assert not result.get("blocked"), f"{what}: the browser blocked it: {result.get('error')}"
    assert result["status"] == status, f"{what}: {result}"
    return result


@pytest.mark.parametrize("page_origin", ["first", "second"])
def test_a_page_on_an_allowed_origin_calls_the_api_and_reads_every_response(
    browser: Any, browser_app: Runtime, page_servers: dict[str, str], page_origin: str
) -> None:
    page = Page(browser, page_servers[page_origin], browser_app.api_servers[0].base_url)
    user = sign_up(browser_app, name=f"browser-{page_origin}")

    created = _succeeded(
        page.call("POST", "users", user, {"name": "Ada", "email": user.email}), 201, "POST /users"
    )
    user_id = created["json"]["userId"]
    assert user_id == user.sub
    stage_path = urlsplit(browser_app.api_servers[0].base_url).path  # "/dev/": links keep the stage
    assert created["location"] == f"{stage_path}users/{user_id}"  # readable only because it is exposed
    read = _succeeded(page.call("GET", f"users/{user_id}", user), 200, "GET /users/{id}")
    assert read["json"]["email"] == user.email
    updated = _succeeded(
        page.call("PUT", f"users/{user_id}", user, {"name": "Ada L.", "email": user.email}), 200, "PUT"
    )
    assert updated["json"]["name"] == "Ada L."

    order = {"items": [{"sku": "SKU-1", "quantity": 2, "unitPriceCents": 1250}]}
    accepted = _succeeded(page.call("POST", "orders", user, order), 202, "POST /orders")
    order_id = accepted["json"]["orderId"]
    assert accepted["location"] == f"{stage_path}orders/{order_id}"
    deadline = time.monotonic() + 30
    while True:  # the order is stored once the processor has taken it off the queue
        fetched = page.call("GET", f"orders/{order_id}", user)
        if fetched.get("status") != 404 or time.monotonic() > deadline:
            break
        assert fetched["json"]["error"] == "NotFound"  # a 404 is readable JSON too
        time.sleep(0.5)
    stored = _succeeded(fetched, 200, "GET /orders/{id}")
    assert (stored["json"]["orderId"], stored["json"]["totalCents"]) == (order_id, 2500)

    _succeeded(page.call("DELETE", f"users/{user_id}", user), 204, "DELETE /users/{id}")
    gone = _succeeded(page.call("GET", f"users/{user_id}", user), 404, "GET after DELETE")
    assert gone["json"]["error"] == "NotFound"

    # API Gateway's own 401 (a gateway response) is readable too, so the app can sign the user in again.
    unauthorized = _succeeded(page.call("GET", f"users/{user_id}", None), 401, "GET without a token")
    assert unauthorized["json"]["error"] == "Unauthorized"
    assert not [line for line in page.console if "CORS" in line], page.console


def test_a_page_on_another_origin_is_blocked(
    browser: Any, browser_app: Runtime, page_servers: dict[str, str]
) -> None:
    page = Page(browser, page_servers["disallowed"], browser_app.api_servers[0].base_url)
    user = sign_up(browser_app, name="browser-disallowed")
    calls = [
        ("POST", "users", {"name": "Eve", "email": user.email}),
        ("GET", f"users/{user.sub}", None),
        ("PUT", f"users/{user.sub}", {"name": "Eve", "email": user.email}),
        ("DELETE", f"users/{user.sub}", None),
        ("POST", "orders", {"items": [{"sku": "SKU-1", "quantity": 1, "unitPriceCents": 100}]}),
    ]
    for method, path, body in calls:
        result = page.call(method, path, user, body)
        assert result.get("blocked"), f"{method} {path} from a disallowed origin was not blocked: {result}"
        assert result["error"].startswith("TypeError"), result
    # Chromium says why: the preflight answered with another origin.
    assert any("blocked by CORS policy" in line for line in page.console), page.console
    # Blocked at the preflight: the browser never sent the POST, so no user was created.
    users = browser_app.client("dynamodb").scan(TableName=_users_table(browser_app))["Items"]
    assert user.sub not in {item["userId"]["S"] for item in users}


def _upload_ticket(runtime: Runtime, user: ApiUser, size: int) -> dict[str, Any]:
    response = requests.post(
        f"{runtime.api_servers[0].base_url}uploads",
        json={"fileName": "photo.png", "contentType": "image/png", "size": size},
        headers={"Authorization": user.id_token},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def _stored(runtime: Runtime, key: str) -> bool:
    bucket = runtime.find_function("UploadsApi").environment["UPLOADS_BUCKET_NAME"]
    listed = runtime.client("s3").list_objects_v2(Bucket=bucket, Prefix=key)
    return any(item["Key"] == key for item in listed.get("Contents", []))


def test_a_page_on_an_allowed_origin_uploads_to_the_presigned_url_and_reads_the_etag(
    browser: Any, browser_app: Runtime, page_servers: dict[str, str]
) -> None:
    """S3 answers the page from the uploads bucket's CORS rules (the stage's origins, PUT, Content-Type)."""
    page = Page(browser, page_servers["second"], browser_app.api_servers[0].base_url)
    user = sign_up(browser_app, name="browser-upload")
    ticket = _upload_ticket(browser_app, user, size=2048)
    result = page.upload(ticket, 2048)
    assert not result.get("blocked"), f"the browser blocked the upload: {result} {page.console}"
    assert result["status"] == 200, result
    assert result["etag"], "ETag is exposed by the bucket's CORS rule: the page must read it"
    assert _stored(browser_app, ticket["key"])


def test_a_page_on_another_origin_cannot_upload_even_with_a_valid_ticket(
    browser: Any, browser_app: Runtime, page_servers: dict[str, str]
) -> None:
    """The presigned URL is valid, but the bucket's CORS rules do not list the page's origin: S3 refuses
    the preflight (moto's server alone answers every origin with `*`)."""
    page = Page(browser, page_servers["disallowed"], browser_app.api_servers[0].base_url)
    user = sign_up(browser_app, name="browser-upload-disallowed")
    ticket = _upload_ticket(browser_app, user, size=512)
    result = page.upload(ticket, 512)
    assert result.get("blocked") and result["error"].startswith("TypeError"), result
    assert any("blocked by CORS policy" in line for line in page.console), page.console
    assert not _stored(browser_app, ticket["key"])  # refused at the preflight: the PUT was never sent


def _users_table(runtime: Runtime) -> str:
    return runtime.find_function("UsersApi").environment["USERS_TABLE_NAME"]


def test_chromium_is_the_debian_one() -> None:
    # The test drives the system chromium (Debian's package), never a browser Playwright downloads.
    assert shutil.which("chromium") == CHROMIUM
