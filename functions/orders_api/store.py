"""Orders: accepted onto OrdersQueue (processed asynchronously), read back from OrdersTable."""

from __future__ import annotations

import uuid

from models import OrderFields
from service_common.api import ResourceNotFoundError
from service_common.aws import client, dynamodb_table
from service_common.clock import utc_now
from service_common.identity import Caller
from service_common.orders import Order


class OrdersStore:
    def __init__(self, table_name: str, queue_url: str) -> None:
        self._table_name = table_name
        self._queue_url = queue_url

    def accept(self, user_id: str, fields: OrderFields) -> Order:
        """Queue a new order of `user_id`; order_processor stores it in OrdersTable and announces it."""
        order = Order(
            orderId=str(uuid.uuid4()),
            userId=user_id,
            items=fields.items,
            totalCents=sum(item.quantity * item.unitPriceCents for item in fields.items),
            status="ACCEPTED",
            createdAt=utc_now(),
        )
        client("sqs").send_message(QueueUrl=self._queue_url, MessageBody=order.model_dump_json())
        return order

    def get(self, order_id: str, caller: Caller) -> Order:
        """The order if the caller placed it (or is an admin); someone else's order is "not found"."""
        item = dynamodb_table(self._table_name).get_item(Key={"orderId": order_id}).get("Item")
        # 404, not 403: order ids must not reveal that another user's order exists.
        if item is None or (item.get("userId") != caller.user_id and not caller.is_admin):
            raise ResourceNotFoundError("Order", order_id)
        return Order.model_validate(item)
