"""checkov: no failed check on either stage's templates; every skip is pinned per resource, with a reason.

checkov pins boto3 and packaging below this project's pins, so it lives in its own venv (.venv-checkov,
`make setup`) and runs as a CLI: one run over both stages' templates (about 9 s, most of it start-up),
shared by the tests and by parallel workers like the synthesized templates themselves.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stacks.constructs.checkov_skips import MIN_REASON
from tests.stacks.conftest import STAGES, Synthesized, flatten

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHECKOV = PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov"

FUNCTION_SKIPS = {"CKV_AWS_117", "CKV_AWS_173"}  # no VPC, no secrets in the environment (ServiceFunction)
UNRESERVED_SYNC_FUNCTION = FUNCTION_SKIPS | {"CKV_AWS_115", "CKV_AWS_116"}
CDK_PROVIDER = {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117"}
# The checks each resource skips, by construct path; the reasons live next to the constructs.
EXPECTED_SKIPS = {
    "Data/UsersTable/Resource": {"CKV_AWS_119"},
    "Data/OrdersTable/Resource": {"CKV_AWS_119"},
    "Data/IdempotencyTable/Resource": {"CKV_AWS_119"},
    "Data/FilesTable/Resource": {"CKV_AWS_119"},
    "Data/OrdersQueue/Resource": {"CKV_AWS_27"},
    "Data/OrdersDLQ/Resource": {"CKV_AWS_27"},
    "Data/OrderProjectionDLQ/Resource": {"CKV_AWS_27"},
    "Data/UploadIndexerDlq/Resource": {"CKV_AWS_27"},
    "Data/DailyReportDlq/Resource": {"CKV_AWS_27"},
    "Data/AccessLogsBucket/Resource": {"CKV_AWS_18"},
    # API Gateway bounds these (stage throttle); they are invoked synchronously (no async DLQ).
    "Service/UsersApi/Function/Resource": UNRESERVED_SYNC_FUNCTION,
    "Service/OrdersApi/Function/Resource": UNRESERVED_SYNC_FUNCTION,
    "Service/UploadsApi/Function/Resource": UNRESERVED_SYNC_FUNCTION,
    "Service/FilesApi/Function/Resource": UNRESERVED_SYNC_FUNCTION,
    "Service/PageTokenKey/Resource": {"CKV_AWS_149"},
    # Bounded by its SQS event source's maximum concurrency; the queue redrives to OrdersDLQ.
    "Service/OrderProcessor/Function/Resource": UNRESERVED_SYNC_FUNCTION,
    # Asynchronous, with reserved concurrency and a dead-letter queue: only the function-wide skips.
    "Service/OrderProjection/Function/Resource": FUNCTION_SKIPS,
    "Service/UploadIndexer/Function/Resource": FUNCTION_SKIPS,
    "Service/DailyReport/Function/Resource": FUNCTION_SKIPS,
    "Service/BucketNotificationsHandler050a0587b7544547bf325f094a3db8347ECC3691": CDK_PROVIDER,
    "Service/Api/RestApi/DeploymentStage.{stage}/Resource": {"CKV_AWS_120"},
}
EXPECTED_SKIPS_BY_STAGE = {
    # Only a stage that destroys its buckets has CDK's auto-delete provider.
    "dev": {"Data/CustomS3AutoDeleteObjectsCustomResourceProviderHandler9D90184F": CDK_PROVIDER},
    # Only a stage with an alarmEmail has the subscription's dead-letter queue (prod: cdk.json placeholder).
    "prod": {"Monitoring/AlarmEmailDlq/Resource": {"CKV_AWS_27"}},
}


def _stacks(app: Synthesized) -> list[dict[str, Any]]:
    manifest = json.loads((app.outdir / "manifest.json").read_text())
    return [a for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"]


def _template_files(app: Synthesized) -> dict[str, Path]:
    """Each stack's template file, by stack id ("Data", "Service", ...)."""
    return {
        stack["properties"]["stackName"].split("-")[-1]: app.outdir / stack["properties"]["templateFile"]
        for stack in _stacks(app)
    }


def _construct_paths(app: Synthesized) -> dict[tuple[str, str], str]:
    """(stack id, logical id) → construct path, e.g. "Data/UsersTable/Resource", from the assembly's tree."""
    paths = {}
    nodes = [json.loads((app.outdir / "tree.json").read_text())["tree"]]
    while nodes:
        node = nodes.pop()
        nodes += (node.get("children") or {}).values()
        logical_id = (node.get("attributes") or {}).get("aws:cdk:cloudformation:logicalId")
        if logical_id:
            paths[(node["path"].split("/")[0], logical_id)] = node["path"]
    return paths


def run_checkov(files: list[Path]) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(PROJECT_ROOT)} is missing: run `make setup`")
    command = [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--compact"]
    command += ["--skip-download"]  # the checks that ship with the pinned version, nothing fetched
    for file in files:
        command += ["--file", str(file)]
    # Exit code 1 means failed checks: the report says which.
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def checkov_report(synthesized: dict[str, Synthesized]) -> dict[str, Any]:
    """One checkov run over every stage's templates, shared between parallel workers via a file."""
    shared = synthesized[STAGES[0]].outdir.parent
    with (shared / ".checkov.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = shared / "checkov.json"
        if not cached.exists():
            files = [file for app in synthesized.values() for file in _template_files(app).values()]
            cached.write_text(json.dumps(run_checkov(files)))
        return json.loads(cached.read_text())


def _by_stage(report: dict[str, Any], app: Synthesized, kind: str) -> list[dict[str, Any]]:
    files = {str(path.resolve()): stack for stack, path in _template_files(app).items()}
    return [
        {**check, "stack": files[check["file_abs_path"]]}
        for check in report["results"][kind]
        if check["file_abs_path"] in files
    ]


def test_checkov_scanned_every_stack_and_found_no_failed_check(stage_app, checkov_report):
    failed = _by_stage(checkov_report, stage_app, "failed_checks")
    assert [f"{c['check_id']} {c['stack']}/{c['resource']}: {c['check_name']}" for c in failed] == []
    passed = _by_stage(checkov_report, stage_app, "passed_checks")
    assert {check["stack"] for check in passed} == set(stage_app.templates)
    assert checkov_report["summary"]["parsing_errors"] == 0


def test_only_the_pinned_checks_are_skipped_each_with_a_specific_reason(stage_app, checkov_report):
    paths = _construct_paths(stage_app)
    skipped: dict[str, set[str]] = {}
    for check in _by_stage(checkov_report, stage_app, "skipped_checks"):
        logical_id = check["resource"].split(".", 1)[1]
        # CDK's own provider functions are plain CfnResources, without a logical id in tree.json.
        path = paths.get((check["stack"], logical_id), f"{check['stack']}/{logical_id}")
        skipped.setdefault(path, set()).add(check["check_id"])
        assert len(check["check_result"]["suppress_comment"]) >= MIN_REASON, check["check_id"]
    expected = {
        path.format(stage=stage_app.stage): checks
        for path, checks in {**EXPECTED_SKIPS, **EXPECTED_SKIPS_BY_STAGE[stage_app.stage]}.items()
    }
    assert skipped == expected


def test_background_functions_reserve_concurrency_and_the_order_processor_caps_its_source(stage_app):
    paths = _construct_paths(stage_app)
    functions = {
        paths[("Service", logical_id)].split("/")[1]: function["Properties"]
        for logical_id, function in stage_app.service_functions().items()
    }
    reserved = {name: props.get("ReservedConcurrentExecutions") for name, props in functions.items()}
    assert reserved == {
        "UsersApi": None,
        "OrdersApi": None,
        "UploadsApi": None,
        "FilesApi": None,
        "OrderProcessor": None,
        "OrderProjection": 10,
        "UploadIndexer": 10,
        "DailyReport": 1,
    }
    (mapping,) = stage_app.resources("Service", "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 10}


def test_every_log_group_is_encrypted_with_the_stacks_key_only_for_its_log_groups(stage_app):
    log_groups = stage_app.resources("Service", "AWS::Logs::LogGroup")
    (key_id, key) = next(iter(stage_app.resources("Service", "AWS::KMS::Key").items()))
    assert len(log_groups) == len(stage_app.service_functions()) + 1  # and the API's access logs
    for log_group in log_groups.values():
        assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    (logs,) = (s for s in key["Properties"]["KeyPolicy"]["Statement"] if "Service" in s.get("Principal", {}))
    assert flatten(logs["Principal"]["Service"]) == "logs.<AWS::Region>.amazonaws.com"
    condition = flatten(logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    stack = f"Orders-{stage_app.config.stage_title}-Service"
    assert condition == f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{stack}-*"
