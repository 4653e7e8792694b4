"""S3 ObjectCreated: HeadObject, then PutItem on FilesTable (as upload_indexer)."""

import os
from urllib.parse import unquote_plus

import boto3

FILES = os.environ["FILES_TABLE_NAME"]
s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")


def lambda_handler(event, context):
    for record in event["Records"]:
        bucket, key = record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])
        head = s3.head_object(Bucket=bucket, Key=key)
        dynamodb.put_item(
            TableName=FILES,
            Item={
                "fileKey": {"S": key},
                "bucket": {"S": bucket},
                "size": {"N": str(head["ContentLength"])},
                "sequencer": {"S": record["s3"]["object"]["sequencer"]},
            },
        )
    return {"processed": len(event["Records"])}
