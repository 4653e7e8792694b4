"""Synthesize the app once per test session, for both stages, and share the templates."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from app import build_app
from stacks.config import StageConfig, load_stage_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")
# By the last part of the stack name; the account settings stack is the same in every stage.
STACKS = ("Data", "Service", "Monitoring", "ApiGatewayAccountSettings")
# CDK's own custom resource behind add_event_notification: not one of the service's functions.
CDK_NOTIFICATIONS_HANDLER = "BucketNotificationsHandler"
# CDK's own custom resource behind auto_delete_objects (stages whose buckets are destroyed).
CDK_AUTO_DELETE_PROVIDER = "CustomS3AutoDeleteObjectsCustomResourceProvider"


_OUTPUT_NAME = re.compile(
    r"PublishOutput(?:FnGetAtt(?P<id>\w+?[0-9A-F]{8})(?P<attr>[A-Za-z]+)|Ref(?P<ref>\w+?[0-9A-F]{8}))[0-9A-F]{8}$"
)


def flatten(value: Any) -> str:
    """A template value as readable text: Ref → <Id>, GetAtt → <Id.Attr>, another stack's output
    (Fn::GetStackOutput, i.e. a weak cross-stack reference) → <Stack:Id> or <Stack:Id.Attr>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            return argument[0].join(flatten(part) for part in argument[1])
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::GetStackOutput":
            stack = argument["StackName"].split("-")[-1]
            match = _OUTPUT_NAME.fullmatch(argument["OutputName"])
            assert match, argument["OutputName"]
            if match["ref"]:
                return f"<{stack}:{match['ref']}>"
            return f"<{stack}:{match['id']}.{match['attr']}>"
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class Synthesized:
    stage: str
    outdir: Path
    templates: dict[str, dict[str, Any]]  # by stack id: "Data", "Service", "Monitoring"
    validation_report: dict[str, Any]

    @property
    def config(self) -> StageConfig:
        context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
        return load_stage_config(context, self.stage)

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def service_functions(self) -> dict[str, dict[str, Any]]:
        """The service's own functions (ServiceFunction), without CDK's notifications handler."""
        return {
            logical_id: function
            for logical_id, function in self.resources("Service", "AWS::Lambda::Function").items()
            if not logical_id.startswith(CDK_NOTIFICATIONS_HANDLER)
        }


def synthesize(stage: str, outdir: Path, context_overrides: dict[str, Any] | None = None) -> Synthesized:
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    app = build_app(App(outdir=str(outdir), context={**context, "stage": stage, **(context_overrides or {})}))
    assembly = app.synth()
    templates = {stack.stack_name.split("-")[-1]: stack.template for stack in assembly.stacks}
    return Synthesized(stage, outdir, templates, _validation_report(outdir))


def load_synthesized(stage: str, outdir: Path) -> Synthesized:
    """What `synthesize` returned, read back from the assembly it wrote (another test worker's)."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    templates = {
        artifact["properties"]["stackName"].split("-")[-1]: json.loads(
            (outdir / artifact["properties"]["templateFile"]).read_text()
        )
        for artifact in manifest["artifacts"].values()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    return Synthesized(stage, outdir, templates, _validation_report(outdir))


def _validation_report(outdir: Path) -> dict[str, Any]:
    report_file = outdir / "validation-report.json"
    return json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}


@pytest.fixture(params=STAGES)
def stage_app(request: pytest.FixtureRequest, synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized[request.param]
