"""Applying an updated template to running resources (hot reload of infrastructure), as a stack update
does: data kept, changes made in place where the service allows, removed resources deleted unless
retained, user pools reused so their tokens stay valid."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_runtime.cognito import create_user_pools
from local_runtime.provision import create_resources, remove_resources
from local_runtime.templates import App, Names

KEY = [{"AttributeName": "pk", "KeyType": "HASH"}]
V1: dict[str, Any] = {
    "Resources": {
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "items",
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": KEY,
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            },
        },
        "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "work-dlq"}},
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": "work",
                "VisibilityTimeout": 30,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]},
                    "maxReceiveCount": 3,
                },
            },
        },
        "Old": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "old"}},
        "Kept": {"Type": "AWS::SQS::Queue", "DeletionPolicy": "Retain", "Properties": {"QueueName": "kept"}},
        "Key": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {"Name": "key", "GenerateSecretString": {"PasswordLength": 32}},
        },
        "Setting": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "setting", "Type": "String", "Value": "a"},
        },
        "Pool": {"Type": "AWS::Cognito::UserPool", "Properties": {"UserPoolName": "users"}},
        "Client": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {"UserPoolId": {"Ref": "Pool"}, "ClientName": "web"},
        },
        "Admins": {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"UserPoolId": {"Ref": "Pool"}, "GroupName": "admins"},
        },
    }
}


def _v2() -> dict[str, Any]:
    template = copy.deepcopy(V1)
    resources = template["Resources"]
    table = resources["Table"]["Properties"]
    table["AttributeDefinitions"].append({"AttributeName": "owner", "AttributeType": "S"})
    table["GlobalSecondaryIndexes"] = [
        {
            "IndexName": "byOwner",
            "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    resources["Queue"]["Properties"]["VisibilityTimeout"] = 60
    resources["Setting"]["Properties"]["Value"] = "b"
    del resources["Old"], resources["Kept"]
    resources["New"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "new"}}
    return template


def _app(template: dict[str, Any]) -> App:
    return App.from_templates({"Stack": copy.deepcopy(template)}, names=Names(region="us-east-1"))


@pytest.fixture
def clients() -> Iterator[Any]:
    with mock_aws():
        made: dict[str, Any] = {}
        yield lambda service: made.setdefault(service, boto3.client(service, region_name="us-east-1"))


def test_an_updated_template_is_applied_with_the_data_kept(clients: Any) -> None:
    v1, v2 = _app(V1), _app(_v2())
    create_resources(v1, clients)
    dynamodb, sqs, secrets = clients("dynamodb"), clients("sqs"), clients("secretsmanager")
    dynamodb.put_item(TableName="items", Item={"pk": {"S": "1"}, "owner": {"S": "ada"}})
    work = sqs.get_queue_url(QueueName="work")["QueueUrl"]
    sqs.send_message(QueueUrl=work, MessageBody="pending")
    key = secrets.get_secret_value(SecretId="key")["SecretString"]

    lines = create_resources(v2, clients) + remove_resources(v1, v2, clients)

    assert dynamodb.get_item(TableName="items", Key={"pk": {"S": "1"}})["Item"]["owner"] == {"S": "ada"}
    index = dynamodb.describe_table(TableName="items")["Table"]["GlobalSecondaryIndexes"]
    assert [i["IndexName"] for i in index] == ["byOwner"]
    attributes = sqs.get_queue_attributes(QueueUrl=work, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "60" and attributes["ApproximateNumberOfMessages"] == "1"
    assert "dlq" in attributes["RedrivePolicy"]  # unchanged, still there
    assert secrets.get_secret_value(SecretId="key")["SecretString"] == key  # generated once
    assert clients("ssm").get_parameter(Name="setting")["Parameter"]["Value"] == "b"
    queues = {url.rsplit("/", 1)[-1] for url in sqs.list_queues()["QueueUrls"]}
    assert queues == {"work", "work-dlq", "new", "kept"}  # "old" deleted, "kept" retained
    assert "table  items: GSI byOwner added" in lines
    assert "queue  work: VisibilityTimeout 60" in lines
    assert "AWS::SQS::Queue kept: removed from the template, retained (DeletionPolicy)" in lines
    assert "AWS::SQS::Queue old: deleted" in lines
    # Applying the same template again changes nothing.
    assert create_resources(_app(_v2()), clients) == []


def test_a_changed_key_schema_is_reported_not_applied(clients: Any) -> None:
    create_resources(_app(V1), clients)
    changed = _v2()
    changed["Resources"]["Table"]["Properties"]["KeySchema"] = [{"AttributeName": "owner", "KeyType": "HASH"}]
    lines = create_resources(_app(changed), clients)
    assert "table  items: key schema changed; restart to replace the table (data is lost)" in lines
    assert clients("dynamodb").describe_table(TableName="items")["Table"]["KeySchema"] == KEY


def test_user_pools_groups_and_clients_are_reused_so_tokens_stay_valid(clients: Any) -> None:
    idp = clients("cognito-idp")
    first, created = create_user_pools(_app(V1), idp)
    again, created_again = create_user_pools(_app(V1), idp)
    assert [p.pool_id for p in again] == [p.pool_id for p in first]
    assert again[0].clients == first[0].clients and again[0].groups == ["admins"]
    assert created and created_again == []
    assert len(idp.list_user_pools(MaxResults=10)["UserPools"]) == 1
