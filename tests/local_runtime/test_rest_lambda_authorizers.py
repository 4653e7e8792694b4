"""REST API Lambda authorizers (TOKEN and REQUEST) from a hand-written template: identity sources and the
validation expression checked before the authorizer runs, its IAM policy (Allow, explicit Deny, no
Allow), "Unauthorized" as 401, its context reaching the integration, and the result cache evaluated
against each request's method ARN, as API Gateway does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local_runtime.runtime import Runtime
from tests.helpers import api_permission, python_function, running_stack

PETS = """
import json

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event["requestContext"]["authorizer"])}
"""
# TOKEN: "allow" allows only the method it is asked for; "all" allows every method; "deny" denies;
# "boom" raises Unauthorized. REQUEST: allows when the query has ?key=open.
AUTH = """
def handler(event, context):
    print("authorizer called", event["type"])
    if event["type"] == "REQUEST":
        allowed = event["queryStringParameters"].get("key") == "open"
        return policy("req", "Allow" if allowed else "Deny", event["methodArn"], {"via": "request"})
    token = event["authorizationToken"]
    if token == "boom":
        raise Exception("Unauthorized")
    if token == "deny":
        return policy("u-1", "Deny", event["methodArn"], {})
    resource = event["methodArn"].rsplit("/", 2)[0] + "/*/*" if token == "all" else event["methodArn"]
    return policy("u-1", "Allow", resource, {"tier": 3, "admin": True})


def policy(principal, effect, resource, context):
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
    return {"principalId": principal, "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
            "context": context}
"""
URI = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${%s.Arn}/invocations"


def _method(http_method: str, resource: str, authorizer: str) -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": {"Ref": "Api"},
            "ResourceId": {"Ref": resource},
            "HttpMethod": http_method,
            "AuthorizationType": "CUSTOM",
            "AuthorizerId": {"Ref": authorizer},
            "Integration": {
                "Type": "AWS_PROXY",
                "IntegrationHttpMethod": "POST",
                "Uri": {"Fn::Sub": URI % "Pets"},
            },
        },
    }


def _authorizer(kind: str, source: str, **extra: Any) -> dict[str, Any]:
    properties = {"RestApiId": {"Ref": "Api"}, "Name": kind.lower(), "Type": kind, "IdentitySource": source}
    return {
        "Type": "AWS::ApiGateway::Authorizer",
        "Properties": {**properties, "AuthorizerUri": {"Fn::Sub": URI % "Auth"}, **extra},
    }


TEMPLATE = {
    "Resources": {
        "Pets": python_function("asset.pets"),
        "Auth": python_function("asset.auth"),
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "pets"}},
        "PetsResource": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "pets",
            },
        },
        "Token": _authorizer(
            "TOKEN", "method.request.header.Authorization", IdentityValidationExpression="^[a-z]+$"
        ),
        "Request": _authorizer("REQUEST", "method.request.querystring.key", AuthorizerResultTtlInSeconds=0),
        "GetPets": _method("GET", "PetsResource", "Token"),
        "PutPets": _method("PUT", "PetsResource", "Token"),
        "PostPets": _method("POST", "PetsResource", "Request"),
        "Stage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "prod"},
        },
        "PetsPermission": api_permission("Pets", "*/*/*"),
        "AuthPermission": api_permission("Auth", "authorizers/*"),
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(
        tmp_path_factory, "Rest", TEMPLATE, {"asset.pets": PETS, "asset.auth": AUTH}
    ) as started:
        yield started


def _calls(runtime: Runtime) -> int:
    return len([e for e in runtime.console.invocations.after(0) if e["function"] == "Auth"])


def test_token_authorizer_policy_context_and_errors(runtime: Runtime) -> None:
    url = f"{runtime.api_servers[0].base_url}pets"
    assert requests.get(url, timeout=10).status_code == 401  # no token: not invoked
    assert (
        requests.get(url, headers={"Authorization": "NOT-VALID-1"}, timeout=10).status_code == 401
    )  # expression
    assert _calls(runtime) == 0
    allowed = requests.get(url, headers={"Authorization": "all"}, timeout=10)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"principalId": "u-1", "tier": "3", "admin": "true", "integrationLatency": 0}
    denied = requests.get(url, headers={"Authorization": "deny"}, timeout=10)
    assert denied.status_code == 403
    assert denied.json()["message"] == "User is not authorized to access this resource with an explicit deny"
    assert requests.get(url, headers={"Authorization": "boom"}, timeout=10).status_code == 401


def test_a_cached_policy_is_evaluated_against_each_method(runtime: Runtime) -> None:
    url = f"{runtime.api_servers[0].base_url}pets"
    before = _calls(runtime)
    first = requests.get(url, headers={"Authorization": "allow"}, timeout=10)
    assert first.status_code == 200
    # Same token, another method: the cached policy allows only GET /pets (the classic caching gotcha).
    other = requests.put(url, headers={"Authorization": "allow"}, timeout=10)
    assert (
        other.status_code == 403
        and other.json()["message"] == "User is not authorized to access this resource"
    )
    assert _calls(runtime) == before + 1  # answered from the cache (TTL 300 s by default)


def test_request_authorizer_without_cache(runtime: Runtime) -> None:
    url = f"{runtime.api_servers[0].base_url}pets"
    assert requests.post(url, timeout=10).status_code == 401  # ?key missing
    before = _calls(runtime)
    for _ in range(2):
        opened = requests.post(f"{url}?key=open", timeout=10)
        assert opened.status_code == 200 and opened.json()["via"] == "request"
    assert _calls(runtime) == before + 2  # TTL 0: invoked each time
    assert requests.post(f"{url}?key=shut", timeout=10).status_code == 403
