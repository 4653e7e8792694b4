"""Request and response shapes of the users API."""

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class UserFields(BaseModel):
    """What a client may set on a user (create and full update)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    email: EmailStr


class User(UserFields):
    model_config = ConfigDict(extra="ignore")

    userId: str
    createdAt: str
    updatedAt: str | None = None


class UserPage(BaseModel):
    items: list[User]
    nextToken: str | None = Field(default=None, description="Pass as `nextToken` to get the next page")
