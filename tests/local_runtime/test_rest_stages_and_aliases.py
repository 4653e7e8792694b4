"""A REST API with three stages, each with its stage variables, integrating the Lambda alias a stage
variable names (the shape of aws-cdk-examples' api-stages-lambda), behind AWS_IAM authorization: every
stage is served; a stage whose alias has no permission fails as in AWS; the caller must sign for
execute-api, and a function calling with its role needs execute-api:Invoke on the method."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_runtime.permissions import FunctionPolicies, Permission, function_key
from local_runtime.runtime import Runtime
from local_runtime.workers import FunctionPools
from tests.helpers import policy_role, python_function, running_stack

STAGE_INFO = """
import json

def handler(event, context):
    identity = event["requestContext"]["identity"]
    body = {
        "stage": event["requestContext"]["stage"],
        "variables": event["stageVariables"],
        "caller": identity["userArn"] or identity["accessKey"],
        "invoked": context.invoked_function_arn,
    }
    return {"statusCode": 200, "body": json.dumps(body)}
"""
CALLER = """
import json
import os
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

def handler(event, context):
    request = AWSRequest(method="GET", url=event["url"])
    SigV4Auth(boto3.Session().get_credentials(), "execute-api", os.environ["AWS_REGION"]).add_auth(request)
    signed = urllib.request.Request(event["url"], headers=dict(request.headers))
    try:
        with urllib.request.urlopen(signed) as answer:
            return {"status": answer.status, "body": json.loads(answer.read())}
    except urllib.error.HTTPError as error:
        return {"status": error.code, "body": json.loads(error.read())}
"""
STAGES = ("prod", "dev", "test")
EXECUTE_API = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}"


def _template() -> dict[str, Any]:
    uri = {
        "Fn::Join": [
            "",
            [
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/",
                {"Fn::GetAtt": ["StageInfo", "Arn"]},
                ":${stageVariables.lambdaAlias}/invocations",
            ],
        ]
    }
    resources: dict[str, Any] = {
        "StageInfoRole": policy_role(),
        "CallerRole": policy_role(
            {
                "Effect": "Allow",
                "Action": "execute-api:Invoke",
                "Resource": {"Fn::Sub": f"{EXECUTE_API}/prod/GET/*"},
            }
        ),
        "StageInfo": python_function("asset.stage_info", "StageInfoRole", Timeout=10),
        "Caller": python_function("asset.caller", "CallerRole", Timeout=10),
        "Version1": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "StageInfo"}}},
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "MultiStageApi"}},
        "StageInfoResource": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "stage_info",
            },
        },
        "GetStageInfo": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Ref": "StageInfoResource"},
                "HttpMethod": "GET",
                "AuthorizationType": "AWS_IAM",
                "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": uri},
            },
        },
    }
    for stage in STAGES:
        alias = f"{stage.title()}Alias"
        resources[alias] = {
            "Type": "AWS::Lambda::Alias",
            "Properties": {
                "FunctionName": {"Ref": "StageInfo"},
                "FunctionVersion": {"Fn::GetAtt": ["Version1", "Version"]},
                "Name": stage,
            },
        }
        resources[f"{stage.title()}Stage"] = {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "StageName": stage,
                "Variables": {"lambdaAlias": stage},
            },
        }
        if stage != "test":  # the test alias has no permission for its stage
            resources[f"{stage.title()}Permission"] = {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": {"Ref": alias},
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {"Fn::Sub": f"{EXECUTE_API}/{stage}/GET/stage_info"},
                },
            }
    return {"Resources": resources}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(
        tmp_path_factory, "Stages", _template(), {"asset.stage_info": STAGE_INFO, "asset.caller": CALLER}
    ) as started:
        yield started


def _root(runtime: Runtime) -> str:
    return runtime.api_servers[0].base_url.rsplit("/", 2)[0]


def _signed_get(url: str, service: str = "execute-api") -> requests.Response:
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDDEVELOPER", "any-secret"), service, "us-east-1").add_auth(request)
    return requests.get(url, headers=dict(request.headers), timeout=10)


def test_every_stage_is_served_with_its_variables_and_the_alias_they_name(runtime: Runtime) -> None:
    for stage in ("prod", "dev"):
        answer = _signed_get(f"{_root(runtime)}/{stage}/stage_info")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "stage": stage,
            "variables": {"lambdaAlias": stage},
            "caller": "AKIDDEVELOPER",
            # the alias the stage variable names is what was invoked
            "invoked": f"arn:aws:lambda:us-east-1:123456789012:function:Stages-StageInfo:{stage}",
        }
    # The test alias has no permission for API Gateway: the 500 AWS answers.
    failed = _signed_get(f"{_root(runtime)}/test/stage_info")
    assert failed.status_code == 500 and failed.json() == {"message": "Internal server error"}
    assert _signed_get(f"{_root(runtime)}/staging/stage_info").status_code == 403  # no such stage


def test_an_aws_iam_method_needs_a_sigv4_signature_for_execute_api(runtime: Runtime) -> None:
    unsigned = requests.get(f"{_root(runtime)}/prod/stage_info", timeout=10)
    assert unsigned.status_code == 403 and unsigned.json() == {"message": "Missing Authentication Token"}
    other_service = _signed_get(f"{_root(runtime)}/prod/stage_info", service="lambda")
    assert other_service.status_code == 403
    assert "scoped to correct service: 'execute-api'" in other_service.json()["message"]


def test_a_function_calls_with_its_role_which_needs_execute_api_invoke(runtime: Runtime) -> None:
    caller = next(s for s in runtime.specs if s.logical_id == "Caller")
    allowed = runtime.invoke(caller.arn, {"url": f"{_root(runtime)}/prod/stage_info"}).result
    assert allowed["status"] == 200, allowed
    assert allowed["body"]["caller"].endswith(f"assumed-role/Stages-CallerRole/{caller.name}")
    denied = runtime.invoke(caller.arn, {"url": f"{_root(runtime)}/dev/stage_info"}).result
    assert denied["status"] == 403
    assert "is not authorized to perform: execute-api:Invoke" in denied["body"]["message"]


def test_permissions_apply_to_the_function_alias_or_version_they_name() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:info"
    assert function_key(f"{arn}:prod") == ("info", "prod")
    assert function_key(arn) == function_key("info") == function_key(f"{arn}:$LATEST") == ("info", None)
    on_prod = FunctionPolicies([Permission("P", f"{arn}:prod", "apigateway.amazonaws.com", None, None)])
    assert on_prod.allows(f"{arn}:prod", "apigateway.amazonaws.com", "x", "1") is not None
    assert on_prod.allows(arn, "apigateway.amazonaws.com", "x", "1") is None
    assert on_prod.allows(f"{arn}:dev", "apigateway.amazonaws.com", "x", "1") is None


def test_an_alias_finds_its_functions_pool_and_an_unknown_qualifier_none() -> None:
    pools = FunctionPools()
    pool: Any = object()
    pools["arn:aws:lambda:us-east-1:1:function:info"] = pool
    pools.qualifiers = {
        "arn:aws:lambda:us-east-1:1:function:info:prod": "arn:aws:lambda:us-east-1:1:function:info"
    }
    assert pools["arn:aws:lambda:us-east-1:1:function:info:prod"] is pool
    assert pools["arn:aws:lambda:us-east-1:1:function:info:$LATEST"] is pool
    assert "arn:aws:lambda:us-east-1:1:function:info:nope" not in pools
    with pytest.raises(KeyError):
        pools["arn:aws:lambda:us-east-1:1:function:info:nope"]
    assert json.dumps(sorted(pools)) == json.dumps(["arn:aws:lambda:us-east-1:1:function:info"])
