"""Pydantic schemas of appointments: types, weekly hours, slots, appointments, the waitlist.

Instants travel as aware datetimes and are answered in UTC; each answer also carries the same
instant on the facility's clock (``local_start``, ISO 8601 with its offset) and the zone name, so
a screen shows "09:00" without doing time-zone arithmetic of its own.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from app.kit import time as kit_time
from app.kit.text import no_control_characters

GRANULE = 5
MAX_DURATION_MINUTES = 8 * 60

# Every instant the appointment book takes (searches, listings, bookings, FHIR dates) lies in
# [EARLIEST_INSTANT, LATEST_INSTANT), else 400 ``date_out_of_range``: far enough either way for
# any real calendar, and far from the ends of Python's and the databases' date ranges.
# (The bounds are the ones every module applies, from app.kit.time.)
EARLIEST_INSTANT = kit_time.EARLIEST_INSTANT
LATEST_INSTANT = kit_time.LATEST_INSTANT
# Bookings (and waitlist dates) reach at most this many days ahead, else 400 ``too_far_ahead``;
# the slot search offers nothing later.
BOOKING_HORIZON_DAYS = 730

Code = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text500 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(no_control_characters),
]
Text200 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(no_control_characters),
]
Mode = Literal["in_person", "video"]
Status = Literal["offered", "booked", "checked_in", "completed", "no_show", "cancelled"]
WaitlistStatus = Literal["waiting", "offered", "booked", "cancelled", "declined", "expired"]
Action = Literal["accept", "decline", "reschedule", "cancel", "check_in", "complete", "no_show"]


def _duration(value: int) -> int:
    if value % GRANULE:
        raise ValueError(f"must be a multiple of {GRANULE} minutes")
    return value


Duration = Annotated[int, Field(ge=GRANULE, le=MAX_DURATION_MINUTES), AfterValidator(_duration)]


def _clock(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a wall-clock time in the facility's zone, without an offset")
    if value.second or value.microsecond or value.minute % GRANULE:
        raise ValueError(f"must be on a {GRANULE}-minute boundary (e.g. 09:00, 09:05)")
    return value


Clock = Annotated[time, AfterValidator(_clock)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- types ------------------------------------------------------------------------------------


class AppointmentTypeCreate(_In):
    code: Code = Field(description="Short unique code, e.g. GP15")
    name: Name
    duration_minutes: Duration = Field(description="Length of the visit: 5 to 480, a multiple of 5")
    mode: Mode
    department_id: uuid.UUID | None = None
    active: bool = True


class AppointmentTypeUpdate(_In):
    name: Name | None = None
    duration_minutes: Duration | None = None
    mode: Mode | None = None
    department_id: uuid.UUID | None = None
    active: bool | None = None


class AppointmentTypeRead(_Out):
    id: uuid.UUID
    code: str
    name: str
    duration_minutes: int
    mode: Mode
    department_id: uuid.UUID | None
    active: bool


class TypeBrief(_Out):
    id: uuid.UUID
    code: str
    name: str
    duration_minutes: int
    mode: Mode


# --- weekly hours -----------------------------------------------------------------------------


class ClinicHoursCreate(_In):
    staff_id: uuid.UUID
    weekday: int = Field(ge=0, le=6, description="0 Monday .. 6 Sunday")
    start_time: Clock = Field(description="Facility-local wall-clock time, e.g. 09:00")
    end_time: Clock = Field(description="Facility-local wall-clock time, after start_time, same day")
    valid_from: date
    valid_to: date | None = Field(default=None, description="Inclusive; empty: until further notice")
    type_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=50, description="Appointment types offered; empty: every type"
    )
    note: Text200 | None = None

    @model_validator(mode="after")
    def _order(self) -> ClinicHoursCreate:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time (split hours past midnight in two)")
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class ClinicHoursUpdate(_In):
    start_time: Clock | None = None
    end_time: Clock | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    type_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)
    note: Text200 | None = None


class ClinicHoursRead(_Out):
    id: uuid.UUID
    staff_id: uuid.UUID
    weekday: int
    start_time: time
    end_time: time
    valid_from: date
    valid_to: date | None
    type_ids: list[uuid.UUID]
    note: str | None


class ClinicianRead(BaseModel):
    """A bookable clinician: active, clinical, with weekly hours valid today or later."""

    id: uuid.UUID
    display_name: str
    position: str | None
    department_id: uuid.UUID | None
    department_name: str | None
    type_ids: list[uuid.UUID] = Field(description="The active appointment types their hours offer")


# --- slots ------------------------------------------------------------------------------------


CHANGE_DEADLINE = (
    "Until this instant a patient may reschedule or cancel online: the start minus the facility's"
    " cancellation cut-off (later, only reception can)"
)


class SlotRead(BaseModel):
    start: datetime
    end: datetime
    local_start: str = Field(description="The start on the facility's clock, ISO 8601 with offset")
    local_end: str
    staff_id: uuid.UUID
    staff_name: str
    type_id: uuid.UUID
    mode: Mode
    change_deadline: datetime = Field(
        description=CHANGE_DEADLINE + "; already past for a slot inside the cut-off: booked online, it"
        " cannot be changed or cancelled online"
    )


class SlotPage(BaseModel):
    items: list[SlotRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: no more")
    timezone: str
    window_start: datetime
    window_end: datetime


# --- appointments -----------------------------------------------------------------------------


class AppointmentCreate(_In):
    type_id: uuid.UUID
    staff_id: uuid.UUID
    patient_id: uuid.UUID | None = Field(
        default=None, description="Required for staff; a patient books for their own record (may omit it)"
    )
    start: AwareDatetime = Field(description="A free slot's start (from GET /api/appointments/slots)")
    reason: Text500 | None = None


class RescheduleRequest(_In):
    start: AwareDatetime
    staff_id: uuid.UUID | None = Field(default=None, description="Another clinician; default: the same")
    reason: Text500 | None = Field(
        default=None, description="Needed when staff override the cancellation cut-off"
    )


class CancelRequest(_In):
    reason: Text500 | None = Field(
        default=None, description="Needed when staff override the cancellation cut-off"
    )


class DeclineRequest(_In):
    keep_waiting: bool = Field(default=False, description="Stay on the waitlist for a later slot")


class PersonBrief(BaseModel):
    id: uuid.UUID
    display_name: str


class AppointmentRead(BaseModel):
    id: uuid.UUID
    status: Status
    start: datetime
    end: datetime
    local_start: str
    local_end: str
    timezone: str
    mode: Mode
    type: TypeBrief
    staff: PersonBrief
    patient: PersonBrief
    reason: str | None
    room_id: str | None = Field(description="The video consultation room (video visits only)")
    booked_online: bool
    offer_expires_at: datetime | None
    waitlist_entry_id: uuid.UUID | None
    checked_in_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    sequence: int
    created_at: datetime
    updated_at: datetime
    change_deadline: datetime = Field(description=CHANGE_DEADLINE)
    actions: list[Action] = Field(description="What the caller may do next with it")


# --- waitlist ---------------------------------------------------------------------------------


class WaitlistCreate(_In):
    patient_id: uuid.UUID | None = Field(default=None, description="Required for staff; a patient: own")
    type_id: uuid.UUID
    staff_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    earliest: date = Field(description="First acceptable facility-local date")
    latest: date = Field(description="Last acceptable facility-local date (inclusive)")
    note: Text500 | None = None
    replaces_appointment_id: uuid.UUID | None = Field(
        default=None,
        description="The patient's own booked appointment of this type that an earlier slot would"
        " replace: only slots starting before it are offered, and accepting one cancels it",
    )

    @model_validator(mode="after")
    def _range(self) -> WaitlistCreate:
        if self.latest < self.earliest:
            raise ValueError("latest is before earliest")
        return self


class WaitlistRead(_Out):
    id: uuid.UUID
    patient_id: uuid.UUID
    type_id: uuid.UUID
    staff_id: uuid.UUID | None
    department_id: uuid.UUID | None
    earliest: date
    latest: date
    status: WaitlistStatus
    note: str | None
    created_at: datetime
    replaces_appointment_id: uuid.UUID | None = None
    offered_appointment_id: uuid.UUID | None = Field(
        default=None, description="The appointment offered to this entry (still after it is accepted)"
    )
