"""The parallel run's groups (tests/conftest.py RUNTIME_GROUPS) hold every test that uses a shared runtime."""

from __future__ import annotations

import pytest

from tests.conftest import RUNTIME_GROUPS, SESSION_FIXTURES, SHARED_MODULE_FIXTURE_FILES, runtime_group


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


def test_every_file_with_a_module_scoped_fixture_runs_as_one_unit(request: pytest.FixtureRequest) -> None:
    """A module-scoped fixture (a file's own runtime, server or browser) is set up once per worker that
    runs one of the file's tests: spread over the workers, it would be set up on each."""
    wrong = set()
    for item in request.session.items:
        # pytest's record of the fixtures each test uses (no public accessor for their scopes)
        definitions = item._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined]
        if any(defs[-1].scope == "module" for defs in definitions.values()):
            path = item.nodeid.split("::", 1)[0]
            if runtime_group(item.nodeid) is None and path not in SHARED_MODULE_FIXTURE_FILES:
                wrong.add(path)
    assert sorted(wrong) == []
