"""boto3 clients and resources created lazily, once per container, and reused while warm."""

from functools import cache
from typing import Any

import boto3


@cache
def client(service: str) -> Any:
    return boto3.client(service)


@cache
def dynamodb_table(name: str) -> Any:
    return boto3.resource("dynamodb").Table(name)
