"""Order processor: OrdersQueue batches → OrdersTable + OrderCreated, once per orderId.

A record that fails (bad body, AWS error) is reported in batchItemFailures; only it is received again,
and after 3 receives SQS moves it to OrdersDLQ unchanged.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

# Imported before anything loads pydantic: Powertools' batch then skips loading its parser models.
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext
from processing import OrderProcessing
from service_common.env import require_env
from service_common.idempotency import order_idempotency
from service_common.orders import Order
from service_common.tracing import TRACED_MODULES

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
orders = OrderProcessing(require_env("ORDERS_TABLE_NAME"), require_env("EVENT_BUS_NAME"))
persistence, idempotency = order_idempotency()
batch = BatchProcessor(event_type=EventType.SQS)


@idempotent_function(data_keyword_argument="order", config=idempotency, persistence_store=persistence)
def process_order(order: Order) -> dict:
    stored = orders.store(order)
    event_id = orders.announce(order)
    metrics.add_metric(name="OrderCreated", unit=MetricUnit.Count, value=1)
    logger.info("Order processed", order_id=order.orderId, stored_now=stored, event_id=event_id)
    return {"orderId": order.orderId, "eventId": event_id}


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict:
    # An invalid body raises: the record is reported failed, received again, then dead-lettered.
    return process_order(order=Order.model_validate_json(record.body))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=batch, context=context
    )
