"""Test-wide setup: fake AWS credentials, Powertools settings, and loading a function like Lambda does."""

from __future__ import annotations

import fcntl
import functools
import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.loaders
import botocore.session
import pytest

from local_runtime import moto_forks
from local_runtime.runtime import BYTECODE_DIR_VARIABLE

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
SHARED_LAYER = PROJECT_ROOT / "layers" / "shared" / "python"

# Never reach a real account: moto or the local runtime answer every call.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_METRICS_NAMESPACE": "Orders/Test",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_DEV": "0",
        # The API functions' allowed browser origins; CORS tests set their own.
        "CORS_ALLOW_ORIGINS": "https://app.example.com",
        # Every `cdk` command of the suite (~30) started a telemetry sender that cannot reach its endpoint
        # here (https://docs.aws.amazon.com/cdk/v2/guide/cli-telemetry.html: the opt-out variable).
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
)
os.environ.pop("AWS_PROFILE", None)
# The suite starts ~50 runtimes: each forks its moto from one pre-imported process (~1.5 s CPU less each).
moto_forks.enable()
if str(SHARED_LAYER) not in sys.path:
    sys.path.insert(0, str(SHARED_LAYER))

# Every moto mock starts a new boto3 session, and each new botocore session parses botocore's JSON
# data (endpoints, service models) again: most of a handler test's time. The files are read-only, so
# one loader per data path serves every session in this process; sessions and clients stay per test.
botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)


def _own_module_names(code_dir: Path) -> set[str]:
    names = {path.stem for path in code_dir.glob("*.py")}
    names |= {path.name for path in code_dir.iterdir() if (path / "__init__.py").is_file()}
    return names


def load_function(folder: str) -> ModuleType:
    """Import functions/<folder>/handler.py with only that folder added to sys.path, as in Lambda.

    Every function has a `handler` module (and may have e.g. `models`), so the function's own
    modules are dropped from sys.modules before and after import: each load is a fresh cold start.
    """
    code_dir = FUNCTIONS_DIR / folder
    own = _own_module_names(code_dir)
    for name in own:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(code_dir))
    try:
        return importlib.import_module("handler")
    finally:
        sys.path.remove(str(code_dir))
        for name in own:
            sys.modules.pop(name, None)


@pytest.fixture(autouse=True)
def _fresh_aws_clients() -> Iterator[None]:
    """Clients cached per container must not leak between tests (each test has its own moto)."""
    from aws_lambda_powertools.utilities import parameters
    from service_common import aws

    aws.client.cache_clear()
    aws.s3_presigner.cache_clear()
    # Powertools keeps fetched secrets (the page token key) per container; each test has its own.
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()
    yield


class SharedSynth(Mapping[str, Any]):
    """The app of each stage (tests.stacks.conftest.Synthesized), synthesized on first use by whichever
    parallel worker (pytest-xdist) asks first and read back from its output by the others. A lock per
    stage: a worker needing one stage waits for that one only, and two workers synthesize two stages
    at once (e.g. the e2e runtime needs only dev)."""

    def __init__(self, shared: Path) -> None:
        self._shared = shared
        self._apps: dict[str, Any] = {}

    def __getitem__(self, stage: str) -> Any:
        from tests.stacks.conftest import STAGES, load_synthesized, synthesize  # imports aws_cdk

        if stage not in STAGES:
            raise KeyError(stage)
        if stage not in self._apps:
            outdir, done = self._shared / f"cdk-{stage}", self._shared / f"{stage}.done"
            with (self._shared / f".{stage}.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                if done.exists():
                    self._apps[stage] = load_synthesized(stage, outdir)
                else:
                    self._apps[stage] = synthesize(stage, outdir)
                    done.touch()
        return self._apps[stage]

    def __iter__(self) -> Iterator[str]:
        from tests.stacks.conftest import STAGES

        return iter(STAGES)

    def __len__(self) -> int:
        return len(list(iter(self)))


def _run_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder of this test run, the same for all its parallel workers."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent / f"{name}-{run_id}" if run_id else base / name
    shared.mkdir(parents=True, exist_ok=True)
    return shared


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SharedSynth:
    """The app of each stage, synthesized once per test run (synth is the slow part) and shared, also
    between parallel workers."""
    return SharedSynth(_run_dir(tmp_path_factory, "synth"))


@pytest.fixture(scope="session", autouse=True)
def _shared_bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The runtimes of this run (in-process, and `local-runtime up` subprocesses) share one bytecode cache
    for their functions: each compiled the dependency layer again (~0.9 s of CPU per runtime)."""
    os.environ[BYTECODE_DIR_VARIABLE] = str(_run_dir(tmp_path_factory, "bytecode"))


# Test files sharing one running runtime run in one parallel worker (pytest-xdist), in their collection
# order, as without workers: later tests read what earlier ones did (e.g. the e2e run's recording). By
# file, because the scheduler sees only node ids (xdist's own xdist_group marker does not take effect
# with pytest 9: its node id suffix is lost); tests/test_parallel_groups.py checks the lists.
RUNTIME_GROUPS = {
    "session-runtime": {  # the real app's runtime: local_app and the fixtures built on it
        "tests/e2e/test_auth.py",
        "tests/e2e/test_flows.py",
        "tests/e2e/test_least_privilege.py",
        "tests/e2e/test_schema_fuzzing.py",
        "tests/e2e/test_users_api.py",
    },
    "sample-runtime": {  # the hand-written sample app's runtime (tests/local_runtime/conftest.py)
        "tests/local_runtime/test_authorizer.py",
        "tests/local_runtime/test_runtime_sample.py",
        "tests/local_runtime/test_s3_cors.py",
    },
}
SESSION_FIXTURES = {
    "session-runtime": {"local_app", "api_url", "new_user", "admin"},
    "sample-runtime": {"sample_runtime"},
}


# Test files whose tests share a module-scoped fixture (the file's own runtime, server or browser): each
# is one unit of work, so the fixture is set up once rather than on every worker running one of its tests
# (tests/test_parallel_groups.py checks the list).
SHARED_MODULE_FIXTURE_FILES = {
    "tests/e2e/test_browser_cors.py",
    "tests/e2e/test_console.py",
    "tests/e2e/test_poison_and_redelivery.py",
    "tests/e2e/test_stages_in_one_account.py",
    "tests/local_runtime/test_async_destinations.py",
    "tests/local_runtime/test_cors_preflight.py",
    "tests/local_runtime/test_firehose.py",
    "tests/local_runtime/test_gateway.py",
    "tests/local_runtime/test_http_api.py",
    "tests/local_runtime/test_kms_keys.py",
    "tests/local_runtime/test_lambda_invoke_api.py",
    "tests/local_runtime/test_leading_keys.py",
    "tests/local_runtime/test_moto_server.py",
    "tests/local_runtime/test_nested_stacks.py",
    "tests/local_runtime/test_rest_lambda_authorizers.py",
    "tests/local_runtime/test_rest_lambda_integration.py",
    "tests/local_runtime/test_rest_limits.py",
    "tests/local_runtime/test_rest_request_validation.py",
    "tests/local_runtime/test_rest_service_integrations.py",
    "tests/local_runtime/test_rest_stages_and_aliases.py",
    "tests/local_runtime/test_s3_eventbridge.py",
    "tests/local_runtime/test_scheduler_schedules.py",
    "tests/local_runtime/test_sns.py",
    "tests/local_runtime/test_step_functions.py",
    "tests/local_runtime/test_tag_conditions.py",
    "tests/local_runtime/test_websocket_api.py",
    "tests/local_runtime/test_streams.py",
    "tests/stacks/test_physical_names.py",
    "tests/test_openapi.py",
}


def runtime_group(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return next((group for group, files in RUNTIME_GROUPS.items() if path in files), None)


# The longest units of work are handed out first, so that they overlap the short ones instead of ending
# the run: on a fresh clone `make lint`'s cold mypy alone takes ~100 s. xdist hands out units in collection
# order (its own reordering, by number of tests, put these single tests last).
LONGEST_FIRST = (
    "session-runtime",
    "tests/e2e/test_poison_and_redelivery.py",  # its own runtime: beside the session runtime's tests
    "tests/test_fresh_clone.py",
    "tests/e2e/test_hot_reload.py",
    "tests/e2e/test_remote_mode.py",
)


@pytest.hookimpl(trylast=True)  # after tests/e2e/conftest.py put the least-privilege report last
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        unit = runtime_group(item.nodeid) or item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(unit) if unit in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each unit keeps its tests' order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # collection order, i.e. LONGEST_FIRST

    class RuntimeGroupScheduling(LoadScopeScheduling):
        """One work unit per runtime group and per file sharing a module-scoped fixture, every other test a
        unit of its own (spread like --dist load)."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return runtime_group(nodeid) or (path if path in SHARED_MODULE_FIXTURE_FILES else nodeid)

    return RuntimeGroupScheduling(config, log)
