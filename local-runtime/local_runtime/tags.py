"""Tags in IAM conditions: `aws:PrincipalTag/<key>` (the calling role's tags) and `aws:ResourceTag/<key>`
(the tags of the resource a request names), from the app's templates.

A tag key is evaluated only where the app says what the tags are: for a role of the app, and for a
resource of a type below that the app defines. There a missing tag is a missing key, so a positive
condition on it fails, as in IAM. A request naming anything else (`*`, another account's ARN, an S3
object) leaves the key as it was: applied as if it held, as for other keys the runtime cannot know.
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_tags.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from local_runtime.iam import KNOWN_TAG_KEYS, PRINCIPAL_TAG, RESOURCE_TAG
from local_runtime.templates import App

# Taggable types whose ARN a request names as it is (or as its table's/function's: see _tagged).
_TAGGED_TYPES = {
    "AWS::IAM::Role": "Arn",
    "AWS::DynamoDB::Table": "Arn",
    "AWS::SQS::Queue": "Arn",
    "AWS::SNS::Topic": "TopicArn",
    "AWS::S3::Bucket": "Arn",
    "AWS::Lambda::Function": "Arn",
    "AWS::StepFunctions::StateMachine": "Arn",
    "AWS::Events::EventBus": "Arn",
    "AWS::Kinesis::Stream": "Arn",
}
# A DynamoDB index or stream is authorized with its table's tags; a function's alias or version with
# the function's.
_PARTS = (
    re.compile(r"^(arn:[^:]+:dynamodb:[^:]*:[^:]*:table/[^/]+)/.*$"),
    re.compile(r"^(arn:[^:]+:lambda:[^:]*:[^:]*:function:[^:]+):.*$"),
)


@dataclass
class Tags:
    by_arn: dict[str, dict[str, str]]  # ARN of a role or resource of the app -> its tags

    @classmethod
    def from_app(cls, app: App) -> Tags:
        by_arn: dict[str, dict[str, str]] = {}
        for rtype, attribute in _TAGGED_TYPES.items():
            for stack, logical_id, resource in app.all_resources(rtype):
                tags = app.resolve(stack, resource.get("Properties", {}).get("Tags") or [])
                by_arn[str(app.get_att(stack, logical_id, attribute))] = _as_dict(tags)
        return cls(by_arn)

    def condition_keys(self, role_arn: str | None, resource: str) -> dict[str, Any]:
        """The tag keys of a call by `role_arn` on `resource`, and which families of them are known."""
        keys: dict[str, Any] = {}
        known = []
        if role_arn in self.by_arn:
            known.append(PRINCIPAL_TAG)
            keys.update({f"aws:PrincipalTag/{k}": v for k, v in self.by_arn[role_arn].items()})
        tagged = _tagged(resource)
        if tagged in self.by_arn:
            known.append(RESOURCE_TAG)
            keys.update({f"aws:ResourceTag/{k}": v for k, v in self.by_arn[tagged].items()})
        keys[KNOWN_TAG_KEYS] = known
        return keys


def _tagged(resource: str) -> str:
    for part in _PARTS:
        match = part.match(resource)
        if match:
            return match.group(1)
    return resource


def _as_dict(tags: Any) -> dict[str, str]:
    """`[{"Key": k, "Value": v}, ...]` (most types) or `{k: v}` (a few, e.g. SSM parameters)."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags if isinstance(t, dict) and "Key" in t}
