"""Pydantic schemas of facilities (FHIR Organization-shaped)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.patients.schemas import Address, Coding, ContactPoint, Str190, Str255
from app.staff.schemas import UtcDatetime


class FacilityIdentifier(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    system: Str190
    value: Str190
    use: Literal["usual", "official", "temp", "secondary", "old"] | None = None


class FacilityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Str255
    type: Coding | None = None
    identifiers: Annotated[list[FacilityIdentifier], Field(max_length=20)] = []
    telecoms: Annotated[list[ContactPoint], Field(max_length=20)] = []
    addresses: Annotated[list[Address], Field(max_length=10)] = []
    part_of_id: uuid.UUID | None = None
    active: bool = True

    @model_validator(mode="after")
    def _unique(self) -> FacilityCreate:
        pairs = [(i.system, i.value) for i in self.identifiers]
        if len(pairs) != len(set(pairs)):
            raise ValueError("the same identifier is listed twice")
        return self


class FacilityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    active: bool
    name: str
    type: Coding | None
    identifiers: list[FacilityIdentifier]
    telecoms: list[ContactPoint]
    addresses: list[Address]
    part_of_id: uuid.UUID | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
