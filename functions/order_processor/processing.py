"""What processing an order does: store it in OrdersTable once, then publish OrderCreated."""

from __future__ import annotations

from botocore.exceptions import ClientError
from service_common.aws import client, to_attributes
from service_common.clock import utc_now
from service_common.orders import EVENT_SOURCE, ORDER_CREATED, Order, OrderCreated


class EventNotPublishedError(RuntimeError):
    """EventBridge rejected the entry; the record fails and the message is received again."""


class OrderProcessing:
    def __init__(self, table_name: str, bus_name: str) -> None:
        self._table_name = table_name
        self._bus_name = bus_name

    def store(self, order: Order) -> bool:
        """Write the order as CONFIRMED; False when it is already stored (a retry after a later failure).

        `orderDate` (the UTC day of createdAt) is the key of OrdersTable's byOrderDate index.
        """
        confirmed = {"status": "CONFIRMED", "orderDate": order.createdAt[:10], "confirmedAt": utc_now()}
        item = order.model_copy(update=confirmed).model_dump()
        try:
            client("dynamodb").put_item(
                TableName=self._table_name,
                Item=to_attributes(item),
                ConditionExpression="attribute_not_exists(orderId)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def announce(self, order: Order) -> str:
        """PutEvents OrderCreated on the orders bus; returns the event id."""
        response = client("events").put_events(
            Entries=[
                {
                    "EventBusName": self._bus_name,
                    "Source": EVENT_SOURCE,
                    "DetailType": ORDER_CREATED,
                    "Detail": OrderCreated.of(order).model_dump_json(),
                }
            ]
        )
        (entry,) = response["Entries"]
        if response.get("FailedEntryCount") or "EventId" not in entry:
            raise EventNotPublishedError(
                f"OrderCreated for {order.orderId}: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
            )
        return entry["EventId"]
