"""Appointment types, clinicians' weekly hours, appointments, their slot locks, the waitlist.

Free slots are never stored: they are computed from the weekly hours (``appointment_hours``)
minus leave, minus the bookings. What stops a double booking is ``appointment_locks``: every
appointment that occupies time holds one row per 5-minute granule it covers, for its clinician
and for its patient, under a primary key (kind, resource, granule). Two bookings that overlap
anywhere want at least one same row, and the database lets only one of them have it.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time

from sqlalchemy import Date, ForeignKey, Index, SmallInteger, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamps, UUIDPk

GRANULE_MINUTES = 5

# Appointment states. ``offered`` is a freed slot held for a waitlisted patient until they accept
# (-> booked), decline or the offer expires (-> cancelled).
OFFERED = "offered"
BOOKED = "booked"
CHECKED_IN = "checked_in"
COMPLETED = "completed"
NO_SHOW = "no_show"
CANCELLED = "cancelled"
STATUSES = (OFFERED, BOOKED, CHECKED_IN, COMPLETED, NO_SHOW, CANCELLED)
# States whose appointment holds its time (and its lock rows).
OCCUPYING = (OFFERED, BOOKED, CHECKED_IN, COMPLETED, NO_SHOW)

LOCK_STAFF = "staff"
LOCK_PATIENT = "patient"

# Waitlist entry states.
WAITING = "waiting"
WL_OFFERED = "offered"
WL_BOOKED = "booked"
WL_CANCELLED = "cancelled"
WL_DECLINED = "declined"
WL_EXPIRED = "expired"
WL_LIVE = (WAITING, WL_OFFERED)


class AppointmentType(UUIDPk, Timestamps, Base):
    """A kind of visit: how long it takes and whether it is in person or by video."""

    __tablename__ = "appointment_types"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    duration_minutes: Mapped[int]
    mode: Mapped[str] = mapped_column(String(16))  # in_person | video
    # The department that offers it: clinicians' "any type" hours cover it only in that department.
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(default=True)


class ClinicHours(UUIDPk, Timestamps, Base):
    """Recurring weekly hours of one clinician, in the facility's wall-clock time."""

    __tablename__ = "appointment_hours"
    __table_args__ = (Index("ix_appointment_hours_staff_id", "staff_id", "weekday"),)

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 Monday .. 6 Sunday (date.weekday())
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)  # inclusive; empty: open-ended
    # Which appointment types these hours are for (JSON list of ids); empty: every type.
    type_ids_json: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(String(200))

    @property
    def type_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(v) for v in json.loads(self.type_ids_json)] if self.type_ids_json else []

    @type_ids.setter
    def type_ids(self, values: list[uuid.UUID]) -> None:
        self.type_ids_json = json.dumps(sorted(str(v) for v in values)) if values else None


class WaitlistEntry(UUIDPk, Timestamps, Base):
    """A patient waiting for an earlier slot of a type (optionally with one clinician or in one
    department) between two dates. First come, first offered."""

    __tablename__ = "appointment_waitlist"
    __table_args__ = (
        Index("ix_appointment_waitlist_queue", "status", "created_at", "id"),
        Index("ix_appointment_waitlist_patient_id", "patient_id"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_types.id"), index=True)
    staff_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), index=True
    )
    earliest: Mapped[date] = mapped_column(Date)  # facility-local dates, inclusive
    latest: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=WAITING)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The patient's booked appointment an earlier slot would replace: offers come only before it,
    # and accepting one cancels it in the same transaction. (``use_alter``: the two tables refer
    # to each other.)
    replaces_appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL", use_alter=True)
    )
    # While the entry is live (waiting or offered): a digest of its patient and criteria, so the
    # unique constraint admits one live entry per patient and criteria even under concurrency;
    # NULL once it is over (NULLs never clash).
    live_key: Mapped[str | None] = mapped_column(String(64), unique=True)


class Appointment(UUIDPk, Timestamps, Base):
    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_staff_id_start_at", "staff_id", "start_at"),
        Index("ix_appointments_patient_id_start_at", "patient_id", "start_at"),
        Index("ix_appointments_start_at", "start_at"),
        Index("ix_appointments_offers", "status", "offer_expires_at"),
    )

    type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_types.id"), index=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))  # copied from the type when booked
    reason: Mapped[str | None] = mapped_column(String(500))
    # A video visit's consultation room: random, unguessable, says nothing about the patient.
    room_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    booked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    booked_online: Mapped[bool] = mapped_column(default=False)  # by the patient, in the portal
    offer_expires_at: Mapped[datetime | None]
    waitlist_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointment_waitlist.id", ondelete="SET NULL"), index=True
    )
    checked_in_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # iCalendar SEQUENCE: raised by every change a calendar client must apply (reschedule, cancel).
    sequence: Mapped[int] = mapped_column(default=0)


class AppointmentLock(Base):
    """One 5-minute granule of a clinician's or a patient's time, held by one appointment.

    Not an entity, so no UUID key: the natural key is the primary key, which makes it the
    clustered index on InnoDB and the uniqueness the whole booking relies on."""

    __tablename__ = "appointment_locks"
    __table_args__ = (Index("ix_appointment_locks_appointment_id", "appointment_id"),)

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # staff | patient
    resource_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    granule_start: Mapped[datetime] = mapped_column(primary_key=True)
    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
