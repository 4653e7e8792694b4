"""API Gateway's gateway responses: the errors API Gateway answers itself, customisable per REST API.

A response type the template customises (AWS::ApiGateway::GatewayResponse) is used as it is; otherwise
DEFAULT_4XX / DEFAULT_5XX if customised (the other types inherit them, as in AWS), else API Gateway's
built-in `{"message": ...}`. Templates are rendered for the `$context` variables API Gateway offers
(`$context.error.message`, `.messageString` (JSON-quoted), `.responseType`, `$context.requestId`...);
a variable the local runtime does not know renders empty (VTL logic such as #if is not evaluated).
Header parameters may be static (`'*'`) or `method.request.header|querystring|path.<name>`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# Response types the local API answers: default status and the x-amzn-ErrorType header.
BUILT_IN = {
    "UNAUTHORIZED": (401, "UnauthorizedException"),
    "ACCESS_DENIED": (403, "AccessDeniedException"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "MissingAuthenticationTokenException"),
    "INVALID_SIGNATURE": (403, "InvalidSignatureException"),
    "INVALID_API_KEY": (403, "ForbiddenException"),
    "THROTTLED": (429, "TooManyRequestsException"),
    "QUOTA_EXCEEDED": (429, "LimitExceededException"),
    "INTEGRATION_TIMEOUT": (504, "InternalServerErrorException"),
    "BAD_REQUEST_PARAMETERS": (400, "BadRequestException"),
    "BAD_REQUEST_BODY": (400, "BadRequestException"),
    "DEFAULT_4XX": (400, "BadRequestException"),
    "DEFAULT_5XX": (502, "InternalServerErrorException"),
    # e.g. no AWS::Lambda::Permission for the method: "Invalid permissions on Lambda function"
    "API_CONFIGURATION_ERROR": (500, "InternalServerErrorException"),
    "AUTHORIZER_FAILURE": (500, "AuthorizerFailureException"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "AuthorizerConfigurationException"),
}
_DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'
_VARIABLE = re.compile(r"\$!?\{(context(?:\.\w+)+)\}|\$!?(context(?:\.\w+)+)")


@dataclass
class GatewayResponse:
    response_type: str
    status: int | None = None
    parameters: dict[str, str] = field(default_factory=dict)  # gatewayresponse.header.X -> expression
    templates: dict[str, str] = field(default_factory=dict)  # media type -> template


@dataclass
class Rendered:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Request:
    """What a gateway response may refer to: the request and the API's context variables."""

    context: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    path: dict[str, str] = field(default_factory=dict)


def from_properties(props: dict[str, Any]) -> GatewayResponse:
    status = props.get("StatusCode")
    return GatewayResponse(
        response_type=str(props["ResponseType"]),
        status=int(status) if status not in (None, "") else None,
        parameters={str(k): str(v) for k, v in (props.get("ResponseParameters") or {}).items()},
        templates={str(k): str(v) for k, v in (props.get("ResponseTemplates") or {}).items()},
    )


def render(
    custom: dict[str, GatewayResponse], response_type: str, message: str, request: Request
) -> Rendered:
    default_status, error_type = BUILT_IN[response_type]
    chosen = custom.get(response_type)
    status = chosen.status if chosen and chosen.status else default_status
    if chosen is None:
        chosen = custom.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")
    context = {
        **request.context,
        "error": {
            "message": message,
            "messageString": json.dumps(message),
            "responseType": response_type,
            "validationErrorString": json.dumps(message),
        },
    }
    headers = {"x-amzn-ErrorType": error_type}
    media_type, template = "application/json", _DEFAULT_TEMPLATE
    if chosen is not None:
        for name, expression in chosen.parameters.items():
            if name.startswith("gatewayresponse.header."):
                headers[name.removeprefix("gatewayresponse.header.")] = _parameter(expression, request)
        if chosen.templates:
            media_type = (
                "application/json" if "application/json" in chosen.templates else next(iter(chosen.templates))
            )
            template = chosen.templates[media_type]
    headers["Content-Type"] = media_type
    return Rendered(status, headers, render_template(template, context).encode())


def render_template(template: str, context: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        node: Any = {"context": context}
        for part in (match.group(1) or match.group(2)).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return "" if node is None or isinstance(node, dict) else str(node)

    return _VARIABLE.sub(value, template)


def _parameter(expression: str, request: Request) -> str:
    if len(expression) >= 2 and expression.startswith("'") and expression.endswith("'"):
        return expression[1:-1]
    for prefix, source in (
        ("method.request.header.", request.headers),
        ("method.request.querystring.", request.query),
        ("method.request.path.", request.path),
    ):
        if expression.startswith(prefix):
            wanted = expression.removeprefix(prefix)
            if prefix == "method.request.header.":
                return next((v for k, v in source.items() if k.lower() == wanted.lower()), "")
            return source.get(wanted, "")
    return ""
