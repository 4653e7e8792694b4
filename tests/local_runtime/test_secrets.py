"""AWS::SecretsManager::Secret: created in moto with its value, Ref bound to moto's ARN, IAM on the ARN."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_runtime.iam import AwsRequest, describe_request
from local_runtime.provision import create_resources
from local_runtime.templates import App, Names

TEMPLATE = {
    "Resources": {
        "Given": {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": "s3cr3t"}},
        "Generated": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": "signs page tokens",
                "GenerateSecretString": {"PasswordLength": 40, "ExcludePunctuation": True},
            },
        },
        "Empty": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "app/empty"}},
        "Credentials": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": "app/db",
                "GenerateSecretString": {
                    "SecretStringTemplate": '{"username": "app"}',
                    "GenerateStringKey": "password",
                },
            },
        },
    }
}


@pytest.fixture
def provisioned() -> Iterator[tuple[App, Any]]:
    with mock_aws():
        app = App.from_templates({"S": TEMPLATE}, names=Names(region="us-east-1", endpoint_url="http://x"))
        clients = lambda service: boto3.client(service, region_name="us-east-1")  # noqa: E731
        lines = create_resources(app, clients)
        assert sum(line.startswith("secret ") for line in lines) == 4
        yield app, clients("secretsmanager")


def test_values_are_given_or_generated_as_cloudformation_does(provisioned: tuple[App, Any]) -> None:
    app, secretsmanager = provisioned
    stack = app.stack("S")

    def value(logical_id: str) -> str:
        arn = app.resolve(stack, {"Ref": logical_id})  # CloudFormation's Ref of a secret is its ARN
        return secretsmanager.get_secret_value(SecretId=arn)["SecretString"]

    assert value("Given") == "s3cr3t"
    generated = value("Generated")
    assert len(generated) == 40 and generated.isalnum()
    document = json.loads(value("Credentials"))
    assert document["username"] == "app" and len(document["password"]) == 32  # the default length
    described = secretsmanager.describe_secret(SecretId=app.resolve(stack, {"Ref": "Generated"}))
    assert described["Description"] == "signs page tokens"
    assert secretsmanager.describe_secret(SecretId="app/db")["Name"] == "app/db"


def test_a_secret_without_a_value_has_none_to_get(provisioned: tuple[App, Any]) -> None:
    """Neither SecretString nor GenerateSecretString: CloudFormation creates an empty secret."""
    _, secretsmanager = provisioned
    with pytest.raises(secretsmanager.exceptions.ResourceNotFoundException):
        secretsmanager.get_secret_value(SecretId="app/empty")


def test_a_secret_call_is_checked_against_the_secret_arn() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf"
    body = json.dumps({"SecretId": arn}).encode()
    headers = {"x-amz-target": "secretsmanager.GetSecretValue", "host": "localhost"}
    described = describe_request(AwsRequest("POST", "/", headers, body), "us-east-1", "123456789012")
    assert (described.action, described.resources) == ("secretsmanager:GetSecretValue", [arn])
