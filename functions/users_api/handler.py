"""Users API: CRUD on UsersTable behind API Gateway (REST proxy) with the Cognito authorizer.

A user's record is keyed by their token's `sub`: POST /users creates the caller's own record.
"""

from http import HTTPStatus
from typing import Annotated

from access import check_can_change, check_can_list, check_can_read
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from models import User, UserFields, UserPage
from service_common.api import create_resolver, documented_responses
from service_common.env import require_env
from service_common.identity import current_caller
from service_common.links import link
from service_common.pagination import PageTokens
from service_common.tracing import TRACED_MODULES
from store import UsersStore

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
app = create_resolver(logger)
users = UsersStore(require_env("USERS_TABLE_NAME"), PageTokens())

UserId = Annotated[str, Path(min_length=1, max_length=64, description="The user's id")]


@app.post(
    "/users", responses=documented_responses(201, User, "Created: the caller's own record", errors=(400, 409))
)
@tracer.capture_method
def create_user(fields: Annotated[UserFields, Body()]) -> Response[User]:
    user = users.create(current_caller(app).user_id, fields)
    metrics.add_metric(name="UserCreated", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type=content_types.APPLICATION_JSON,
        body=user,
        headers={"Location": link(app.current_event, f"/users/{user.userId}")},
    )


@app.get(
    "/users",
    responses=documented_responses(200, UserPage, "A page of users (admins only)", errors=(400, 403)),
)
@tracer.capture_method
def list_users(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    nextToken: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,  # noqa: N803 (API name)
) -> UserPage:
    caller = current_caller(app)
    check_can_list(caller)
    return users.list_page(limit, nextToken, {"listing": "users", "caller": caller.user_id})


@app.get(
    "/users/<userId>",
    responses=documented_responses(200, User, "The user (own record, or any for admins)", errors=(403, 404)),
)
@tracer.capture_method
def get_user(userId: UserId) -> User:  # noqa: N803 (API name)
    check_can_read(current_caller(app), userId)
    return users.get(userId)


@app.put(
    "/users/<userId>",
    responses=documented_responses(200, User, "The updated own record", errors=(400, 403, 404)),
)
@tracer.capture_method
def update_user(userId: UserId, fields: Annotated[UserFields, Body()]) -> User:  # noqa: N803
    check_can_change(current_caller(app), userId)
    return users.update(userId, fields)


@app.delete(
    "/users/<userId>", responses=documented_responses(204, None, "Deleted own record", errors=(403, 404))
)
@tracer.capture_method
def delete_user(userId: UserId) -> Response[None]:  # noqa: N803 (API name)
    check_can_change(current_caller(app), userId)
    users.delete(userId)
    metrics.add_metric(name="UserDeleted", unit=MetricUnit.Count, value=1)
    return Response(status_code=HTTPStatus.NO_CONTENT)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
