"""Staff records: one row per person working for (or referenced by) the hospital.

A deliberately small start that the staff/appointments issue grows (departments, positions,
employment history, rotas). Identifiers are unique per (system, value), so an NPI belongs to
one staff record; the importer finds practitioners by it. Telecoms and addresses are kept as
JSON lists: they are displayed, never searched. Qualifications (licences) get their own rows
because expiry reports query them by date.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Timestamps, UUIDPk

SYSTEM_LEN = 190
CODE_LEN = 64
DISPLAY_LEN = 255


def load_json_list(raw: str | None) -> list[Any]:
    return list(json.loads(raw)) if raw else []


def dump_json_list(values: list[Any] | None) -> str | None:
    return json.dumps(list(values), ensure_ascii=False) if values else None


class StaffMember(UUIDPk, Timestamps, Base):
    __tablename__ = "staff_members"
    __table_args__ = (Index("ix_staff_members_sort", "sort_name", "id"),)

    active: Mapped[bool] = mapped_column(default=True)
    family: Mapped[str | None] = mapped_column(String(100))
    given_json: Mapped[str | None] = mapped_column(Text)
    prefix_json: Mapped[str | None] = mapped_column(Text)
    suffix_json: Mapped[str | None] = mapped_column(Text)
    display_name: Mapped[str] = mapped_column(String(DISPLAY_LEN))
    # Accent- and case-folded "family given...": ordering and the name filter.
    sort_name: Mapped[str] = mapped_column(String(DISPLAY_LEN), default="")
    gender: Mapped[str] = mapped_column(String(16), default="unknown")
    birth_date: Mapped[date | None] = mapped_column(Date)
    telecoms_json: Mapped[str | None] = mapped_column(Text)
    addresses_json: Mapped[str | None] = mapped_column(Text)
    # The sign-in account of this person, when they have one (imported practitioners don't).
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )

    identifiers: Mapped[list[StaffIdentifier]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="StaffIdentifier.position"
    )
    qualifications: Mapped[list[StaffQualification]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="StaffQualification.position"
    )

    @property
    def given(self) -> list[str]:
        return load_json_list(self.given_json)

    @property
    def prefix(self) -> list[str]:
        return load_json_list(self.prefix_json)

    @property
    def suffix(self) -> list[str]:
        return load_json_list(self.suffix_json)

    @property
    def telecoms(self) -> list[dict[str, Any]]:
        return load_json_list(self.telecoms_json)

    @property
    def addresses(self) -> list[dict[str, Any]]:
        return load_json_list(self.addresses_json)


class StaffIdentifier(UUIDPk, Base):
    __tablename__ = "staff_identifiers"
    __table_args__ = (
        UniqueConstraint("system", "value"),
        Index("ix_staff_identifiers_staff_id", "staff_id"),
        Index("ix_staff_identifiers_value", "value"),
    )

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    system: Mapped[str] = mapped_column(String(SYSTEM_LEN))
    value: Mapped[str] = mapped_column(String(SYSTEM_LEN))
    use: Mapped[str | None] = mapped_column(String(16))


class StaffQualification(UUIDPk, Base):
    """A qualification or licence (FHIR Practitioner.qualification)."""

    __tablename__ = "staff_qualifications"
    __table_args__ = (
        Index("ix_staff_qualifications_staff_id", "staff_id"),
        Index("ix_staff_qualifications_valid_to", "valid_to"),
    )

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    number: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))  # licence number
    issuer: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)

    @property
    def code(self) -> dict[str, str | None] | None:
        if self.code_code is None and self.code_display is None:
            return None
        return {"system": self.code_system, "code": self.code_code, "display": self.code_display}
