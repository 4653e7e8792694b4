"""The user's view of their orders on UsersTable: orderCount, lastOrderId, lastOrderAt."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from service_common.aws import client, to_attributes
from service_common.orders import OrderCreated

_COUNT = "orderCount = if_not_exists(orderCount, :zero) + :one"
_USER_EXISTS = "attribute_exists(userId)"


def _conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class UserOrders:
    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def _update(self, user_id: str, expression: str, condition: str, values: dict[str, Any]) -> bool:
        try:
            client("dynamodb").update_item(
                TableName=self._table_name,
                Key=to_attributes({"userId": user_id}),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=to_attributes({":zero": 0, ":one": 1, **values}),
            )
        except ClientError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def record(self, order: OrderCreated) -> str:
        """Count the order on its user; events may arrive out of order, so the last order only moves
        forward. Returns "latest", "counted" (an older order) or "no-user" (nothing to update)."""
        if self._update(
            order.userId,
            f"SET {_COUNT}, lastOrderId = :orderId, lastOrderAt = :at",
            f"{_USER_EXISTS} AND (attribute_not_exists(lastOrderAt) OR lastOrderAt < :at)",
            {":orderId": order.orderId, ":at": order.createdAt},
        ):
            return "latest"
        if self._update(order.userId, f"SET {_COUNT}", _USER_EXISTS, {}):
            return "counted"
        return "no-user"
