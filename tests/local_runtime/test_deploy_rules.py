"""The deploy rules `up` enforces as AWS does: API Gateway's account logging role, names unique in the
account across every stack deployed into it, several assemblies (stages) in one local account, Lambda's
4 KB of environment variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local_runtime.deploy_rules import LOGGING_ROLE_MESSAGE, AccountSettings, DeployError, check
from local_runtime.templates import App, Stack, TemplateError

LOGGING_STAGE = {
    "Type": "AWS::ApiGateway::Stage",
    "Properties": {
        "RestApiId": "api",
        "StageName": "dev",
        "AccessLogSetting": {
            "DestinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:x",
            "Format": "{}",
        },
    },
}
ACCOUNT = {"Type": "AWS::ApiGateway::Account", "Properties": {"CloudWatchRoleArn": "arn:aws:iam::1:role/cw"}}


def app_of(*stacks: tuple[str, dict[str, Any], list[str]]) -> App:
    return App(
        Path("."),
        [
            Stack(name, name, {"Resources": resources}, Path("."), depends)
            for name, resources, depends in stacks
        ],
    )


def test_a_logging_stage_without_the_account_role_is_refused_with_api_gateways_message():
    app = app_of(("Svc", {"Stage": LOGGING_STAGE}, []))
    with pytest.raises(DeployError, match=LOGGING_ROLE_MESSAGE) as refused:
        check(app, AccountSettings())
    assert "Svc/Stage" in str(refused.value) and "no stack sets it" in str(refused.value)


def test_execution_logging_needs_the_role_too_and_a_quiet_stage_does_not():
    executing = {
        "Type": "AWS::ApiGateway::Stage",
        "Properties": {"MethodSettings": [{"HttpMethod": "*", "ResourcePath": "/*", "LoggingLevel": "INFO"}]},
    }
    with pytest.raises(DeployError, match=LOGGING_ROLE_MESSAGE):
        check(app_of(("Svc", {"Stage": executing}, [])), AccountSettings())
    quiet = {"Type": "AWS::ApiGateway::Stage", "Properties": {"StageName": "dev"}}
    assert check(app_of(("Svc", {"Stage": quiet}, [])), AccountSettings()) == []


def test_the_role_set_by_a_stack_deployed_first_satisfies_it():
    app = app_of(("Account", {"Account": ACCOUNT}, []), ("Svc", {"Stage": LOGGING_STAGE}, ["Account"]))
    notes = check(app, AccountSettings())
    assert any("set by Account/Account" in note for note in notes)


def test_a_dependency_through_another_stack_counts():
    app = app_of(
        ("Account", {"Account": ACCOUNT}, []),
        ("Data", {}, ["Account"]),
        ("Svc", {"Stage": LOGGING_STAGE}, ["Data"]),
    )
    check(app, AccountSettings())


def test_a_stack_that_sets_the_role_but_may_deploy_after_the_stage_is_refused():
    app = app_of(("Account", {"Account": ACCOUNT}, []), ("Svc", {"Stage": LOGGING_STAGE}, []))
    with pytest.raises(DeployError, match="Svc does not depend on it"):
        check(app, AccountSettings())


def test_in_one_stack_the_stage_must_wait_for_the_account_setting():
    together = app_of(("Svc", {"Account": ACCOUNT, "Stage": {**LOGGING_STAGE, "DependsOn": ["Account"]}}, []))
    check(together, AccountSettings())
    racing = app_of(("Svc", {"Account": ACCOUNT, "Stage": LOGGING_STAGE}, []))
    with pytest.raises(DeployError, match=LOGGING_ROLE_MESSAGE):
        check(racing, AccountSettings())


def test_an_account_that_already_has_the_role_is_an_option():
    notes = check(
        app_of(("Svc", {"Stage": LOGGING_STAGE}, [])), AccountSettings(api_gateway_cloudwatch_role=True)
    )
    assert notes == ["API Gateway CloudWatch Logs role: set in the account (--apigw-cloudwatch-role)"]


def bus(name: str) -> dict[str, Any]:
    return {"Type": "AWS::Events::EventBus", "Properties": {"Name": name}}


def rule(name: str, bus_name: str) -> dict[str, Any]:
    return {"Type": "AWS::Events::Rule", "Properties": {"Name": name, "EventBusName": bus_name}}


def test_a_name_two_stacks_give_the_same_resource_already_exists():
    app = app_of(
        ("Dev-Data", {"Bus": bus("DataOrdersBus")}, []), ("Prod-Data", {"Bus": bus("DataOrdersBus")}, [])
    )
    with pytest.raises(DeployError) as refused:
        check(app, AccountSettings())
    assert str(refused.value) == (
        "Prod-Data/Bus: Resource of type 'AWS::Events::EventBus' with identifier 'DataOrdersBus' already "
        "exists (created by Dev-Data/Bus)."
    )


def test_rule_names_are_unique_per_bus_and_generated_names_never_collide():
    per_bus = app_of(
        ("Dev", {"Rule": rule("OrderCreated", "dev-bus")}, []),
        ("Prod", {"Rule": rule("OrderCreated", "prod-bus")}, []),
    )
    assert "2 named resources" in check(per_bus, AccountSettings())[0]
    same_bus = app_of(
        ("Dev", {"Rule": rule("OrderCreated", "bus")}, []),
        ("Prod", {"Rule": rule("OrderCreated", "bus")}, []),
    )
    with pytest.raises(
        DeployError, match="'AWS::Events::Rule' with identifier 'OrderCreated' already exists"
    ):
        check(same_bus, AccountSettings())
    unnamed = {"Type": "AWS::SQS::Queue", "Properties": {}}
    check(app_of(("Dev", {"Queue": unnamed}, []), ("Prod", {"Queue": unnamed}, [])), AccountSettings())
    table = {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "orders"}}
    with pytest.raises(DeployError, match="'AWS::DynamoDB::Table' with identifier 'orders' already exists"):
        check(app_of(("Dev", {"T": table}, []), ("Prod", {"T": table}, [])), AccountSettings())


def write(outdir: Path, stacks: dict[str, dict[str, Any]], dependencies: dict[str, list[str]]) -> Path:
    outdir.mkdir(parents=True)
    artifacts = {}
    for artifact_id, resources in stacks.items():
        (outdir / f"{artifact_id}.template.json").write_text(json.dumps({"Resources": resources}))
        artifacts[artifact_id] = {
            "type": "aws:cloudformation:stack",
            "properties": {
                "templateFile": f"{artifact_id}.template.json",
                "stackName": f"Stack-{artifact_id}",
            },
            "dependencies": [*dependencies.get(artifact_id, []), f"{artifact_id}.assets"],
        }
    (outdir / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
    return outdir


def test_two_assemblies_load_as_one_account_with_a_shared_stack_once(tmp_path):
    shared = {"Account": ACCOUNT}
    dev = write(tmp_path / "dev", {"Shared": shared, "Dev": {"Bus": bus("dev-bus")}}, {"Dev": ["Shared"]})
    prod = write(
        tmp_path / "prod", {"Shared": shared, "Prod": {"Bus": bus("prod-bus")}}, {"Prod": ["Shared"]}
    )
    app = App.load([dev, prod])
    assert [s.name for s in app.stacks] == ["Stack-Shared", "Stack-Dev", "Stack-Prod"]
    assert app.stack("Stack-Prod").depends_on == ["Stack-Shared"]  # asset manifests are not stacks
    assert "2 named resources" in check(app, AccountSettings())[-1]


def test_one_stack_name_with_two_templates_is_refused(tmp_path):
    dev = write(tmp_path / "dev", {"Shared": {"Bus": bus("a")}}, {})
    other = write(tmp_path / "other", {"Shared": {"Bus": bus("b")}}, {})
    with pytest.raises(TemplateError, match=r"stack Stack-Shared is in .* with different templates"):
        App.load([dev, other])


def test_environment_variables_over_lambdas_4_kb_are_refused_as_lambda_measures_them():
    def function(variables: dict[str, Any]) -> dict[str, Any]:
        return {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": variables}}}

    queue = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "jobs"}}
    # 4,096 bytes as JSON locally, but the queue URL is longer in AWS: refused.
    filler = "x" * (
        4096
        - len(json.dumps({"Q": "http://localhost:4566/123456789012/jobs", "F": ""}, separators=(",", ":")))
    )
    app = app_of(("S", {"Jobs": queue, "Fn": function({"Q": {"Ref": "Jobs"}, "F": filler})}, []))
    with pytest.raises(DeployError) as refused:
        check(app, AccountSettings())
    message = str(refused.value)
    assert message.startswith(
        "S/Fn: InvalidParameterValueException: Lambda was unable to configure your environment"
    )
    assert '"Q":"https://sqs.us-east-1.amazonaws.com/123456789012/jobs"' in message
    small = app_of(("S", {"Fn": function({"A": "b"})}, []))
    assert any("4096 bytes" in note for note in check(small, AccountSettings()))
