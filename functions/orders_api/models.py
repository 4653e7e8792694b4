"""Request shapes of the orders API and its page of orders (an order is service_common.orders.Order)."""

from pydantic import BaseModel, ConfigDict, Field
from service_common.orders import Order, OrderItem


class RequestedItem(OrderItem):
    """An item as a client sends it: JSON numbers only (strict: `true` or "3" is not a quantity)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class OrderFields(BaseModel):
    """What a client sends to place an order; it is always the caller's own (userId: the token's sub)."""

    model_config = ConfigDict(extra="forbid")

    items: list[RequestedItem] = Field(min_length=1, max_length=50)


class OrderPage(BaseModel):
    items: list[Order]
    nextToken: str | None = Field(  # noqa: N815 (API field name)
        default=None, description="Pass as `nextToken` to get the next page (the same filters required)"
    )
