"""FilesTable: one item per object under uploads/, keyed by its (decoded) object key.

S3 delivers notifications at least once and in no particular order. Each event carries a `sequencer`
that orders events of the same key, so a write only applies when it is newer than what is stored.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from service_common.aws import dynamodb_table

SEQUENCER_WIDTH = 32  # sequencers are hex strings of varying length: compare them padded


def ordered(sequencer: str) -> str:
    return sequencer.upper().rjust(SEQUENCER_WIDTH, "0")


def _stale(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class FilesStore:
    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    @property
    def _table(self) -> Any:
        return dynamodb_table(self._table_name)

    def put(self, item: dict[str, Any]) -> bool:
        """Store the file's metadata; False when a newer event for the key was already applied."""
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(fileKey) OR #seq < :seq",
                ExpressionAttributeNames={"#seq": "sequencer"},
                ExpressionAttributeValues={":seq": item["sequencer"]},
            )
        except ClientError as error:
            if _stale(error):
                return False
            raise
        return True

    def delete(self, file_key: str, sequencer: str) -> bool:
        """Remove the file's metadata; False when the stored item comes from a newer event."""
        try:
            self._table.delete_item(
                Key={"fileKey": file_key},
                ConditionExpression="attribute_not_exists(fileKey) OR #seq < :seq",
                ExpressionAttributeNames={"#seq": "sequencer"},
                ExpressionAttributeValues={":seq": sequencer},
            )
        except ClientError as error:
            if _stale(error):
                return False
            raise
        return True
