"""Create the template's data-plane resources in moto through boto3 (tables, queues, buckets, buses...).

Idempotent, as a stack update is: what already exists (a hot reload's new assembly) is kept with its
data and brought to the template where moto can change it in place; `remove_resources` deletes what an
updated template no longer has, as CloudFormation does unless the resource is retained."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from local_runtime.templates import App, TemplateError


def create_resources(app: App, clients: Any) -> list[str]:
    """Create every data resource that does not exist yet; returns one line per created or updated one."""
    created: list[str] = []
    _tables(app, clients("dynamodb"), created)
    _queues(app, clients("sqs"), created)
    _buckets(app, clients("s3"), created)
    _topics(app, clients("sns"), created)
    _kinesis_streams(app, clients("kinesis"), created)
    _parameters(app, clients("ssm"), created)
    _secrets(app, clients("secretsmanager"), created)
    _buses(app, clients("events"), created)
    return created


def _tables(app: App, dynamodb: Any, created: list[str]) -> None:
    existing = set(dynamodb.list_tables()["TableNames"])
    for stack, logical_id, resource in app.all_resources("AWS::DynamoDB::Table"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
        if name in existing:
            _update_table(dynamodb, name, props, created)
            continue
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
        }
        on_demand = props.get("BillingMode", "PROVISIONED") == "PAY_PER_REQUEST"
        throughput = props.get("ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
        if on_demand:
            request["BillingMode"] = "PAY_PER_REQUEST"
        else:
            request["ProvisionedThroughput"] = throughput
        gsis = []
        for index in props.get("GlobalSecondaryIndexes", []):
            gsi = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
            if not on_demand:
                gsi["ProvisionedThroughput"] = index.get("ProvisionedThroughput", throughput)
            gsis.append(gsi)
        if gsis:
            request["GlobalSecondaryIndexes"] = gsis
        if props.get("LocalSecondaryIndexes"):
            request["LocalSecondaryIndexes"] = [
                {k: i[k] for k in ("IndexName", "KeySchema", "Projection")}
                for i in props["LocalSecondaryIndexes"]
            ]
        if props.get("StreamSpecification"):
            request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        dynamodb.create_table(**request)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        extras = [f"GSIs {[g['IndexName'] for g in gsis]}"] if gsis else []
        if ttl:
            extras.append(f"TTL {ttl.get('AttributeName')}")
        created.append(f"table  {name} {' '.join(extras)}".rstrip())


def _update_table(dynamodb: Any, name: str, props: dict[str, Any], created: list[str]) -> None:
    """Indexes added or removed, one per call as DynamoDB allows; a changed key schema needs a new table."""
    table = dynamodb.describe_table(TableName=name)["Table"]
    if table["KeySchema"] != props["KeySchema"]:
        created.append(f"table  {name}: key schema changed; restart to replace the table (data is lost)")
        return
    have = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
    want = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
    for index_name in sorted(have - set(want)):
        dynamodb.update_table(
            TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index_name}}]
        )
        created.append(f"table  {name}: GSI {index_name} removed")
    for index_name in sorted(set(want) - have):
        index = {k: want[index_name][k] for k in ("IndexName", "KeySchema", "Projection")}
        if props.get("BillingMode") != "PAY_PER_REQUEST":
            index["ProvisionedThroughput"] = want[index_name].get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        dynamodb.update_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        created.append(f"table  {name}: GSI {index_name} added")


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


def _queues(app: App, sqs: Any, created: list[str]) -> None:
    redrives = []
    existing = {url.rsplit("/", 1)[-1]: url for url in sqs.list_queues().get("QueueUrls", [])}
    for stack, logical_id, resource in app.all_resources("AWS::SQS::Queue"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
        attributes = {k: _attr(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
        if name in existing:
            url = existing[name]
            have = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            changed = {
                k: v for k, v in attributes.items() if have.get(k) != v and k not in _QUEUE_CREATE_ONLY
            }
            if changed:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
                created.append(f"queue  {name}: {', '.join(f'{k} {v}' for k, v in changed.items())}")
            policy = props.get("RedrivePolicy")
            if policy and json.loads(have.get("RedrivePolicy", "{}")) != _policy(policy):
                redrives.append((url, name, policy))
            continue
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        if props.get("RedrivePolicy"):
            redrives.append((url, name, props["RedrivePolicy"]))
        visibility = attributes.get("VisibilityTimeout", "30")
        created.append(f"queue  {name} (visibility {visibility}s)")
    for url, name, policy in redrives:  # after every queue exists, so the DLQ is there
        policy = _policy(policy)
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)})
        dlq = str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        created.append(f"redrive {name} -> {dlq} after {policy['maxReceiveCount']} receives")


# A queue's type cannot change after CreateQueue.
_QUEUE_CREATE_ONLY = {"FifoQueue"}


def _policy(policy: Any) -> Any:
    return json.loads(policy) if isinstance(policy, str) else policy


def _attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _buckets(app: App, s3: Any, created: list[str]) -> None:
    region = app.names.region
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for stack, logical_id, resource in app.all_resources("AWS::S3::Bucket"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
        if name in existing:
            pass  # kept with its objects; versioning and CORS below follow the template
        elif region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if props.get("CorsConfiguration"):
            # CloudFormation names → S3 API names
            renamed = {"ExposedHeaders": "ExposeHeaders", "Id": "ID", "MaxAge": "MaxAgeSeconds"}
            rules = [
                {renamed.get(k, k): int(v) if k == "MaxAge" else v for k, v in rule.items()}
                for rule in props["CorsConfiguration"].get("CorsRules", [])
            ]
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
        if name not in existing:
            created.append(f"bucket {name}")


def _topics(app: App, sns: Any, created: list[str]) -> None:
    existing = {t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics().get("Topics", [])}
    for stack, logical_id, _resource in app.all_resources("AWS::SNS::Topic"):
        name = app.physical_name(stack, logical_id)
        if name not in existing:
            sns.create_topic(Name=name)
            created.append(f"topic  {name}")


def _kinesis_streams(app: App, kinesis: Any, created: list[str]) -> None:
    existing = set(kinesis.list_streams().get("StreamNames", []))
    for stack, logical_id, resource in app.all_resources("AWS::Kinesis::Stream"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
        if name in existing:
            continue
        on_demand = props.get("StreamModeDetails", {}).get("StreamMode") == "ON_DEMAND"
        kinesis.create_stream(StreamName=name, ShardCount=1 if on_demand else int(props.get("ShardCount", 1)))
        kinesis.get_waiter("stream_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )
        created.append(f"stream {name}")


def _parameters(app: App, ssm: Any, created: list[str]) -> None:
    for stack, logical_id, resource in app.all_resources("AWS::SSM::Parameter"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
        value = str(props.get("Value", ""))
        try:
            if ssm.get_parameter(Name=name)["Parameter"]["Value"] == value:
                continue
        except ssm.exceptions.ParameterNotFound:
            pass
        ssm.put_parameter(Name=name, Value=value, Type=props.get("Type", "String"), Overwrite=True)
        created.append(f"param  {name}")


# GenerateSecretString properties → GetRandomPassword parameters (same names, same defaults).
_PASSWORD_OPTIONS = (
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


def _secrets(app: App, secretsmanager: Any, created: list[str]) -> None:
    """Secrets with their value: given, or generated as CloudFormation does (moto's GetRandomPassword).

    moto picks the ARN's random suffix: it is bound, so a Ref (CloudFormation: the ARN) resolves to it."""
    existing = {s["Name"]: s["ARN"] for s in secretsmanager.list_secrets().get("SecretList", [])}
    for stack, logical_id, resource in app.all_resources("AWS::SecretsManager::Secret"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
        if name in existing:  # its value stays: CloudFormation generates a secret's value once
            app.bound_ids[(stack.name, logical_id)] = existing[name]
            continue
        value = props.get("SecretString")
        generate = props.get("GenerateSecretString")
        if value is None and generate is not None:
            options = {k: generate[k] for k in _PASSWORD_OPTIONS if k in generate}
            if "PasswordLength" in options:
                options["PasswordLength"] = int(options["PasswordLength"])
            password = secretsmanager.get_random_password(**options)["RandomPassword"]
            if generate.get("SecretStringTemplate") and generate.get("GenerateStringKey"):
                document = json.loads(generate["SecretStringTemplate"])
                document[generate["GenerateStringKey"]] = password
                value = json.dumps(document)
            else:
                value = password
        # Neither property: an empty secret, without a value to get (CloudFormation's SecretString docs).
        request: dict[str, Any] = {"Name": name, **({"SecretString": value} if value is not None else {})}
        if props.get("Description"):
            request["Description"] = props["Description"]
        arn = secretsmanager.create_secret(**request)["ARN"]
        app.bound_ids[(stack.name, logical_id)] = arn
        created.append(f"secret {name}")


def _buses(app: App, events: Any, created: list[str]) -> None:
    existing = {b["Name"] for b in events.list_event_buses().get("EventBuses", [])}
    for stack, logical_id, _resource in app.all_resources("AWS::Events::EventBus"):
        name = app.physical_name(stack, logical_id)
        if name not in existing:
            events.create_event_bus(Name=name)
            created.append(f"bus    {name}")


def create_state_machines(app: App, sfn: Any) -> list[str]:
    """Each state machine with its definition (DefinitionSubstitutions applied), role and type; a
    redeploy updates the definition and role in place (running executions keep theirs, as in AWS).
    After moto_states is configured: moto keeps executable state machines in a backend of their own."""
    created: list[str] = []
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for stack, logical_id, resource in app.all_resources("AWS::StepFunctions::StateMachine"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
        definition = state_machine_definition(stack.name, logical_id, props)
        role = str(props["RoleArn"])
        if name in existing:
            sfn.update_state_machine(stateMachineArn=existing[name], definition=definition, roleArn=role)
            continue
        kind = str(props.get("StateMachineType", "STANDARD"))
        sfn.create_state_machine(name=name, definition=definition, roleArn=role, type=kind)
        created.append(f"state machine {name} ({kind.lower()}, role {role.rsplit('/', 1)[-1]})")
    return created


def state_machine_definition(stack: str, logical_id: str, props: dict[str, Any]) -> str:
    """The ASL document of a resolved AWS::StepFunctions::StateMachine: `Definition` (an object) or
    `DefinitionString`, with each `${key}` of `DefinitionSubstitutions` replaced."""
    if "DefinitionS3Location" in props:
        raise TemplateError(f"{stack}/{logical_id}: DefinitionS3Location is not emulated (use Definition)")
    definition = props.get("Definition")
    text = json.dumps(definition) if definition is not None else props.get("DefinitionString")
    if not isinstance(text, str):
        raise TemplateError(f"{stack}/{logical_id}: no Definition or DefinitionString")
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + key + "}", value if isinstance(value, str) else json.dumps(value))
    return text


_REMOVERS: dict[str, tuple[str, Callable[[Any, str], None]]] = {
    "AWS::DynamoDB::Table": ("dynamodb", lambda c, name: c.delete_table(TableName=name)),
    "AWS::SQS::Queue": (
        "sqs",
        lambda c, name: c.delete_queue(QueueUrl=c.get_queue_url(QueueName=name)["QueueUrl"]),
    ),
    "AWS::S3::Bucket": ("s3", lambda c, name: c.delete_bucket(Bucket=name)),
    "AWS::SNS::Topic": (
        "sns",
        lambda c, name: c.delete_topic(TopicArn=c.create_topic(Name=name)["TopicArn"]),
    ),
    "AWS::SSM::Parameter": ("ssm", lambda c, name: c.delete_parameter(Name=name)),
    "AWS::SecretsManager::Secret": (
        "secretsmanager",
        lambda c, name: c.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True),
    ),
    "AWS::Events::EventBus": ("events", lambda c, name: c.delete_event_bus(Name=name)),
    "AWS::StepFunctions::StateMachine": ("stepfunctions", lambda c, name: _delete_state_machine(c, name)),
}


def _delete_state_machine(sfn: Any, name: str) -> None:
    for machine in sfn.list_state_machines()["stateMachines"]:
        if machine["name"] == name:
            sfn.delete_state_machine(stateMachineArn=machine["stateMachineArn"])


def remove_resources(old: App, new: App, clients: Any) -> list[str]:
    """Delete the data resources `old` has and `new` does not, unless retained (DeletionPolicy Retain).
    A bucket with objects stays, as CloudFormation's delete fails on it (CDK's autoDeleteObjects uses a
    custom resource, not emulated)."""
    lines: list[str] = []
    for kind, (service, remove) in _REMOVERS.items():
        kept = {new.physical_name(st, lid) for st, lid, _ in new.all_resources(kind)}
        for stack, logical_id, resource in old.all_resources(kind):
            name = old.physical_name(stack, logical_id)
            if name in kept:
                continue
            if resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate"):
                lines.append(f"{kind} {name}: removed from the template, retained (DeletionPolicy)")
                continue
            try:
                remove(clients(service), name)
                lines.append(f"{kind} {name}: deleted")
            except ClientError as error:
                lines.append(f"{kind} {name}: not deleted ({error.response['Error']['Code']})")
    return lines
