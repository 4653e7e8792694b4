"""Create the template's data-plane resources in moto through boto3 (tables, queues, buckets, buses...)."""

from __future__ import annotations

import json
from typing import Any

from local_runtime.templates import App


def create_resources(app: App, clients: Any) -> list[str]:
    """Create every data resource; returns one line per created resource."""
    created: list[str] = []
    _tables(app, clients("dynamodb"), created)
    _queues(app, clients("sqs"), created)
    _buckets(app, clients("s3"), created)
    _topics(app, clients("sns"), created)
    _parameters(app, clients("ssm"), created)
    _secrets(app, clients("secretsmanager"), created)
    _buses(app, clients("events"), created)
    return created


def _tables(app: App, dynamodb: Any, created: list[str]) -> None:
    for stack, logical_id, resource in app.all_resources("AWS::DynamoDB::Table"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
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
    for stack, logical_id, resource in app.all_resources("AWS::SQS::Queue"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
        attributes = {k: _attr(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        if props.get("RedrivePolicy"):
            redrives.append((url, name, props["RedrivePolicy"]))
        visibility = attributes.get("VisibilityTimeout", "30")
        created.append(f"queue  {name} (visibility {visibility}s)")
    for url, name, policy in redrives:  # after every queue exists, so the DLQ is there
        policy = json.loads(policy) if isinstance(policy, str) else policy
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)})
        dlq = str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        created.append(f"redrive {name} -> {dlq} after {policy['maxReceiveCount']} receives")


def _attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _buckets(app: App, s3: Any, created: list[str]) -> None:
    region = app.names.region
    for stack, logical_id, resource in app.all_resources("AWS::S3::Bucket"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
        if region == "us-east-1":
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
        created.append(f"bucket {name}")


def _topics(app: App, sns: Any, created: list[str]) -> None:
    for stack, logical_id, _resource in app.all_resources("AWS::SNS::Topic"):
        name = app.physical_name(stack, logical_id)
        sns.create_topic(Name=name)
        created.append(f"topic  {name}")


def _parameters(app: App, ssm: Any, created: list[str]) -> None:
    for stack, logical_id, resource in app.all_resources("AWS::SSM::Parameter"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
        ssm.put_parameter(Name=name, Value=str(props.get("Value", "")), Type=props.get("Type", "String"))
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
    for stack, logical_id, resource in app.all_resources("AWS::SecretsManager::Secret"):
        props = app.resolve(stack, resource.get("Properties", {}))
        name = app.physical_name(stack, logical_id)
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
    for stack, logical_id, _resource in app.all_resources("AWS::Events::EventBus"):
        name = app.physical_name(stack, logical_id)
        events.create_event_bus(Name=name)
        created.append(f"bus    {name}")
