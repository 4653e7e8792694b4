"""Policy evaluation and request → (action, resource) derivation, without a runtime."""

from __future__ import annotations

import json
from typing import Any

from local_runtime.iam import (
    KNOWN_TAG_KEYS,
    PRINCIPAL_TAG,
    AwsRequest,
    Policy,
    access_denied,
    describe_request,
    unevaluated_condition_keys,
    unused_grants,
)
from local_runtime.model import role_policies
from local_runtime.templates import App, Names

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDFN/20261123/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host, Signature=x"
)
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/T"


def _json_request(service: str, target: str, body: dict) -> AwsRequest:
    headers = {"authorization": AUTH.format(service=service), "x-amz-target": target, "host": "localhost:1"}
    return AwsRequest("POST", "/", headers, json.dumps(body).encode())


def test_policy_allow_deny_and_wildcards() -> None:
    policy = Policy(
        [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:Get*", "dynamodb:Query"],
                "Resource": [TABLE, f"{TABLE}/index/*"],
            },
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/uploads/*"},
            {"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": TABLE},
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:sqs:*:*:q?"},
        ]
    )
    assert policy.decide("dynamodb:GetItem", TABLE) == "ExplicitDeny"
    assert policy.allows("dynamodb:getrecords", TABLE)  # actions are case-insensitive
    assert policy.allows("dynamodb:Query", f"{TABLE}/index/byUser")
    assert not policy.allows("dynamodb:Scan", TABLE)
    assert policy.allows("s3:PutObject", "arn:aws:s3:::b/uploads/a b.txt")
    assert not policy.allows("s3:PutObject", "arn:aws:s3:::b/other/a")
    assert policy.allows("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q1")
    assert not policy.allows("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q12")
    assert not policy.allows("iam:PassRole", "arn:aws:sqs:us-east-1:1:q1")


def test_dynamodb_index_and_batch_resources() -> None:
    query = describe_request(
        _json_request("dynamodb", "DynamoDB_20120810.Query", {"TableName": "T", "IndexName": "byUser"}),
        "us-east-1",
        "123456789012",
    )
    assert (query.action, query.resources, query.access_key) == (
        "dynamodb:Query",
        [f"{TABLE}/index/byUser"],
        "AKIDFN",
    )
    batch = describe_request(
        _json_request("dynamodb", "DynamoDB_20120810.BatchWriteItem", {"RequestItems": {"T": [], "U": []}}),
        "us-east-1",
        "123456789012",
    )
    assert batch.resources == [TABLE, TABLE.replace("/T", "/U")]


def test_sqs_events_ssm_resources() -> None:
    sqs = describe_request(
        _json_request("sqs", "AmazonSQS.SendMessage", {"QueueUrl": "http://localhost:4566/123456789012/q"}),
        "us-east-1",
        "123456789012",
    )
    assert (sqs.action, sqs.resources) == ("sqs:SendMessage", ["arn:aws:sqs:us-east-1:123456789012:q"])
    events = describe_request(
        _json_request("events", "AWSEvents.PutEvents", {"Entries": [{"EventBusName": "bus"}, {}]}),
        "us-east-1",
        "123456789012",
    )
    assert events.resources == [
        "arn:aws:events:us-east-1:123456789012:event-bus/bus",
        "arn:aws:events:us-east-1:123456789012:event-bus/default",
    ]
    ssm = describe_request(
        _json_request("ssm", "AmazonSSM.GetParameter", {"Name": "/app/x"}), "us-east-1", "123456789012"
    )
    assert ssm.resources == ["arn:aws:ssm:us-east-1:123456789012:parameter/app/x"]
    # Query protocol to the queue's own path (how API Gateway's SQS integrations call it).
    headers = {"authorization": AUTH.format(service="sqs"), "host": "localhost:1"}
    form = AwsRequest("POST", "/123456789012/q", headers, b"Action=SendMessage&MessageBody=x")
    path_style = describe_request(form, "us-east-1", "123456789012")
    assert (path_style.action, path_style.resources) == (
        "sqs:SendMessage",
        ["arn:aws:sqs:us-east-1:123456789012:q"],
    )


def test_aws_managed_policies_grant_their_actions_on_the_emulated_services() -> None:
    def role(*names: str) -> dict[str, Any]:
        arns = [
            {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::aws:policy/{n}"]]} for n in names
        ]
        return {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": arns}}

    template = {
        "Resources": {
            "Reader": role("AmazonS3ReadOnlyAccess", "service-role/AWSLambdaSQSQueueExecutionRole"),
            "Custom": role("SomeTeamPolicy"),
        }
    }
    app = App.from_templates({"S": template}, names=Names())
    policies, warnings = role_policies(app)
    reader = policies[app.get_att(app.stacks[0], "Reader", "Arn")]
    assert reader.allows("s3:GetObject", "arn:aws:s3:::any/key")
    assert reader.allows("s3:ListBucket", "arn:aws:s3:::any")
    assert not reader.allows("s3:PutObject", "arn:aws:s3:::any/key")
    assert reader.allows("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:q")
    assert not reader.allows("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q")
    assert any("SomeTeamPolicy is unknown locally" in w for w in warnings)


def test_s3_requests_path_virtual_host_and_presigned() -> None:
    put = describe_request(
        AwsRequest(
            "PUT",
            "/bkt/uploads/a%20b.txt",
            {"authorization": AUTH.format(service="s3"), "host": "localhost:1"},
            b"x",
        ),
        "us-east-1",
        "123456789012",
    )
    assert (put.action, put.resources, put.s3["operation"]) == (
        "s3:PutObject",
        ["arn:aws:s3:::bkt/uploads/a b.txt"],
        "Put",
    )
    presigned = describe_request(
        AwsRequest(
            "PUT",
            "/bkt/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFN%2F20261123%2Fus-east-1%2Fs3%2Faws4_request",
            {"host": "localhost:1"},
            b"x",
        ),
        "us-east-1",
        "123456789012",
    )
    assert (presigned.access_key, presigned.action) == ("AKIDFN", "s3:PutObject")
    virtual = describe_request(
        AwsRequest(
            "GET",
            "/?list-type=2",
            {"authorization": AUTH.format(service="s3"), "host": "bkt.localhost:1"},
            b"",
        ),
        "us-east-1",
        "123456789012",
    )
    assert (virtual.action, virtual.resources) == ("s3:ListBucket", ["arn:aws:s3:::bkt"])


def test_access_denied_shapes() -> None:
    query = describe_request(
        _json_request("dynamodb", "DynamoDB_20120810.Query", {"TableName": "T"}), "r", "1"
    )
    status, headers, body = access_denied(query, "arn:aws:sts::1:assumed-role/R/f", "arn:x", explicit=False)
    assert status == 400 and headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert "is not authorized to perform: dynamodb:Query on resource: arn:x" in json.loads(body)["message"]
    put = describe_request(AwsRequest("PUT", "/b/k", {"host": "localhost"}, b""), "r", "1")
    status, _, body = access_denied(put, "p", "arn:aws:s3:::b/k", explicit=True)
    assert status == 403 and b"<Code>AccessDenied</Code>" in body and b"explicit deny" in body


def test_unused_grants_matches_wildcards() -> None:
    granted = {
        "f": [("dynamodb:GetItem", TABLE), ("dynamodb:Query", f"{TABLE}/index/*"), ("s3:PutObject", "*")]
    }
    recording = [
        {"function": "f", "action": "dynamodb:GetItem", "resource": TABLE, "allowed": True},
        {"function": "f", "action": "dynamodb:Query", "resource": f"{TABLE}/index/i", "allowed": False},
    ]
    assert unused_grants(granted, recording) == {
        "f": [("dynamodb:Query", f"{TABLE}/index/*"), ("s3:PutObject", "*")]
    }


BUCKET = "arn:aws:s3:::b"


def test_s3_prefix_conditions_are_evaluated_like_iam() -> None:
    def listing(operator: str, values: object, effect: str = "Allow") -> dict:
        return {
            "Effect": effect,
            "Action": "s3:ListBucket",
            "Resource": BUCKET,
            "Condition": {operator: {"s3:prefix": values}},
        }

    like = Policy([listing("StringLike", ["uploads/*", "shared/?"])])
    assert like.allows("s3:ListBucket", BUCKET, {"s3:prefix": "uploads/u1/"})
    assert like.allows("s3:ListBucket", BUCKET, {"s3:prefix": "shared/a"})
    assert not like.allows("s3:ListBucket", BUCKET, {"s3:prefix": "private/"})
    assert not like.allows("s3:ListBucket", BUCKET)  # key absent: a positive operator does not hold
    assert Policy([listing("StringLikeIfExists", "uploads/*")]).allows("s3:ListBucket", BUCKET)
    assert Policy([listing("StringEquals", "uploads/")]).allows(
        "s3:ListBucket", BUCKET, {"S3:Prefix": "uploads/"}
    )
    not_like = Policy([listing("StringNotLike", "private/*")])
    assert not_like.allows("s3:ListBucket", BUCKET)  # key absent: a negated operator holds
    assert not not_like.allows("s3:ListBucket", BUCKET, {"s3:prefix": "private/x"})
    null = Policy([listing("Null", "true")])
    assert null.allows("s3:ListBucket", BUCKET) and not null.allows(
        "s3:ListBucket", BUCKET, {"s3:prefix": ""}
    )
    # Set operators on a single-valued key work like the plain operator.
    assert Policy([listing("ForAnyValue:StringLike", "uploads/*")]).allows(
        "s3:ListBucket", BUCKET, {"s3:prefix": "uploads/"}
    )
    guarded = Policy(
        [listing("StringLike", "*"), listing("ForAnyValue:StringLike", "private/*", effect="Deny")]
    )
    assert guarded.decide("s3:ListBucket", BUCKET, {"s3:prefix": "private/x"}) == "ExplicitDeny"
    assert guarded.decide("s3:ListBucket", BUCKET, {"s3:prefix": "uploads/"}) == "Allow"
    # An operator IAM does not have never makes local more permissive than AWS (AWS refuses the policy).
    assert not Policy([listing("StringFancy", "uploads/*")]).allows(
        "s3:ListBucket", BUCKET, {"s3:prefix": "uploads/"}
    )
    fenced = Policy([listing("StringLike", "*"), listing("StringFancy", "private/*", effect="Deny")])
    assert fenced.decide("s3:ListBucket", BUCKET, {"s3:prefix": "uploads/"}) == "ExplicitDeny"


def test_conditions_on_keys_not_known_locally_are_applied_as_if_they_held() -> None:
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"{BUCKET}/*",
        "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}, "StringLike": {"s3:prefix": "x"}},
    }
    assert unevaluated_condition_keys(statement) == {"aws:SourceVpc"}
    without_prefix = {**statement, "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}}
    assert Policy([without_prefix]).allows("s3:GetObject", f"{BUCKET}/k")
    # Tag keys are known only where the call's context says its tags were looked up (tags.py).
    tagged = {**statement, "Condition": {"StringEquals": {"aws:PrincipalTag/team": "orders"}}}
    assert unevaluated_condition_keys(tagged) == set()
    assert Policy([tagged]).allows("s3:GetObject", f"{BUCKET}/k")
    assert not Policy([tagged]).allows("s3:GetObject", f"{BUCKET}/k", {KNOWN_TAG_KEYS: [PRINCIPAL_TAG]})


def test_a_listing_carries_its_prefix_as_the_s3_prefix_condition_key() -> None:
    def described(path: str):
        headers = {"authorization": AUTH.format(service="s3"), "host": "localhost:1"}
        return describe_request(AwsRequest("GET", path, headers, b""), "us-east-1", "123456789012")

    assert described("/b?list-type=2&prefix=uploads%2Fu1%2F").context == {"s3:prefix": "uploads/u1/"}
    assert described("/b?list-type=2").context == {}
    assert described("/b/uploads/k").context == {}
