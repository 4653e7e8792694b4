"""OrderCreated: idempotency record (PutItem, UpdateItem) and the user's order count (UpdateItem),
as order_projection does through Powertools."""

import os
import time

import boto3

USERS = os.environ["USERS_TABLE_NAME"]
IDEMPOTENCY = os.environ["IDEMPOTENCY_TABLE_NAME"]
dynamodb = boto3.client("dynamodb")


def lambda_handler(event, context):
    detail = event["detail"]
    key = {"id": {"S": f"{context.function_name}.project#{detail['orderId']}"}}
    dynamodb.put_item(
        TableName=IDEMPOTENCY,
        Item={**key, "expiration": {"N": str(int(time.time()) + 86400)}, "status": {"S": "INPROGRESS"}},
        ConditionExpression="attribute_not_exists(id)",
    )
    dynamodb.update_item(
        TableName=USERS,
        Key={"userId": {"S": detail["userId"]}},
        UpdateExpression="SET orderCount = if_not_exists(orderCount, :zero) + :one, lastOrderId = :id",
        ConditionExpression="attribute_exists(userId)",
        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}, ":id": {"S": detail["orderId"]}},
    )
    dynamodb.update_item(
        TableName=IDEMPOTENCY,
        Key=key,
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "COMPLETED"}},
    )
    return {"orderId": detail["orderId"], "outcome": "latest"}
