"""Functions' resource-based policies (`AWS::Lambda::Permission`): which service may invoke a function,
from which source. A trigger without one fails as in AWS:

- API Gateway: 500 `Internal server error` ("Execution failed due to configuration error: Invalid
  permissions on Lambda function" in the stage's execution log);
- EventBridge (rules and schedules): no retry, the event goes to the target's DLQ with ERROR_CODE
  `NO_PERMISSIONS` (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html);
- S3 notifications: the deploy fails, since S3 validates the destination when the notification
  configuration is put ("Unable to validate the following destination configurations").

SQS event source mappings need none: Lambda polls with the function's role (checked elsewhere).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from local_runtime.templates import App

INVOKE_ACTIONS = {"lambda:invokefunction", "lambda:invokefunctionurl", "lambda:*", "*"}


@dataclass(frozen=True)
class Permission:
    logical_id: str
    function: str  # as the template gives it: name, ARN or partial ARN
    principal: str
    source_arn: str | None
    source_account: str | None
    action: str = "lambda:invokefunction"  # lowercased; lambda:InvokeFunctionUrl for function URLs
    url_auth_type: str | None = None  # FunctionUrlAuthType of an InvokeFunctionUrl permission


@lru_cache(maxsize=1024)
def arn_like(pattern: str) -> re.Pattern[str]:
    """IAM's ArnLike: `*` and `?` match within the value, case-sensitive."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z"
    )


class FunctionPolicies:
    def __init__(self, permissions: list[Permission]) -> None:
        self.permissions = permissions

    @classmethod
    def from_app(cls, app: App) -> FunctionPolicies:
        found = []
        for stack, logical_id, resource in app.all_resources("AWS::Lambda::Permission"):
            props = app.resolve(stack, resource.get("Properties", {}))
            action = str(props.get("Action", "")).lower()
            if action not in INVOKE_ACTIONS:
                continue
            found.append(
                Permission(
                    logical_id=logical_id,
                    function=str(props["FunctionName"]),
                    principal=str(props.get("Principal", "")),
                    source_arn=str(props["SourceArn"]) if props.get("SourceArn") else None,
                    source_account=str(props["SourceAccount"]) if props.get("SourceAccount") else None,
                    action=action,
                    url_auth_type=str(props["FunctionUrlAuthType"])
                    if props.get("FunctionUrlAuthType")
                    else None,
                )
            )
        return cls(found)

    def allows(
        self, function_arn: str, principal: str, source_arn: str, source_account: str
    ) -> Permission | None:
        """The permission that lets `principal` invoke the function from `source_arn`, if one does."""
        return self._find(function_arn, principal, source_arn, source_account, "lambda:invokefunction")

    def allows_url(self, function_arn: str, auth_type: str) -> Permission | None:
        """A public (AuthType NONE) function URL needs lambda:InvokeFunctionUrl for principal * with that
        FunctionUrlAuthType; without it the URL answers 403 (lambda/latest/dg/urls-auth.html)."""
        found = self._find(function_arn, "*", "", "", "lambda:invokefunctionurl")
        return found if found and found.url_auth_type in (None, auth_type) else None

    def _find(
        self, function_arn: str, principal: str, source_arn: str, source_account: str, action: str
    ) -> Permission | None:
        invoked = function_key(function_arn)
        for permission in self.permissions:
            if permission.action not in (action, "lambda:*", "*"):
                continue
            if function_key(permission.function) != invoked:
                continue
            if permission.principal not in (principal, "*"):
                continue
            if permission.source_arn and not arn_like(permission.source_arn).match(source_arn):
                continue
            if permission.source_account and permission.source_account != source_account:
                continue
            return permission
        return None


def function_key(function: str) -> tuple[str, str | None]:
    """(name, qualifier) of a function name, ARN or partial ARN, with or without an alias or version:
    a permission applies to the function, alias or version it names, not to the others
    (https://docs.aws.amazon.com/lambda/latest/dg/using-aliases.html#versioning-permissions-alias)."""
    rest = function.split(":function:", 1)[1] if ":function:" in function else function
    name, _, qualifier = rest.partition(":")
    return name, (qualifier if qualifier and qualifier != "$LATEST" else None)


def execute_api_arn(region: str, account: str, api_id: str, stage: str, method: str, path: str) -> str:
    """The source ARN API Gateway invokes a function with: the method and the request's path."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}{path}"
