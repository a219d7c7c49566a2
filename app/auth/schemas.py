from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from app.auth.passwords import MIN_PASSWORD_LENGTH
from app.auth.permissions import Role
from app.kit.text import no_control_characters

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9._@-]{3,150}$")
]
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)]
FullName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(no_control_characters),
]
Email = Annotated[EmailStr, AfterValidator(str.lower)]


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Lifetime of the access token in seconds")


class RefreshRequest(BaseModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


class LogoutRequest(BaseModel):
    refresh_token: Annotated[str | None, Field(max_length=256)] = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    email: str | None
    full_name: str
    roles: list[Role]
    is_active: bool
    patient_id: uuid.UUID | None
    created_at: datetime


class Me(BaseModel):
    id: uuid.UUID
    username: str
    email: str | None
    full_name: str
    roles: list[Role]
    permissions: list[str]
    patient_id: uuid.UUID | None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    full_name: FullName
    email: Email | None = None
    roles: Annotated[list[Role], Field(min_length=1, max_length=7)]
    patient_id: uuid.UUID | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: FullName | None = None
    email: Email | None = None
    roles: Annotated[list[Role] | None, Field(min_length=1, max_length=7)] = None
    is_active: bool | None = None
    password: Password | None = None
    # The patient record a portal account sees; send null to unlink.
    patient_id: uuid.UUID | None = None
