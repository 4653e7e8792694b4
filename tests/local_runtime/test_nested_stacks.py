"""Nested stacks (CDK's NestedStack, an AWS::CloudFormation::Stack whose template is in the assembly): the
nested template's resources run with the parameters the parent passes, and the parent reads the nested
stack's outputs (`Fn::GetAtt [Nested, Outputs.X]`), as CDK wires a function in a nested stack behind an
API in its parent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local_runtime.runtime import Runtime
from local_runtime.templates import App, TemplateError
from tests.helpers import api_permission, running, write_stack_assembly

SENDER = """
import os
import boto3

def handler(event, context):
    boto3.client("sqs").send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=event["body"])
    return {"statusCode": 202, "body": context.function_name}
"""
NESTED = {
    "Parameters": {
        "referencetoParentJobsArn": {"Type": "String"},
        "referencetoParentJobsRef": {"Type": "String"},
    },
    "Resources": {
        "FnRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
        "FnPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "send",
                "Roles": [{"Ref": "FnRole"}],
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sqs:SendMessage",
                            "Resource": {"Ref": "referencetoParentJobsArn"},
                        }
                    ]
                },
            },
        },
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Handler": "handler.handler",
                "Runtime": "python3.14",
                "Role": {"Fn::GetAtt": ["FnRole", "Arn"]},
                "Environment": {"Variables": {"QUEUE_URL": {"Ref": "referencetoParentJobsRef"}}},
            },
            "Metadata": {"aws:cdk:path": "Parent/Compute/Fn/Resource", "aws:asset:path": "asset.sender"},
        },
    },
    "Outputs": {"FnArn": {"Value": {"Fn::GetAtt": ["Fn", "Arn"]}}},
}
NESTED_ARN = {"Fn::GetAtt": ["ComputeStack", "Outputs.FnArn"]}


def _parent() -> dict[str, Any]:
    uri = {
        "Fn::Join": [
            "",
            ["arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/", NESTED_ARN, "/invocations"],
        ]
    }
    permission = api_permission("Unused", "*/*/*")
    permission["Properties"]["FunctionName"] = NESTED_ARN
    return {
        "Resources": {
            "Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "jobs"}},
            "ComputeStack": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {
                    "TemplateURL": "https://s3.amazonaws.com/cdk-assets/nested.json",
                    "Parameters": {
                        "referencetoParentJobsArn": {"Fn::GetAtt": ["Jobs", "Arn"]},
                        "referencetoParentJobsRef": {"Ref": "Jobs"},
                    },
                },
                "Metadata": {
                    "aws:cdk:path": "Parent/Compute.NestedStack/Compute.NestedStackResource",
                    "aws:asset:path": "ParentCompute.nested.template.json",
                },
            },
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "parent-api"}},
            "Post": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "HttpMethod": "POST",
                    "AuthorizationType": "NONE",
                    "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": uri},
                },
            },
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "prod"},
            },
            "Permission": permission,
        }
    }


def _assembly(out: Path, nested: dict[str, Any] | None = NESTED) -> Path:
    write_stack_assembly(out, "Parent", _parent(), {"asset.sender": SENDER})
    if nested is not None:
        (out / "ParentCompute.nested.template.json").write_text(json.dumps(nested))
    return out


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running(
        _assembly(tmp_path_factory.mktemp("nested-cdk-out")), tmp_path_factory.mktemp("nested-state")
    ) as rt:
        yield rt


def test_a_function_in_a_nested_stack_answers_the_parents_api_and_uses_its_queue(runtime: Runtime) -> None:
    answer = requests.post(runtime.api_servers[0].base_url, data="job-1", timeout=10)
    assert answer.status_code == 202, answer.text
    assert (
        answer.text == "Parent-ComputeStack-Fn"
    )  # <parent>-<nested logical id>-<logical id>, as named locally
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url).get("Messages", [])] == ["job-1"]
    # Named by its construct path inside the nested stack, as a stack's own function would be.
    assert [spec.display for spec in runtime.specs] == ["Fn"]


def test_nested_templates_outside_the_assembly_and_missing_outputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="nested stack whose template is not in the assembly"):
        App.load(_assembly(tmp_path / "none", nested=None))
    app = App.load(_assembly(tmp_path / "other", nested={**NESTED, "Outputs": {}}))
    with pytest.raises(TemplateError, match="no output 'FnArn'"):
        app.get_att(app.stack("Parent"), "ComputeStack", "Outputs.FnArn")
