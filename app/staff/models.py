"""Staff records, departments, employment history, licences, rotas, leave and calendar feeds.

Identifiers are unique per (system, value), so an NPI belongs to one staff record; the importer
finds practitioners by it. Telecoms and addresses are kept as JSON lists: they are displayed,
never searched. Qualifications and licences get their own rows because expiry reports and the
rota's licence rule query them by date.

A staff record's ``department_id`` and ``position`` are its current post, kept in step with the
open row of its employment history (``staff_positions``) when positions are added or ended.
Shifts and leave are stored as UTC instants; the facility-local day a shift belongs to is kept
beside them (``local_date``) so a rota groups by the day the staff see on the wall.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, Time, UniqueConstraint, false
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
    # Current post (mirrors the open employment row); clinicians need a valid licence to work
    # clinical shifts and to be booked.
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[str | None] = mapped_column(String(200))
    clinical: Mapped[bool] = mapped_column(default=False, server_default=false())

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
    # "licence" (a licence to practise: clinical work needs one valid on the day) or
    # "qualification" (a degree, a certificate: recorded, never checked).
    kind: Mapped[str] = mapped_column(String(16), default="qualification", server_default="qualification")
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


class Department(UUIDPk, Timestamps, Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)


class StaffPosition(UUIDPk, Timestamps, Base):
    """One post held (employment history); ``end_date`` empty while it is held."""

    __tablename__ = "staff_positions"
    __table_args__ = (Index("ix_staff_positions_staff_id", "staff_id", "start_date"),)

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)


class ShiftDefinition(UUIDPk, Timestamps, Base):
    """A named shift pattern in facility-local wall-clock time; ``end_time <= start_time`` means
    it ends the next day (a night shift)."""

    __tablename__ = "shift_definitions"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    clinical: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)


class Shift(UUIDPk, Timestamps, Base):
    """One person on one shift of a department's rota."""

    __tablename__ = "staff_shifts"
    __table_args__ = (
        Index("ix_staff_shifts_staff_id_starts_at", "staff_id", "starts_at"),
        Index("ix_staff_shifts_department_id_local_date", "department_id", "local_date"),
    )

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    department_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    definition_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("shift_definitions.id", ondelete="SET NULL"), index=True
    )
    local_date: Mapped[date] = mapped_column(Date)  # the facility-local day the shift starts on
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    clinical: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str | None] = mapped_column(String(500))


class Leave(UUIDPk, Timestamps, Base):
    """Leave or unavailability: no shift may overlap it, no appointment may be booked in it."""

    __tablename__ = "staff_leave"
    __table_args__ = (Index("ix_staff_leave_staff_id_starts_at", "staff_id", "starts_at"),)

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # annual | sick | training | unavailable
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    all_day: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str | None] = mapped_column(String(500))


class CalendarFeed(UUIDPk, Timestamps, Base):
    """A staff member's secret iCalendar URL. Only the token's SHA-256 is kept: a database
    reader cannot subscribe to anyone's calendar. Rotating replaces the hash; revoking deletes."""

    __tablename__ = "staff_calendar_feeds"

    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_read_at: Mapped[datetime | None]
