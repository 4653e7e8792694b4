"""GET /users/{userId}: DynamoDB GetItem on UsersTable (as users_api)."""

import json
import os

import boto3

TABLE = os.environ["USERS_TABLE_NAME"]
dynamodb = boto3.client("dynamodb")


def lambda_handler(event, context):
    user_id = event["pathParameters"]["userId"]
    item = dynamodb.get_item(TableName=TABLE, Key={"userId": {"S": user_id}}).get("Item")
    if item is None:
        return {"statusCode": 404, "body": json.dumps({"error": "NotFound"})}
    return {"statusCode": 200, "body": json.dumps({k: next(iter(v.values())) for k, v in item.items()})}
