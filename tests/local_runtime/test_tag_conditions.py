"""Tags in IAM conditions and policy variables: `aws:PrincipalTag/*` from the calling role's tags and
`aws:ResourceTag/*` from the tags of the resource a call names (a DynamoDB index with its table's), as
in attribute-based access control; `${...}` policy variables in Resource and condition values
(reference_policies_variables.html, access_tags.html)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.iam import KNOWN_TAG_KEYS, PRINCIPAL_TAG, RESOURCE_TAG, Policy, resolve_variables
from local_runtime.runtime import Runtime
from tests.helpers import python_function, running_stack

ABAC = {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}


def _statement(condition: dict[str, Any] | None = None, resource: str = "*") -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": resource}
    return {**statement, "Condition": condition} if condition else statement


def _context(principal: dict[str, str], resource: dict[str, str] | None) -> dict[str, Any]:
    context: dict[str, Any] = {f"aws:PrincipalTag/{k}": v for k, v in principal.items()}
    context.update({f"aws:ResourceTag/{k}": v for k, v in (resource or {}).items()})
    context[KNOWN_TAG_KEYS] = [PRINCIPAL_TAG] + ([RESOURCE_TAG] if resource is not None else [])
    return context


def test_policy_variables_resolve_from_the_request_or_leave_the_pattern_matching_nothing() -> None:
    context = {"aws:PrincipalTag/team": "orders", "aws:userid": "AROA1:fn"}
    assert (
        resolve_variables("arn:aws:s3:::b/${aws:principaltag/team}/*", context) == "arn:aws:s3:::b/orders/*"
    )
    assert resolve_variables("${aws:username}", context) is None  # a role has no user name
    assert (
        resolve_variables("home/${aws:username, 'shared'}/${aws:userid}", context) == "home/shared/AROA1:fn"
    )
    assert resolve_variables("${*}${?}${$}", context) == "*?$"
    assert resolve_variables("${aws:PrincipalTag/team, 'it''s'}", {}) == "it's"


@pytest.mark.parametrize(
    ("principal", "resource", "expected"),
    [
        ({"team": "orders"}, {"team": "orders"}, "Allow"),
        ({"team": "orders"}, {"team": "billing"}, "ImplicitDeny"),
        ({"team": "orders"}, {}, "ImplicitDeny"),  # an untagged resource: the key is missing
        ({}, {"team": "orders"}, "ImplicitDeny"),  # an untagged role: the variable has no value
        ({"team": "orders"}, None, "Allow"),  # a resource whose tags are not known: as if it held
    ],
)
def test_abac_compares_the_resource_tag_with_the_principal_tag(
    principal: dict[str, str], resource: dict[str, str] | None, expected: str
) -> None:
    policy = Policy([_statement(ABAC)])
    assert (
        policy.decide(
            "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/t", _context(principal, resource)
        )
        == expected
    )


def test_a_variable_in_the_resource_element_scopes_it_to_the_principal_s_tag() -> None:
    policy = Policy([_statement(resource="arn:aws:dynamodb:us-east-1:1:table/${aws:PrincipalTag/team}-*")])
    context = _context({"team": "orders"}, None)
    assert (
        policy.decide("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/orders-items", context)
        == "Allow"
    )
    assert (
        policy.decide("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/billing-items", context)
        != "Allow"
    )
    assert policy.decide("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/orders-items", {}) != "Allow"


READER = """
import boto3

def handler(event, context):
    table = boto3.client("dynamodb")
    outcome = {}
    for name in event["tables"]:
        try:
            table.query(TableName=name, IndexName="byStatus", KeyConditionExpression="st = :s",
                        ExpressionAttributeValues={":s": {"S": "new"}})
            table.put_item(TableName=name, Item={"id": {"S": "1"}, "st": {"S": "new"}})
            outcome[name] = "ok"
        except table.exceptions.ClientError as error:
            outcome[name] = error.response["Error"]["Code"]
    return outcome
"""


def _table(name: str, tags: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": name,
            "AttributeDefinitions": [
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "st", "AttributeType": "S"},
            ],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "byStatus",
                    "KeySchema": [{"AttributeName": "st", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "Tags": tags,
        },
    }


TEMPLATE = {
    "Resources": {
        "OrdersItems": _table("orders-items", [{"Key": "team", "Value": "orders"}]),
        "BillingItems": _table("billing-items", [{"Key": "team", "Value": "billing"}]),
        "Untagged": _table("untagged-items", []),
        "ReaderRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Tags": [{"Key": "team", "Value": "orders"}],
                "Policies": [
                    {
                        "PolicyName": "abac",
                        "PolicyDocument": {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": ["dynamodb:Query", "dynamodb:PutItem"],
                                    "Resource": "*",
                                    "Condition": ABAC,
                                }
                            ]
                        },
                    }
                ],
            },
        },
        "Reader": python_function("asset.reader", "ReaderRole"),
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "Abac", TEMPLATE, {"asset.reader": READER}) as started:
        yield started


def test_a_function_reaches_only_the_tables_tagged_with_its_role_s_team(runtime: Runtime) -> None:
    tables = ["orders-items", "billing-items", "untagged-items"]
    result = runtime.invoke(runtime.find_function("Reader").arn, {"tables": tables})
    assert result.ok, result.error
    assert result.result == {
        "orders-items": "ok",  # the index query is authorized with its table's tags
        "billing-items": "AccessDeniedException",
        "untagged-items": "AccessDeniedException",
    }
    recording = runtime.options.state_dir / "recording.jsonl"
    denied = {
        json.loads(line)["resource"]
        for line in recording.read_text().splitlines()
        if '"allowed": false' in line
    }
    assert "arn:aws:dynamodb:us-east-1:123456789012:table/billing-items/index/byStatus" in denied
