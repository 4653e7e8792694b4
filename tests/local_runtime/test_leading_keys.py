"""`dynamodb:LeadingKeys` in a function's policy (fine-grained access to a tenant's items): the partition
keys each request touches are evaluated, from the table's key schema, as IAM does, Scan's pitfall
included (a request without partition keys satisfies `ForAllValues`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.dynamodb_keys import PartitionKeys
from local_runtime.runtime import Runtime
from tests.helpers import policy_role, python_function, running_stack

CLIENT = """
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    try:
        getattr(boto3.client("dynamodb"), event["op"])(**event["args"])
    except ClientError as error:
        return error.response["Error"]["Code"]
    return "ok"
"""
TENANT_A_ONLY = {
    "Effect": "Allow",
    "Action": [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:BatchGetItem",
    ],
    "Resource": [{"Fn::GetAtt": ["Notes", "Arn"]}, {"Fn::Sub": "${Notes.Arn}/index/*"}],
    "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["tenant-a"]}},
}
TEMPLATE = {
    "Resources": {
        "Notes": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "notes",
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [
                    {"AttributeName": "tenant", "KeyType": "HASH"},
                    {"AttributeName": "note", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    {"AttributeName": "tenant", "AttributeType": "S"},
                    {"AttributeName": "note", "AttributeType": "S"},
                ],
            },
        },
        "ClientRole": policy_role(TENANT_A_ONLY),
        "Client": python_function("asset.client", "ClientRole", Timeout=10),
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "Keys", TEMPLATE, {"asset.client": CLIENT}) as started:
        yield started


def _call(runtime: Runtime, op: str, **args: Any) -> str:
    spec = runtime.specs[0]
    invocation = runtime.invoke(spec.arn, {"op": op, "args": args})
    assert invocation.ok, invocation.error
    return str(invocation.result)


def _key(tenant: str) -> dict[str, Any]:
    return {"tenant": {"S": tenant}, "note": {"S": "n1"}}


def test_a_tenants_items_only(runtime: Runtime) -> None:
    assert _call(runtime, "put_item", TableName="notes", Item=_key("tenant-a")) == "ok"
    assert _call(runtime, "get_item", TableName="notes", Key=_key("tenant-a")) == "ok"
    assert _call(runtime, "put_item", TableName="notes", Item=_key("tenant-b")) == "AccessDeniedException"
    assert _call(runtime, "get_item", TableName="notes", Key=_key("tenant-b")) == "AccessDeniedException"
    query = {"KeyConditionExpression": "#t = :t", "ExpressionAttributeNames": {"#t": "tenant"}}
    own = _call(
        runtime, "query", TableName="notes", ExpressionAttributeValues={":t": {"S": "tenant-a"}}, **query
    )
    other = _call(
        runtime, "query", TableName="notes", ExpressionAttributeValues={":t": {"S": "tenant-b"}}, **query
    )
    assert (own, other) == ("ok", "AccessDeniedException")
    both = {"notes": {"Keys": [_key("tenant-a"), _key("tenant-b")]}}
    assert _call(runtime, "batch_get_item", RequestItems=both) == "AccessDeniedException"


def test_a_scan_names_no_partition_key_so_for_all_values_holds(runtime: Runtime) -> None:
    # IAM's documented pitfall: pair the condition with a Null check to forbid this.
    assert _call(runtime, "scan", TableName="notes") == "ok"


def test_partition_keys_of_each_request_kind() -> None:
    keys = PartitionKeys({"t": "pk", "t/index/byOwner": "owner"})
    table, index = (
        "arn:aws:dynamodb:us-east-1:1:table/t",
        "arn:aws:dynamodb:us-east-1:1:table/t/index/byOwner",
    )
    assert keys.condition_keys("UpdateItem", {"TableName": "t", "Key": {"pk": {"N": "7"}}}, table) == {
        "dynamodb:LeadingKeys": ["7"]
    }
    legacy = {
        "TableName": "t",
        "IndexName": "byOwner",
        "KeyConditions": {"owner": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "ada"}]}},
    }
    assert keys.condition_keys("Query", legacy, index) == {"dynamodb:LeadingKeys": ["ada"]}
    writes = {
        "RequestItems": {
            "t": [
                {"PutRequest": {"Item": {"pk": {"S": "a"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}},
            ]
        }
    }
    assert keys.condition_keys("BatchWriteItem", writes, table) == {"dynamodb:LeadingKeys": ["a", "b"]}
    assert keys.condition_keys("Scan", {"TableName": "t"}, table) == {}
