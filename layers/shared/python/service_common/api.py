"""The HTTP error contract shared by every API function.

Every error response is JSON: {"error": <code>, "message": <text>, "details": [...], "requestId": <id>}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from service_common.env import require_env


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """The JSON body of every error response (documented in the OpenAPI spec)."""

    error: str
    message: str
    details: list[ErrorDetail]
    requestId: str | None  # noqa: N815 (API field name)


def documented_responses(
    status: int, model: Any | None, description: str, errors: tuple[int, ...]
) -> dict[int, dict[str, Any]]:
    """OpenAPI responses of a route: its success response plus the error statuses it can return.

    401 (no valid token), 422 (invalid input), 429 (API Gateway's stage throttle, cdk.json `apiThrottle`)
    and 500 (unexpected) apply to every route; `errors` adds the route's own.
    """
    success_content = {"application/json": {"model": model}} if model is not None else {}
    responses: dict[int, dict[str, Any]] = {status: {"description": description, "content": success_content}}
    for code in sorted({*errors, 401, 422, 429, 500}):
        responses[code] = {
            "description": HTTPStatus(code).phrase,
            "content": {"application/json": {"model": ErrorBody}},
        }
    return responses


class ApiError(Exception):
    """An expected failure that maps to a 4xx response."""

    def __init__(self, status: HTTPStatus, code: str, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


class ResourceNotFoundError(ApiError):
    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(HTTPStatus.NOT_FOUND, "NotFound", f"{resource} {resource_id} was not found")


def error_response(app: APIGatewayRestResolver, error: ApiError) -> Response:
    body = {
        "error": error.code,
        "message": error.message,
        "details": error.details,
        "requestId": _request_id(app),
    }
    return Response(
        status_code=error.status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body)
    )


def _request_id(app: APIGatewayRestResolver) -> str | None:
    try:
        return app.current_event.request_context.request_id
    except (AttributeError, KeyError, TypeError):
        return None


def _field_name(location: tuple[Any, ...]) -> str:
    # Powertools reports e.g. ("body", "email") or ("query", "limit").
    return ".".join(str(part) for part in location)


def validation_error(error: RequestValidationError) -> ApiError:
    problems = error.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return ApiError(HTTPStatus.BAD_REQUEST, "MalformedJson", "Request body is not valid JSON")
    details = [{"field": _field_name(p.get("loc", ())), "message": p.get("msg", "")} for p in problems]
    fields = ", ".join(d["field"] for d in details)
    return ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "ValidationError", f"Invalid request: {fields}", details)


# How a client authenticates: API Gateway's Cognito authorizer reads the raw ID token from this header.
# Plain data: Powertools validates it into its OpenAPI models only when a spec is generated; importing
# those ~45 pydantic models at init would cost every cold start ~100 ms.
SECURITY_SCHEMES: dict[str, Any] = {
    "CognitoUserPool": {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "An ID token issued by the service's Cognito user pool (the raw JWT).",
    }
}


# The stage's allowed browser origins (cdk.json stages.<stage>.corsAllowOrigins), comma-separated.
CORS_ALLOW_ORIGINS = "CORS_ALLOW_ORIGINS"
# An origin as browsers send it: scheme://host[:port], lower case, no path and no trailing slash
# (the same pattern as stacks/config.py checks at synth; a test pins them equal).
_ORIGIN = re.compile(r"https?://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:]+\])(?::[0-9]{1,5})?")


class InvalidCorsOriginsError(ValueError):
    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"{CORS_ALLOW_ORIGINS}={value!r}: {reason}")


def allowed_origins() -> list[str]:
    """The allowed origins from the environment; missing or malformed fails at init, naming the variable."""
    value = require_env(CORS_ALLOW_ORIGINS)
    origins = [origin.strip() for origin in value.split(",")]
    if origins == ["*"]:
        return origins
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            reason = (
                "'*' must stand alone"
                if origin == "*"
                else f"{origin!r} is not an origin like https://app.example.com"
            )
            raise InvalidCorsOriginsError(value, reason)
    return origins


def cors_config(origins: list[str]) -> CORSConfig:
    """Powertools CORS: an allowed Origin is echoed back (`*` when every origin is allowed)."""
    return CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Location"],
    )


class ServiceResolver(APIGatewayRestResolver):
    """APIGatewayRestResolver whose responses say `Vary: Origin` when the allowed origins are listed.

    Powertools echoes an allowed Origin but sends no Vary; a cache must not serve one origin's response
    (with, or without, Access-Control-Allow-Origin) to another, so every response says it varies.
    https://fetch.spec.whatwg.org/#cors-protocol-and-http-caches
    """

    def __init__(self, origins: list[str]) -> None:
        super().__init__(enable_validation=True, cors=cors_config(origins))
        self._vary_origin = origins != ["*"]

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        response = super().resolve(event, context)
        if self._vary_origin:
            headers = response.setdefault("multiValueHeaders", {})
            vary = next((name for name in headers if name.lower() == "vary"), "Vary")
            if "origin" not in (value.lower() for value in headers.get(vary, [])):
                headers[vary] = [*headers.get(vary, []), "Origin"]
        return response


def create_resolver(logger: Logger) -> APIGatewayRestResolver:
    """A REST resolver with request validation, CORS for the stage's origins, the shared JSON error contract
    and the security scheme."""
    app = ServiceResolver(allowed_origins())
    app.configure_openapi(security_schemes=SECURITY_SCHEMES, security=[{"CognitoUserPool": []}])

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(app, error)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        return error_response(app, validation_error(error))

    @app.not_found
    def _unknown_route(_: NotFoundError) -> Response:
        event = app.current_event
        return error_response(
            app,
            ApiError(HTTPStatus.NOT_FOUND, "RouteNotFound", f"No route for {event.http_method} {event.path}"),
        )

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("Unhandled error")
        return error_response(
            app, ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "InternalError", "Internal server error")
        )

    return app
