"""WebSocket APIs (API Gateway v2, ProtocolType WEBSOCKET): $connect decides the handshake, messages are
routed by the route selection expression (then $default), two-way routes answer, $disconnect runs on
close, and functions reach clients through the @connections API over HTTPS, signed with their role's
credentials and allowed by execute-api:ManageConnections, as in AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local_runtime.runtime import Runtime
from tests.helpers import eventually, policy_role, python_function, running_stack

CONNECT = """
import os, boto3

def handler(event, context):
    if (event.get("queryStringParameters") or {}).get("token") == "bad":
        return {"statusCode": 401}
    request = event["requestContext"]
    item = {"id": {"S": request["connectionId"]}, "user": {"S": request["authorizer"]["principalId"]}}
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE"], Item=item)
    return {"statusCode": 200}
"""
AUTHORIZER = """
def handler(event, context):
    token = event["queryStringParameters"]["token"]
    if token == "boom":
        raise Exception("Unauthorized")
    statement = {"Action": "execute-api:Invoke", "Effect": "Deny" if token == "deny" else "Allow",
                 "Resource": event["methodArn"]}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    return {"principalId": "user-" + token, "policyDocument": policy}
"""
DISCONNECT = """
import os, boto3

def handler(event, context):
    boto3.client("dynamodb").delete_item(
        TableName=os.environ["TABLE"], Key={"id": {"S": event["requestContext"]["connectionId"]}}
    )
    return {"statusCode": 200}
"""
BROADCAST = """
import json, os, boto3

def handler(event, context):
    context_ = event["requestContext"]
    endpoint = f"https://{context_['domainName']}/{context_['stage']}"  # as AWS's samples build it
    connections = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    data = json.loads(event["body"])["data"]
    for item in boto3.client("dynamodb").scan(TableName=os.environ["TABLE"])["Items"]:
        try:
            connections.post_to_connection(ConnectionId=item["id"]["S"], Data=data.encode())
        except connections.exceptions.GoneException:
            pass  # closed since it connected
    return {"statusCode": 200}
"""
ECHO = """
def handler(event, context):
    return {"statusCode": 200, "body": "echo: " + event["body"]}
"""
PEEK = """
import boto3

def handler(event, context):
    context_ = event["requestContext"]
    endpoint = f"https://{context_['domainName']}/{context_['stage']}"
    try:
        boto3.client("apigatewaymanagementapi", endpoint_url=endpoint).get_connection(
            ConnectionId=context_["connectionId"]
        )
    except Exception as error:
        return {"statusCode": 200, "body": type(error).__name__}
    return {"statusCode": 200, "body": "allowed"}
"""
MANAGE = {
    "Effect": "Allow",
    "Action": "execute-api:ManageConnections",
    "Resource": {
        "Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${Chat}/*/POST/@connections/*"
    },
}
TABLE_RW = {
    "Effect": "Allow",
    "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Scan"],
    "Resource": {"Fn::GetAtt": ["Connections", "Arn"]},
}


def _route(key: str, function: str, two_way: bool = False, authorizer: str = "") -> dict[str, dict[str, Any]]:
    integration = {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {
            "ApiId": {"Ref": "Chat"},
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": {
                "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                f"${{{function}.Arn}}/invocations"
            },
        },
    }
    route = {
        "Type": "AWS::ApiGatewayV2::Route",
        "Properties": {
            "ApiId": {"Ref": "Chat"},
            "RouteKey": key,
            "AuthorizationType": "CUSTOM" if authorizer else "NONE",
            **({"AuthorizerId": {"Ref": authorizer}} if authorizer else {}),
            "Target": {"Fn::Join": ["", ["integrations/", {"Ref": f"{function}Integration"}]]},
        },
    }
    permission = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function, "Arn"]},
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {
                "Fn::Sub": f"arn:aws:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{Chat}}/*/{key}"
            },
        },
    }
    resources = {
        f"{function}Integration": integration,
        f"{function}Route": route,
        f"{function}Permission": permission,
    }
    if two_way:
        resources[f"{function}RouteResponse"] = {
            "Type": "AWS::ApiGatewayV2::RouteResponse",
            "Properties": {
                "ApiId": {"Ref": "Chat"},
                "RouteId": {"Ref": f"{function}Route"},
                "RouteResponseKey": "$default",
            },
        }
    return resources


def _function(asset: str, role: str) -> dict[str, Any]:
    return python_function(asset, role, Environment={"Variables": {"TABLE": {"Ref": "Connections"}}})


TEMPLATE = {
    "Resources": {
        "Connections": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        },
        "Chat": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": "chat",
                "ProtocolType": "WEBSOCKET",
                "RouteSelectionExpression": "$request.body.action",
            },
        },
        "Stage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": {"Ref": "Chat"}, "StageName": "production", "AutoDeploy": True},
        },
        "ChatRole": policy_role(TABLE_RW, MANAGE),
        "ReadOnlyRole": policy_role(TABLE_RW),  # no execute-api:ManageConnections
        "OnConnect": _function("asset.connect", "ChatRole"),
        "OnDisconnect": _function("asset.disconnect", "ChatRole"),
        "Broadcast": _function("asset.broadcast", "ChatRole"),
        "Echo": _function("asset.echo", "ChatRole"),
        "Peek": _function("asset.peek", "ReadOnlyRole"),
        "CheckToken": _function("asset.authorizer", "ChatRole"),
        "TokenAuthorizer": {
            "Type": "AWS::ApiGatewayV2::Authorizer",
            "Properties": {
                "ApiId": {"Ref": "Chat"},
                "Name": "token",
                "AuthorizerType": "REQUEST",
                "AuthorizerUri": {
                    "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                    "${CheckToken.Arn}/invocations"
                },
                "IdentitySource": ["route.request.querystring.token"],
            },
        },
        "CheckTokenPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Fn::GetAtt": ["CheckToken", "Arn"]},
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": {
                    "Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${Chat}/authorizers/"
                    "${TokenAuthorizer}"
                },
            },
        },
        **_route("$connect", "OnConnect", authorizer="TokenAuthorizer"),
        **_route("$disconnect", "OnDisconnect"),
        **_route("sendmessage", "Broadcast"),
        **_route("$default", "Echo", two_way=True),
        **_route("peek", "Peek", two_way=True),
    }
}
ASSETS = {
    "asset.connect": CONNECT,
    "asset.authorizer": AUTHORIZER,
    "asset.disconnect": DISCONNECT,
    "asset.broadcast": BROADCAST,
    "asset.echo": ECHO,
    "asset.peek": PEEK,
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "Ws", TEMPLATE, ASSETS) as started:
        yield started


def _url(runtime: Runtime, query: str = "?token=alice") -> str:
    return runtime.websocket_servers[0].url + query


def _items(runtime: Runtime) -> list[dict[str, Any]]:
    table = runtime.client("dynamodb").list_tables()["TableNames"][0]
    return runtime.client("dynamodb").scan(TableName=table)["Items"]


def _connections(runtime: Runtime) -> set[str]:
    return {i["id"]["S"] for i in _items(runtime)}


def test_connect_runs_first_and_a_non_2xx_result_refuses_the_handshake(runtime: Runtime) -> None:
    before = _connections(runtime)
    with connect(_url(runtime)):
        eventually(lambda: len(_connections(runtime)) == len(before) + 1, timeout_s=20, what="$connect")
    with pytest.raises(InvalidStatus) as refused:
        connect(_url(runtime, "?token=bad"))  # the authorizer allows it; the $connect function does not
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as wrong_stage:
        connect(runtime.websocket_servers[0].url.replace("/production", "/dev"))
    assert wrong_stage.value.response.status_code == 403


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 401), ("?token=deny", 403), ("?token=boom", 401)],  # missing source; explicit Deny; Unauthorized
)
def test_the_connect_authorizer_refuses_before_connect_runs(
    runtime: Runtime, query: str, status: int
) -> None:
    before = _connections(runtime)
    with pytest.raises(InvalidStatus) as refused:
        connect(_url(runtime, query))
    assert refused.value.response.status_code == status
    assert _connections(runtime) == before


def test_the_authorizer_s_principal_reaches_connect(runtime: Runtime) -> None:
    with connect(_url(runtime, "?token=carol")):
        eventually(
            lambda: any(i.get("user", {}).get("S") == "user-carol" for i in _items(runtime)),
            timeout_s=20,
            what="$connect with the authorizer's principalId",
        )


def test_messages_are_routed_by_their_action_broadcast_through_connections_and_echoed(
    runtime: Runtime,
) -> None:
    with connect(_url(runtime)) as alice, connect(_url(runtime)) as bob:
        eventually(lambda: len(_connections(runtime)) >= 2, timeout_s=20, what="both connected")
        alice.send(json.dumps({"action": "sendmessage", "data": "hello all"}))
        assert alice.recv(timeout=20) == "hello all" and bob.recv(timeout=20) == "hello all"
        bob.send("no action here")  # $default, a two-way route: its body comes back
        assert bob.recv(timeout=20) == "echo: no action here"
        bob.send(json.dumps({"action": "unknown"}))  # a route key no route has: $default too
        assert bob.recv(timeout=20) == 'echo: {"action": "unknown"}'


def test_a_role_without_manage_connections_gets_forbidden(runtime: Runtime) -> None:
    with connect(_url(runtime)) as client:
        client.send(json.dumps({"action": "peek"}))
        assert client.recv(timeout=20) == "ForbiddenException"
    recording = runtime.options.state_dir / "recording.jsonl"
    denied = [json.loads(line) for line in recording.read_text().splitlines() if '"allowed": false' in line]
    assert any(
        d["action"] == "execute-api:ManageConnections" and "/GET/@connections/" in d["resource"]
        for d in denied
    )


def test_closing_runs_disconnect_and_the_connection_is_gone_for_the_connections_api(runtime: Runtime) -> None:
    client: ClientConnection = connect(_url(runtime))
    server = runtime.websocket_servers[0]
    # The server registers the connection as its handler starts, just after the handshake's answer.
    (connection_id,) = eventually(lambda: set(server.clients), timeout_s=20, what="connected")
    assert connection_id in _connections(runtime)  # stored by $connect
    manager = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=server.connections_url,
        region_name=runtime.options.region,
        aws_access_key_id="developer",
        aws_secret_access_key="developer",
        verify=str(runtime.options.state_dir / "tls" / "localhost.pem"),
        config=Config(retries={"max_attempts": 1}),
    )
    described = manager.get_connection(ConnectionId=connection_id)
    assert described["Identity"]["SourceIp"] == "127.0.0.1"
    manager.delete_connection(ConnectionId=connection_id)  # the server closes it
    eventually(lambda: connection_id not in _connections(runtime), timeout_s=20, what="$disconnect")
    with pytest.raises(manager.exceptions.GoneException):
        manager.post_to_connection(ConnectionId=connection_id, Data=b"late")
    client.close()
