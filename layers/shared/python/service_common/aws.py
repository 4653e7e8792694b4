"""boto3 clients created lazily, once per container, and reused while warm.

DynamoDB is used through the low-level client (with boto3's attribute serializer), not `boto3.resource`:
- one DynamoDB client per container, shared with Powertools' idempotency layer, which takes a client;
  a resource builds a client of its own and loads the resource model: dropping it took 30-60 ms off each
  function's cold start (`make bench`, cold-start section, before and after: the same code as in Lambda);
- boto3's resource interface gets no new features: "The AWS Python SDK team does not intend to add new
  features to the resources interface in boto3 ... newer service features through the client interface"
  (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/resources.html).
"""

from collections.abc import Mapping
from functools import cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


@cache
def client(service: str) -> Any:
    return boto3.client(service)


@cache
def s3_presigner() -> Any:
    # SigV4 presigned URLs; addressing follows the SDK default (virtual-hosted on AWS). Created once.
    return boto3.client("s3", config=Config(signature_version="s3v4"))


def to_attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values (str, int, Decimal, bool, None, list, dict, set) as DynamoDB attribute values, e.g. an
    Item, a Key or ExpressionAttributeValues for the low-level client. A float is refused (TypeError): use
    int or Decimal, as DynamoDB numbers are exact."""
    return {name: _SERIALIZER.serialize(value) for name, value in values.items()}


def from_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values (an Item, a LastEvaluatedKey) as Python values; numbers are Decimal."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}
