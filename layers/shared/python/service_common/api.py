"""The HTTP error contract shared by every API function.

Every error response is JSON: {"error": <code>, "message": <text>, "details": [...], "requestId": <id>}.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError


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


def create_resolver(logger: Logger) -> APIGatewayRestResolver:
    """A REST resolver with request validation and the shared JSON error contract."""
    app = APIGatewayRestResolver(enable_validation=True)

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
