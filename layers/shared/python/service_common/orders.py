"""The order as it travels through the service: API → queue → OrdersTable, and the OrderCreated event."""

# ruff: noqa: N815 (field names are the API's and the event's camelCase names)

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service_common.text import TrimmedText

# EventBridge `source` and `detail-type` of the event order_processor publishes (matched by the rule).
EVENT_SOURCE = "orders"
ORDER_CREATED = "OrderCreated"

OrderStatus = Literal["ACCEPTED", "CONFIRMED"]


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: TrimmedText = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=1000)
    unitPriceCents: int = Field(ge=0, le=10_000_000, description="Price of one unit, in cents")


class Order(BaseModel):
    """An accepted order: the queue message body, the OrdersTable item and the API's response."""

    model_config = ConfigDict(extra="ignore")

    orderId: str
    userId: str
    items: list[OrderItem] = Field(min_length=1)
    totalCents: int = Field(ge=0)
    status: OrderStatus
    createdAt: str
    # Set when order_processor stores the order: the UTC day (YYYY-MM-DD) the daily report groups by.
    orderDate: str | None = None
    confirmedAt: str | None = None


class OrderCreated(BaseModel):
    """The detail of an OrderCreated event."""

    orderId: str
    userId: str
    totalCents: int
    createdAt: str

    @classmethod
    def of(cls, order: Order) -> OrderCreated:
        return cls(
            orderId=order.orderId, userId=order.userId, totalCents=order.totalCents, createdAt=order.createdAt
        )
