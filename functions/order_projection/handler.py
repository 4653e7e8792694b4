"""Order projection: OrderCreated (OrdersBus) → the user's order count and last order, once per orderId.

An invalid event or an AWS error raises: Lambda retries the async invocation, then dead-letters it.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from service_common.env import require_env
from service_common.idempotency import order_idempotency
from service_common.orders import OrderCreated
from service_common.tracing import TRACED_MODULES
from users import UserOrders

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
user_orders = UserOrders(require_env("USERS_TABLE_NAME"))
persistence, idempotency = order_idempotency()


class UnknownUserError(LookupError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"User {user_id} does not exist; the event is retried, then dead-lettered")


class OrderCreatedEvent(EventBridgeModel):
    detail: OrderCreated  # type: ignore[assignment]


@idempotent_function(data_keyword_argument="order", config=idempotency, persistence_store=persistence)
def project(order: OrderCreated) -> dict:
    outcome = user_orders.record(order)
    if outcome == "no-user":
        # Raising (not returning) keeps the event: Lambda retries it, then dead-letters it, and the
        # idempotency record is released so a retry after the user appears is projected.
        logger.warning("Unknown user: order not projected", order_id=order.orderId, user_id=order.userId)
        metrics.add_metric(name="OrderForUnknownUser", unit=MetricUnit.Count, value=1)
        raise UnknownUserError(order.userId)
    return {"orderId": order.orderId, "outcome": outcome}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@event_parser(model=OrderCreatedEvent)
def lambda_handler(event: OrderCreatedEvent, context: LambdaContext) -> dict:
    idempotency.register_lambda_context(context)
    return project(order=event.detail)
