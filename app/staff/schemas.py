"""Pydantic schemas of the staff directory. Shapes follow FHIR (HumanName, Identifier,
ContactPoint, Address, qualification) so the FHIR Practitioner mapping stays thin."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.patients.schemas import Address, Coding, ContactPoint, Gender, Str32, Str100, Str190, Str200

UtcDatetime = Annotated[datetime, AfterValidator(lambda v: v.astimezone(UTC))]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StaffIdentifier(_In):
    system: Str190  # e.g. http://hl7.org/fhir/sid/us-npi
    value: Str190
    use: Literal["usual", "official", "temp", "secondary", "old"] | None = None


class StaffIdentifierRead(_Out):
    system: str
    value: str
    use: str | None


class Qualification(_In):
    code: Coding | None = None
    number: Str190 | None = None
    issuer: Str200 | None = None
    valid_from: date | None = None
    valid_to: date | None = None

    @model_validator(mode="after")
    def _something(self) -> Qualification:
        if self.code is None and self.number is None:
            raise ValueError("a qualification needs a code or a number")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class QualificationRead(_Out):
    code: Coding | None
    number: str | None
    issuer: str | None
    valid_from: date | None
    valid_to: date | None


class StaffCreate(_In):
    family: Str100 | None = None
    given: Annotated[list[Str100], Field(max_length=10)] = []
    prefix: Annotated[list[Str32], Field(max_length=5)] = []
    suffix: Annotated[list[Str32], Field(max_length=5)] = []
    gender: Gender = "unknown"
    birth_date: date | None = None
    identifiers: Annotated[list[StaffIdentifier], Field(max_length=20)] = []
    telecoms: Annotated[list[ContactPoint], Field(max_length=20)] = []
    addresses: Annotated[list[Address], Field(max_length=10)] = []
    qualifications: Annotated[list[Qualification], Field(max_length=50)] = []
    active: bool = True
    user_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StaffCreate:
        if not (self.family or self.given):
            raise ValueError("a staff record needs a family or a given name")
        pairs = [(i.system, i.value) for i in self.identifiers]
        if len(pairs) != len(set(pairs)):
            raise ValueError("the same identifier is listed twice")
        return self


class StaffRead(_Out):
    id: uuid.UUID
    active: bool
    display_name: str
    family: str | None
    given: list[str]
    prefix: list[str]
    suffix: list[str]
    gender: str
    birth_date: date | None
    identifiers: list[StaffIdentifierRead]
    telecoms: list[ContactPoint]
    addresses: list[Address]
    qualifications: list[QualificationRead]
    user_id: uuid.UUID | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
