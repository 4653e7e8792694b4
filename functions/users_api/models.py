"""Request and response shapes of the users API."""

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from service_common.text import TrimmedText


class UserFields(BaseModel):
    """What a client may set on a user (create and full update)."""

    model_config = ConfigDict(extra="forbid")

    name: TrimmedText = Field(min_length=1, max_length=100)
    email: EmailStr


class User(UserFields):
    model_config = ConfigDict(extra="ignore")

    userId: str  # noqa: N815 (API field name)
    createdAt: str  # noqa: N815 (API field name)
    updatedAt: str | None = None  # noqa: N815 (API field name)
    # Maintained by order_projection from OrderCreated events; read-only through this API.
    orderCount: int = 0  # noqa: N815 (API field name)
    lastOrderId: str | None = None  # noqa: N815 (API field name)
    lastOrderAt: str | None = None  # noqa: N815 (API field name)


class UserPage(BaseModel):
    items: list[User]
    nextToken: str | None = Field(  # noqa: N815 (API field name)
        default=None, description="Pass as `nextToken` to get the next page"
    )
