"""Who is calling: the identity API Gateway's Cognito authorizer verified, and the access rules on it.

API Gateway checks the ID token (signature, expiry, audience) before a function runs and passes its
claims in requestContext.authorizer.claims. Handlers take the caller from there, never from the body.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from service_common.api import ApiError

# The user pool group whose members may list and read every user (data stack: AdminsGroup).
ADMINS_GROUP = "admins"


@dataclass(frozen=True)
class Caller:
    user_id: str  # the token's `sub`: the user's id everywhere in this service
    groups: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMINS_GROUP in self.groups


def parse_groups(value: Any) -> frozenset[str]:
    """`cognito:groups` as API Gateway REST renders the list claim: "a,b", "[a b]" or "a" (or a list)."""
    if isinstance(value, list):
        return frozenset(str(group) for group in value)
    if not value:
        return frozenset()
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return frozenset(group for group in text.replace(",", " ").split() if group)


def current_caller(app: APIGatewayRestResolver) -> Caller:
    """The verified caller of the current request; 401 if the request reached us without one."""
    claims = app.current_event.request_context.authorizer.claims
    user_id = claims.get("sub") if claims else None
    if not user_id:
        # Only reachable if a route is deployed without the authorizer: refuse rather than guess.
        raise ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized", "The request carries no verified identity")
    return Caller(user_id=str(user_id), groups=parse_groups(claims.get("cognito:groups")))


def forbidden(message: str) -> ApiError:
    return ApiError(HTTPStatus.FORBIDDEN, "Forbidden", message)
