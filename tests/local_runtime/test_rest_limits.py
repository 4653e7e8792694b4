"""API Gateway's limits on a REST method: the integration timeout (`TimeoutInMillis`, 29 s by default)
answers 504 while a longer-lived function goes on running, a payload over 10 MB is refused (413), and the
stage's method throttling (`MethodSettings`) answers 429 once a method's bucket is empty."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local_runtime.runtime import Runtime
from tests.helpers import api_permission, eventually, python_function, running_stack

SLOW = """
import json
import time

def handler(event, context):
    seconds = float((event.get("queryStringParameters") or {}).get("sleep", 0))
    time.sleep(seconds)
    print("finished after", seconds)
    return {"statusCode": 200, "body": json.dumps({"slept": seconds})}
"""
URI = "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Slow.Arn}/invocations"


def _proxy_method(resource: str, http_method: str) -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": {"Ref": "Api"},
            "ResourceId": {"Ref": resource},
            "HttpMethod": http_method,
            "AuthorizationType": "NONE",
            "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": {"Fn::Sub": URI}},
        },
    }


TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Slow": python_function("asset.slow", Timeout=10),
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "limits"}},
        "Any": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "HttpMethod": "ANY",
                "AuthorizationType": "NONE",
                "Integration": {
                    "Type": "AWS_PROXY",
                    "IntegrationHttpMethod": "POST",
                    "Uri": {"Fn::Sub": URI},
                    "TimeoutInMillis": 1000,
                },
            },
        },
        "Limited": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "limited",
            },
        },
        "LimitedGet": _proxy_method("Limited", "GET"),
        "LimitedPost": _proxy_method("Limited", "POST"),
        "Stage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "StageName": "v1",
                # Refilled once an hour, so a test sees each bucket as its requests leave it.
                "MethodSettings": [
                    # The stage's default, as CDK's deployOptions throttling writes it: every method its own.
                    {
                        "ResourcePath": "/*",
                        "HttpMethod": "*",
                        "ThrottlingRateLimit": 1 / 3600,
                        "ThrottlingBurstLimit": 1000,
                    },
                    {
                        "ResourcePath": "/~1limited",
                        "HttpMethod": "GET",
                        "ThrottlingRateLimit": 1 / 3600,
                        "ThrottlingBurstLimit": 2,
                    },
                    {"ResourcePath": "/~1limited", "HttpMethod": "POST", "ThrottlingBurstLimit": 3},
                ],
            },
        },
        "Permission": api_permission("Slow", "*/*/*"),
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "Limits", TEMPLATE, {"asset.slow": SLOW}) as started:
        yield started


def test_a_function_outlasting_the_integration_timeout_gets_a_504_and_runs_on(runtime: Runtime) -> None:
    base = runtime.api_servers[0].base_url
    assert requests.get(f"{base}?sleep=0", timeout=10).json() == {"slept": 0.0}
    started = time.monotonic()
    late = requests.get(f"{base}?sleep=2.5", timeout=10)
    assert (late.status_code, late.json()) == (504, {"message": "Endpoint request timed out"})
    assert time.monotonic() - started < 2.4  # answered at the 1 s integration timeout, not at 2.5 s
    log = runtime.options.state_dir / "logs" / "Slow.log"
    eventually(lambda: "finished after 2.5" in log.read_text(), timeout_s=10, what="the function to finish")


def test_a_payload_over_10_mb_is_refused(runtime: Runtime) -> None:
    base = runtime.api_servers[0].base_url
    refused = requests.post(base, data=b"x" * (10 * 1024 * 1024 + 1), timeout=30)
    assert (refused.status_code, refused.json()) == (413, {"message": "Request Too Long"})
    assert requests.post(base, data=b"x" * 1024, timeout=10).status_code == 200


def test_each_method_has_its_own_bucket_from_the_stage_s_method_settings(runtime: Runtime) -> None:
    base = runtime.api_servers[0].base_url
    gets = [requests.get(f"{base}limited", timeout=10) for _ in range(3)]
    assert [r.status_code for r in gets] == [200, 200, 429]  # its own setting: a burst of 2
    assert gets[2].json() == {"message": "Too Many Requests"}
    assert gets[2].headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    # POST: its own bucket, its burst of 3 and the default's rate (a setting gives only what it names).
    posts = [requests.post(f"{base}limited", data=b"{}", timeout=10).status_code for _ in range(4)]
    assert posts == [200, 200, 200, 429]
    assert requests.get(f"{base}?sleep=0", timeout=10).status_code == 200  # the root: the default's bucket
