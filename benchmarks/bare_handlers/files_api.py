"""GET /files: DynamoDB Query on FilesTable's by-user index, newest first (as files_api)."""

import json
import os

import boto3

TABLE = os.environ["FILES_TABLE_NAME"]
INDEX = os.environ["FILES_BY_USER_INDEX"]
dynamodb = boto3.client("dynamodb")


def lambda_handler(event, context):
    user_id = event["requestContext"]["authorizer"]["claims"]["sub"]
    page = dynamodb.query(
        TableName=TABLE,
        IndexName=INDEX,
        KeyConditionExpression="userId = :u",
        ExpressionAttributeValues={":u": {"S": user_id}},
        ScanIndexForward=False,
        Limit=20,
    )
    items = [{k: next(iter(v.values())) for k, v in item.items()} for item in page["Items"]]
    return {"statusCode": 200, "body": json.dumps({"items": items})}
