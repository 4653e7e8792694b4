"""Scheduled: Query OrdersTable's by-date index for yesterday, PutObject the report (as daily_report)."""

import json
import os
from datetime import UTC, datetime, timedelta

import boto3

ORDERS = os.environ["ORDERS_TABLE_NAME"]
INDEX = os.environ["ORDERS_BY_DATE_INDEX"]
REPORTS = os.environ["REPORTS_BUCKET_NAME"]
dynamodb = boto3.client("dynamodb")
s3 = boto3.client("s3")


def lambda_handler(event, context):
    fired = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).astimezone(UTC)
    day = (fired.date() - timedelta(days=1)).isoformat()
    count, revenue, request = (
        0,
        0,
        {
            "TableName": ORDERS,
            "IndexName": INDEX,
            "KeyConditionExpression": "orderDate = :d",
            "ExpressionAttributeValues": {":d": {"S": day}},
        },
    )
    while True:
        page = dynamodb.query(**request)
        for item in page["Items"]:
            count += 1
            revenue += int(item["totalCents"]["N"])
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    report = {"date": day, "orderCount": count, "revenue": revenue}
    key = f"reports/{day}.json"
    s3.put_object(Bucket=REPORTS, Key=key, Body=json.dumps(report).encode(), ContentType="application/json")
    return {"key": key, "orderCount": count}
