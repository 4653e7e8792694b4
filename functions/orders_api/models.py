"""Request shapes of the orders API (the response is service_common.orders.Order)."""

# ruff: noqa: N815 (field names are the API's camelCase names)

from pydantic import BaseModel, ConfigDict, Field
from service_common.orders import OrderItem


class OrderFields(BaseModel):
    """What a client sends to place an order."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    userId: str = Field(min_length=1, max_length=64)
    items: list[OrderItem] = Field(min_length=1, max_length=50)
