"""Orders: accepted onto OrdersQueue (processed asynchronously), read back from OrdersTable."""

from __future__ import annotations

import uuid

from models import OrderFields, OrderPage
from service_common.api import ResourceNotFoundError
from service_common.aws import client, from_attributes, to_attributes
from service_common.clock import utc_now
from service_common.identity import Caller
from service_common.orders import Order, OrderStatus
from service_common.pagination import PageTokens, query_page


class OrdersStore:
    def __init__(self, table_name: str, queue_url: str, by_user_index: str, tokens: PageTokens) -> None:
        self._table_name = table_name
        self._queue_url = queue_url
        self._by_user_index = by_user_index
        self._tokens = tokens

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
        found = client("dynamodb").get_item(
            TableName=self._table_name, Key=to_attributes({"orderId": order_id})
        )
        item = from_attributes(found["Item"]) if "Item" in found else None
        # 404, not 403: order ids must not reveal that another user's order exists.
        if item is None or (item.get("userId") != caller.user_id and not caller.is_admin):
            raise ResourceNotFoundError("Order", order_id)
        return Order.model_validate(item)

    def list_page(
        self, caller: Caller, user_id: str, status: OrderStatus | None, limit: int, next_token: str | None
    ) -> OrderPage:
        """A page of `user_id`'s processed orders, newest first (access checked by the caller)."""
        # The token is only good for the same caller listing the same user with the same filter.
        scope = {"listing": "orders", "caller": caller.user_id, "userId": user_id, "status": status}
        request: dict = {
            "IndexName": self._by_user_index,
            "KeyConditionExpression": "userId = :user",
            "ExpressionAttributeValues": to_attributes({":user": user_id}),
            "ScanIndexForward": False,
        }
        if status:
            request["FilterExpression"] = "#status = :status"  # status is a DynamoDB reserved word
            request["ExpressionAttributeNames"] = {"#status": "status"}
            request["ExpressionAttributeValues"] |= to_attributes({":status": status})
        if next_token:
            request["ExclusiveStartKey"] = self._tokens.decode(next_token, scope)
        items, last_key = query_page(self._table_name, request, limit)
        return OrderPage(
            items=[Order.model_validate(item) for item in items],
            nextToken=self._tokens.encode(last_key, scope),
        )
