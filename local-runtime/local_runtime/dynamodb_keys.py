"""The `dynamodb:LeadingKeys` condition key of a DynamoDB request: the partition key values it touches on a
table (or on the index it queries), from the table's key schema in the template. A request that names no
partition key (Scan) does not set it, so, as in IAM, `ForAllValues:StringEquals` on it holds for a Scan
unless a `Null` condition forbids that.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
"""

from __future__ import annotations

import re
from typing import Any

from local_runtime.templates import App

_KEY = "dynamodb:LeadingKeys"
_EQUALS = re.compile(r"(#?[\w.]+)\s*=\s*(:\w+)|(:\w+)\s*=\s*(#?[\w.]+)")


class PartitionKeys:
    def __init__(self, hash_keys: dict[str, str]) -> None:
        # table name, or "table/index/name" -> its partition key attribute
        self.hash_keys = hash_keys

    @classmethod
    def from_app(cls, app: App) -> PartitionKeys:
        found: dict[str, str] = {}
        for stack, lid, resource in app.all_resources("AWS::DynamoDB::Table"):
            props = app.resolve(stack, resource.get("Properties", {}))
            table = app.physical_name(stack, lid)
            found[table] = _hash_key(props.get("KeySchema", []))
            for index in [*props.get("GlobalSecondaryIndexes", []), *props.get("LocalSecondaryIndexes", [])]:
                found[f"{table}/index/{index['IndexName']}"] = _hash_key(index.get("KeySchema", []))
        return cls(found)

    def condition_keys(self, operation: str, body: dict[str, Any], resource: str) -> dict[str, list[str]]:
        """{"dynamodb:LeadingKeys": [...]} for the request on `resource` (a table or index ARN), or {}."""
        name = resource.split(":table/", 1)[1] if ":table/" in resource else ""
        attribute = self.hash_keys.get(name)
        if not attribute:
            return {}
        table = name.split("/index/", 1)[0]
        values = _values(operation, body, table, attribute)
        return {_KEY: values} if values else {}


def _hash_key(schema: list[dict[str, Any]]) -> str:
    return next((str(k["AttributeName"]) for k in schema if k.get("KeyType") == "HASH"), "")


def _scalar(value: Any) -> str | None:
    if isinstance(value, dict):
        for kind in ("S", "N", "B"):
            if kind in value:
                return str(value[kind])
    return None


def _of(item: dict[str, Any] | None, attribute: str) -> list[str]:
    found = _scalar((item or {}).get(attribute))
    return [found] if found is not None else []


def _values(operation: str, body: dict[str, Any], table: str, attribute: str) -> list[str]:
    named = body.get("TableName", "").rsplit("/", 1)[-1] == table
    if operation in ("GetItem", "DeleteItem", "UpdateItem") and named:
        return _of(body.get("Key"), attribute)
    if operation == "PutItem" and named:
        return _of(body.get("Item"), attribute)
    if operation == "Query" and named:
        return _query_values(body, attribute)
    values: list[str] = []
    if operation in ("BatchGetItem", "BatchWriteItem"):
        requests = next(
            (v for k, v in body.get("RequestItems", {}).items() if k.rsplit("/", 1)[-1] == table), None
        )
        if isinstance(requests, dict):  # BatchGetItem
            for key in requests.get("Keys", []):
                values += _of(key, attribute)
        for request in requests if isinstance(requests, list) else []:  # BatchWriteItem
            values += _of(request.get("PutRequest", {}).get("Item"), attribute)
            values += _of(request.get("DeleteRequest", {}).get("Key"), attribute)
    if operation in ("TransactWriteItems", "TransactGetItems"):
        for entry in body.get("TransactItems", []):
            for part in entry.values():
                if str(part.get("TableName", "")).rsplit("/", 1)[-1] == table:
                    values += _of(part.get("Key") or part.get("Item"), attribute)
    return sorted(set(values))


def _query_values(body: dict[str, Any], attribute: str) -> list[str]:
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    for match in _EQUALS.finditer(str(body.get("KeyConditionExpression", ""))):
        name, placeholder = (
            (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
        )
        if names.get(name, name) == attribute:
            found = _scalar(values.get(placeholder))
            return [found] if found is not None else []
    condition = body.get("KeyConditions", {}).get(attribute, {})
    if condition.get("ComparisonOperator") == "EQ":
        found = _scalar((condition.get("AttributeValueList") or [None])[0])
        return [found] if found is not None else []
    return []
