"""The real app, synthesized once and run by the local runtime once per test session on free ports.

Or a deployed stage: with E2E_API_URL set (see `RemoteStage`), the tests that only speak HTTP to the API
run against it, their users made and removed with the Cognito admin API; the tests that look inside the
local runtime (queues, DLQs, workers, moto) are skipped, saying so.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
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


@dataclass(frozen=True)
class RemoteStage:
    """A deployed stage the e2e suite targets instead of the local runtime (`make test-deployed`)."""

    api_url: str  # the stage's base URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/dev/
    user_pool_id: str
    client_id: str  # an app client that allows ADMIN_USER_PASSWORD_AUTH (cdk.json userPool.testClient)
    region: str

    @classmethod
    def from_environment(cls) -> RemoteStage | None:
        if not os.environ.get("E2E_API_URL"):
            return None
        names = ("E2E_USER_POOL_ID", "E2E_CLIENT_ID", "E2E_REGION")
        missing = [name for name in names if not os.environ.get(name)]
        if missing:
            raise pytest.UsageError(f"E2E_API_URL is set, so the e2e suite also needs {', '.join(missing)}")
        url = os.environ["E2E_API_URL"]
        return cls(url if url.endswith("/") else f"{url}/", *(os.environ[name] for name in names))


REMOTE = RemoteStage.from_environment()
LOCAL_ONLY = "looks inside the local runtime (queues, workers, moto): not run against a deployed stage"


@pytest.fixture(scope="session")
def local_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    if REMOTE:
        pytest.skip(LOCAL_ONLY)
    runtime = start_runtime(request.getfixturevalue("dev_assembly"), tmp_path_factory.mktemp("e2e-state"))
    yield runtime
    runtime.stop()


@pytest.fixture(scope="session")
def api_url(request: pytest.FixtureRequest) -> str:
    if REMOTE:
        return REMOTE.api_url
    return request.getfixturevalue("local_app").api_servers[0].base_url


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


class RemoteUsers:
    """Test users of a deployed stage's pool, made with the Cognito admin API and removed afterwards."""

    def __init__(self, stage: RemoteStage) -> None:
        self.stage = stage
        self.idp = boto3.client("cognito-idp", region_name=stage.region)
        self.created: list[str] = []

    def sign_up(self, admin: bool = False, name: str = "user") -> ApiUser:
        email = f"e2e-{name}-{uuid.uuid4().hex[:8]}@example.com"
        password = f"{secrets.token_urlsafe(18)}aA1!"  # meets the pool's password policy
        pool = self.stage.user_pool_id
        self.idp.admin_create_user(
            UserPoolId=pool,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",  # no e-mail to a made-up address
        )
        self.created.append(email)
        self.idp.admin_set_user_password(UserPoolId=pool, Username=email, Password=password, Permanent=True)
        if admin:
            self.idp.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName="admins")
        tokens = self.idp.admin_initiate_auth(
            UserPoolId=pool,
            ClientId=self.stage.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )["AuthenticationResult"]
        return ApiUser(email=email, sub=_claims(tokens["IdToken"])["sub"], id_token=tokens["IdToken"])

    def remove_all(self) -> None:
        for email in self.created:
            self.idp.admin_delete_user(UserPoolId=self.stage.user_pool_id, Username=email)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(scope="session")
def new_user(request: pytest.FixtureRequest) -> Iterator[Callable[..., ApiUser]]:
    """Sign up a new user of the session's app: new_user() or new_user(admin=True)."""
    if REMOTE:
        users = RemoteUsers(REMOTE)
        yield users.sign_up
        users.remove_all()
        return
    local_app = request.getfixturevalue("local_app")
    yield lambda admin=False, name="user": sign_up(local_app, admin=admin, name=name)


@pytest.fixture(scope="session")
def admin(new_user: Callable[..., ApiUser]) -> ApiUser:
    return new_user(admin=True, name="admin")
