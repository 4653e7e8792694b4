"""daily_report against moto: GSI query only, exact aggregates, explicit dates, no write on failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType

import boto3
import pytest
from moto import mock_aws

from tests.conftest import load_function
from tests.events import LambdaContext, scheduled_event

TABLE = "orders-test-orders"
INDEX = "byOrderDate"
BUCKET = "orders-test-reports"
DAY = "2025-03-14"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        boto3.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        boto3.client("dynamodb").create_table(  # as the data stack defines OrdersTable
            TableName=TABLE,
            KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "orderId", "AttributeType": "S"},
                {"AttributeName": "orderDate", "AttributeType": "S"},
                {"AttributeName": "createdAt", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": INDEX,
                    "KeySchema": [
                        {"AttributeName": "orderDate", "KeyType": "HASH"},
                        {"AttributeName": "createdAt", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield


@pytest.fixture
def handler(aws, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("ORDERS_TABLE_NAME", TABLE)
    monkeypatch.setenv("ORDERS_BY_DATE_INDEX", INDEX)
    monkeypatch.setenv("REPORTS_BUCKET_NAME", BUCKET)
    return load_function("daily_report")


def order(order_id: str, day: str, time: str, items: list[tuple[str, int, str]], status: str = "CONFIRMED"):
    lines = [
        {"sku": sku, "quantity": qty, "unitPriceCents": int(Decimal(price) * 100)}
        for sku, qty, price in items
    ]
    return {
        "orderId": order_id,
        "userId": "user-1",
        "items": lines,
        "totalCents": sum(line["quantity"] * line["unitPriceCents"] for line in lines),
        "orderDate": day,
        "createdAt": f"{day}T{time}Z",
        "status": status,
    }


def seed(*orders: dict) -> None:
    table = boto3.resource("dynamodb").Table(TABLE)
    for item in orders:
        table.put_item(Item=item)


def seed_the_day() -> None:
    seed(
        order("o-1", DAY, "00:00:00.000", [("SKU-A", 2, "9.99"), ("SKU-B", 1, "100.00")]),
        order("o-2", DAY, "12:30:00.000", [("SKU-A", 3, "9.99")], status="SHIPPED"),
        order("o-3", DAY, "23:59:59.999", [("SKU-C", 1, "0.01"), ("SKU-B", 1, "100.00")]),
        # Other days: must not be counted.
        order("o-4", "2025-03-13", "23:59:59.999", [("SKU-A", 50, "9.99")]),
        order("o-5", "2025-03-15", "00:00:00.000", [("SKU-Z", 7, "1.00")]),
    )


def reports() -> dict[str, dict]:
    s3 = boto3.client("s3")
    keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) for key in keys}


def record_dynamodb_calls() -> list[tuple[str, dict]]:
    """Every DynamoDB operation the function's (cached) client makes, with its parameters."""
    from service_common.aws import client

    calls: list[tuple[str, dict]] = []

    def record(params: dict, model, **_) -> None:
        calls.append((model.name, params))

    client("dynamodb").meta.events.register("provide-client-params.dynamodb.*", record)
    return calls


def test_the_scheduled_run_reports_the_previous_utc_day_with_exact_aggregates(handler):
    seed_the_day()
    calls = record_dynamodb_calls()

    result = handler.lambda_handler(scheduled_event("2025-03-15T02:00:00Z"), LambdaContext())

    assert result == {"key": f"reports/{DAY}.json", "orderCount": 3, "revenue": "249.96"}
    assert reports() == {
        f"reports/{DAY}.json": {
            "date": DAY,
            "orderCount": 3,
            # 2*9.99 + 100.00 + 3*9.99 + 0.01 + 100.00
            "revenue": "249.96",
            "unitsSold": 8,
            "ordersByStatus": {"CONFIRMED": 2, "SHIPPED": 1},
            "topSkus": [
                {"sku": "SKU-A", "quantity": 5, "revenue": "49.95"},
                {"sku": "SKU-B", "quantity": 2, "revenue": "200.00"},
                {"sku": "SKU-C", "quantity": 1, "revenue": "0.01"},
            ],
        }
    }
    assert [name for name, _ in calls] == ["Query"]  # no Scan, no GetItem: one query on the index
    assert calls[0][1]["IndexName"] == INDEX
    assert calls[0][1]["TableName"] == TABLE


def test_the_report_object_is_json(handler):
    seed_the_day()
    handler.lambda_handler(scheduled_event("2025-03-15T02:00:00Z"), LambdaContext())

    head = boto3.client("s3").head_object(Bucket=BUCKET, Key=f"reports/{DAY}.json")
    assert head["ContentType"] == "application/json"


def test_a_day_without_orders_gets_an_empty_report(handler):
    handler.lambda_handler({"date": "2025-01-01"}, LambdaContext())

    assert reports()["reports/2025-01-01.json"] == {
        "date": "2025-01-01",
        "orderCount": 0,
        "revenue": "0.00",
        "unitsSold": 0,
        "ordersByStatus": {},
        "topSkus": [],
    }


def test_an_explicit_date_re_runs_that_day(handler):
    seed_the_day()

    result = handler.lambda_handler({"date": "2025-03-13"}, LambdaContext())

    assert result == {"key": "reports/2025-03-13.json", "orderCount": 1, "revenue": "499.50"}
    assert list(reports()) == ["reports/2025-03-13.json"]


def test_a_re_run_overwrites_the_days_report_idempotently(handler):
    seed_the_day()
    handler.lambda_handler({"date": DAY}, LambdaContext())
    first = reports()
    handler.lambda_handler({"date": DAY}, LambdaContext())
    assert reports() == first

    seed(order("o-6", DAY, "13:00:00.000", [("SKU-C", 9, "0.01")]))
    handler.lambda_handler({"date": DAY}, LambdaContext())

    report = reports()[f"reports/{DAY}.json"]
    assert (report["orderCount"], report["revenue"]) == (4, "250.05")
    assert report["topSkus"][0] == {"sku": "SKU-C", "quantity": 10, "revenue": "0.10"}


def test_top_skus_are_the_ten_best_sellers_ties_by_sku(handler):
    seed(
        *(order(f"o-{n}", DAY, f"10:00:{n:02d}.000", [(f"SKU-{n:02d}", 1 + n // 3, "1")]) for n in range(12))
    )

    handler.lambda_handler({"date": DAY}, LambdaContext())

    report = reports()[f"reports/{DAY}.json"]

    assert [s["sku"] for s in report["topSkus"]] == [
        "SKU-09", "SKU-10", "SKU-11", "SKU-06", "SKU-07", "SKU-08", "SKU-03", "SKU-04", "SKU-05", "SKU-00",
    ]  # fmt: skip


def test_nothing_is_written_when_the_aggregation_fails(handler):
    seed_the_day()
    broken = order("o-bad", DAY, "18:00:00.000", [("SKU-A", 1, "9.99")])
    broken["items"][0]["quantity"] = "lots"
    seed(broken)

    with pytest.raises(ValueError, match="quantity"):
        handler.lambda_handler({"date": DAY}, LambdaContext())

    assert reports() == {}


def test_nothing_is_written_when_reading_the_orders_fails(handler):
    seed_the_day()
    boto3.client("dynamodb").delete_table(TableName=TABLE)

    with pytest.raises(Exception, match="ResourceNotFoundException"):
        handler.lambda_handler({"date": DAY}, LambdaContext())

    assert reports() == {}


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("2025-02-30", "calendar date as YYYY-MM-DD"),
        ("14-03-2025", "calendar date as YYYY-MM-DD"),
        ("2025-3-14", "calendar date as YYYY-MM-DD"),
        (20250314, "calendar date as YYYY-MM-DD"),
        ("2999-01-01", "not a past day"),
    ],
)
def test_a_bad_date_is_a_clear_error_and_writes_nothing(handler, date, message):
    with pytest.raises(ValueError, match=message) as raised:
        handler.lambda_handler({"date": date}, LambdaContext())

    assert type(raised.value).__name__ == "InvalidReportDateError"

    assert reports() == {}
