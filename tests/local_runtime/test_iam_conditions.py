"""IAM condition operators and the global keys of a function's call, with the outcomes IAM documents
(reference_policies_elements_condition_operators.html, reference_policies_condition-keys.html)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from local_runtime.iam import Policy, global_context

PRINCIPAL = "arn:aws:sts::123456789012:assumed-role/Orders-Api-Role/orders-api-fn"
ACTION, RESOURCE = "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:work"


def _decide(condition: dict[str, Any], effect: str = "Allow", context: dict[str, Any] | None = None) -> str:
    statement = {"Effect": effect, "Action": ACTION, "Resource": RESOURCE, "Condition": condition}
    statements = (
        [statement] if effect == "Allow" else [statement, {"Effect": "Allow", "Action": "*", "Resource": "*"}]
    )
    request = {**global_context(PRINCIPAL, "123456789012", "us-east-1"), **(context or {})}
    return Policy(statements).decide(ACTION, RESOURCE, request)


def test_the_call_s_global_keys() -> None:
    keys = global_context(PRINCIPAL, "123456789012", "us-east-1")
    assert keys["aws:PrincipalArn"] == "arn:aws:iam::123456789012:role/Orders-Api-Role"
    assert keys["aws:userid"].startswith("AROA") and keys["aws:userid"].endswith(":orders-api-fn")
    assert (keys["aws:SecureTransport"], keys["aws:RequestedRegion"]) == ("true", "us-east-1")


@pytest.mark.parametrize(
    ("condition", "effect", "expected"),
    [
        (
            {"StringEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/Orders-Api-Role"}},
            "Allow",
            "Allow",
        ),
        (
            {"StringEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/Other"}},
            "Allow",
            "ImplicitDeny",
        ),
        ({"StringLike": {"aws:userid": "AROA*:orders-*"}}, "Allow", "Allow"),
        # CDK's enforceSSL: the call is HTTPS in Lambda, so the Deny does not apply.
        ({"Bool": {"aws:SecureTransport": "false"}}, "Deny", "Allow"),
        ({"Bool": {"aws:SecureTransport": True}}, "Allow", "Allow"),  # a JSON boolean in the policy
        ({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, "Allow", "Allow"),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, "Allow", "ImplicitDeny"),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, "Deny", "ExplicitDeny"),
        ({"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}, "Deny", "Allow"),
        ({"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1"]}}, "Deny", "ExplicitDeny"),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Orders-*"}}, "Allow", "Allow"),
        # ArnLike's * stays within one part: it cannot swallow the account's colon.
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam:*/Orders-Api-Role"}}, "Allow", "ImplicitDeny"),
        (
            {"StringEquals": {"aws:PrincipalTag/team": "orders"}},
            "Allow",
            "Allow",
        ),  # unknown key: as if it held
    ],
)
def test_operators_on_global_keys(condition: dict[str, Any], effect: str, expected: str) -> None:
    assert _decide(condition, effect) == expected


def test_numeric_and_date_operators_on_the_clock() -> None:
    future, past = int(time.time()) + 3600, int(time.time()) - 3600
    assert _decide({"NumericLessThan": {"aws:EpochTime": str(future)}}) == "Allow"
    assert _decide({"NumericLessThan": {"aws:EpochTime": str(past)}}) == "ImplicitDeny"
    assert _decide({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}) == "Allow"
    assert _decide({"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}) == "ImplicitDeny"


def test_missing_keys_if_exists_null_and_set_operators() -> None:
    # s3:prefix is absent from this call: a positive operator fails, IfExists and a negation hold.
    assert _decide({"StringLike": {"s3:prefix": "home/*"}}) == "ImplicitDeny"
    assert _decide({"StringLikeIfExists": {"s3:prefix": "home/*"}}) == "Allow"
    assert _decide({"StringNotLike": {"s3:prefix": "home/*"}}) == "Allow"
    assert _decide({"Null": {"s3:prefix": "true"}}) == "Allow"
    assert _decide({"Null": {"aws:PrincipalArn": "true"}}) == "ImplicitDeny"
    # Multivalued keys: ForAllValues holds for a missing key (a known trap), ForAnyValue does not.
    assert _decide({"ForAllValues:StringLike": {"s3:prefix": ["home/*"]}}) == "Allow"
    assert _decide({"ForAnyValue:StringLike": {"s3:prefix": ["home/*"]}}) == "ImplicitDeny"
    both = {"s3:prefix": ["home/a", "tmp/b"]}
    assert _decide({"ForAnyValue:StringLike": {"s3:prefix": ["home/*"]}}, context=both) == "Allow"
    assert _decide({"ForAllValues:StringLike": {"s3:prefix": ["home/*"]}}, context=both) == "ImplicitDeny"
