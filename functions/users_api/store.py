"""UsersTable access: one item per user, keyed by userId."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from botocore.exceptions import ClientError
from models import User, UserFields, UserPage
from service_common.api import ApiError, ResourceNotFoundError
from service_common.aws import client, from_attributes, to_attributes
from service_common.clock import utc_now
from service_common.pagination import PageTokens, Scope

_PROJECTION = "userId, #name, email, createdAt, updatedAt, orderCount, lastOrderId, lastOrderAt"
_NAMES = {"#name": "name"}


def _is_conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class UsersStore:
    def __init__(self, table_name: str, tokens: PageTokens) -> None:
        self._table_name = table_name
        self._tokens = tokens

    def create(self, user_id: str, fields: UserFields) -> User:
        user = User(userId=user_id, createdAt=utc_now(), **fields.model_dump())
        try:
            client("dynamodb").put_item(
                TableName=self._table_name,
                # orderCount is owned by order_projection
                Item=to_attributes(user.model_dump(exclude_none=True, exclude={"orderCount"})),
                ConditionExpression="attribute_not_exists(userId)",
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise ApiError(
                    HTTPStatus.CONFLICT, "UserExists", f"User {user_id} already exists: update it with PUT"
                ) from None
            raise
        return user

    def get(self, user_id: str) -> User:
        found = client("dynamodb").get_item(
            TableName=self._table_name,
            Key=to_attributes({"userId": user_id}),
            ProjectionExpression=_PROJECTION,
            ExpressionAttributeNames=_NAMES,
        )
        if "Item" not in found:
            raise ResourceNotFoundError("User", user_id)
        return User.model_validate(from_attributes(found["Item"]))

    def list_page(self, limit: int, next_token: str | None, scope: Scope) -> UserPage:
        """A page of users; `scope` (who lists) binds the page token to this listing."""
        request: dict[str, Any] = {
            "Limit": limit,
            "ProjectionExpression": _PROJECTION,
            "ExpressionAttributeNames": _NAMES,
        }
        if next_token:
            request["ExclusiveStartKey"] = to_attributes(self._tokens.decode(next_token, scope))
        page = client("dynamodb").scan(TableName=self._table_name, **request)
        last_key = page.get("LastEvaluatedKey")
        return UserPage(
            items=[User.model_validate(from_attributes(item)) for item in page["Items"]],
            nextToken=self._tokens.encode(from_attributes(last_key) if last_key else None, scope),
        )

    def update(self, user_id: str, fields: UserFields) -> User:
        try:
            item = client("dynamodb").update_item(
                TableName=self._table_name,
                Key=to_attributes({"userId": user_id}),
                UpdateExpression="SET #name = :name, email = :email, updatedAt = :now",
                ConditionExpression="attribute_exists(userId)",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=to_attributes(
                    {":name": fields.name, ":email": fields.email, ":now": utc_now()}
                ),
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if _is_conditional_failure(error):
                raise ResourceNotFoundError("User", user_id) from None
            raise
        return User.model_validate(from_attributes(item))

    def delete(self, user_id: str) -> None:
        try:
            client("dynamodb").delete_item(
                TableName=self._table_name,
                Key=to_attributes({"userId": user_id}),
                ConditionExpression="attribute_exists(userId)",
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise ResourceNotFoundError("User", user_id) from None
            raise
