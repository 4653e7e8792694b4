"""SQS batch: per record the idempotency record (PutItem, then UpdateItem), the order (PutItem) and
OrderCreated (PutEvents), as order_processor does through Powertools."""

import json
import os
import time

import boto3

ORDERS = os.environ["ORDERS_TABLE_NAME"]
IDEMPOTENCY = os.environ["IDEMPOTENCY_TABLE_NAME"]
BUS = os.environ["EVENT_BUS_NAME"]
dynamodb = boto3.client("dynamodb")
events = boto3.client("events")


def lambda_handler(event, context):
    failures = []
    for record in event["Records"]:
        try:
            order = json.loads(record["body"])
            key = {"id": {"S": f"{context.function_name}.process_order#{order['orderId']}"}}
            expires = str(int(time.time()) + 86400)
            dynamodb.put_item(
                TableName=IDEMPOTENCY,
                Item={**key, "expiration": {"N": expires}, "status": {"S": "INPROGRESS"}},
                ConditionExpression="attribute_not_exists(id)",
            )
            dynamodb.put_item(
                TableName=ORDERS,
                Item={
                    "orderId": {"S": order["orderId"]},
                    "userId": {"S": order["userId"]},
                    "totalCents": {"N": str(order["totalCents"])},
                    "status": {"S": "CONFIRMED"},
                    "createdAt": {"S": order["createdAt"]},
                    "orderDate": {"S": order["createdAt"][:10]},
                },
                ConditionExpression="attribute_not_exists(orderId)",
            )
            detail = {k: order[k] for k in ("orderId", "userId", "totalCents", "createdAt")}
            events.put_events(
                Entries=[
                    {
                        "EventBusName": BUS,
                        "Source": "orders",
                        "DetailType": "OrderCreated",
                        "Detail": json.dumps(detail),
                    }
                ]
            )
            dynamodb.update_item(
                TableName=IDEMPOTENCY,
                Key=key,
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": "COMPLETED"}},
            )
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
