"""POST /uploads: a presigned S3 PUT URL (no AWS call, a local signature), as uploads_api."""

import json
import os
import uuid

import boto3
from botocore.config import Config

BUCKET = os.environ["UPLOADS_BUCKET_NAME"]
EXPIRY = int(os.environ["PRESIGN_EXPIRY_SECONDS"])
s3 = boto3.client("s3", config=Config(signature_version="s3v4"))


def lambda_handler(event, context):
    request = json.loads(event["body"])
    user_id = event["requestContext"]["authorizer"]["claims"]["sub"]
    key = f"uploads/{user_id}/{uuid.uuid4()}-{request['fileName']}"
    url = s3.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": BUCKET,
            "Key": key,
            "ContentType": request["contentType"],
            "ContentLength": request["size"],
        },
        ExpiresIn=EXPIRY,
        HttpMethod="PUT",
    )
    return {"statusCode": 201, "body": json.dumps({"key": key, "uploadUrl": url})}
