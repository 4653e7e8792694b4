"""The caller's files: FilesTable records (kept by upload_indexer) and their objects under uploads/<sub>/."""

from __future__ import annotations

import re
from typing import Any

from models import File, FileDownload, FilePage
from service_common.api import ResourceNotFoundError
from service_common.aws import client, from_attributes, s3_presigner, to_attributes
from service_common.identity import Caller
from service_common.pagination import PageTokens, query_page

# What uploads_api names an object: uploads/<sub>/<uuid4>-<safe name> (the file id is the last part).
FILE_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[A-Za-z0-9._-]{1,100}$"
_UUID_PREFIX = re.compile(r"^[0-9a-f-]{36}-")


def _file(item: dict[str, Any]) -> File:
    file_id = item["fileKey"].rsplit("/", 1)[-1]
    return File(
        fileId=file_id,
        key=item["fileKey"],
        fileName=_UUID_PREFIX.sub("", file_id),
        contentType=item["contentType"],
        size=int(item["size"]),
        uploadedAt=item["uploadedAt"],
    )


class Files:
    def __init__(
        self, table_name: str, by_user_index: str, bucket: str, expiry_seconds: int, tokens: PageTokens
    ) -> None:
        self._table_name = table_name
        self._by_user_index = by_user_index
        self._bucket = bucket
        self._expiry_seconds = expiry_seconds
        self._tokens = tokens

    def _record(self, caller: Caller, file_id: str) -> dict[str, Any]:
        # Only ever the caller's own prefix: someone else's file id is simply not found (404, not 403).
        key = f"uploads/{caller.user_id}/{file_id}"
        found = client("dynamodb").get_item(TableName=self._table_name, Key=to_attributes({"fileKey": key}))
        if "Item" not in found:
            raise ResourceNotFoundError("File", file_id)
        return from_attributes(found["Item"])

    def list_page(self, caller: Caller, limit: int, next_token: str | None) -> FilePage:
        """The caller's indexed uploads, newest first."""
        scope = {"listing": "files", "caller": caller.user_id}
        request: dict[str, Any] = {
            "IndexName": self._by_user_index,
            "KeyConditionExpression": "userId = :user",
            "ExpressionAttributeValues": to_attributes({":user": caller.user_id}),
            "ScanIndexForward": False,
        }
        if next_token:
            request["ExclusiveStartKey"] = self._tokens.decode(next_token, scope)
        items, last_key = query_page(self._table_name, request, limit)
        return FilePage(items=[_file(item) for item in items], nextToken=self._tokens.encode(last_key, scope))

    def download(self, caller: Caller, file_id: str) -> FileDownload:
        """The file's metadata and a short-lived presigned GET URL (saved as a download, not rendered)."""
        file = _file(self._record(caller, file_id))
        url = s3_presigner().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": file.key,
                "ResponseContentDisposition": f'attachment; filename="{file.fileName}"',
            },
            ExpiresIn=self._expiry_seconds,
            HttpMethod="GET",
        )
        return FileDownload(**file.model_dump(), downloadUrl=url, expiresIn=self._expiry_seconds)

    def delete(self, caller: Caller, file_id: str) -> None:
        """Delete the object; its ObjectRemoved notification makes upload_indexer drop the record."""
        record = self._record(caller, file_id)
        client("s3").delete_object(Bucket=self._bucket, Key=record["fileKey"])
