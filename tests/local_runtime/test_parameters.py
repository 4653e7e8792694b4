"""Template parameters as CloudFormation takes them at deploy: `--parameters Name=value` (or
`Stack:Name=value`), defaults, constraints, and its own error for a parameter with no value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from local_runtime.templates import App, TemplateError
from tests.conftest import PROJECT_ROOT
from tests.helpers import write_stack_assembly

TEMPLATE = {
    "Parameters": {
        "Stage": {"Type": "String", "AllowedValues": ["dev", "prod"]},
        "Owners": {"Type": "CommaDelimitedList", "Default": "ada, bob"},
        "RetentionDays": {"Type": "Number", "Default": "14", "MinValue": 1, "MaxValue": 3653},
    },
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "work-${Stage}"}}},
    },
}


def _assembly(tmp_path: Path) -> Path:
    return write_stack_assembly(tmp_path / "cdk.out", "App", TEMPLATE)


def test_given_values_defaults_and_lists(tmp_path: Path) -> None:
    app = App.load(_assembly(tmp_path), parameters={"Stage": "prod", "App:RetentionDays": "30"})
    stack = app.stacks[0]
    assert app.resolve(stack, {"Ref": "Stage"}) == "prod"
    assert app.resolve(stack, {"Ref": "RetentionDays"}) == "30"
    assert app.resolve(stack, {"Ref": "Owners"}) == ["ada", "bob"]
    assert app.resolve(stack, stack.resources["Queue"]["Properties"]["QueueName"]) == "work-prod"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({}, "Parameters: [Stage] must have values"),
        ({"Stage": "qa"}, "Parameter 'Stage' must be one of AllowedValues"),
        ({"Stage": "dev", "RetentionDays": "0"}, "must be a number not less than 1"),
        ({"Stage": "dev", "Stag": "x"}, "Parameters: [Stag] do not exist in the template"),
    ],
)
def test_what_cloudformation_refuses_is_refused(
    tmp_path: Path, parameters: dict[str, str], message: str
) -> None:
    with pytest.raises(TemplateError, match=message.replace("[", r"\[").replace("]", r"\]")):
        App.load(_assembly(tmp_path), parameters=parameters)


def test_the_cli_names_a_missing_parameter_without_a_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "local_runtime", "--state-dir", str(tmp_path / "state"), "up"]
    result = subprocess.run(
        [*command, "--cdk-out", str(_assembly(tmp_path)), "--port", "0", "--aws-port", "0", "--no-watch"],
        cwd=tmp_path,  # any directory: the assembly is given by path
        env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(PROJECT_ROOT / "local-runtime")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: App: Parameters: [Stage] must have values (--parameters Stage=...)" in result.stderr
    assert "Traceback" not in result.stderr
