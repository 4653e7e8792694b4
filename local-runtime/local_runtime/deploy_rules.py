"""What a deploy into one AWS account refuses, checked before anything is provisioned locally.

`up` fails the way `cdk deploy` would, with AWS's message, so a template that starts here also deploys:
- a REST API stage that logs (access or execution logs) needs API Gateway's account-wide CloudWatch
  Logs role, set by an `AWS::ApiGateway::Account` deployed first, or already set in the account;
- a name that must be unique in the account and region (a table, queue, bus, rule on a bus...) can be
  used once, across every stack deployed into it (two stages in one account);
- a function's environment variables fit in Lambda's 4 KB, measured as Lambda measures them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from local_runtime.templates import App, Stack, TemplateError

# The name property of each type whose name is unique per account and region (S3: globally).
# Event rules are unique per bus: their key includes the bus.
UNIQUE_NAMES = {
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Cognito::UserPoolDomain": "Domain",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SSM::Parameter": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
}

# API Gateway's answer when a logging stage is created without the account's CloudWatch role
# (https://repost.aws/knowledge-center/api-gateway-cloudwatch-logs).
LOGGING_ROLE_MESSAGE = "CloudWatch Logs role ARN must be set in account settings to enable logging"


class DeployError(TemplateError):
    """AWS would refuse to deploy the assembly; the message is AWS's own, with where and why."""


@dataclass(frozen=True)
class AccountSettings:
    """What the local account already has before the assembly is deployed."""

    # API Gateway's CloudWatch Logs role is set in the account (e.g. by a landing zone).
    api_gateway_cloudwatch_role: bool = False


def check(app: App, account: AccountSettings) -> list[str]:
    """Raise DeployError for the first rule AWS would break on; return start-up notes on what was checked."""
    notes = [_api_gateway_logging_role(app, account), _unique_names(app), _environment_sizes(app)]
    return [note for note in notes if note]


# --- API Gateway's account-level CloudWatch Logs role --------------------------------------------


def _logs(props: dict[str, Any]) -> bool:
    """Does the stage write access logs or execution logs (both go through the account's role)?"""
    if props.get("AccessLogSetting"):
        return True
    return any(
        str(setting.get("LoggingLevel", "OFF")).upper() in ("INFO", "ERROR")
        or setting.get("DataTraceEnabled")
        for setting in props.get("MethodSettings", [])
    )


def _api_gateway_logging_role(app: App, account: AccountSettings) -> str:
    stages = [
        (stack, lid)
        for stack, lid, resource in app.all_resources("AWS::ApiGateway::Stage")
        if _logs(app.resolve(stack, resource.get("Properties", {})))
    ]
    if not stages:
        return ""
    if account.api_gateway_cloudwatch_role:
        return "API Gateway CloudWatch Logs role: set in the account (--apigw-cloudwatch-role)"
    settings = [
        (stack, lid)
        for stack, lid, resource in app.all_resources("AWS::ApiGateway::Account")
        if app.resolve(stack, resource.get("Properties", {})).get("CloudWatchRoleArn")
    ]
    for stack, lid in stages:
        if not any(_deployed_before(app, (s, a), (stack, lid)) for s, a in settings):
            where = (
                f"; {', '.join(f'{s.name}/{a}' for s, a in settings)} sets it, but {stack.name} does not "
                "depend on it, so CloudFormation may create the stage first"
                if settings
                else "; no stack sets it (AWS::ApiGateway::Account with CloudWatchRoleArn)"
            )
            raise DeployError(
                f"{stack.name}/{lid} (AWS::ApiGateway::Stage): {LOGGING_ROLE_MESSAGE} "
                f"(Service: ApiGateway, Status Code: 400, BadRequestException){where}. Deploy the account "
                "setting first, or pass --apigw-cloudwatch-role if the account already has it."
            )
    first = settings[0]
    return f"API Gateway CloudWatch Logs role: set by {first[0].name}/{first[1]} before the logging stage"


def _deployed_before(app: App, setting: tuple[Stack, str], stage: tuple[Stack, str]) -> bool:
    setting_stack, setting_id = setting
    stage_stack, stage_id = stage
    if setting_stack is stage_stack:
        return setting_id in _depends_on(stage_stack, stage_id)
    return setting_stack.name in _stack_dependencies(app, stage_stack)


def _stack_dependencies(app: App, stack: Stack) -> set[str]:
    seen: set[str] = set()
    pending = list(stack.depends_on)
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(app.stack(name).depends_on)
    return seen


def _depends_on(stack: Stack, logical_id: str) -> set[str]:
    """Every resource of the stack that `logical_id` waits for through DependsOn (transitively)."""
    seen: set[str] = set()
    pending = [logical_id]
    while pending:
        depends = stack.resources.get(pending.pop(), {}).get("DependsOn", [])
        for lid in [depends] if isinstance(depends, str) else depends:
            if lid not in seen:
                seen.add(lid)
                pending.append(lid)
    return seen


# --- names unique in the account ---------------------------------------------------------------------


def _named(app: App) -> Iterator[tuple[str, str, str]]:
    """(resource type, unique key, "stack/logical id") of every resource the template names itself."""
    for stack, lid, resource in app.all_resources(*UNIQUE_NAMES):
        rtype = resource["Type"]
        props = resource.get("Properties", {})
        if props.get(UNIQUE_NAMES[rtype]) is None:
            continue  # CloudFormation generates a name from the stack name: unique per stack
        name = str(app.resolve(stack, props[UNIQUE_NAMES[rtype]]))
        if rtype == "AWS::Events::Rule":
            bus = str(app.resolve(stack, props.get("EventBusName", "default"))).rsplit("/", 1)[-1]
            key = f"{bus}/{name}" if bus != "default" else name
        else:
            key = name
        yield rtype, key, f"{stack.name}/{lid}"


def _unique_names(app: App) -> str:
    owners: dict[tuple[str, str], str] = {}
    for rtype, key, where in _named(app):
        first = owners.setdefault((rtype, key), where)
        if first != where:
            # CloudFormation's early validation message for a name that is taken.
            raise DeployError(
                f"{where}: Resource of type '{rtype}' with identifier '{key.rsplit('/', 1)[-1]}' already "
                f"exists (created by {first})."
            )
    return f"unique names: {len(owners)} named resources, no name used twice in the account" if owners else ""


# --- Lambda's 4 KB of environment variables ------------------------------------------------------

ENVIRONMENT_LIMIT = 4096  # bytes (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)


def _environment_sizes(app: App) -> str:
    """Lambda measures the variables as one compact JSON string and refuses more than 4 KB. Queue URLs
    are measured as AWS's (https://sqs.<region>.amazonaws.com/...), not the shorter local ones."""
    largest = 0
    for stack, lid, resource in app.all_resources("AWS::Lambda::Function"):
        variables = app.resolve(stack, resource.get("Properties", {}).get("Environment", {})).get(
            "Variables", {}
        )
        aws_like = {
            str(k): str(v).replace(app.names.endpoint_url, f"https://sqs.{app.names.region}.amazonaws.com")
            for k, v in variables.items()
        }
        measured = json.dumps(aws_like, separators=(",", ":"))
        largest = max(largest, len(measured.encode()))
        if len(measured.encode()) > ENVIRONMENT_LIMIT:
            raise DeployError(
                f"{stack.name}/{lid}: InvalidParameterValueException: Lambda was unable to configure your "
                "environment variables because the environment variables you have provided exceeded the 4KB "
                f"limit. String measured: {measured}"
            )
    return f"environment variables: the largest set takes {largest} of Lambda's 4096 bytes" if largest else ""
