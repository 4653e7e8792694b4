"""Schema fuzzing: schemathesis cases from docs/openapi.json against the local runtime's API.

Every documented operation gets positive cases (valid per the spec) and negative cases (violating it).
Every response must be documented for its operation (status code, content type, body schema), no response
may be a 5xx, invalid input must be rejected, and every 4xx must carry the service's JSON error contract
{error, message, details, requestId}. Generation is derandomized, so a run is reproducible.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import ApiUser
from tests.helpers import eventually

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
# Every request is sent with a real admin token (the authorizer's refusals are test_auth.py's job), so
# the cases are generated without the security requirement: no "missing Authorization" negative case
# can then be sent with the token added back and counted as wrongly accepted.
SCHEMA = schemathesis.openapi.from_dict(
    {key: value for key, value in json.loads(SPEC.read_text()).items() if key != "security"}
)
OPERATIONS = sorted(
    (operation.method.upper(), operation.path)
    for result in SCHEMA.get_all_operations()
    for operation in [result.ok()]
)
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CASES_PER_TEST = 70  # x 12 operations x 2 modes = 1,680 requests
MIN_TOTAL_CASES = 1_000
CASES: Counter[tuple[str, str, str]] = Counter()
STATUSES: Counter[tuple[str, str, int]] = Counter()


UPLOAD_TYPES = {"text/csv": ".csv", "image/png": ".png", "application/pdf": ".pdf", "image/jpeg": ".jpeg"}
UPLOAD_REQUESTS = st.sampled_from(sorted(UPLOAD_TYPES)).flatmap(
    lambda content_type: st.fixed_dictionaries(
        {
            "fileName": st.tuples(
                st.text(min_size=1, max_size=120), st.sampled_from([UPLOAD_TYPES[content_type], ".exe", ""])
            ).map("".join),
            "contentType": st.sampled_from([content_type, content_type.upper()]),
            "size": st.integers(min_value=1, max_value=2 * 10 * 1024 * 1024),
        }
    )
)


def error_contract(ctx: CheckContext, response: Any, case: Case) -> bool | None:
    """Every rejected request gets the service's JSON error body (also enforced where undocumented)."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code} without a JSON body: {response.text[:200]!r}") from None
    assert isinstance(body, dict) and set(body) == {"error", "message", "details", "requestId"}, body
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["details"], list), body
    assert isinstance(body["requestId"], str) and body["requestId"], body
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _drops_a_query_parameter(case: Case) -> bool:
    """A query value of [] or {} is sent as no parameter at all (requests drops it), which is valid here:
    as a negative case it would be rightly accepted, and schemathesis would count that as ST201."""
    return any(value in ([], {}) for value in (case.query or {}).values())


def _unthrottled(send: Callable[[], requests.Response]) -> requests.Response:
    """The response to `send()`, which is sent again after a pause while the stage throttle (cdk.json
    `apiThrottle`: 50/s per method in dev, which this test outruns) answers 429, as a client would retry:
    every case then reaches the service."""
    response = send()
    for _ in range(50):
        if response.status_code != 429:
            break
        time.sleep(0.05)
        response = send()
    return response


def _existing_file(api_url: str, caller: ApiUser) -> str:
    """The id of a new upload of the caller's, once indexed."""
    content = b"fuzz,1\n"
    ticket = requests.post(
        f"{api_url}uploads",
        json={"fileName": "fuzz.csv", "contentType": "text/csv", "size": len(content)},
        headers=caller.headers,
        timeout=30,
    ).json()
    requests.put(ticket["uploadUrl"], data=content, headers=ticket["headers"], timeout=30).raise_for_status()
    file_id = ticket["key"].rsplit("/", 1)[-1]
    eventually(
        lambda: (
            requests.get(f"{api_url}files/{file_id}", headers=caller.headers, timeout=10).status_code == 200
        ),
        what="the upload to be indexed",
    )
    return file_id


def _existing_resource(api_url: str, path: str, caller: ApiUser) -> tuple[str, str]:
    """(path parameter, id) of the caller's own user record, a processed order or an indexed file."""
    auth = caller.headers
    if path.startswith("/files/"):
        return "fileId", _existing_file(api_url, caller)
    requests.post(f"{api_url}users", json={"name": "Fuzz", "email": caller.email}, headers=auth, timeout=30)
    if path.startswith("/users/"):
        return "userId", caller.sub
    item = {"sku": "SKU-F", "quantity": 1, "unitPriceCents": 1}
    order = requests.post(f"{api_url}orders", json={"items": [item]}, headers=auth, timeout=30)
    order_id = order.json()["orderId"]
    eventually(
        lambda: requests.get(f"{api_url}orders/{order_id}", headers=auth, timeout=10).status_code == 200,
        what="the order to be processed",
    )
    return "orderId", order_id


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def test_the_spec_has_the_documented_operations() -> None:
    assert len(OPERATIONS) == 12, OPERATIONS
    assert len(OPERATIONS) * len(MODES) * CASES_PER_TEST >= MIN_TOTAL_CASES


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_fuzzed_requests_get_documented_answers(
    api_url: str, session: requests.Session, method: str, path: str, mode: GenerationMode, admin: ApiUser
) -> None:
    # As an admin, so that every operation can succeed (GET /users is admin-only); the authorizer's own
    # refusals are covered in test_auth.py.
    operation = SCHEMA[path][method]
    key = (method, path, mode.value)
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE and "{" in path:
        # Random ids only ever reach the 404 path: half of the valid cases name a resource that exists.
        name, existing = _existing_resource(api_url, path, admin)
        strategy = strategy | operation.as_strategy(generation_mode=mode, path_parameters={name: existing})
    if mode is GenerationMode.POSITIVE and path == "/uploads":
        # Random content types never pass the allow-list: half of the valid cases use allowed types,
        # names with or without the matching extension and sizes around the limit (201, 413 and 422).
        strategy = strategy | UPLOAD_REQUESTS.flatmap(
            lambda body: operation.as_strategy(generation_mode=mode, body=body)
        )

    @settings(
        max_examples=CASES_PER_TEST,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case: Case) -> None:
        if mode is GenerationMode.NEGATIVE and _drops_a_query_parameter(case):
            reject()
        CASES[key] += 1
        if (method, path) == ("POST", "/users"):
            # A valid case creates the caller's own record: start every case without one (else only 409s).
            own_record = f"{api_url}users/{admin.sub}"
            _unthrottled(lambda: session.delete(own_record, headers=admin.headers, timeout=30))
        # The API's base URL includes the stage path ("http://127.0.0.1:<port>/dev/").
        send = dict(base_url=api_url.rstrip("/"), session=session, headers=admin.headers, timeout=30)
        response = _unthrottled(lambda: case.call(**send))
        STATUSES[(method, path, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, additional_checks=[error_contract])

    fuzz()
    assert CASES[key] >= CASES_PER_TEST * 0.9, f"only {CASES[key]} cases generated for {key}"


def test_at_least_1000_fuzzed_cases_ran_across_all_operations() -> None:
    if len(CASES) < len(OPERATIONS) * len(MODES):
        pytest.skip("the fuzzing tests did not all run in this session (selected with -k?)")
    assert sum(CASES.values()) >= MIN_TOTAL_CASES, CASES
    # The cases reached the handlers: none was left throttled, and every operation answered both a success
    # and a rejection.
    assert not [key for key in STATUSES if key[2] == 429], STATUSES
    for method, path in OPERATIONS:
        seen = {status for (m, p, status), _ in STATUSES.items() if (m, p) == (method, path)}
        assert any(s < 300 for s in seen) and any(400 <= s < 500 for s in seen), (method, path, seen)
