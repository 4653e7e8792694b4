"""Response shapes of the files API (a file: an upload indexed in FilesTable by upload_indexer)."""

from pydantic import BaseModel, Field


class File(BaseModel):
    fileId: str = Field(description="The last part of the upload's key: `<uuid>-<file name>`")  # noqa: N815
    key: str = Field(description="The object's key: uploads/<userId>/<fileId>")
    fileName: str = Field(description="The (sanitized) name it was uploaded with")  # noqa: N815
    contentType: str  # noqa: N815 (API field name)
    size: int = Field(description="Bytes")
    uploadedAt: str  # noqa: N815 (API field name)


class FileDownload(File):
    downloadUrl: str = Field(description="A presigned GET URL of the object")  # noqa: N815
    expiresIn: int = Field(description="Seconds the URL stays valid")  # noqa: N815 (API field name)


class FilePage(BaseModel):
    items: list[File]
    nextToken: str | None = Field(  # noqa: N815 (API field name)
        default=None, description="Pass as `nextToken` to get the next page"
    )
