"""boto3 clients and resources created lazily, once per container, and reused while warm."""

from functools import cache
from typing import Any

import boto3
from botocore.config import Config


@cache
def client(service: str) -> Any:
    return boto3.client(service)


@cache
def dynamodb_table(name: str) -> Any:
    return boto3.resource("dynamodb").Table(name)


@cache
def s3_presigner() -> Any:
    # SigV4 presigned URLs; addressing follows the SDK default (virtual-hosted on AWS). Created once.
    return boto3.client("s3", config=Config(signature_version="s3v4"))
