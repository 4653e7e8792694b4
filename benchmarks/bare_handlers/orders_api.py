"""POST /orders: SQS SendMessage on OrdersQueue (as orders_api)."""

import json
import os
import uuid
from datetime import UTC, datetime

import boto3

QUEUE_URL = os.environ["ORDERS_QUEUE_URL"]
sqs = boto3.client("sqs")


def lambda_handler(event, context):
    fields = json.loads(event["body"])
    order = {
        "orderId": str(uuid.uuid4()),
        "userId": event["requestContext"]["authorizer"]["claims"]["sub"],
        "items": fields["items"],
        "totalCents": sum(i["quantity"] * i["unitPriceCents"] for i in fields["items"]),
        "status": "ACCEPTED",
        "createdAt": datetime.now(UTC).isoformat(),
    }
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps(order))
    return {"statusCode": 202, "body": json.dumps(order)}
