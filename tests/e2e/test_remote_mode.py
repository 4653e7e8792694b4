"""The e2e suite's remote mode, proven here: a separately started `local_runtime up` stands in for the
deployed dev stage, reached only through its URLs (API, Cognito admin API) as deploy.yml reaches AWS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import LOCAL_ONLY, REMOTE

pytestmark = pytest.mark.skipif(REMOTE is not None, reason="this test is the local stand-in for a stage")


@pytest.fixture
def separate_runtime(dev_assembly: Path, tmp_path: Path):
    state_dir = tmp_path / "state"
    command = [sys.executable, "-m", "local_runtime", "--state-dir", str(state_dir), "up"]
    command += ["--cdk-out", str(dev_assembly), "--port", "0", "--aws-port", "0"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (state_dir / "state.json").exists():
            assert process.poll() is None and time.monotonic() < deadline, "the runtime did not start"
            time.sleep(0.1)
        yield json.loads((state_dir / "state.json").read_text())
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_e2e_suite_passes_against_a_stage_it_reaches_only_by_url(separate_runtime: dict) -> None:
    (pool,) = separate_runtime["user_pools"].values()
    (client_id,) = (cid for lid, cid in pool["clients"].items() if lid.startswith("UserPoolE2eClient"))
    endpoint = separate_runtime["aws_endpoint"]
    # The command deploy.yml runs (through make test-deployed), given the stage's values directly.
    api_url = next(iter(separate_runtime["api"].values()))
    command = [sys.executable, "scripts/e2e_remote.py", "--api-url", api_url, "--user-pool-id", pool["id"]]
    command += ["--client-id", client_id, "--region", separate_runtime["region"], "--", "-q"]
    # In AWS the SDK finds Cognito by region; here its endpoint is the runtime's.
    environment = {**os.environ, "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": endpoint}
    run = subprocess.run(
        command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=540
    )
    assert run.stdout, run.stderr
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    assert passed >= 20, summary  # users CRUD, every auth rule, the order flow, ...
    assert LOCAL_ONLY in run.stdout  # the local-only tests said why they did not run
    # The suite's users were made with the admin API and removed afterwards.
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=separate_runtime["region"],
        aws_access_key_id="developer",
        aws_secret_access_key="developer",
    )
    left = idp.list_users(UserPoolId=pool["id"])["Users"]
    assert [u["Username"] for u in left if "e2e-" in str(u)] == []
