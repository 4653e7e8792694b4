"""A REST method with `ApiKeyRequired` and a request validator checking parameters and the body against
its model (with a `$ref` to another model): API Gateway answers 403 without a key a usage plan of the
stage holds, and 400 for a missing parameter or an invalid body, before the function runs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local_runtime.runtime import Runtime
from tests.helpers import api_permission, python_function, running_stack

ECHO = """
def handler(event, context):
    print("echo called")
    return {"statusCode": 200, "body": event["body"] or ""}
"""
KEY = "local-test-key-0123456789abcdefghijklmn"
ITEM = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "required": ["name", "qty"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "qty": {"type": "integer", "minimum": 1},
        "tags": {
            "type": "array",
            "items": {"$ref": "https://apigateway.amazonaws.com/restapis/${Api}/models/Tag"},
        },
    },
}
TAG = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "string", "pattern": "^[a-z]+$"}


def _key(enabled: bool, value: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"Enabled": enabled, "StageKeys": []}
    if value:
        props["Value"] = value
    return {"Type": "AWS::ApiGateway::ApiKey", "Properties": props}


def _plan_key(key: str, plan: str = "Plan") -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGateway::UsagePlanKey",
        "Properties": {"KeyId": {"Ref": key}, "KeyType": "API_KEY", "UsagePlanId": {"Ref": plan}},
    }


BURST_KEY = "burst-key-0123456789abcdefghijklmnopqrst"
QUOTA_KEY = "quota-key-0123456789abcdefghijklmnopqrst"


TEMPLATE = {
    "Resources": {
        "Echo": python_function("asset.echo"),
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "validated"}},
        "Items": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "items",
            },
        },
        "ItemModel": {
            "Type": "AWS::ApiGateway::Model",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ContentType": "application/json",
                "Name": "Item",
                "Schema": {"Fn::Sub": [json.dumps(ITEM), {}]},
            },
        },
        "TagModel": {
            "Type": "AWS::ApiGateway::Model",
            "Properties": {"RestApiId": {"Ref": "Api"}, "Name": "Tag", "Schema": TAG},
        },
        "Validator": {
            "Type": "AWS::ApiGateway::RequestValidator",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ValidateRequestBody": True,
                "ValidateRequestParameters": True,
            },
        },
        "PostItem": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Ref": "Items"},
                "HttpMethod": "POST",
                "AuthorizationType": "NONE",
                "ApiKeyRequired": True,
                "RequestValidatorId": {"Ref": "Validator"},
                "RequestParameters": {"method.request.querystring.mode": True},
                "RequestModels": {"application/json": {"Ref": "ItemModel"}},
                "Integration": {
                    "Type": "AWS_PROXY",
                    "IntegrationHttpMethod": "POST",
                    "Uri": {
                        "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                        "${Echo.Arn}/invocations"
                    },
                },
            },
        },
        "Stage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "v1"},
        },
        "Plan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "Properties": {"ApiStages": [{"ApiId": {"Ref": "Api"}, "Stage": {"Ref": "Stage"}}]},
        },
        "GivenKey": _key(True, KEY),
        "GeneratedKey": _key(True),
        "DisabledKey": _key(False, "disabled-key-0123456789abcdefghijklmnop"),
        "OutsideKey": _key(True, "outside-key-0123456789abcdefghijklmnopq"),  # in no usage plan
        "GivenInPlan": _plan_key("GivenKey"),
        "GeneratedInPlan": _plan_key("GeneratedKey"),
        "DisabledInPlan": _plan_key("DisabledKey"),
        # Usage plans that limit their keys: a bucket of 2 refilled once an hour; 2 requests a day.
        "BurstPlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "Properties": {
                "ApiStages": [{"ApiId": {"Ref": "Api"}, "Stage": {"Ref": "Stage"}}],
                "Throttle": {"RateLimit": 1 / 3600, "BurstLimit": 2},
            },
        },
        "QuotaPlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "Properties": {
                "ApiStages": [{"ApiId": {"Ref": "Api"}, "Stage": {"Ref": "Stage"}}],
                "Quota": {"Limit": 2, "Period": "DAY"},
            },
        },
        "BurstKey": _key(True, BURST_KEY),
        "QuotaKey": _key(True, QUOTA_KEY),
        "BurstInPlan": _plan_key("BurstKey", "BurstPlan"),
        "QuotaInPlan": _plan_key("QuotaKey", "QuotaPlan"),
        "Permission": api_permission("Echo", "*/*/*"),
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "Valid", TEMPLATE, {"asset.echo": ECHO}) as started:
        yield started


def _post(
    runtime: Runtime, body: Any, key: str | None = KEY, query: str = "?mode=fast", **headers: str
) -> Any:
    if key is not None:
        headers["x-api-key"] = key
    url = f"{runtime.api_servers[0].base_url}items{query}"
    data = body if isinstance(body, str) else json.dumps(body)
    headers.setdefault("Content-Type", "application/json")
    return requests.post(url, data=data, headers=headers, timeout=10)


GOOD = {"name": "pen", "qty": 2, "tags": ["blue"]}


def test_the_method_needs_an_enabled_key_from_a_usage_plan_of_the_stage(runtime: Runtime) -> None:
    for key in (
        None,
        "made-up",
        "disabled-key-0123456789abcdefghijklmnop",
        "outside-key-0123456789abcdefghijklmnopq",
    ):
        refused = _post(runtime, GOOD, key=key)
        assert (refused.status_code, refused.json()) == (403, {"message": "Forbidden"}), key
    assert _post(runtime, GOOD).status_code == 200
    # A key without a Value gets one, printed at start-up.
    printed = next(line for line in runtime.output if "API keys (x-api-key)" in line)
    generated = re.search(r"GeneratedKey=(\w+)", printed)
    assert generated is not None and len(generated.group(1)) == 40
    assert _post(runtime, GOOD, key=generated.group(1)).status_code == 200


@pytest.mark.parametrize(
    ("key", "message", "error_type"),
    [
        (BURST_KEY, "Too Many Requests", "TooManyRequestsException"),
        (QUOTA_KEY, "Limit Exceeded", "LimitExceededException"),
    ],
)
def test_a_usage_plan_s_throttle_and_quota_answer_429_beyond_their_limits(
    runtime: Runtime, key: str, message: str, error_type: str
) -> None:
    assert [_post(runtime, GOOD, key=key).status_code for _ in range(2)] == [200, 200]
    refused = _post(runtime, GOOD, key=key)
    assert (refused.status_code, refused.json()) == (429, {"message": message})
    assert refused.headers["x-amzn-ErrorType"] == error_type
    assert _post(runtime, GOOD).status_code == 200  # another plan's key is not limited by it


def test_required_parameters_must_be_present_and_not_blank(runtime: Runtime) -> None:
    for query in ("", "?mode="):
        missing = _post(runtime, GOOD, query=query)
        assert missing.status_code == 400
        assert missing.json() == {"message": "Missing required request parameters: [mode]"}


def test_the_body_is_validated_against_the_model_of_its_content_type(runtime: Runtime) -> None:
    invalid = [{"name": "pen", "qty": 0}, {"qty": 1}, {**GOOD, "tags": ["Blue!"]}, "not json"]
    for body in invalid:
        answer = _post(runtime, body)
        assert (answer.status_code, answer.json()) == (400, {"message": "Invalid request body"}), body
    valid = _post(runtime, GOOD)
    assert valid.status_code == 200 and valid.json() == GOOD
    # No model for text/plain: not validated, as in API Gateway.
    assert _post(runtime, "free text", **{"Content-Type": "text/plain"}).status_code == 200
