"""What the runtime does with each template resource: functions, role policies, and the type inventory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_runtime.iam import Policy, unevaluated_condition_keys
from local_runtime.managed_policies import MANAGED_POLICIES
from local_runtime.templates import App, Stack, TemplateError, construct_names
from local_runtime.workers import FunctionSpec, layer_problem

# Types the runtime provisions in moto or emulates itself.
HANDLED = {
    "AWS::DynamoDB::Table": "table in moto (keys, GSIs/LSIs, TTL)",
    "AWS::SQS::Queue": "queue in moto (visibility timeout, redrive policy)",
    "AWS::S3::Bucket": "bucket in moto; notifications emulated",
    "AWS::SNS::Topic": "topic in moto; its subscriptions are delivered",
    "AWS::SSM::Parameter": "parameter in moto",
    "AWS::SecretsManager::Secret": "secret in moto (SecretString or GenerateSecretString)",
    "AWS::Events::EventBus": "bus in moto",
    "AWS::Events::Rule": "pattern rules in moto (targets drained locally); schedules on a local clock",
    "AWS::Lambda::Function": "worker processes",
    "AWS::Lambda::EventSourceMapping": "SQS, DynamoDB Streams and Kinesis pollers",
    "AWS::Kinesis::Stream": "stream in moto",
    "AWS::KinesisFirehose::DeliveryStream": "S3 destination: rule targets buffered by size/interval",
    "AWS::Lambda::EventInvokeConfig": "async retries, on-success and on-failure destinations",
    "AWS::SNS::Subscription": "SQS (by moto) and Lambda delivery, filter policies, raw delivery, DLQ",
    "AWS::SQS::QueuePolicy": "resource policy: evaluated on calls and on EventBridge/SNS/S3 deliveries",
    "AWS::S3::BucketPolicy": "resource policy: evaluated on calls",
    "AWS::SNS::TopicPolicy": "resource policy: evaluated on calls and on S3 notifications",
    "AWS::Lambda::Url": "function URL on a local port (AuthType NONE needs its InvokeFunctionUrl permission)",
    "AWS::Lambda::Permission": "resource policy: API Gateway, EventBridge and S3 invoke only as it allows",
    "AWS::Lambda::LayerVersion": "python/ dir on the worker's sys.path when importable on this host",
    "AWS::IAM::Role": "identity of a function's worker or an API integration's Credentials",
    "AWS::IAM::Policy": "evaluated by the IAM gateway",
    "AWS::IAM::ManagedPolicy": "evaluated by the IAM gateway",
    "AWS::ApiGateway::RestApi": "local HTTP server",
    "AWS::ApiGateway::Resource": "route",
    "AWS::ApiGateway::Method": "route method (Lambda proxy and non-proxy, AWS service and MOCK integrations)",
    "AWS::ApiGateway::Stage": "path prefix of the API",
    "AWS::ApiGateway::Deployment": "part of the stage",
    "AWS::ApiGateway::RequestValidator": "required request parameters and body models checked",
    "AWS::ApiGateway::Model": "JSON schema a request validator checks bodies against",
    "AWS::ApiGateway::ApiKey": "x-api-key checked on ApiKeyRequired methods (printed at start-up)",
    "AWS::ApiGateway::UsagePlan": "which API keys a stage takes, with their throttle and quota (429)",
    "AWS::ApiGateway::UsagePlanKey": "puts an API key in a usage plan",
    "AWS::ApiGateway::Authorizer": "COGNITO_USER_POOLS verified locally; Lambda TOKEN/REQUEST ones run",
    "AWS::ApiGateway::GatewayResponse": "API Gateway's own errors rendered from its templates",
    "AWS::Cognito::UserPool": "user pool in moto (password policy, username attributes, MFA setting)",
    "AWS::Cognito::UserPoolClient": "app client in moto; its tokens pass the API's authorizer",
    "AWS::Cognito::UserPoolGroup": "group in moto; ends up in the ID token's cognito:groups",
    "Custom::S3BucketNotifications": "bucket notifications emulated",
    "AWS::ApiGatewayV2::Api": "local HTTP server (HTTP APIs) or WebSocket server and @connections endpoint",
    "AWS::ApiGatewayV2::RouteResponse": "a two-way WebSocket route: the function's body goes back",
    "AWS::ApiGatewayV2::Stage": "path prefix of the API ($default: none)",
    "AWS::ApiGatewayV2::Route": "route, $default route",
    "AWS::ApiGatewayV2::Integration": "Lambda proxy, payload 2.0 or 1.0",
    "AWS::ApiGatewayV2::Authorizer": "JWT (local Cognito issuers) and Lambda REQUEST authorizers",
    "AWS::ApiGateway::Account": "account setting: the CloudWatch Logs role a logging API stage needs",
    "AWS::KMS::Key": "key policy checked on the reads/writes of what it encrypts (nothing is encrypted)",
    "AWS::KMS::Alias": "names a key",
    "AWS::CloudFormation::Stack": "nested stack (CDK NestedStack): its template's resources run too",
    "AWS::Scheduler::Schedule": "EventBridge Scheduler: rate/cron/at on the local clock, target via its role",
    "AWS::Scheduler::ScheduleGroup": "names a group of schedules",
    "AWS::Lambda::Version": "invocable by its ARN; runs the function's current code",
    "AWS::Lambda::Alias": "invocable by its ARN, with its own permissions; runs the function's current code",
    "AWS::StepFunctions::StateMachine": "state machine in moto, run by moto's ASL interpreter; its tasks "
    "call AWS through the IAM gateway as its role",
}

# Types listed once at start-up as skipped, with the reason.
SKIPPED = {
    "AWS::CDK::Metadata": "CDK analytics only",
    "AWS::Logs::LogGroup": "function logs go to .local-runtime/logs/<function>.log",
    "AWS::Logs::MetricFilter": "CloudWatch is not emulated",
    "AWS::Logs::SubscriptionFilter": "CloudWatch is not emulated",
    "AWS::CloudWatch::Alarm": "CloudWatch alarms are not emulated",
    "AWS::CloudWatch::CompositeAlarm": "CloudWatch alarms are not emulated",
    "AWS::CloudWatch::Dashboard": "CloudWatch dashboards are not emulated",
    "Custom::S3AutoDeleteObjects": "local buckets go when the runtime stops: nothing to empty",
    "AWS::XRay::Group": "X-Ray is not emulated",
    "AWS::XRay::SamplingRule": "X-Ray is not emulated",
    # Networking: functions run on this machine's network; the API stays reachable on its stage URL.
    "AWS::EC2::VPC": "networking is this machine's",
    "AWS::EC2::Subnet": "networking is this machine's",
    "AWS::EC2::RouteTable": "networking is this machine's",
    "AWS::EC2::Route": "networking is this machine's",
    "AWS::EC2::SubnetRouteTableAssociation": "networking is this machine's",
    "AWS::EC2::InternetGateway": "networking is this machine's",
    "AWS::EC2::VPCGatewayAttachment": "networking is this machine's",
    "AWS::EC2::NatGateway": "networking is this machine's",
    "AWS::EC2::EIP": "networking is this machine's",
    "AWS::EC2::SecurityGroup": "networking is this machine's",
    "AWS::EC2::SecurityGroupIngress": "networking is this machine's",
    "AWS::EC2::SecurityGroupEgress": "networking is this machine's",
    "AWS::EC2::VPCEndpoint": "AWS calls go to the local endpoint",
    "AWS::EC2::FlowLog": "networking is this machine's",
    "AWS::ApiGateway::DomainName": "custom domains: the API answers on its local stage URL",
    "AWS::ApiGateway::BasePathMapping": "custom domains: the API answers on its local stage URL",
    "AWS::ApiGatewayV2::Deployment": "part of the stage",
    "AWS::ApiGatewayV2::DomainName": "custom domains: the API answers on its local URL",
    "AWS::ApiGatewayV2::ApiMapping": "custom domains: the API answers on its local URL",
    "AWS::Route53::RecordSet": "DNS: everything is on localhost",
    "AWS::Route53::HostedZone": "DNS: everything is on localhost",
    "AWS::CertificateManager::Certificate": "TLS: the local endpoints are plain HTTP",
    "Custom::LogRetention": "log retention: function logs are local files",
    "AWS::Logs::ResourcePolicy": "CloudWatch Logs is not emulated",
    "AWS::SSM::Document": "not on any request path",
    # Containers: not run; anything that routes requests to them (a load balancer) is not emulated and
    # is still refused by name.
    "AWS::ECS::Cluster": "containers are not run locally",
    "AWS::ECS::TaskDefinition": "containers are not run locally",
    "AWS::ECS::Service": "containers are not run locally",
}


class UnsupportedResourcesError(TemplateError):
    def __init__(self, unknown: list[tuple[str, str, str]]) -> None:
        lines = "\n".join(f"  {stack}/{logical_id}: {rtype}" for stack, logical_id, rtype in unknown)
        super().__init__(
            "The local runtime does not support these resource types (no emulation, no documented skip):\n"
            f"{lines}\nRun with --skip-unknown to start without them."
        )
        self.unknown = unknown


@dataclass
class Inventory:
    handled: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, tuple[int, str]] = field(default_factory=dict)
    unknown: list[tuple[str, str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"  {count:3d} x {rtype:40s} {HANDLED[rtype]}" for rtype, count in sorted(self.handled.items())
        ]
        out += [
            f"  {n:3d} x {rtype:40s} SKIPPED: {reason}" for rtype, (n, reason) in sorted(self.skipped.items())
        ]
        out += [
            f"    1 x {rtype:40s} SKIPPED: unsupported ({stack}/{lid})" for stack, lid, rtype in self.unknown
        ]
        return out


def custom_resource_providers(app: App) -> set[tuple[str, str]]:
    """Functions that only serve handled or skipped custom resources (CDK's own providers)."""
    providers = set()
    for stack, _lid, resource in app.all_resources(
        "Custom::S3BucketNotifications", "Custom::S3AutoDeleteObjects", "Custom::LogRetention"
    ):
        token = resource.get("Properties", {}).get("ServiceToken", {})
        if isinstance(token, dict) and "Fn::GetAtt" in token:
            providers.add((stack.name, token["Fn::GetAtt"][0]))
    return providers


def inventory(app: App) -> Inventory:
    result = Inventory()
    for stack, logical_id, resource in app.all_resources():
        rtype = resource["Type"]
        if rtype in HANDLED:
            result.handled[rtype] = result.handled.get(rtype, 0) + 1
        elif rtype in SKIPPED:
            count, reason = result.skipped.get(rtype, (0, SKIPPED[rtype]))
            result.skipped[rtype] = (count + 1, reason)
        else:
            result.unknown.append((stack.name, logical_id, rtype))
    return result


def _log_group_name(app: App, stack: Stack, props: dict[str, Any], name: str) -> str:
    log_group = props.get("LoggingConfig", {}).get("LogGroup")
    return str(app.resolve(stack, log_group)) if log_group else f"/aws/lambda/{name}"


# Where Lambda's runtimes look for a layer's code, and what an inline (ZipFile) function's file is called.
LAYER_DIRS = {"python": "python", "nodejs": "nodejs/node_modules"}
INLINE_FILES = {"python": "index.py", "nodejs": "index.js"}


def _language(runtime: str) -> str | None:
    return next((language for language in LAYER_DIRS if runtime.startswith(language)), None)


def _inline_code(stack: Stack, logical_id: str, language: str, code: str, inline_dir: Path | None) -> Path:
    """An inline (ZipFile) function's code as Lambda unpacks it: one file, index.py or index.js."""
    if inline_dir is None:
        raise TemplateError(f"{stack.name}/{logical_id}: inline code needs a folder to be written to")
    folder = inline_dir / f"{stack.name}-{logical_id}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / INLINE_FILES[language]).write_text(code)
    return folder


def function_specs(app: App, inline_dir: Path | None = None) -> list[FunctionSpec]:
    providers = custom_resource_providers(app)
    specs = []
    invoke_configs = {}
    for stack, _lid, resource in app.all_resources("AWS::Lambda::EventInvokeConfig"):
        props = app.resolve(stack, resource.get("Properties", {}))
        invoke_configs[str(props.get("FunctionName"))] = props
    for stack, logical_id, resource in app.all_resources("AWS::Lambda::Function"):
        if (stack.name, logical_id) in providers:
            continue
        props = resource.get("Properties", {})
        runtime = str(app.resolve(stack, props.get("Runtime", "")))
        language = _language(runtime)
        if language is None:
            raise TemplateError(
                f"{stack.name}/{logical_id}: runtime {runtime!r} is not supported (Python and Node.js)"
            )
        inline = app.resolve(stack, props.get("Code", {})).get("ZipFile")
        if inline is not None:
            code_dir: Path | None = _inline_code(stack, logical_id, language, str(inline), inline_dir)
        else:
            code_dir = app.asset_dir(stack, resource)
        if code_dir is None or not code_dir.is_dir():
            raise TemplateError(f"{stack.name}/{logical_id}: code asset not found in the assembly")
        name = app.physical_name(stack, logical_id)
        layer_dirs: list[Path] = []
        skipped_layers: list[tuple[Path, str]] = []
        for layer_ref in app.resolve(stack, props.get("Layers", [])):
            found = app.find_by_ref(str(layer_ref), "AWS::Lambda::LayerVersion")
            if found is None:
                raise TemplateError(f"{stack.name}/{logical_id}: layer {layer_ref} is not in the assembly")
            layer_root = app.asset_dir(found[0], found[2])
            python_dir = layer_root / LAYER_DIRS[language] if layer_root else None
            if python_dir is None or not python_dir.is_dir():
                continue
            problem = layer_problem(python_dir) if language == "python" else None
            if problem:
                skipped_layers.append((python_dir, problem))
            else:
                layer_dirs.append(python_dir)
        env = {
            k: _env_value(v)
            for k, v in app.resolve(stack, props.get("Environment", {})).get("Variables", {}).items()
        }
        dlq = app.resolve(stack, props.get("DeadLetterConfig", {})).get("TargetArn")
        logging_config = app.resolve(stack, props.get("LoggingConfig", {}))
        invoke_config = invoke_configs.get(name, {})
        destinations = invoke_config.get("DestinationConfig", {})
        on_failure = destinations.get("OnFailure", {}).get("Destination")
        on_success = destinations.get("OnSuccess", {}).get("Destination")
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                stack=stack.name,
                name=name,
                arn=app.get_att(stack, logical_id, "Arn"),
                construct_names=[*construct_names(resource)[:1], logical_id],
                handler=str(app.resolve(stack, props.get("Handler", "index.handler"))),
                code_dir=code_dir,
                layer_dirs=layer_dirs,
                skipped_layers=skipped_layers,
                environment=env,
                timeout_s=float(app.resolve(stack, props.get("Timeout", 3))),
                memory_mb=int(app.resolve(stack, props.get("MemorySize", 128))),
                role_arn=str(app.resolve(stack, props.get("Role", ""))),
                runtime=runtime,
                log_group=_log_group_name(app, stack, props, name),
                reserved_concurrency=_int_or_none(
                    app.resolve(stack, props.get("ReservedConcurrentExecutions"))
                ),
                dead_letter_arn=dlq,
                on_failure_arn=on_failure,
                on_success_arn=on_success,
                async_max_retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
                async_max_age_s=int(invoke_config.get("MaximumEventAgeInSeconds", 21600)),
                log_format=str(logging_config.get("LogFormat", "Text")),
                application_log_level=logging_config.get("ApplicationLogLevel"),
                system_log_level=logging_config.get("SystemLogLevel"),
            )
        )
    return specs


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def role_policies(app: App) -> tuple[dict[str, Policy], list[str]]:
    """Policy per role ARN (inline, AWS::IAM::Policy, managed), plus warnings for what is not evaluated."""
    statements: dict[str, list[dict[str, Any]]] = {}
    warnings: list[str] = []
    role_arn_by_name = {}
    for stack, logical_id, resource in app.all_resources("AWS::IAM::Role"):
        arn = app.get_att(stack, logical_id, "Arn")
        role_arn_by_name[app.physical_name(stack, logical_id)] = arn
        props = resource.get("Properties", {})
        own = statements.setdefault(arn, [])
        for policy in app.resolve(stack, props.get("Policies", [])):
            own.extend(_statements(policy.get("PolicyDocument", {})))
        for managed in app.resolve(stack, props.get("ManagedPolicyArns", [])):
            short = str(managed).rsplit("/", 1)[-1]
            if short in MANAGED_POLICIES:
                own.extend(MANAGED_POLICIES[short])
            elif not app.find_by_ref(str(managed), "AWS::IAM::ManagedPolicy"):  # those attach themselves
                warnings.append(
                    f"{stack.name}/{logical_id}: managed policy {managed} is unknown locally (ignored)"
                )
    for stack, _lid, resource in app.all_resources("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        props = app.resolve(stack, resource.get("Properties", {}))
        for role_name in props.get("Roles", []):
            arn = role_arn_by_name.get(str(role_name))
            if arn is None:
                warnings.append(f"{stack.name}: policy attached to unknown role {role_name}")
                continue
            statements.setdefault(arn, []).extend(_statements(props.get("PolicyDocument", {})))
    for arn, items in statements.items():
        keys = sorted(set().union(*(unevaluated_condition_keys(s) for s in items)))
        if keys:
            warnings.append(f"{arn}: conditions on {', '.join(keys)} are applied as if they held")
    return {arn: Policy(items) for arn, items in statements.items()}, warnings


def function_qualifiers(app: App) -> dict[str, str]:
    """The ARN of each alias and version (`…:function:name:qualifier`) -> its function's ARN."""
    found = {}
    for stack, lid, _resource in app.all_resources("AWS::Lambda::Alias", "AWS::Lambda::Version"):
        qualified = str(app.ref(stack, lid))
        found[qualified] = qualified.rsplit(":", 1)[0]
    return found


def role_trust_policies(app: App) -> dict[str, dict[str, Any]]:
    """Each role's trust policy (AssumeRolePolicyDocument) by role ARN: who may assume it."""
    return {
        str(app.get_att(stack, lid, "Arn")): app.resolve(
            stack, resource.get("Properties", {}).get("AssumeRolePolicyDocument") or {}
        )
        for stack, lid, resource in app.all_resources("AWS::IAM::Role")
    }


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    items = document.get("Statement", [])
    return items if isinstance(items, list) else [items]
