"""REST API Lambda authorizers (TOKEN and REQUEST), as API Gateway runs them before the integration:

- the identity sources must be present (and a TOKEN must match IdentityValidationExpression), else 401
  without invoking the authorizer;
- the authorizer's answer is an IAM policy: an explicit Deny of the method ARN is 403 ("User is not
  authorized to access this resource with an explicit deny"), no Allow is 403 ("User is not authorized to
  access this resource"); the function failing with "Unauthorized" is 401; any other failure is 500;
- the answer is cached for AuthorizerResultTtlInSeconds (300 by default) by the identity source values,
  and a cached policy is evaluated against each later request's method ARN (a policy naming only the
  first method then denies the others, as in AWS);
- `principalId` and the `context` map reach the integration in requestContext.authorizer, context values
  as strings.
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local_runtime.permissions import arn_like
from local_runtime.workers import Invocation

DEFAULT_TTL_S = 300


class AuthorizerDeniedError(Exception):
    """The request is refused: `response_type` is the gateway response, `message` its message."""

    def __init__(self, response_type: str, message: str, reason: str = "") -> None:
        super().__init__(reason or message)
        self.response_type, self.message, self.reason = response_type, message, reason or message


@dataclass
class LambdaAuthorizer:
    logical_id: str
    authorizer_id: str
    name: str
    kind: str  # "TOKEN" | "REQUEST"
    identity_sources: list[str]  # method.request.header.X / method.request.querystring.y
    function_arn: str
    ttl_s: int = DEFAULT_TTL_S
    validation_expression: str | None = None
    _cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def identity(self, headers: dict[str, str], query: dict[str, str]) -> list[str] | None:
        values = []
        lowered = {k.lower(): v for k, v in headers.items()}
        for source in self.identity_sources:
            if source.startswith("method.request.header."):
                value = lowered.get(source.removeprefix("method.request.header.").lower())
            elif source.startswith("method.request.querystring."):
                value = query.get(source.removeprefix("method.request.querystring."))
            else:
                value = None
            if not value:
                return None
            values.append(value)
        return values

    def authorize(
        self,
        method_arn: str,
        headers: dict[str, str],
        query: dict[str, str],
        request_event: Callable[[], dict[str, Any]],
        invoke: Callable[[str, Any, str], Invocation],
        may_invoke: Callable[[str], bool],
    ) -> dict[str, Any]:
        """requestContext.authorizer for the integration, or AuthorizerDeniedError."""
        values = self.identity(headers, query)
        if values is None:
            raise AuthorizerDeniedError("UNAUTHORIZED", "Unauthorized", "an identity source is missing")
        expression = self.validation_expression if self.kind == "TOKEN" else None
        if expression and not re.fullmatch(expression, values[0]):
            raise AuthorizerDeniedError(
                "UNAUTHORIZED", "Unauthorized", "token fails IdentityValidationExpression"
            )
        key = tuple(values)
        with self._lock:
            cached = self._cache.get(key)
        if cached and cached[0] > time.monotonic():
            answer = cached[1]
        else:
            answer = self._invoke(method_arn, values, request_event, invoke, may_invoke)
            if self.ttl_s > 0:
                with self._lock:
                    self._cache[key] = (time.monotonic() + self.ttl_s, answer)
        decision = policy_decision(answer.get("policyDocument") or {}, method_arn)
        if decision == "Deny":
            raise AuthorizerDeniedError(
                "ACCESS_DENIED", "User is not authorized to access this resource with an explicit deny"
            )
        if decision != "Allow":
            raise AuthorizerDeniedError("ACCESS_DENIED", "User is not authorized to access this resource")
        context = {k: _string(v) for k, v in (answer.get("context") or {}).items()}
        return {"principalId": str(answer.get("principalId", "")), **context, "integrationLatency": 0}

    def _invoke(
        self,
        method_arn: str,
        values: list[str],
        request_event: Callable[[], dict[str, Any]],
        invoke: Callable[[str, Any, str], Invocation],
        may_invoke: Callable[[str], bool],
    ) -> dict[str, Any]:
        if not may_invoke(self.function_arn):
            raise AuthorizerDeniedError(
                "AUTHORIZER_CONFIGURATION_ERROR",
                "Internal server error",
                f"no AWS::Lambda::Permission lets API Gateway invoke the authorizer {self.function_arn}",
            )
        if self.kind == "TOKEN":
            event = {"type": "TOKEN", "authorizationToken": values[0], "methodArn": method_arn}
        else:
            event = {"type": "REQUEST", "methodArn": method_arn, **request_event()}
        invocation = invoke(self.function_arn, event, f"authorizer {self.name}")
        if not invocation.ok:
            if (invocation.error or {}).get("errorMessage") == "Unauthorized":
                raise AuthorizerDeniedError(
                    "UNAUTHORIZED", "Unauthorized", "the authorizer raised Unauthorized"
                )
            raise AuthorizerDeniedError(
                "AUTHORIZER_FAILURE", "Internal server error", f"authorizer failed: {invocation.error}"
            )
        if not isinstance(invocation.result, dict) or "policyDocument" not in invocation.result:
            raise AuthorizerDeniedError(
                "AUTHORIZER_FAILURE", "Internal server error", "the answer has no policyDocument"
            )
        return invocation.result


def policy_decision(document: dict[str, Any], method_arn: str) -> str | None:
    """ "Deny", "Allow" or None for execute-api:Invoke on the method ARN."""
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    decision = None
    for statement in statements:
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if not any(arn_like(str(a).lower()).match("execute-api:invoke") for a in actions):
            continue
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        if not any(arn_like(str(r)).match(method_arn) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return "Deny"
        if statement.get("Effect") == "Allow":
            decision = "Allow"
    return decision


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
