"""Queue, bucket and topic policies (AWS::SQS::QueuePolicy, AWS::S3::BucketPolicy, AWS::SNS::TopicPolicy)
evaluated as IAM does for a request to the resource:

- an explicit Deny in the resource policy denies, whatever the identity policy says;
- for a principal of the same account, an Allow naming it (its role ARN, its session ARN or `*`) is
  enough without an identity Allow; an Allow naming only the account delegates to identity policies;
- a service principal (events.amazonaws.com, sns.amazonaws.com, s3.amazonaws.com) has no identity
  policy: only the resource policy can allow it, usually with aws:SourceArn / aws:SourceAccount.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from local_runtime.iam import Policy, as_list, glob_match
from local_runtime.templates import App


@dataclass(frozen=True)
class Caller:
    """Who makes a request: a role (its ARN and the session's assumed-role ARN) or an AWS service."""

    account: str
    role_arn: str | None = None
    session_arn: str | None = None
    service: str | None = None


class ResourcePolicies:
    def __init__(self, policies: dict[str, list[dict[str, Any]]]) -> None:
        self.policies = policies  # resource ARN (queue, bucket, topic) -> statements

    @classmethod
    def from_app(cls, app: App) -> ResourcePolicies:
        found: dict[str, list[dict[str, Any]]] = {}
        kinds = (
            (
                "AWS::SQS::QueuePolicy",
                "Queues",
                lambda url: app.arn("sqs", str(url).rstrip("/").rsplit("/", 1)[-1]),
            ),
            ("AWS::S3::BucketPolicy", "Bucket", lambda name: f"arn:aws:s3:::{name}"),
            ("AWS::SNS::TopicPolicy", "Topics", str),
        )
        for rtype, key, to_arn in kinds:
            for stack, _lid, resource in app.all_resources(rtype):
                props = app.resolve(stack, resource.get("Properties", {}))
                statements = as_list(props.get("PolicyDocument", {}).get("Statement"))
                for target in as_list(props.get(key)):
                    found.setdefault(to_arn(target), []).extend(statements)
        return cls(found)

    def _statements(self, resource: str) -> list[dict[str, Any]] | None:
        """The policy of the queue, topic or bucket a resource ARN (a bucket's object too) belongs to."""
        if resource in self.policies:
            return self.policies[resource]
        if resource.startswith("arn:aws:s3:::"):
            return self.policies.get(resource.split("/", 1)[0])
        return None

    def decide(self, caller: Caller, action: str, resource: str, context: dict[str, Any]) -> str | None:
        """'Allow', 'ExplicitDeny', 'ImplicitDeny', or None when the resource has no policy."""
        statements = self._statements(resource)
        if statements is None:
            return None
        applying = []
        for statement in statements:
            deny = statement.get("Effect") == "Deny"
            if statement_names(statement, caller, deny):
                applying.append(statement)
        return Policy(applying).decide(action, resource, context)


def statement_names(statement: dict[str, Any], caller: Caller, deny: bool) -> bool:
    """Whether the statement's Principal (or NotPrincipal) covers the caller. An account principal covers
    the account's roles for a Deny; for an Allow it only delegates to their identity policies."""
    if "NotPrincipal" in statement:
        return not _covers(statement["NotPrincipal"], caller, account_counts=True)
    return _covers(statement.get("Principal"), caller, account_counts=deny)


def _covers(principal: Any, caller: Caller, account_counts: bool) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if caller.service is not None:
        return caller.service in as_list(principal.get("Service"))
    for name in (str(p) for p in as_list(principal.get("AWS"))):
        if name == "*" or name in (caller.role_arn, caller.session_arn):
            return True
        if account_counts and name in (caller.account, f"arn:aws:iam::{caller.account}:root"):
            return True
        if caller.session_arn and "*" in name and glob_match(name, caller.session_arn, case_sensitive=True):
            return True
    return False
