"""Reviewing a change: CI workflows call real make targets, the diff flags data loss, the diagram is fresh."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.conftest import PROJECT_ROOT

WORKFLOWS = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_targets() -> set[str]:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))


def test_there_is_a_pull_request_and_a_deploy_workflow():
    assert {path.name for path in WORKFLOWS} == {"pull-request.yml", "deploy.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_every_run_step_is_an_existing_make_target(workflow: Path):
    targets = make_targets()
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    runs = [step["run"] for job in jobs.values() for step in job["steps"] if "run" in step]
    assert runs
    for command in runs:
        words = shlex.split(re.sub(r"\$\{\{.*?\}\}", "EXPR", command.strip()))  # GitHub expressions
        assert words[0] == "make", command
        named = [word for word in words[1:] if "=" not in word]
        assert named and set(named) <= targets, f"{command!r}: unknown target in {named}"


def test_prod_deploys_only_after_dev_behind_an_approval_environment():
    jobs = yaml.safe_load((PROJECT_ROOT / ".github/workflows/deploy.yml").read_text())["jobs"]
    assert jobs["deploy-prod"]["needs"] == "deploy-dev"
    assert jobs["deploy-prod"]["environment"] == "prod"
    assert jobs["deploy-dev"]["needs"] == "test"


SAMPLE_DIFF = """
Resources
[-] AWS::S3::Bucket Uploads/Bucket UploadsBucketA1B2C3D4 destroy
[~] AWS::DynamoDB::Table UsersTable UsersTable9725E9C8 replace
 └─ [~] KeySchema (requires replacement)
[~] AWS::Lambda::LayerVersion SharedLayer SharedLayer27DFABF0 replace
[~] AWS::DynamoDB::Table OrdersTable OrdersTable12345678
[+] AWS::SQS::Queue NewQueue NewQueue12345678
"""


def test_diff_report_flags_replaced_and_removed_stateful_resources_only():
    losses = _script("diff_ref").stateful_losses(SAMPLE_DIFF)
    assert losses == [
        "AWS::S3::Bucket Uploads/Bucket (UploadsBucketA1B2C3D4) would be REMOVED",
        "AWS::DynamoDB::Table UsersTable (UsersTable9725E9C8) would be REPLACED",
    ]


def test_architecture_diagram_is_generated_from_the_current_templates(synthesized):
    expected = _script("diagram").document(synthesized["dev"].templates)
    committed = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    assert committed == expected, "docs/architecture.md is stale: run `make diagram`"


def test_diagram_labels_edges_with_the_granted_actions(synthesized):
    text = _script("diagram").render(synthesized["dev"].templates)
    assert 'UsersApiFunction -- "DeleteItem GetItem PutItem Scan UpdateItem" --> UsersTable' in text
    assert "GET /users/{userId}" in text
