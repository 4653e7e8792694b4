"""The real app, synthesized once and run by the local runtime once per test session on free ports."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ApiUser:
    """A user signed in to the local app's user pool: its id (the token's sub) and its ID token."""

    email: str
    sub: str
    id_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.id_token}


def sign_up(runtime: Runtime, *, admin: bool = False, name: str = "user") -> ApiUser:
    """A new user in the runtime's Cognito pool (moto), optionally in `admins`, with a fresh ID token."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    created = runtime.create_user(email, groups=("admins",) if admin else ())
    return ApiUser(email=email, sub=created["sub"], id_token=created["idToken"])


@pytest.fixture(scope="session")
def new_user(local_app: Runtime) -> Callable[..., ApiUser]:
    """Sign up a new user of the session's app: new_user() or new_user(admin=True)."""
    return lambda admin=False, name="user": sign_up(local_app, admin=admin, name=name)


@pytest.fixture(scope="session")
def admin(new_user: Callable[..., ApiUser]) -> ApiUser:
    return new_user(admin=True, name="admin")
