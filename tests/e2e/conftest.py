"""The real app, synthesized once and run by the local runtime once per test session on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_runtime.runtime import Options, Runtime
from tests.stacks.conftest import Synthesized


@pytest.fixture(scope="session")
def dev_assembly(synthesized: dict[str, Synthesized]) -> Path:
    """The session's dev cloud assembly (synthesized once for the stack tests too)."""
    return synthesized["dev"].outdir


def start_runtime(assembly: Path, state_dir: Path, **overrides: object) -> Runtime:
    lines: list[str] = []
    options = Options(assembly_dir=assembly, state_dir=state_dir, clock=False, echo=lines.append, **overrides)  # type: ignore[arg-type]
    runtime = Runtime(options)
    runtime.output = lines  # type: ignore[attr-defined]
    return runtime.start()


@pytest.fixture(scope="session")
def local_app(dev_assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = start_runtime(dev_assembly, tmp_path_factory.mktemp("e2e-state"))
    yield runtime
    runtime.stop()


@pytest.fixture(scope="session")
def api_url(local_app: Runtime) -> str:
    return local_app.api_servers[0].base_url


# The over-privilege report reads what every other e2e test made the session runtime do: it runs last.
RUNS_LAST = "tests/e2e/test_least_privilege.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.nodeid.startswith(RUNS_LAST)]
    if last:
        items[:] = [item for item in items if not item.nodeid.startswith(RUNS_LAST)] + last
