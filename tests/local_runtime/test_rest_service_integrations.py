"""REST API methods integrated straight with AWS services (Type AWS): SQS (path style), DynamoDB and
EventBridge (actions), S3 (path with parameters). The request template and integration request parameters
make the service request; it is signed as the integration's Credentials role and authorized by that
role's policy at the IAM gateway; the response's status code selects the integration response."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local_runtime.iam import trust_allows as trusts
from local_runtime.runtime import Runtime
from local_runtime.service_integration import IncomingRequest, build_request, parse_target
from local_runtime.templates import TemplateError
from tests.helpers import running_stack

REGION_ARN = "arn:aws:apigateway:${AWS::Region}"
CONTENT_TYPE = "method.response.header.Content-Type"
TRUST_APIGATEWAY = {
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
}
PUT_BOOK = """{"TableName": "books", "Item": {
  "id": {"S": "$input.params('id')"},
  "title": {"S": "$util.escapeJavaScript($input.path('$.title'))"}}}"""
GET_BOOK = """{"TableName": "books", "Key": {"id": {"S": "$input.params('id')"}}}"""
BOOK = """#set($root = $input.path('$'))
#if($root.Item)
{"id": "$root.Item.id.S", "title": "$util.escapeJavaScript($root.Item.title.S)"}
#else
{"message": "no such book"}
#end"""
EVENT = """{"Entries": [{"EventBusName": "app-bus", "Source": "shop.api", "DetailType": "Checked",
  "Detail": "$util.escapeJavaScript($input.json('$'))"}]}"""


def _method(path_lid: str, http: str, integration: dict[str, Any], role: str = "ApiRole") -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": {"Ref": "Api"},
            "ResourceId": {"Ref": path_lid},
            "HttpMethod": http,
            "AuthorizationType": "NONE",
            "Integration": {"Type": "AWS", "Credentials": {"Fn::GetAtt": [role, "Arn"]}, **integration},
        },
    }


def _resource(parent: str | None, part: str) -> dict[str, Any]:
    parent_id = {"Ref": parent} if parent else {"Fn::GetAtt": ["Api", "RootResourceId"]}
    return {
        "Type": "AWS::ApiGateway::Resource",
        "Properties": {"RestApiId": {"Ref": "Api"}, "ParentId": parent_id, "PathPart": part},
    }


def _ok(template: str | None = None, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"StatusCode": "200", **extra}
    if template is not None:
        response["ResponseTemplates"] = {"application/json": template}
    return response


def _template() -> dict[str, Any]:
    allow = [
        (["dynamodb:PutItem", "dynamodb:GetItem"], {"Fn::GetAtt": ["Books", "Arn"]}),
        (["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::files-bucket/*"),
        ("events:PutEvents", {"Fn::GetAtt": ["Bus", "Arn"]}),
    ]
    dynamodb = f"{REGION_ARN}:dynamodb:action"
    bad_request = {
        "StatusCode": "400",
        "SelectionPattern": "4\\d{2}",
        "ResponseTemplates": {"application/json": '{"message": "$input.path(\'$.__type\')"}'},
    }
    return {
        "Resources": {
            "Orders": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "orders-queue"}},
            "Books": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": "books",
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            },
            "Files": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "files-bucket"}},
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "app-bus"}},
            "ApiRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": TRUST_APIGATEWAY,
                    "Policies": [
                        {
                            "PolicyName": "integrations",
                            "PolicyDocument": {
                                "Statement": [
                                    {"Effect": "Allow", "Action": action, "Resource": resource}
                                    for action, resource in allow
                                ]
                            },
                        }
                    ],
                },
            },
            "QueueWriterRole": {  # an AWS managed policy, as CDK writes its ARN
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": TRUST_APIGATEWAY,
                    "ManagedPolicyArns": [
                        {
                            "Fn::Join": [
                                "",
                                ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AmazonSQSFullAccess"],
                            ]
                        }
                    ],
                },
            },
            "LambdaOnlyRole": {  # trusts Lambda, not API Gateway
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ]
                    },
                    "Policies": [
                        {
                            "PolicyName": "all",
                            "PolicyDocument": {
                                "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]
                            },
                        }
                    ],
                },
            },
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "direct"}},
            "OrdersResource": _resource(None, "orders"),
            "BooksResource": _resource(None, "books"),
            "BookResource": _resource("BooksResource", "{id}"),
            "FilesResource": _resource(None, "files"),
            "FileResource": _resource("FilesResource", "{key}"),
            "EventsResource": _resource(None, "events"),
            "UntrustedResource": _resource(None, "untrusted"),
            "SendOrder": _method(
                "OrdersResource",
                "POST",
                {
                    "IntegrationHttpMethod": "POST",
                    "Uri": {"Fn::Sub": f"{REGION_ARN}:sqs:path/${{AWS::AccountId}}/${{Orders.QueueName}}"},
                    "RequestParameters": {
                        "integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"
                    },
                    "RequestTemplates": {
                        "application/json": "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"
                    },
                    "IntegrationResponses": [_ok('{"queued": true}')],
                },
                role="QueueWriterRole",
            ),
            "PutBook": _method(
                "BookResource",
                "PUT",
                {
                    "IntegrationHttpMethod": "POST",
                    "Uri": {"Fn::Sub": f"{dynamodb}/PutItem"},
                    "PassthroughBehavior": "NEVER",
                    "RequestTemplates": {"application/json": PUT_BOOK},
                    "IntegrationResponses": [_ok('{"stored": true}'), bad_request],
                },
            ),
            "GetBook": _method(
                "BookResource",
                "GET",
                {
                    "IntegrationHttpMethod": "POST",
                    "Uri": {"Fn::Sub": f"{dynamodb}/GetItem"},
                    "RequestTemplates": {"application/json": GET_BOOK},
                    "IntegrationResponses": [_ok(BOOK), bad_request],
                },
            ),
            "DeleteBook": _method(  # the role may not DeleteItem: only the default response
                "BookResource",
                "DELETE",
                {
                    "IntegrationHttpMethod": "POST",
                    "Uri": {"Fn::Sub": f"{dynamodb}/DeleteItem"},
                    "RequestTemplates": {"application/json": GET_BOOK},
                    "IntegrationResponses": [_ok()],
                },
            ),
            "RemoveBook": _method(  # the same denied call, with a 4xx pattern
                "BookResource",
                "POST",
                {
                    "IntegrationHttpMethod": "POST",
                    "Uri": {"Fn::Sub": f"{dynamodb}/DeleteItem"},
                    "RequestTemplates": {"application/json": GET_BOOK},
                    "IntegrationResponses": [_ok(), bad_request],
                },
            ),
            "GetFile": _method(
                "FileResource",
                "GET",
                {
                    "IntegrationHttpMethod": "GET",
                    "Uri": {"Fn::Sub": f"{REGION_ARN}:s3:path/{{bucket}}/{{object}}"},
                    "RequestParameters": {
                        "integration.request.path.bucket": "'files-bucket'",
                        "integration.request.path.object": "method.request.path.key",
                    },
                    "IntegrationResponses": [
                        _ok(ResponseParameters={CONTENT_TYPE: "integration.response.header.Content-Type"}),
                        {"StatusCode": "404", "SelectionPattern": "403|404"},
                    ],
                },
            ),
            "PutFile": _method(
                "FileResource",
                "PUT",
                {
                    "IntegrationHttpMethod": "PUT",
                    "Uri": {"Fn::Sub": f"{REGION_ARN}:s3:path/files-bucket/{{key}}"},
                    "RequestParameters": {
                        "integration.request.path.key": "method.request.path.key",
                        "integration.request.header.Content-Type": "method.request.header.Content-Type",
                    },
                    "IntegrationResponses": [_ok('{"uploaded": true}')],
                },
            ),
            "PutEvent": _method(
                "EventsResource",
                "POST",
                {
                    "IntegrationHttpMethod": "POST",
                    "Uri": {"Fn::Sub": f"{REGION_ARN}:events:action/PutEvents"},
                    "RequestTemplates": {"application/json": EVENT},
                    "IntegrationResponses": [_ok("{\"failed\": $input.json('$.FailedEntryCount')}")],
                },
            ),
            "Untrusted": _method(
                "UntrustedResource",
                "POST",
                {
                    "IntegrationHttpMethod": "POST",
                    "Uri": {"Fn::Sub": f"{REGION_ARN}:sqs:path/${{AWS::AccountId}}/${{Orders.QueueName}}"},
                    "RequestTemplates": {"application/json": "Action=SendMessage&MessageBody=x"},
                    "IntegrationResponses": [_ok()],
                },
                role="LambdaOnlyRole",
            ),
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "v1"},
            },
        }
    }


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "Direct", _template()) as started:
        yield started


@pytest.fixture
def base(runtime: Runtime) -> str:
    return runtime.api_servers[0].base_url


def test_sqs_path_integration_sends_the_request_body_as_the_message(runtime: Runtime, base: str) -> None:
    answer = requests.post(f"{base}orders", json={"sku": "a&b", "qty": 2}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"queued": True}
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="orders-queue")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
    assert [json.loads(m["Body"]) for m in messages] == [{"sku": "a&b", "qty": 2}]


def test_dynamodb_actions_map_templates_both_ways(runtime: Runtime, base: str) -> None:
    stored = requests.put(f"{base}books/b-1", json={"title": 'The "Hobbit"'}, timeout=10)
    assert stored.status_code == 200 and stored.json() == {"stored": True}, stored.text
    item = runtime.client("dynamodb").get_item(TableName="books", Key={"id": {"S": "b-1"}})["Item"]
    assert item["title"] == {"S": 'The "Hobbit"'}
    read = requests.get(f"{base}books/b-1", timeout=10)
    assert read.status_code == 200 and read.json() == {"id": "b-1", "title": 'The "Hobbit"'}
    assert requests.get(f"{base}books/none", timeout=10).json() == {"message": "no such book"}


def test_the_credentials_roles_policy_decides_and_the_status_code_selects_the_response(base: str) -> None:
    # DeleteItem is not in the role's policy: DynamoDB answers 400 AccessDeniedException and, with only a
    # default integration response, API Gateway passes that on as a 200, as it does in AWS.
    denied = requests.delete(f"{base}books/b-1", timeout=10)
    assert denied.status_code == 200
    assert "AccessDeniedException" in denied.json()["__type"]
    assert "assumed-role/Direct-ApiRole/" in denied.json()["message"]
    # With a 4xx SelectionPattern, DynamoDB's 400 selects the 400 response and its template.
    refused = requests.post(f"{base}books/b-1", json={}, timeout=10)
    assert refused.status_code == 400
    assert refused.json() == {"message": "com.amazon.coral.service#AccessDeniedException"}


def test_s3_path_integrations_with_path_parameters(runtime: Runtime, base: str) -> None:
    put = requests.put(
        f"{base}files/notes.txt", data=b"hello", headers={"Content-Type": "text/plain"}, timeout=10
    )
    assert put.status_code == 200 and put.json() == {"uploaded": True}, put.text
    assert runtime.client("s3").get_object(Bucket="files-bucket", Key="notes.txt")["Body"].read() == b"hello"
    got = requests.get(f"{base}files/notes.txt", timeout=10)
    assert got.status_code == 200 and got.content == b"hello"
    assert got.headers["Content-Type"] == "text/plain"
    # A missing key: the role may not s3:ListBucket, so S3 says 403, which the pattern maps to 404.
    assert requests.get(f"{base}files/missing.txt", timeout=10).status_code == 404


def test_eventbridge_put_events_action(base: str) -> None:
    answer = requests.post(f"{base}events", json={"order": "o-1"}, timeout=10)
    assert answer.status_code == 200 and answer.json() == {"failed": 0}, answer.text


def test_a_role_api_gateway_may_not_assume_fails_the_integration(base: str) -> None:
    answer = requests.post(f"{base}untrusted", json={}, timeout=10)
    assert answer.status_code == 500 and answer.json() == {"message": "Internal server error"}


# ---------------------------------------------------------------------------------- request building


def test_action_uris_become_query_or_json_target_requests() -> None:
    incoming = IncomingRequest({"id": "7"}, {"q": "x y"}, {"X-Trace": "t-1"}, "{}", {"requestId": "r-1"})
    sqs = parse_target(
        "arn:aws:apigateway:us-east-1:sqs:action/SendMessage&QueueUrl=q1",
        "POST",
        "arn:aws:iam::1:role/r",
        {
            "integration.request.querystring.MessageBody": "method.request.querystring.q",
            "integration.request.header.X-Request": "context.requestId",
        },
    )
    request = build_request(sqs, incoming, "", "http://localhost:1")
    assert request.url == "http://localhost:1/?Action=SendMessage&QueueUrl=q1&MessageBody=x+y"
    assert request.headers["X-Request"] == "r-1"
    dynamodb = parse_target("arn:aws:apigateway:us-east-1:dynamodb:action/Query", "POST", None, {})
    request = build_request(dynamodb, incoming, '{"TableName": "t"}', "http://localhost:1")
    assert request.headers["X-Amz-Target"] == "DynamoDB_20120810.Query"
    assert request.headers["Content-Type"] == "application/x-amz-json-1.0"
    s3 = parse_target(
        "arn:aws:apigateway:us-east-1:s3:path/{bucket}/{key}",
        "GET",
        None,
        {"integration.request.path.bucket": "'b'", "integration.request.path.key": "method.request.path.id"},
    )
    assert build_request(s3, incoming, "", "http://localhost:1").url == "http://localhost:1/b/7"


def test_uris_that_are_not_aws_service_uris_are_refused() -> None:
    with pytest.raises(TemplateError, match="not an AWS service URI"):
        parse_target("https://example.com/", "POST", None, {})


def test_trust_policies() -> None:
    assert trusts(TRUST_APIGATEWAY, "apigateway.amazonaws.com")
    assert not trusts(TRUST_APIGATEWAY, "lambda.amazonaws.com")
    denying = {
        "Statement": [*TRUST_APIGATEWAY["Statement"], {**TRUST_APIGATEWAY["Statement"][0], "Effect": "Deny"}]
    }
    assert not trusts(denying, "apigateway.amazonaws.com")
