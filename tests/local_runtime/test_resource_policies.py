"""Queue, bucket and topic policies with IAM's evaluation logic for a request to the resource: explicit
Deny in the resource policy wins; a same-account role named in an Allow needs no identity Allow, while an
Allow naming only the account delegates to identity policies; a service is allowed only by the resource
policy, with its aws:SourceArn condition (reference_policies_evaluation-logic.html)."""

from __future__ import annotations

from typing import Any

from local_runtime.iam import global_context
from local_runtime.resource_policies import Caller, ResourcePolicies
from local_runtime.templates import App, Names

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Worker"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Worker/worker-fn"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"
RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/bus/nightly"


def _policies(*statements: dict[str, Any]) -> ResourcePolicies:
    template = {
        "Resources": {
            "Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "jobs"}},
            "JobsPolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "Jobs"}],
                    "PolicyDocument": {"Statement": list(statements)},
                },
            },
            "Files": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "files"}},
            "FilesPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Files"},
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "s3:*",
                                "Resource": ["arn:aws:s3:::files", "arn:aws:s3:::files/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            },
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": ACCOUNT},
                                "Action": "s3:DeleteObject",
                                "Resource": "arn:aws:s3:::files/locked/*",
                            },
                        ]
                    },
                },
            },
        }
    }
    return ResourcePolicies.from_app(App.from_templates({"S": template}, names=Names()))


ROLE_CALLER = Caller(ACCOUNT, role_arn=ROLE, session_arn=SESSION)
CONTEXT = global_context(SESSION, ACCOUNT, "us-east-1")


def test_a_role_named_in_an_allow_needs_no_identity_allow_an_account_principal_delegates() -> None:
    named = _policies(
        {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sqs:SendMessage", "Resource": QUEUE}
    )
    assert named.decide(ROLE_CALLER, "sqs:SendMessage", QUEUE, CONTEXT) == "Allow"
    account = _policies(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sqs:*",
            "Resource": QUEUE,
        }
    )
    assert account.decide(ROLE_CALLER, "sqs:SendMessage", QUEUE, CONTEXT) == "ImplicitDeny"


def test_a_deny_in_the_resource_policy_wins_and_covers_the_account_s_roles() -> None:
    policies = _policies()
    assert (
        policies.decide(ROLE_CALLER, "s3:DeleteObject", "arn:aws:s3:::files/locked/a", CONTEXT)
        == "ExplicitDeny"
    )
    # CDK's enforceSSL: the call is HTTPS in Lambda, so it is not denied (and not allowed by this policy).
    assert (
        policies.decide(ROLE_CALLER, "s3:GetObject", "arn:aws:s3:::files/open/a", CONTEXT) == "ImplicitDeny"
    )
    assert policies.decide(ROLE_CALLER, "s3:GetObject", "arn:aws:s3:::other/a", CONTEXT) is None  # no policy


def test_a_service_is_allowed_only_by_the_resource_policy_and_its_source() -> None:
    policies = _policies(
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": QUEUE,
            "Condition": {"ArnEquals": {"aws:SourceArn": RULE}},
        }
    )
    events = Caller(ACCOUNT, service="events.amazonaws.com")
    assert policies.decide(events, "sqs:SendMessage", QUEUE, {"aws:SourceArn": RULE}) == "Allow"
    other_rule = {"aws:SourceArn": RULE.replace("nightly", "hourly")}
    assert policies.decide(events, "sqs:SendMessage", QUEUE, other_rule) == "ImplicitDeny"
    sns = Caller(ACCOUNT, service="sns.amazonaws.com")
    assert policies.decide(sns, "sqs:SendMessage", QUEUE, {"aws:SourceArn": RULE}) == "ImplicitDeny"
