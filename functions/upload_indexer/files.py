"""FilesTable: one item per object under uploads/, keyed by its (decoded) object key.

S3 delivers notifications at least once and in no particular order. Each event carries a `sequencer`
that orders events of the same key, so a write only applies when it is newer than what is stored.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError
from service_common.aws import client, to_attributes

# Sequencers are hex strings of varying length. S3: "right pad the shorter value with zeros and then do
# lexicographical comparison" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
# Padding every value to one width does that for any two values, so the stored value compares in DynamoDB.
SEQUENCER_WIDTH = 64
_HEX = re.compile(r"[0-9A-F]+")


def ordered(sequencer: str) -> str:
    """The sequencer in the form whose string order is S3's event order (right-padded with zeros)."""
    value = sequencer.upper()
    if not _HEX.fullmatch(value) or len(value) > SEQUENCER_WIDTH:
        raise ValueError(f"Not an S3 sequencer (hex, at most {SEQUENCER_WIDTH} digits): {sequencer!r}")
    return value.ljust(SEQUENCER_WIDTH, "0")


def _stale(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class FilesStore:
    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def put(self, item: dict[str, Any]) -> bool:
        """Store the file's metadata; False when a newer event for the key was already applied."""
        try:
            client("dynamodb").put_item(
                TableName=self._table_name,
                Item=to_attributes(item),
                ConditionExpression="attribute_not_exists(fileKey) OR #seq < :seq",
                ExpressionAttributeNames={"#seq": "sequencer"},
                ExpressionAttributeValues=to_attributes({":seq": item["sequencer"]}),
            )
        except ClientError as error:
            if _stale(error):
                return False
            raise
        return True

    def delete(self, file_key: str, sequencer: str) -> bool:
        """Remove the file's metadata; False when the stored item comes from a newer event."""
        try:
            client("dynamodb").delete_item(
                TableName=self._table_name,
                Key=to_attributes({"fileKey": file_key}),
                ConditionExpression="attribute_not_exists(fileKey) OR #seq < :seq",
                ExpressionAttributeNames={"#seq": "sequencer"},
                ExpressionAttributeValues=to_attributes({":seq": sequencer}),
            )
        except ClientError as error:
            if _stale(error):
                return False
            raise
        return True
