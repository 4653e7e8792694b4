"""The parallel run's groups (tests/conftest.py RUNTIME_GROUPS) hold every test that uses a shared runtime."""

from __future__ import annotations

import pytest

from tests.conftest import RUNTIME_GROUPS, SESSION_FIXTURES, runtime_group


def test_every_test_on_a_shared_runtime_is_in_its_group(request: pytest.FixtureRequest) -> None:
    wrong = []
    for item in request.session.items:
        fixtures = set(getattr(item, "fixturenames", ()))
        needs = next((group for group, uses in SESSION_FIXTURES.items() if fixtures & uses), None)
        if needs and runtime_group(item.nodeid) != needs:
            wrong.append(f"{item.nodeid} uses the {needs} but is not in its group")
    assert wrong == []


def test_the_groups_name_existing_files() -> None:
    from tests.conftest import PROJECT_ROOT

    missing = [
        path for files in RUNTIME_GROUPS.values() for path in files if not (PROJECT_ROOT / path).is_file()
    ]
    assert missing == []
