"""Daily report: aggregates one UTC day's orders into ReportsBucket reports/YYYY-MM-DD.json.

Scheduled by EventBridge for the previous day; `{"date": "YYYY-MM-DD"}` re-runs a past day. The
report is written only after every order of the day was read and aggregated; a re-run overwrites it
with the same content for the same orders.
"""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from report import aggregate, orders_of, report_day
from service_common.aws import client
from service_common.env import require_env
from service_common.tracing import TRACED_MODULES

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
ORDERS_TABLE = require_env("ORDERS_TABLE_NAME")
ORDERS_BY_DATE_INDEX = require_env("ORDERS_BY_DATE_INDEX")
REPORTS_BUCKET = require_env("REPORTS_BUCKET_NAME")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    day = report_day(event)
    report = aggregate(day, orders_of(ORDERS_TABLE, ORDERS_BY_DATE_INDEX, day))
    key = f"reports/{day.isoformat()}.json"
    client("s3").put_object(
        Bucket=REPORTS_BUCKET,
        Key=key,
        Body=json.dumps(report, indent=2, sort_keys=True).encode(),
        ContentType="application/json",
    )
    logger.info("Report written", extra={"key": key, "orderCount": report["orderCount"]})
    metrics.add_metric(name="ReportOrders", unit=MetricUnit.Count, value=report["orderCount"])
    return {"key": key, "orderCount": report["orderCount"], "revenue": report["revenue"]}
