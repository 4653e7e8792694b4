"""Upload rules (allow-listed types, size limit, safe key) and the presigned PUT URL."""

from __future__ import annotations

import re
import unicodedata
import uuid
from http import HTTPStatus
from pathlib import PurePosixPath

from models import UploadRequest, UploadTicket
from service_common.api import ApiError
from service_common.aws import s3_presigner

# Content type → the file extensions a file of that type may have.
ALLOWED_TYPES: dict[str, frozenset[str]] = {
    "image/png": frozenset({".png"}),
    "image/jpeg": frozenset({".jpg", ".jpeg"}),
    "image/webp": frozenset({".webp"}),
    "application/pdf": frozenset({".pdf"}),
    "text/csv": frozenset({".csv"}),
    "text/plain": frozenset({".txt"}),
}
MAX_NAME_LENGTH = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Cognito subs are UUIDs; anything that could escape the prefix ("/", "..") is refused.
_SAFE_USER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _invalid(field: str, code: str, message: str, status: HTTPStatus = HTTPStatus.UNPROCESSABLE_ENTITY):
    return ApiError(status, code, message, [{"field": f"body.{field}", "message": message}])


def safe_name(file_name: str) -> str:
    """The file's base name reduced to ASCII letters, digits, '.', '_' and '-' (at most 100 chars)."""
    base = re.split(r"[\\/]", file_name)[-1]
    path = PurePosixPath(unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode() or "_")
    extension = re.sub(r"[^a-z0-9]", "", path.suffix.lower())
    suffix = f".{extension}" if extension else ""
    stem = _UNSAFE.sub("-", path.stem)[: MAX_NAME_LENGTH - len(suffix)].strip(".-_")
    if not stem:
        raise _invalid("fileName", "InvalidFileName", "fileName has no usable characters")
    return stem + suffix


def check(request: UploadRequest, max_bytes: int) -> str:
    """Apply the allow-list and the size limit; return the safe file name."""
    content_type = request.contentType.lower()
    if content_type not in ALLOWED_TYPES:
        allowed = ", ".join(sorted(ALLOWED_TYPES))
        raise _invalid("contentType", "UnsupportedContentType", f"contentType must be one of: {allowed}")
    if request.size > max_bytes:
        raise _invalid(
            "size",
            "FileTooLarge",
            f"size {request.size} exceeds the limit of {max_bytes} bytes",
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        )
    name = safe_name(request.fileName)
    extensions = ALLOWED_TYPES[content_type]
    if PurePosixPath(name).suffix.lower() not in extensions:
        raise _invalid(
            "fileName",
            "ExtensionMismatch",
            f"a {content_type} file must end with {' or '.join(sorted(extensions))}",
        )
    return name


class Uploads:
    def __init__(self, bucket: str, max_bytes: int, expiry_seconds: int) -> None:
        self.bucket = bucket
        self.max_bytes = max_bytes
        self.expiry_seconds = expiry_seconds

    def ticket(self, user_id: str, request: UploadRequest) -> UploadTicket:
        """A presigned PUT under uploads/<user_id>/ (user_id: the caller's sub)."""
        if not _SAFE_USER_ID.fullmatch(user_id):
            raise ApiError(HTTPStatus.FORBIDDEN, "Forbidden", "The caller's id cannot name an upload prefix")
        name = check(request, self.max_bytes)
        content_type = request.contentType.lower()
        key = f"uploads/{user_id}/{uuid.uuid4()}-{name}"
        # Content-Type and Content-Length are signed: the PUT must send exactly the announced file.
        url = s3_presigner().generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": request.size,
            },
            ExpiresIn=self.expiry_seconds,
            HttpMethod="PUT",
        )
        return UploadTicket(
            key=key,
            uploadUrl=url,
            headers={"Content-Type": content_type},
            expiresIn=self.expiry_seconds,
        )
