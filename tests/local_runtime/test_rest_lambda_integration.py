"""A REST API method with a non-proxy Lambda integration (Type AWS): the request template makes the event
(Velocity, with $input, $util and $context), the result or error selects the integration response by
SelectionPattern, whose parameters and template make the method response."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local_runtime.runtime import Runtime
from tests.helpers import api_permission, running_stack

BOOKS = """
def handler(event, context):
    if event["id"] == "missing":
        raise LookupError("NotFound: no book " + event["id"])
    if event["id"] == "boom":
        raise RuntimeError("database unavailable")
    return {"id": event["id"], "title": event["title"], "tags": event["tags"], "caller": event["caller"]}
"""
REQUEST = """#set($body = $input.path('$'))
{
  "id": "$input.params('id')",
  "title": "$util.escapeJavaScript($body.title)",
  "tags": [#foreach($tag in $body.tags)"$tag"#if($foreach.hasNext),#end#end],
  "caller": "$context.identity.sourceIp"
}"""
OK = """{"book": $input.json('$.id'), "heading": "$util.escapeJavaScript($input.path('$.title'))",
 "tagCount": $input.path('$.tags').size()}"""
NOT_FOUND = '{"message": "$util.escapeJavaScript($input.path("$.errorMessage"))"}'
URI = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${Books.Arn}/invocations"


def _template() -> dict[str, Any]:
    integration = {
        "Type": "AWS",
        "IntegrationHttpMethod": "POST",
        "Uri": {"Fn::Sub": URI},
        "PassthroughBehavior": "NEVER",
        "RequestTemplates": {"application/json": REQUEST},
        "IntegrationResponses": [
            {
                "StatusCode": "200",
                "ResponseTemplates": {"application/json": OK},
                "ResponseParameters": {"method.response.header.X-Book": "integration.response.body.id"},
            },
            {
                "StatusCode": "404",
                "SelectionPattern": "NotFound:.*",
                "ResponseTemplates": {"application/json": NOT_FOUND},
                "ResponseParameters": {"method.response.header.Cache-Control": "'no-store'"},
            },
        ],
    }
    return {
        "Resources": {
            "Books": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "handler.handler",
                    "Runtime": "python3.14",
                    "Role": "arn:aws:iam::1:role/r",
                },
                "Metadata": {"aws:asset:path": "asset.books"},
            },
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "books"}},
            "BooksResource": {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "PathPart": "{id}",
                },
            },
            "PutBook": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ResourceId": {"Ref": "BooksResource"},
                    "HttpMethod": "PUT",
                    "AuthorizationType": "NONE",
                    "Integration": integration,
                },
            },
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "v1"},
            },
            "Permission": api_permission("Books", "*/*/*"),
        }
    }


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "Books", _template(), {"asset.books": BOOKS}) as started:
        yield started


def test_request_and_response_templates_around_the_function(runtime: Runtime) -> None:
    url = f"{runtime.api_servers[0].base_url}b-1"
    book = {"title": 'The "Hobbit"', "tags": ["fantasy", "classic"]}
    answer = requests.put(url, json=book, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"book": "b-1", "heading": 'The "Hobbit"', "tagCount": 2}
    assert answer.headers["X-Book"] == "b-1"


def test_errors_select_the_integration_response_by_pattern_or_get_the_default(runtime: Runtime) -> None:
    base = runtime.api_servers[0].base_url
    missing = requests.put(f"{base}missing", json={"title": "x", "tags": []}, timeout=10)
    assert missing.status_code == 404 and missing.json() == {"message": "NotFound: no book missing"}
    assert missing.headers["Cache-Control"] == "no-store"
    # No pattern matches: the default (200) response, mapping the error document, as API Gateway does.
    failed = requests.put(f"{base}boom", json={"title": "x", "tags": []}, timeout=10)
    assert failed.status_code == 200
    # PassthroughBehavior NEVER: a content type without a template is refused.
    refused = requests.put(f"{base}b-2", data="title=x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert refused.status_code == 415
