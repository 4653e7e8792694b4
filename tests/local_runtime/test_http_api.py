"""An HTTP API (API Gateway v2) from a hand-written template: routes and `$default`, payload 2.0 and 1.0,
a JWT authorizer on a local Cognito pool, a Lambda REQUEST authorizer with simple responses and a cache,
the API's CORS configuration, and HTTP APIs' own error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_runtime.runtime import Runtime
from tests.helpers import api_permission, python_function, running_stack

ITEMS = """
import json

def handler(event, context):
    if event.get("version") == "1.0":
        return {"statusCode": 200, "body": json.dumps({"version": "1.0", "path": event["path"]})}
    if event["requestContext"]["http"]["method"] == "POST":
        headers = {"x-trace": "t-1"}
        return {"statusCode": 201, "headers": headers, "cookies": ["a=1", "b=2"], "body": event["body"]}
    authorizer = event["requestContext"].get("authorizer", {})
    return {
        "routeKey": event["routeKey"],
        "params": event.get("pathParameters"),
        "query": event.get("queryStringParameters"),
        "sub": authorizer.get("jwt", {}).get("claims", {}).get("sub"),
        "lambda": authorizer.get("lambda"),
        "iam": authorizer.get("iam"),
    }
"""
GATE = """
def handler(event, context):
    print("gate called")
    return {"isAuthorized": event["identitySource"] == ["let-me-in"], "context": {"who": "tester"}}
"""


def _route(key: str, integration: str, **extra: Any) -> dict[str, Any]:
    properties = {
        "ApiId": {"Ref": "Api"},
        "RouteKey": key,
        "Target": {"Fn::Sub": f"integrations/${{{integration}}}"},
    }
    return {"Type": "AWS::ApiGatewayV2::Route", "Properties": {**properties, **extra}}


def _integration(function: str, version: str) -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {
            "ApiId": {"Ref": "Api"},
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": {"Fn::GetAtt": [function, "Arn"]},
            "PayloadFormatVersion": version,
        },
    }


def _url(function: str, auth: str) -> dict[str, Any]:
    properties = {"TargetFunctionArn": {"Fn::GetAtt": [function, "Arn"]}, "AuthType": auth}
    return {"Type": "AWS::Lambda::Url", "Properties": properties}


TEMPLATE = {
    "Resources": {
        "Pool": {"Type": "AWS::Cognito::UserPool", "Properties": {"UserPoolName": "people"}},
        "Client": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "UserPoolId": {"Ref": "Pool"},
                "ExplicitAuthFlows": ["ALLOW_ADMIN_USER_PASSWORD_AUTH"],
            },
        },
        "Items": python_function("asset.items"),
        "Gate": python_function("asset.gate"),
        "Api": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": "items-api",
                "ProtocolType": "HTTP",
                "CorsConfiguration": {
                    "AllowOrigins": ["http://app.test"],
                    "AllowMethods": ["GET", "POST"],
                    "AllowHeaders": ["authorization", "content-type"],
                    "ExposeHeaders": ["x-trace"],
                    "MaxAge": 600,
                },
            },
        },
        "Stage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "StageName": "$default",
                # Every route its own bucket (refilled once an hour); GET /limited holds 2.
                "DefaultRouteSettings": {"ThrottlingRateLimit": 1 / 3600, "ThrottlingBurstLimit": 1000},
                "RouteSettings": {"GET /limited": {"ThrottlingBurstLimit": 2}},
            },
        },
        "V2": _integration("Items", "2.0"),
        "V1": _integration("Items", "1.0"),
        "Jwt": {
            "Type": "AWS::ApiGatewayV2::Authorizer",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "AuthorizerType": "JWT",
                "Name": "jwt",
                "IdentitySource": ["$request.header.Authorization"],
                "JwtConfiguration": {
                    "Audience": [{"Ref": "Client"}],
                    "Issuer": {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${Pool}"},
                },
            },
        },
        "GateAuthorizer": {
            "Type": "AWS::ApiGatewayV2::Authorizer",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "AuthorizerType": "REQUEST",
                "Name": "gate",
                "IdentitySource": ["$request.header.X-Key"],
                "AuthorizerUri": {
                    "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                    "${Gate.Arn}/invocations"
                },
                "AuthorizerPayloadFormatVersion": "2.0",
                "EnableSimpleResponses": True,
                "AuthorizerResultTtlInSeconds": 60,
            },
        },
        "GetItem": _route("GET /items/{id}", "V2", AuthorizationType="JWT", AuthorizerId={"Ref": "Jwt"}),
        "PostItem": _route("POST /items", "V2"),
        "Legacy": _route("GET /legacy", "V1"),
        "Limited": _route("GET /limited", "V2"),
        "Private": _route(
            "GET /private", "V2", AuthorizationType="CUSTOM", AuthorizerId={"Ref": "GateAuthorizer"}
        ),
        "Default": _route("$default", "V2"),
        "Signed": _route("GET /signed", "V2", AuthorizationType="AWS_IAM"),
        # Function URLs: public with its permission, public without one, and IAM-authenticated.
        "ItemsUrl": _url("Items", "NONE"),
        "ItemsUrlPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunctionUrl",
                "FunctionName": {"Fn::GetAtt": ["Items", "Arn"]},
                "Principal": "*",
                "FunctionUrlAuthType": "NONE",
            },
        },
        "GateUrl": _url("Gate", "NONE"),
        "PrivateUrl": _url("Items", "AWS_IAM"),
        "ItemsPermission": api_permission("Items", "*/*"),
        "GatePermission": api_permission("Gate", "authorizers/*"),
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(
        tmp_path_factory, "Http", TEMPLATE, {"asset.items": ITEMS, "asset.gate": GATE}
    ) as started:
        yield started


def _url(runtime: Runtime) -> str:
    server = next(s for s in runtime.api_servers if s.api.name == "items-api")
    return server.base_url  # $default stage: no path prefix


def test_routes_payload_versions_and_the_default_route(runtime: Runtime) -> None:
    base = _url(runtime)
    assert base == f"http://localhost:{runtime.api_servers[0].port}/"
    posted = requests.post(
        f"{base}items", data='{"name": "pen"}', headers={"content-type": "application/json"}, timeout=10
    )
    assert posted.status_code == 201 and posted.json() == {"name": "pen"}
    assert posted.headers["x-trace"] == "t-1"
    assert posted.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    legacy = requests.get(f"{base}legacy", timeout=10)
    assert legacy.json() == {"version": "1.0", "path": "/legacy"}
    # A result without statusCode is the JSON body of a 200 (payload 2.0); $default takes the rest.
    fallback = requests.get(f"{base}anything/else?a=1&a=2", timeout=10)
    assert fallback.status_code == 200 and fallback.headers["content-type"] == "application/json"
    assert fallback.json()["routeKey"] == "$default" and fallback.json()["query"] == {"a": "1,2"}
    assert requests.delete(f"{base}items", timeout=10).json()["routeKey"] == "$default"


def test_jwt_authorizer_on_a_local_pool(runtime: Runtime) -> None:
    url = f"{_url(runtime)}items/42"
    missing = requests.get(url, timeout=10)
    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized"})
    assert requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=10).status_code == 401
    user = runtime.create_user("jwt@example.com")
    allowed = requests.get(url, headers={"Authorization": f"Bearer {user['idToken']}"}, timeout=10)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["sub"] == user["sub"] and allowed.json()["params"] == {"id": "42"}


def test_lambda_authorizer_with_simple_responses_and_its_cache(runtime: Runtime) -> None:
    url = f"{_url(runtime)}private"
    assert requests.get(url, timeout=10).status_code == 401  # no identity source: not even invoked
    denied = requests.get(url, headers={"X-Key": "wrong"}, timeout=10)
    assert (denied.status_code, denied.json()) == (403, {"message": "Forbidden"})
    for _ in range(2):
        allowed = requests.get(url, headers={"X-Key": "let-me-in"}, timeout=10)
        assert allowed.status_code == 200 and allowed.json()["lambda"] == {"who": "tester"}
    gate_calls = [e for e in runtime.console.invocations.after(0) if e["function"] == "Gate"]
    assert len(gate_calls) == 2  # "wrong" once, "let-me-in" once: the second answer came from the cache


def test_cors_configuration_answers_preflights_and_marks_responses(runtime: Runtime) -> None:
    base = _url(runtime)
    preflight = requests.options(
        f"{base}items",
        headers={"Origin": "http://app.test", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://app.test"
    assert preflight.headers["access-control-allow-methods"] == "GET,POST"
    assert preflight.headers["access-control-max-age"] == "600"
    other = requests.options(
        f"{base}items",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in other.headers
    posted = requests.post(f"{base}items", data="{}", headers={"Origin": "http://app.test"}, timeout=10)
    assert posted.headers["access-control-allow-origin"] == "http://app.test"
    assert posted.headers["access-control-expose-headers"] == "x-trace"


def test_function_urls_need_their_permission_or_a_signature(runtime: Runtime) -> None:
    urls = {s.api.logical_id: s.base_url for s in runtime.api_servers}
    public = requests.get(f"{urls['ItemsUrl']}any/path?x=1", timeout=10)
    assert public.status_code == 200 and public.json()["routeKey"] == "$default"
    assert public.json()["query"] == {"x": "1"}
    # A public URL without lambda:InvokeFunctionUrl for "*" is refused by Lambda, the function not run.
    unpermitted = requests.get(urls["GateUrl"], timeout=10)
    assert (unpermitted.status_code, unpermitted.json()) == (403, {"Message": "Forbidden"})
    unsigned = requests.get(urls["PrivateUrl"], timeout=10)  # AWS_IAM
    assert (unsigned.status_code, unsigned.json()) == (403, {"Message": "Forbidden"})
    assert _signed_get(urls["PrivateUrl"], "execute-api").status_code == 403  # signed for another service
    signed = _signed_get(urls["PrivateUrl"], "lambda")
    assert signed.status_code == 200 and signed.json()["iam"]["accessKey"] == "AKIDDEVELOPER"


def test_an_aws_iam_route_needs_a_sigv4_signature_for_execute_api(runtime: Runtime) -> None:
    unsigned = requests.get(f"{_url(runtime)}signed", timeout=10)
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Forbidden"})
    signed = _signed_get(f"{_url(runtime)}signed", "execute-api")
    assert signed.status_code == 200, signed.text
    assert signed.json()["iam"]["callerId"] == "AKIDDEVELOPER"


def test_a_route_s_throttle_answers_429_once_its_bucket_is_empty(runtime: Runtime) -> None:
    base = _url(runtime)
    limited = [requests.get(f"{base}limited", timeout=10) for _ in range(3)]
    assert [r.status_code for r in limited] == [200, 200, 429]  # RouteSettings: a burst of 2
    assert limited[2].json() == {"message": "Too Many Requests"}
    assert requests.get(f"{base}legacy", timeout=10).status_code == 200  # its own bucket, the default's


def _signed_get(url: str, service: str) -> requests.Response:
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDDEVELOPER", "any-secret"), service, "us-east-1").add_auth(request)
    return requests.get(url, headers=dict(request.headers), timeout=10)
