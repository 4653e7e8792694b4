"""Reviewing a change: CI workflows call real make targets, the diff flags data loss, the diagram is fresh."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
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


def test_the_exported_tree_can_build_into_the_shared_cache_on_a_fresh_clone(tmp_path):
    """`make diff-ref` as the first command (or after `make clean`): the checkout has no `.cache` yet."""
    checkout, exported = tmp_path / "checkout", tmp_path / "base"
    checkout.mkdir()
    exported.mkdir()
    _script("diff_ref").share_cache(exported, checkout)
    # What the layer build of the exported tree does (pip --target makes the directories).
    os.makedirs(exported / ".cache" / "dependency-layer" / ".key.partial" / "python")
    assert (checkout / ".cache" / "dependency-layer" / ".key.partial" / "python").is_dir()


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_the_default_ref_is_found_as_origin_main_in_a_clone_of_another_branch(tmp_path, monkeypatch):
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    origin.mkdir()
    _git("init", "--quiet", "--initial-branch=main", cwd=origin)
    who = ("-c", "user.name=t", "-c", "user.email=t@localhost")
    _git(*who, "commit", "--quiet", "--allow-empty", "-m", "base", cwd=origin)
    _git("branch", "feature", cwd=origin)
    _git("clone", "--quiet", "--branch", "feature", str(origin), str(clone), cwd=tmp_path)
    diff_ref = _script("diff_ref")
    monkeypatch.setattr(diff_ref, "PROJECT_ROOT", clone)
    assert diff_ref.resolve_ref("main") == "origin/main"
    assert diff_ref.resolve_ref("feature") == "feature"
    with pytest.raises(SystemExit, match="git ref 'nope' not found"):
        diff_ref.resolve_ref("nope")
