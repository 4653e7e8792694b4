"""Load the cloud assembly (cdk.out) and resolve CloudFormation intrinsics to local names and ARNs.

Physical names are deterministic: the name the template sets, else `<StackName>-<LogicalId>` (shortened
or lower-cased where the service requires it). Nothing here talks to AWS or moto.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT_ID = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"


class TemplateError(ValueError):
    """The assembly cannot be loaded or an intrinsic cannot be resolved."""


@dataclass
class Stack:
    artifact_id: str
    name: str
    template: dict[str, Any]
    assembly_dir: Path
    # Names of the stacks a deploy puts in place before this one (the manifest's stack dependencies).
    depends_on: list[str] = field(default_factory=list)
    # A nested stack (AWS::CloudFormation::Stack): its parent stack's name and the resource's logical id.
    parent: tuple[str, str] | None = None

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.get("Resources", {})

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.resources.items() if r.get("Type") in types}


@dataclass
class Names:
    """Where local resources live: the gateway URL ends up in queue URLs handed to functions."""

    region: str = "us-east-1"
    account: str = ACCOUNT_ID
    endpoint_url: str = "http://localhost:4566"


def _short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _fit(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    return f"{name[: limit - 9]}-{_short_hash(name)}"


@dataclass
class App:
    assembly_dir: Path
    stacks: list[Stack]
    names: Names = field(default_factory=Names)
    # Ids a service chose when the resource was created (moto's random user pool and client ids), by
    # (stack name, logical id): once bound, Ref and Fn::GetAtt resolve to them instead of the
    # deterministic local ids, so everything resolved afterwards names the resource moto really has.
    bound_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    # Template parameter values given at deploy (`cdk deploy --parameters`): "Name" for every stack,
    # "Stack:Name" for one.
    parameters: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        assembly_dirs: str | Path | Sequence[str | Path],
        names: Names | None = None,
        parameters: dict[str, str] | None = None,
    ) -> App:
        """The stacks of one cloud assembly, or of several deployed into one account (e.g. two stages).

        A stack that several assemblies define identically (a shared account-settings stack) is one
        stack, as it would be in AWS; the same stack name with another template is refused.
        """
        dirs = [assembly_dirs] if isinstance(assembly_dirs, str | Path) else list(assembly_dirs)
        if not dirs:
            raise TemplateError("no cloud assembly given")
        stacks: dict[str, Stack] = {}
        for directory in dirs:
            for stack in _load_assembly(Path(directory).resolve()):
                known = stacks.get(stack.name)
                if known is None:
                    stacks[stack.name] = stack
                elif _without_paths(known.template) != _without_paths(stack.template):
                    raise TemplateError(
                        f"stack {stack.name} is in {known.assembly_dir} and in {stack.assembly_dir} "
                        "with different templates: deploying both into one account would replace one"
                    )
        app = cls(
            Path(dirs[0]).resolve(), list(stacks.values()), names or Names(), parameters=parameters or {}
        )
        app.check_parameters()
        return app

    @classmethod
    def from_templates(
        cls, templates: dict[str, dict[str, Any]], assembly_dir: str | Path = ".", names: Names | None = None
    ) -> App:
        """An app from in-memory templates keyed by stack name (unit tests)."""
        return cls(
            Path(assembly_dir),
            [Stack(name, name, template, Path(assembly_dir)) for name, template in templates.items()],
            names or Names(),
        )

    def parameter(self, stack: Stack, name: str) -> Any:
        """A parameter's value: given at deploy (a nested stack: by its parent's resource), else its
        Default (CommaDelimitedList: a list)."""
        declared = stack.template["Parameters"][name]
        if stack.parent is not None:
            parent = self.stack(stack.parent[0])
            given = parent.resources[stack.parent[1]].get("Properties", {}).get("Parameters", {})
            value = self.resolve(parent, given[name]) if name in given else declared.get("Default")
        else:
            value = self.parameters.get(
                f"{stack.name}:{name}", self.parameters.get(name, declared.get("Default"))
            )
        if value is None:
            raise TemplateError(
                f"{stack.name}: Parameters: [{name}] must have values (--parameters {name}=...)"
            )
        kind = str(declared.get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return [item.strip() for item in str(value).split(",")]
        return str(value)

    def check_parameters(self) -> None:
        """What CloudFormation checks before a deploy: each parameter has a value that its constraints
        allow, and each given parameter exists (its messages, e.g. "Parameters: [X] must have values")."""
        problems: list[str] = []
        top = [
            stack for stack in self.stacks if stack.parent is None
        ]  # a nested stack's come from its parent
        known = {name for stack in top for name in stack.template.get("Parameters", {})}
        known |= {f"{stack.name}:{name}" for stack in top for name in stack.template.get("Parameters", {})}
        unknown = sorted(set(self.parameters) - known)
        if unknown:
            problems.append(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
        for stack in self.stacks:
            for name, declared in stack.template.get("Parameters", {}).items():
                try:
                    value = self.parameter(stack, name)
                except TemplateError as error:
                    problems.append(str(error))
                    continue
                for item in value if isinstance(value, list) else [value]:
                    problem = _constraint_problem(name, declared, item)
                    if problem:
                        problems.append(f"{stack.name}: {problem}")
        if problems:
            raise TemplateError("; ".join(problems))

    def stack(self, name: str) -> Stack:
        for stack in self.stacks:
            if name in (stack.name, stack.artifact_id):
                return stack
        raise TemplateError(f"No stack named {name!r} in the assembly")

    def all_resources(self, *types: str) -> list[tuple[Stack, str, dict[str, Any]]]:
        """(stack, logical id, resource) for every resource of these types whose Condition holds."""
        found = []
        for stack in self.stacks:
            for logical_id, resource in stack.resources.items():
                if types and resource.get("Type") not in types:
                    continue
                if not self.condition_holds(stack, resource.get("Condition")):
                    continue
                found.append((stack, logical_id, resource))
        return found

    # ------------------------------------------------------------------ names and attributes
    def physical_name(self, stack: Stack, logical_id: str) -> str:
        resource = stack.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"{stack.name}: Ref to unknown resource {logical_id!r}")
        rtype = resource["Type"]
        props = resource.get("Properties", {})
        default = f"{stack.name}-{logical_id}"
        name_prop = {
            "AWS::DynamoDB::Table": ("TableName", 255),
            "AWS::SQS::Queue": ("QueueName", 80),
            "AWS::S3::Bucket": ("BucketName", 63),
            "AWS::Lambda::Function": ("FunctionName", 64),
            "AWS::IAM::Role": ("RoleName", 64),
            "AWS::Events::EventBus": ("Name", 256),
            "AWS::Events::Rule": ("Name", 64),
            "AWS::SNS::Topic": ("TopicName", 256),
            "AWS::Kinesis::Stream": ("Name", 128),
            "AWS::KinesisFirehose::DeliveryStream": ("DeliveryStreamName", 64),
            "AWS::SSM::Parameter": ("Name", 2048),
            "AWS::SecretsManager::Secret": ("Name", 512),
            "AWS::Logs::LogGroup": ("LogGroupName", 512),
            "AWS::IAM::Policy": ("PolicyName", 128),
            "AWS::Cognito::UserPool": ("UserPoolName", 128),
            "AWS::Cognito::UserPoolClient": ("ClientName", 128),
            "AWS::Cognito::UserPoolGroup": ("GroupName", 128),
            "AWS::ApiGateway::Authorizer": ("Name", 128),
            "AWS::ApiGateway::Stage": ("StageName", 128),
            "AWS::ApiGateway::Model": ("Name", 128),
            "AWS::StepFunctions::StateMachine": ("StateMachineName", 80),
        }.get(rtype)
        if name_prop and props.get(name_prop[0]) is not None:
            return str(self.resolve(stack, props[name_prop[0]]))
        if rtype == "AWS::S3::Bucket":
            return _fit(re.sub(r"[^a-z0-9-]", "-", default.lower()), 63)
        if rtype == "AWS::SQS::Queue":
            fifo = str(self.resolve(stack, props.get("FifoQueue", False))).lower() == "true"
            return _fit(default, 75) + (".fifo" if fifo else "")
        if rtype == "AWS::SSM::Parameter":
            return f"/{default}"
        if rtype in ("AWS::ApiGateway::RestApi", "AWS::ApiGateway::Resource", "AWS::ApiGateway::Deployment"):
            return _short_hash(default, 10)
        if rtype == "AWS::ApiGateway::Stage":
            return str(self.resolve(stack, props.get("StageName", logical_id)))
        if name_prop:
            return _fit(default, name_prop[1])
        return default

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        reg = self.names.region if region else ""
        acct = self.names.account if account else ""
        return f"arn:{PARTITION}:{service}:{reg}:{acct}:{resource}"

    def ref(self, stack: Stack, logical_id: str) -> Any:
        pseudo: dict[str, Any] = {
            "AWS::Region": self.names.region,
            "AWS::AccountId": self.names.account,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": stack.name,
            "AWS::StackId": self.arn("cloudformation", f"stack/{stack.name}/{_short_hash(stack.name, 12)}"),
            "AWS::NoValue": None,
            "AWS::NotificationARNs": [],
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        if (stack.name, logical_id) in self.bound_ids:
            return self.bound_ids[(stack.name, logical_id)]
        if logical_id in stack.template.get("Parameters", {}):
            return self.parameter(stack, logical_id)
        resource = stack.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"{stack.name}: Ref to unknown resource or parameter {logical_id!r}")
        rtype = resource["Type"]
        name = self.physical_name(stack, logical_id)
        if rtype == "AWS::SQS::Queue":
            return f"{self.names.endpoint_url}/{self.names.account}/{name}"
        if rtype == "AWS::SNS::Topic":
            return self.arn("sns", name)
        if rtype == "AWS::StepFunctions::StateMachine":
            return self.arn("states", f"stateMachine:{name}")
        if rtype == "AWS::Lambda::LayerVersion":
            return self.arn("lambda", f"layer:{name}:1")
        if rtype in ("AWS::IAM::ManagedPolicy",):
            return self.arn("iam", f"policy/{name}", region=False)
        if rtype == "AWS::Cognito::UserPool":  # the pool id, e.g. us-east-1_AbCdEfGhI
            return f"{self.names.region}_{_short_hash(f'{stack.name}/{logical_id}', 9)}"
        if rtype == "AWS::Cognito::UserPoolClient":  # the client id
            return _short_hash(f"{stack.name}/{logical_id}", 26)
        if rtype == "AWS::ApiGateway::Authorizer":
            return _short_hash(f"{stack.name}/{logical_id}", 6)
        if rtype in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):  # the qualified function ARN
            return f"{self._function_arn(stack, resource)}:{self._qualifier(stack, logical_id, resource)}"
        if rtype == "AWS::KMS::Key":  # the key id, a UUID
            digest = _short_hash(f"{stack.name}/{logical_id}", 32)
            return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        return name

    def get_att(self, stack: Stack, logical_id: str, attribute: str) -> Any:
        resource = stack.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"{stack.name}: Fn::GetAtt on unknown resource {logical_id!r}")
        rtype = resource["Type"]
        if rtype == "AWS::CloudFormation::Stack" and attribute.startswith("Outputs."):
            return self._nested_output(stack, logical_id, attribute.removeprefix("Outputs."))
        name = self.physical_name(stack, logical_id)
        region, account = self.names.region, self.names.account
        table = {
            "AWS::DynamoDB::Table": {
                "Arn": lambda: self.arn("dynamodb", f"table/{name}"),
                "StreamArn": lambda: self.arn("dynamodb", f"table/{name}/stream/1970-01-01T00:00:00.000"),
            },
            "AWS::SQS::Queue": {
                "Arn": lambda: self.arn("sqs", name),
                "QueueName": lambda: name,
                "QueueUrl": lambda: self.ref(stack, logical_id),
            },
            "AWS::S3::Bucket": {
                "Arn": lambda: f"arn:{PARTITION}:s3:::{name}",
                "DomainName": lambda: f"{name}.s3.{URL_SUFFIX}",
                "RegionalDomainName": lambda: f"{name}.s3.{region}.{URL_SUFFIX}",
                "WebsiteURL": lambda: f"http://{name}.s3-website-{region}.{URL_SUFFIX}",
            },
            "AWS::Lambda::Function": {"Arn": lambda: self.arn("lambda", f"function:{name}")},
            "AWS::IAM::Role": {
                "Arn": lambda: f"arn:{PARTITION}:iam::{account}:role/{name}",
                "RoleId": lambda: f"AROA{_short_hash(name, 16).upper()}",
            },
            "AWS::Events::EventBus": {
                "Arn": lambda: self.arn("events", f"event-bus/{name}"),
                "Name": lambda: name,
            },
            "AWS::Events::Rule": {
                "Arn": lambda: self.arn("events", f"rule/{self._rule_path(stack, resource)}")
            },
            "AWS::SNS::Topic": {"TopicArn": lambda: self.arn("sns", name), "TopicName": lambda: name},
            "AWS::StepFunctions::StateMachine": {
                "Arn": lambda: self.ref(stack, logical_id),
                "Name": lambda: name,
            },
            "AWS::Kinesis::Stream": {"Arn": lambda: self.arn("kinesis", f"stream/{name}")},
            "AWS::Lambda::Version": {
                "Version": lambda: self._qualifier(stack, logical_id, resource),
                "FunctionArn": lambda: self.ref(stack, logical_id),
            },
            "AWS::Lambda::Alias": {"AliasArn": lambda: self.ref(stack, logical_id)},
            "AWS::KMS::Key": {
                "Arn": lambda: self.arn("kms", f"key/{self.ref(stack, logical_id)}"),
                "KeyId": lambda: self.ref(stack, logical_id),
            },
            "AWS::KinesisFirehose::DeliveryStream": {
                "Arn": lambda: self.arn("firehose", f"deliverystream/{name}")
            },
            "AWS::Logs::LogGroup": {"Arn": lambda: self.arn("logs", f"log-group:{name}:*")},
            "AWS::SSM::Parameter": {"Type": lambda: resource.get("Properties", {}).get("Type", "String")},
            "AWS::ApiGateway::RestApi": {"RootResourceId": lambda: _short_hash(f"{name}/", 10)},
            "AWS::Cognito::UserPool": {
                "Arn": lambda: self.arn("cognito-idp", f"userpool/{self.ref(stack, logical_id)}"),
                "ProviderName": lambda: f"cognito-idp.{region}.{URL_SUFFIX}/{self.ref(stack, logical_id)}",
                "ProviderURL": lambda: (
                    f"https://cognito-idp.{region}.{URL_SUFFIX}/{self.ref(stack, logical_id)}"
                ),
                "UserPoolId": lambda: self.ref(stack, logical_id),
            },
            "AWS::Cognito::UserPoolClient": {
                "ClientId": lambda: self.ref(stack, logical_id),
                "Name": lambda: name,
            },
        }.get(rtype, {})
        if attribute in table:
            return table[attribute]()
        if attribute == "Arn":
            service = rtype.split("::")[1].lower()
            return self.arn(service, name)
        raise TemplateError(
            f"{stack.name}: Fn::GetAtt {logical_id}.{attribute} ({rtype}) is not supported locally"
        )

    def _nested_output(self, stack: Stack, logical_id: str, output: str) -> Any:
        nested = next((s for s in self.stacks if s.parent == (stack.name, logical_id)), None)
        if nested is None:
            raise TemplateError(f"{stack.name}/{logical_id}: nested stack template not found in the assembly")
        declared = nested.template.get("Outputs", {}).get(output)
        if declared is None:
            raise TemplateError(f"{nested.name}: no output {output!r}")
        return self.resolve(nested, declared["Value"])

    def _function_arn(self, stack: Stack, resource: dict[str, Any]) -> str:
        """The unqualified ARN of the function an alias or version belongs to."""
        function = str(self.resolve(stack, resource.get("Properties", {}).get("FunctionName")))
        if function.startswith("arn:"):
            return ":".join(function.split(":")[:7])
        return self.arn("lambda", f"function:{function.rsplit(':function:', 1)[-1]}")

    def _qualifier(self, stack: Stack, logical_id: str, resource: dict[str, Any]) -> str:
        """An alias's name; a version's number (1, 2... per function, in the template's order)."""
        if resource["Type"] == "AWS::Lambda::Alias":
            return str(self.resolve(stack, resource["Properties"]["Name"]))
        function = resource.get("Properties", {}).get("FunctionName")
        siblings = [
            lid
            for lid, other in stack.resources.items()
            if other["Type"] == "AWS::Lambda::Version"
            and other.get("Properties", {}).get("FunctionName") == function
        ]
        return str(siblings.index(logical_id) + 1)

    def _rule_path(self, stack: Stack, resource: dict[str, Any]) -> str:
        logical_id = next(lid for lid, r in stack.resources.items() if r is resource)
        bus = resource.get("Properties", {}).get("EventBusName")
        name = self.physical_name(stack, logical_id)
        bus_name = self.resolve(stack, bus) if bus else "default"
        bus_name = str(bus_name).rsplit("/", 1)[-1]
        return name if bus_name == "default" else f"{bus_name}/{name}"

    # ------------------------------------------------------------------ conditions
    def condition_holds(self, stack: Stack, condition: str | None) -> bool:
        if condition is None:
            return True
        definition = stack.template.get("Conditions", {}).get(condition)
        if definition is None:
            raise TemplateError(f"{stack.name}: unknown condition {condition!r}")
        return bool(self.resolve(stack, definition))

    # ------------------------------------------------------------------ intrinsics
    def resolve(self, stack: Stack, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(stack, item) for item in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                result = self.ref(stack, arg)
                return _NO_VALUE if arg == "AWS::NoValue" else result
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(stack, logical_id, self.resolve(stack, attribute))
            if key == "Fn::Join":
                sep, items = arg
                return str(self.resolve(stack, sep)).join(str(i) for i in self.resolve(stack, items))
            if key == "Fn::Sub":
                return self._sub(stack, arg)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(stack, items)[int(self.resolve(stack, index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(stack, text)).split(self.resolve(stack, sep))
            if key == "Fn::ImportValue":
                return self._import_value(str(self.resolve(stack, arg)))
            if key == "Fn::GetStackOutput":
                return self._stack_output(stack, arg)
            if key == "Fn::If":
                condition, if_true, if_false = arg
                chosen = if_true if self.condition_holds(stack, condition) else if_false
                return self.resolve(stack, chosen)
            if key == "Fn::Equals":
                left, right = (self.resolve(stack, a) for a in arg)
                return left == right
            if key == "Fn::Or":
                return any(self.resolve(stack, a) for a in arg)
            if key == "Fn::And":
                return all(self.resolve(stack, a) for a in arg)
            if key == "Fn::Not":
                return not self.resolve(stack, arg[0])
            if key == "Condition":
                return self.condition_holds(stack, arg)
            if key == "Fn::GetAZs":
                return [f"{self.names.region}{z}" for z in "abc"]
            if key == "Fn::Base64":
                import base64

                return base64.b64encode(str(self.resolve(stack, arg)).encode()).decode()
            if key.startswith("Fn::"):
                raise TemplateError(f"{stack.name}: intrinsic {key} is not supported by the local runtime")
        return {
            k: v for k, v in ((k, self.resolve(stack, v)) for k, v in value.items()) if v is not _NO_VALUE
        }

    def _sub(self, stack: Stack, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(stack, v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return str(self.get_att(stack, logical_id, attribute))
            return str(self.ref(stack, expression))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _import_value(self, export_name: str) -> Any:
        for other in self.stacks:
            for output in other.template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if export is not None and self.resolve(other, export) == export_name:
                    return self.resolve(other, output["Value"])
        raise TemplateError(f"Fn::ImportValue: no stack exports {export_name!r}")

    def _stack_output(self, stack: Stack, arg: dict[str, Any]) -> Any:
        stack_name = self.resolve(stack, arg["StackName"])
        output_name = self.resolve(stack, arg["OutputName"])
        other = self.stack(stack_name)
        output = other.template.get("Outputs", {}).get(output_name)
        if output is None:
            raise TemplateError(f"Fn::GetStackOutput: stack {stack_name} has no output {output_name!r}")
        return self.resolve(other, output["Value"])

    # ------------------------------------------------------------------ lookups
    def find_by_arn(self, arn: str, *types: str) -> tuple[Stack, str, dict[str, Any]] | None:
        for stack, logical_id, resource in self.all_resources(*types):
            try:
                if self.get_att(stack, logical_id, "Arn") == arn:
                    return stack, logical_id, resource
            except TemplateError:
                continue
        return None

    def find_by_ref(self, value: str, *types: str) -> tuple[Stack, str, dict[str, Any]] | None:
        for stack, logical_id, resource in self.all_resources(*types):
            if self.ref(stack, logical_id) == value:
                return stack, logical_id, resource
        return None

    def asset_dir(self, stack: Stack, resource: dict[str, Any]) -> Path | None:
        """The asset directory of a function's Code or a layer's Content inside the assembly.

        From the `aws:asset:path` metadata (the CLI adds it), else from the asset manifests
        (`<stack>.assets.json`) by the S3 object key, as an in-process `app.synth()` leaves no metadata.
        """
        path = resource.get("Metadata", {}).get("aws:asset:path")
        if not path:
            props = resource.get("Properties", {})
            key = (props.get("Code") or props.get("Content") or {}).get("S3Key")
            path = self._asset_paths().get(str(key).split(".")[0]) if isinstance(key, str) else None
        if not path:
            return None
        candidate = Path(path)
        return candidate if candidate.is_absolute() else stack.assembly_dir / candidate

    def _asset_paths(self) -> dict[str, str]:
        if not hasattr(self, "_asset_cache"):
            cache: dict[str, str] = {}
            for assembly_dir in {stack.assembly_dir for stack in self.stacks}:
                for manifest in assembly_dir.glob("*.assets.json"):
                    for asset_hash, asset in json.loads(manifest.read_text()).get("files", {}).items():
                        source = asset.get("source", {})
                        if source.get("packaging") == "zip" and source.get("path"):
                            cache[asset_hash] = str(assembly_dir / source["path"])
            self._asset_cache = cache
        return self._asset_cache


def _constraint_problem(name: str, declared: dict[str, Any], value: str) -> str | None:
    """CloudFormation's parameter constraints (AllowedValues, AllowedPattern, lengths, Number bounds)."""
    message = declared.get("ConstraintDescription")
    allowed = declared.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        return message or f"Parameter '{name}' must be one of AllowedValues"
    pattern = declared.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        return message or f"Parameter '{name}' must match pattern {pattern}"
    if "MinLength" in declared and len(value) < int(declared["MinLength"]):
        return message or f"Parameter '{name}' must contain at least {declared['MinLength']} characters"
    if "MaxLength" in declared and len(value) > int(declared["MaxLength"]):
        return message or f"Parameter '{name}' must contain at most {declared['MaxLength']} characters"
    if declared.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"Parameter '{name}' must be a number"
        if "MinValue" in declared and number < float(declared["MinValue"]):
            return message or f"Parameter '{name}' must be a number not less than {declared['MinValue']}"
        if "MaxValue" in declared and number > float(declared["MaxValue"]):
            return message or f"Parameter '{name}' must be a number not greater than {declared['MaxValue']}"
    return None


def _load_assembly(assembly_dir: Path) -> list[Stack]:
    # workers chdir into their code: paths must be absolute
    manifest_file = assembly_dir / "manifest.json"
    if not manifest_file.is_file():
        raise TemplateError(f"{manifest_file} does not exist: synthesize the app first (cdk synth)")
    manifest = json.loads(manifest_file.read_text())
    artifacts = manifest.get("artifacts", {})
    stack_names = {
        artifact_id: artifact.get("properties", {}).get("stackName", artifact_id)
        for artifact_id, artifact in artifacts.items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
    stacks = []
    for artifact_id, name in stack_names.items():
        artifact = artifacts[artifact_id]
        template = json.loads((assembly_dir / artifact["properties"]["templateFile"]).read_text())
        _add_construct_paths(template, artifact, assembly_dir)
        depends_on = [stack_names[d] for d in artifact.get("dependencies", []) if d in stack_names]
        stack = Stack(artifact_id, name, template, assembly_dir, depends_on)
        stacks += [stack, *_nested_stacks(stack, artifact)]
    if not stacks:
        raise TemplateError(f"{manifest_file} holds no CloudFormation stacks")
    return stacks


def _nested_stacks(parent: Stack, artifact: dict[str, Any]) -> list[Stack]:
    """The nested stacks (CDK's NestedStack) of a stack, and theirs: each template is an asset of the
    assembly, named by the AWS::CloudFormation::Stack resource's `aws:asset:path`."""
    found = []
    for logical_id, resource in parent.resources.items():
        if resource.get("Type") != "AWS::CloudFormation::Stack":
            continue
        asset = str(resource.get("Metadata", {}).get("aws:asset:path", ""))
        if not asset.endswith(".json") or not (parent.assembly_dir / asset).is_file():
            raise TemplateError(
                f"{parent.name}/{logical_id}: nested stack whose template is not in the assembly "
                "(only CDK's NestedStack templates, which cdk synth writes beside the stack, can run locally)"
            )
        template = json.loads((parent.assembly_dir / asset).read_text())
        _add_construct_paths(template, artifact, parent.assembly_dir)
        # CloudFormation names it <parent>-<logical id>-<random suffix>.
        name = f"{parent.name}-{logical_id}"
        # Its resources' construct paths start with the nested stack's ("Parent/Compute/Fn/Resource"): as
        # the nested stack's own paths ("<name>/Fn/Resource") they are named like a stack's ("Fn").
        prefix = str(resource.get("Metadata", {}).get("aws:cdk:path", "")).split(".NestedStack/")[0] + "/"
        for inner in template.get("Resources", {}).values():
            path = str(inner.get("Metadata", {}).get("aws:cdk:path", ""))
            if prefix != "/" and path.startswith(prefix):
                inner["Metadata"]["aws:cdk:path"] = f"{name}/{path.removeprefix(prefix)}"
        nested = Stack(
            f"{parent.artifact_id}/{logical_id}",
            name,
            template,
            parent.assembly_dir,
            [],
            (parent.name, logical_id),
        )
        found += [nested, *_nested_stacks(nested, artifact)]
    return found


def _without_paths(template: dict[str, Any]) -> str:
    """A template without the local construct-path metadata, for comparing two assemblies' copies."""
    return json.dumps(
        {
            **template,
            "Resources": {
                lid: {k: v for k, v in r.items() if k != "Metadata"}
                for lid, r in template.get("Resources", {}).items()
            },
        },
        sort_keys=True,
    )


def _add_construct_paths(template: dict[str, Any], artifact: dict[str, Any], assembly_dir: Path) -> None:
    """Fill `aws:cdk:path` from the artifact's logical-id metadata (in-process synth leaves it out)."""
    metadata = dict(artifact.get("metadata", {}))
    extra = artifact.get("additionalMetadataFile")
    if extra and (assembly_dir / extra).is_file():
        metadata.update(json.loads((assembly_dir / extra).read_text()))
    for path, entries in metadata.items():
        for entry in entries:
            if entry.get("type") != "aws:cdk:logicalId":
                continue
            resource = template.get("Resources", {}).get(entry.get("data"))
            if resource is not None:
                resource.setdefault("Metadata", {}).setdefault("aws:cdk:path", path.lstrip("/"))


def construct_names(resource: dict[str, Any]) -> list[str]:
    """Names a user may call a resource by: the construct path's segments (e.g. 'UsersApi')."""
    path = resource.get("Metadata", {}).get("aws:cdk:path", "")
    return [part for part in path.split("/")[1:] if part not in ("Resource", "Default")]


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE: Any = _NoValue()
