"""Two stages in one account: no physical name may be shared, or the second deploy fails "already exists".

CloudFormation names a resource the template leaves unnamed from the stack name (unique per stage), but
a name written into the template, or one CDK generates from the construct path (an EventBus needs one:
"DataOrdersBusBBD9F516" in every stage), is the same in each stage. dev, prod and a third stage defined
here are synthesized and every account-wide name compared.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from local_runtime.deploy_rules import UNIQUE_NAMES
from stacks.account_stack import ACCOUNT_STACK_NAME
from tests.stacks.conftest import PROJECT_ROOT, Synthesized, synthesize

# Names AWS refuses twice in an account and region (S3: globally), as the local runtime enforces them,
# plus names AWS allows twice but two stages must not share (two APIs or pools of one name confuse all).
ACCOUNT_WIDE_NAMES = {
    **UNIQUE_NAMES,
    "AWS::ApiGateway::RestApi": "Name",
    "AWS::Cognito::UserPool": "UserPoolName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Scheduler::Schedule": "Name",
}
# Name properties that are scoped by a parent resource (an API, a pool, a role) or are not names at all.
NOT_ACCOUNT_WIDE = {
    ("AWS::ApiGateway::Authorizer", "Name"),  # per REST API
    ("AWS::ApiGateway::Stage", "StageName"),  # per REST API
    ("AWS::Cognito::UserPoolClient", "ClientName"),  # per user pool
    ("AWS::Cognito::UserPoolGroup", "GroupName"),  # per user pool
    ("AWS::IAM::Policy", "PolicyName"),  # an inline policy, per role
    ("AWS::CloudWatch::Alarm", "MetricName"),
    ("AWS::SNS::Topic", "DisplayName"),
}


def render(value: Any, stack_name: str) -> str:
    """A name as it would be in AWS: the stack name substituted, other stacks' resources kept apart."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return stack_name if argument == "AWS::StackName" else f"<{stack_name}/{argument}>"
        if function == "Fn::GetAtt":
            return f"<{stack_name}/{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            return argument[0].join(render(part, stack_name) for part in argument[1])
        if function == "Fn::Sub" and isinstance(argument, str):
            return argument.replace("${AWS::StackName}", stack_name)
    return json.dumps(value, sort_keys=True)


def account_wide_names(app: Synthesized) -> dict[str, str]:
    """{"<type> <name>": "<stack>/<logical id>"} for every named resource, export and stack of the app."""
    manifest = json.loads((app.outdir / "manifest.json").read_text())
    stack_names = {
        props["templateFile"]: props.get("stackName", artifact_id)
        for artifact_id, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
        for props in [artifact["properties"]]
    }
    names: dict[str, str] = {}
    for template_file, stack_name in stack_names.items():
        if stack_name == ACCOUNT_STACK_NAME:
            continue  # one stack per account and region on purpose, the same in every stage
        names[f"stack {stack_name}"] = stack_name
        template = json.loads((app.outdir / template_file).read_text())
        for logical_id, resource in template["Resources"].items():
            for prop, value in resource.get("Properties", {}).items():
                if ACCOUNT_WIDE_NAMES.get(resource["Type"]) == prop:
                    names[f"{resource['Type']} {render(value, stack_name)}"] = f"{stack_name}/{logical_id}"
                elif (prop.endswith("Name") or prop == "Domain") and isinstance(value, str):
                    # A new kind of literal name: decide which of the two tables above it belongs to.
                    kind = (resource["Type"], prop)
                    assert kind in NOT_ACCOUNT_WIDE, f"classify {kind} ({stack_name}/{logical_id})"
        for output_id, output in template.get("Outputs", {}).items():
            if "Export" in output:
                names[f"export {render(output['Export']['Name'], stack_name)}"] = f"{stack_name}/{output_id}"
    return names


@pytest.fixture(scope="module")
def three_stages(synthesized: dict[str, Synthesized], tmp_path_factory: pytest.TempPathFactory) -> list:
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    stages = {**context["stages"], "qa": context["stages"]["dev"]}
    qa = synthesize("qa", tmp_path_factory.mktemp("cdk-qa"), context_overrides={"stages": stages})
    return [synthesized["dev"], synthesized["prod"], qa]


def test_no_physical_name_is_shared_between_stages(three_stages):
    owners: dict[str, list[str]] = defaultdict(list)
    for app in three_stages:
        for name, owner in account_wide_names(app).items():
            owners[name].append(f"{app.stage}: {owner}")
    shared = {name: where for name, where in owners.items() if len(where) > 1}
    assert shared == {}


def test_the_named_resources_are_found(three_stages):
    """The check above sees the names a deploy would collide on (a guard against matching nothing)."""
    dev = account_wide_names(three_stages[0])
    assert "AWS::Events::EventBus Orders-Dev-Events" in dev
    assert "AWS::Cognito::UserPool Orders-Dev-Users" in dev
    assert "AWS::Events::Rule Orders-Dev-DailyReport" in dev
    assert "stack Orders-Dev-Service" in dev


def test_each_stage_depends_on_the_shared_account_settings_stack(three_stages):
    for app in three_stages:
        manifest = json.loads((app.outdir / "manifest.json").read_text())
        service = next(
            artifact
            for artifact in manifest["artifacts"].values()
            if artifact.get("properties", {}).get("stackName", "").endswith("-Service")
        )
        assert "ApiGatewayAccount" in service["dependencies"], app.stage
