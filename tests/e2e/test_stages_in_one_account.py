"""Two stages deployed into one account, locally: dev and prod side by side in one local runtime, as
`cdk deploy --all` of each stage would leave them in one AWS account; and `up` refusing what AWS refuses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

from local_runtime.deploy_rules import LOGGING_ROLE_MESSAGE, AccountSettings, DeployError
from local_runtime.runtime import Runtime
from stacks.account_stack import ACCOUNT_STACK_NAME
from tests.e2e.conftest import REMOTE, start_runtime
from tests.stacks.conftest import Synthesized

pytestmark = pytest.mark.skipif(REMOTE is not None, reason="runs its own local runtimes")


@pytest.fixture(scope="module")
def both_stages(synthesized: dict[str, Synthesized], tmp_path_factory: pytest.TempPathFactory):
    assemblies = [synthesized["dev"].outdir, synthesized["prod"].outdir]
    runtime = start_runtime(assemblies, tmp_path_factory.mktemp("two-stages"))  # type: ignore[arg-type]
    yield runtime
    runtime.stop()


def test_dev_and_prod_run_side_by_side_in_one_account(both_stages: Runtime) -> None:
    stages = {server.api.stage: server.base_url for server in both_stages.api_servers}
    assert set(stages) == {"dev", "prod"}
    assert {"Orders-Dev-Events", "Orders-Prod-Events"} <= set(both_stages.summary["buses"])
    # The shared account settings stack is one stack, deployed once for both stages.
    assert [s.name for s in both_stages.app.stacks].count(ACCOUNT_STACK_NAME) == 1
    output = "\n".join(both_stages.output)  # type: ignore[attr-defined]
    assert "no name used twice in the account" in output


def test_each_stage_answers_only_its_own_users(both_stages: Runtime) -> None:
    pools = {name.split("/")[0]: pool for name, pool in both_stages.summary["user_pools"].items()}
    dev_pool = next(pool["id"] for name, pool in pools.items() if "Dev" in name)
    dev_user = sign_up_in(both_stages, dev_pool)
    stages = {server.api.stage: server.base_url for server in both_stages.api_servers}
    assert (
        requests.get(f"{stages['dev']}users/{dev_user[0]}", headers=dev_user[1], timeout=30).status_code
        == 404
    )
    # prod's authorizer trusts prod's pool only: a dev token is refused before any function runs.
    assert (
        requests.get(f"{stages['prod']}users/{dev_user[0]}", headers=dev_user[1], timeout=30).status_code
        == 401
    )


def sign_up_in(runtime: Runtime, pool_id: str) -> tuple[str, dict[str, str]]:
    created = runtime.create_user("two-stages@example.com", pool=pool_id)
    return created["sub"], {"Authorization": created["idToken"]}


def test_a_stage_deployed_without_the_account_logging_role_is_refused(
    synthesized: dict[str, Synthesized], tmp_path: Path
) -> None:
    """As a stage synthesized with apiGatewayCloudWatchRole "existing" in an account that lacks the role."""
    assembly = shutil.copytree(synthesized["dev"].outdir, tmp_path / "cdk.out")
    manifest = json.loads((assembly / "manifest.json").read_text())
    manifest["artifacts"] = {
        artifact_id: artifact
        for artifact_id, artifact in manifest["artifacts"].items()
        if artifact.get("properties", {}).get("stackName") != ACCOUNT_STACK_NAME
    }
    (assembly / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DeployError, match=LOGGING_ROLE_MESSAGE):
        start_runtime(assembly, tmp_path / "refused")
    # An account that already has the role (e.g. set by a landing zone): the option says so.
    runtime = start_runtime(
        assembly, tmp_path / "allowed", account=AccountSettings(api_gateway_cloudwatch_role=True)
    )
    runtime.stop()
