"""Orders API: POST /orders queues the caller's order (202), GET /orders lists processed orders (newest
first), GET /orders/{orderId} reads one."""

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from models import OrderFields, OrderPage
from service_common.api import create_resolver, documented_responses
from service_common.env import require_env
from service_common.identity import current_caller, forbidden
from service_common.links import link
from service_common.orders import Order, OrderStatus
from service_common.pagination import PageTokens
from service_common.tracing import TRACED_MODULES
from store import OrdersStore

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
app = create_resolver(logger)
orders = OrdersStore(
    require_env("ORDERS_TABLE_NAME"),
    require_env("ORDERS_QUEUE_URL"),
    by_user_index=require_env("ORDERS_BY_USER_INDEX"),
    tokens=PageTokens(),
)

OrderId = Annotated[str, Path(min_length=1, max_length=64, description="The order's id")]


@app.post(
    "/orders",
    responses=documented_responses(
        202, Order, "Accepted: the order is queued; GET its Location once processed", errors=(400,)
    ),
)
@tracer.capture_method
def create_order(fields: Annotated[OrderFields, Body()]) -> Response[Order]:
    order = orders.accept(current_caller(app).user_id, fields)
    metrics.add_metric(name="OrderAccepted", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=order,
        headers={"Location": link(app.current_event, f"/orders/{order.orderId}")},
    )


@app.get(
    "/orders",
    responses=documented_responses(
        200, OrderPage, "A page of processed orders, newest first (own, or any user's for admins)", (400, 403)
    ),
)
@tracer.capture_method
def list_orders(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    nextToken: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,  # noqa: N803 (API name)
    status: Annotated[OrderStatus | None, Query(description="Only orders in this status")] = None,
    userId: Annotated[  # noqa: N803 (API name)
        str | None, Query(min_length=1, max_length=64, description="Whose orders (admins only; default: own)")
    ] = None,
) -> OrderPage:
    caller = current_caller(app)
    user_id = userId or caller.user_id
    if user_id != caller.user_id and not caller.is_admin:
        raise forbidden("Only admins may list another user's orders")
    return orders.list_page(caller, user_id, status, limit, nextToken)


@app.get(
    "/orders/<orderId>",
    responses=documented_responses(200, Order, "The order (own orders, or any for admins)", errors=(404,)),
)
@tracer.capture_method
def get_order(orderId: OrderId) -> Order:  # noqa: N803 (API name)
    return orders.get(orderId, current_caller(app))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
