"""The daily orders report: which day, reading that day's orders from the GSI, and the aggregates."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from service_common.aws import client, from_attributes, to_attributes

TOP_SKUS = 10
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class InvalidReportDateError(ValueError):
    """The event asked for a day that is not a valid past date (YYYY-MM-DD)."""


class LineItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    unitPriceCents: int = Field(ge=0)  # noqa: N815 (API field name)


class Order(BaseModel):
    """The attributes of an OrdersTable item the report reads."""

    model_config = ConfigDict(extra="ignore")
    orderId: str  # noqa: N815 (API field name)
    totalCents: int = Field(ge=0)  # noqa: N815 (API field name)
    status: str
    items: list[LineItem]


def report_day(event: dict[str, Any], now: datetime | None = None) -> date:
    """An explicit `date` (YYYY-MM-DD, a past day) or the UTC day before the scheduled event's time."""
    today = (now or datetime.now(UTC)).date()
    if "date" in event:
        raw = event["date"]
        try:
            if not isinstance(raw, str) or not _DATE.fullmatch(raw):
                raise ValueError
            day = date.fromisoformat(raw)
        except ValueError:
            raise InvalidReportDateError(f"date must be a calendar date as YYYY-MM-DD, got {raw!r}") from None
        if day >= today:
            raise InvalidReportDateError(f"date {raw} is not a past day (today is {today.isoformat()} UTC)")
        return day
    if "time" in event:  # EventBridge scheduled event: report on the day before it fired
        fired = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).astimezone(UTC)
        return fired.date() - timedelta(days=1)
    return today - timedelta(days=1)


def orders_of(table_name: str, index_name: str, day: date) -> Iterator[Order]:
    """Every order of `day`, page by page, from the by-date index (a Query: never a table scan)."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "IndexName": index_name,
        "KeyConditionExpression": "orderDate = :day",
        "ExpressionAttributeValues": to_attributes({":day": day.isoformat()}),
        "ProjectionExpression": "orderId, totalCents, #status, #items",
        "ExpressionAttributeNames": {"#status": "status", "#items": "items"},
    }
    while True:
        page = client("dynamodb").query(**request)
        for item in page["Items"]:
            yield Order.model_validate(from_attributes(item))
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _amount(cents: int) -> str:
    """Cents as an exact decimal amount string, e.g. 24996 -> "249.96"."""
    return format(Decimal(cents).scaleb(-2), "f")


def aggregate(day: date, orders: Iterable[Order]) -> dict[str, Any]:
    """Order count, revenue (sum of totals), units and revenue per SKU, the top SKUs by units sold."""
    count, revenue = 0, 0
    statuses: Counter[str] = Counter()
    units: Counter[str] = Counter()
    sku_revenue: Counter[str] = Counter()
    for order in orders:
        count += 1
        revenue += order.totalCents
        statuses[order.status] += 1
        for line in order.items:
            units[line.sku] += line.quantity
            sku_revenue[line.sku] += line.quantity * line.unitPriceCents
    ranked = sorted(units, key=lambda sku: (-units[sku], sku))[:TOP_SKUS]
    return {
        "date": day.isoformat(),
        "orderCount": count,
        "revenue": _amount(revenue),
        "unitsSold": sum(units.values()),
        "ordersByStatus": dict(sorted(statuses.items())),
        "topSkus": [
            {"sku": sku, "quantity": units[sku], "revenue": _amount(sku_revenue[sku])} for sku in ranked
        ],
    }
