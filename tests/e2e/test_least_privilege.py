"""Least privilege: UsersApi's report after its own flows, and over the whole e2e run every granted action
was used by some e2e flow, or is justified.

The e2e flows share the session runtime (`local_app`), whose recording holds every AWS call each function
made. This module runs after every other test of the session (see `pytest_collection_modifyitems` in
conftest.py), so the recording covers the whole run. A grant no flow used must be removed, or justified in
stacks/service_stack.py next to its `allow(...)` call and listed in ALLOWED_UNUSED with the same reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from local_runtime import model
from local_runtime.__main__ import grant_report
from local_runtime.runtime import Runtime
from tests.e2e.conftest import ApiUser

E2E_DIR = Path(__file__).resolve().parent

# (function, action) → why the grant stays although no e2e flow uses it (also commented at the grant).
IDEMPOTENCY_FALLBACK_READ = (
    "Powertools idempotency reads an existing record with GetItem only when a failed conditional PutItem "
    "returns no item; DynamoDB (and moto) return it (ReturnValuesOnConditionCheckFailure)"
)
ALLOWED_UNUSED: dict[tuple[str, str], str] = {
    ("OrderProcessor", "dynamodb:GetItem"): IDEMPOTENCY_FALLBACK_READ,
    ("OrderProjection", "dynamodb:GetItem"): IDEMPOTENCY_FALLBACK_READ,
}


def test_over_privilege_report_for_the_real_app_lists_nothing_unexplained(
    local_app: Runtime, api_url: str, new_user: Callable[..., ApiUser], admin: ApiUser
) -> None:
    al = new_user(name="al")
    auth = al.headers
    requests.post(f"{api_url}users", json={"name": "Al", "email": al.email}, headers=auth, timeout=30)
    # Two records, two pages: the second page reads the page token key (secretsmanager:GetSecretValue).
    requests.post(
        f"{api_url}users", json={"name": "Ad", "email": admin.email}, headers=admin.headers, timeout=30
    )
    first = requests.get(f"{api_url}users", params={"limit": "1"}, headers=admin.headers, timeout=10)
    assert first.status_code == 200 and first.json()["nextToken"], first.text
    next_page = {"limit": "1", "nextToken": first.json()["nextToken"]}
    assert (
        requests.get(f"{api_url}users", params=next_page, headers=admin.headers, timeout=10).status_code
        == 200
    )
    mine = f"{api_url}users/{al.sub}"
    requests.get(mine, headers=auth, timeout=10)
    requests.put(mine, json={"name": "Al2", "email": al.email}, headers=auth, timeout=10)
    requests.delete(mine, headers=auth, timeout=10)
    recording = local_app.options.state_dir / "recording.jsonl"
    entries = [json.loads(line) for line in recording.read_text().splitlines()]
    report = grant_report(local_app.app, entries)
    assert report["UsersApi"]["unexplained"] == []
    explained = {action for action, _, _ in report["UsersApi"]["explained"]}
    assert explained == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    }


def _whole_e2e_run_selected(request: pytest.FixtureRequest) -> bool:
    modules = {path.name for path in E2E_DIR.glob("test_*.py")}
    ran = {
        Path(str(item.path)).name for item in request.session.items if Path(str(item.path)).parent == E2E_DIR
    }
    return modules <= ran


def test_every_grant_was_used_by_the_e2e_run_or_is_justified(
    local_app: Runtime, request: pytest.FixtureRequest
) -> None:
    if not _whole_e2e_run_selected(request):
        pytest.skip(
            "the over-privilege report needs the whole e2e run (every tests/e2e module) in the session"
        )
    recording = local_app.options.state_dir / "recording.jsonl"
    entries = [json.loads(line) for line in recording.read_text().splitlines() if line.strip()]
    report = grant_report(local_app.app, entries)

    unused = [
        (function, action, resource)
        for function, entry in sorted(report.items())
        for action, resource, _ in entry["unexplained"]
    ]

    unjustified = [f"{f}: {a} on {r}" for f, a, r in unused if (f, a) not in ALLOWED_UNUSED]
    assert unjustified == [], "granted but never used by the e2e run:\n" + "\n".join(unjustified)
    specs = model.function_specs(local_app.app)
    policies, _ = model.role_policies(local_app.app)
    granted = {
        (spec.display, action)
        for spec in specs
        if spec.role_arn in policies
        for action, _ in policies[spec.role_arn].granted()
    }
    stale = sorted(set(ALLOWED_UNUSED) - granted)
    assert stale == [], f"ALLOWED_UNUSED names grants the app no longer has: {stale}"
