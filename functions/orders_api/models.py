"""Request shapes of the orders API (the response is service_common.orders.Order)."""

from pydantic import BaseModel, ConfigDict, Field
from service_common.orders import OrderItem


class RequestedItem(OrderItem):
    """An item as a client sends it: JSON numbers only (strict: `true` or "3" is not a quantity)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class OrderFields(BaseModel):
    """What a client sends to place an order; it is always the caller's own (userId: the token's sub)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    items: list[RequestedItem] = Field(min_length=1, max_length=50)
