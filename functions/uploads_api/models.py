"""Request and response shapes of the uploads API."""

from pydantic import BaseModel, ConfigDict, Field
from service_common.text import TrimmedText


class UploadRequest(BaseModel):
    """What a client tells us about the file it wants to upload (always under the caller's own prefix)."""

    # strict: a JSON `true` is not a size of 1 byte
    model_config = ConfigDict(extra="forbid", strict=True)

    fileName: TrimmedText = Field(min_length=1, max_length=255)  # noqa: N815 (API field name)
    contentType: TrimmedText = Field(min_length=1, max_length=100)  # noqa: N815 (API field name)
    size: int = Field(gt=0, description="The file's size in bytes")


class UploadTicket(BaseModel):
    """Where and how to PUT the file: send exactly `headers` with the body, before `expiresIn` runs out."""

    key: str
    uploadUrl: str  # noqa: N815 (API field name)
    method: str = "PUT"
    headers: dict[str, str]
    expiresIn: int = Field(description="Seconds the URL stays valid")  # noqa: N815 (API field name)
