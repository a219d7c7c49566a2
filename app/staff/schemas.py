"""Pydantic schemas of the staff directory. Shapes follow FHIR (HumanName, Identifier,
ContactPoint, Address, qualification) so the FHIR Practitioner mapping stays thin."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from app.patients.schemas import Address, Coding, ContactPoint, Gender, Str32, Str100, Str190, Str200

Day = date  # for fields named `date` (a field may not shadow its own type)
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


QualificationKind = Literal["licence", "qualification"]


class Qualification(_In):
    """A qualification or a licence. Licences (``kind="licence"``) are what the rota and the
    booking checks look at: a clinician needs one valid on the day."""

    kind: QualificationKind = "qualification"
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
    id: uuid.UUID
    kind: QualificationKind
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
    department_id: uuid.UUID | None = None
    position: Str200 | None = None
    clinical: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> StaffCreate:
        if not (self.family or self.given):
            raise ValueError("a staff record needs a family or a given name")
        pairs = [(i.system, i.value) for i in self.identifiers]
        if len(pairs) != len(set(pairs)):
            raise ValueError("the same identifier is listed twice")
        return self


class StaffUpdate(_In):
    """Partial update; a list given replaces the stored list. Identifiers and qualifications
    have their own endpoints (licences) or stay as imported."""

    family: Str100 | None = None
    given: Annotated[list[Str100], Field(max_length=10)] | None = None
    prefix: Annotated[list[Str32], Field(max_length=5)] | None = None
    suffix: Annotated[list[Str32], Field(max_length=5)] | None = None
    gender: Gender | None = None
    birth_date: date | None = None
    telecoms: Annotated[list[ContactPoint], Field(max_length=20)] | None = None
    addresses: Annotated[list[Address], Field(max_length=10)] | None = None
    active: bool | None = None
    user_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    position: Str200 | None = None
    clinical: bool | None = None


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
    department_id: uuid.UUID | None
    position: str | None
    clinical: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime


# --- departments -------------------------------------------------------------------------------

DepartmentCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
]


class DepartmentCreate(_In):
    code: DepartmentCode
    name: Str200
    active: bool = True


class DepartmentUpdate(_In):
    code: DepartmentCode | None = None
    name: Str200 | None = None
    active: bool | None = None


class DepartmentRead(_Out):
    id: uuid.UUID
    code: str
    name: str
    active: bool


# --- employment history ------------------------------------------------------------------------


class PositionCreate(_In):
    title: Str200
    department_id: uuid.UUID | None = None
    start_date: date
    end_date: date | None = None
    # End the person's other open positions the day before this one starts (a move, not a
    # second post held at the same time).
    end_previous: bool = False

    @model_validator(mode="after")
    def _dates(self) -> PositionCreate:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class PositionUpdate(_In):
    title: Str200 | None = None
    department_id: uuid.UUID | None = None
    start_date: date | None = None
    end_date: date | None = None


class PositionEnd(_In):
    end_date: date


class PositionRead(_Out):
    id: uuid.UUID
    title: str
    department_id: uuid.UUID | None
    department_name: str | None = None
    start_date: date
    end_date: date | None
    current: bool = False


_ACK_LICENCE = (
    "A change that leaves booked appointments of the person on days without a valid licence is "
    "refused (409 appointments_without_licence, listing them) unless this is true: then it is "
    "saved and the answer lists them under warnings, to be rescheduled."
)


class QualificationUpdate(_In):
    kind: QualificationKind | None = None
    code: Coding | None = None
    number: Str190 | None = None
    issuer: Str200 | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    acknowledge_appointments: bool = Field(default=False, description=_ACK_LICENCE)


class LicenceCreate(Qualification):
    kind: QualificationKind = "licence"


class StaffDetail(StaffRead):
    """One staff record with its department, employment history and licence state."""

    department: DepartmentRead | None
    positions: list[PositionRead]
    licence_valid_today: bool
    licence_valid_to: date | None  # the latest end of the licences valid today (None: open-ended or none)


class ExpiringLicence(BaseModel):
    staff_id: uuid.UUID
    display_name: str
    clinical: bool
    department_id: uuid.UUID | None
    department_name: str | None
    licence: QualificationRead
    status: Literal["expired", "expiring"]
    days_left: int  # negative: expired that many days ago


class ExpiringLicencesReport(BaseModel):
    as_of: date
    days: int
    items: list[ExpiringLicence]


# --- shift definitions, shifts, leave -------------------------------------------------------------


class ShiftDefinitionCreate(_In):
    name: Str100
    start_time: time  # facility-local wall-clock time
    end_time: time  # at or before start_time: the next day
    clinical: bool = True
    active: bool = True

    @model_validator(mode="after")
    def _times(self) -> ShiftDefinitionCreate:
        if self.start_time.tzinfo is not None or self.end_time.tzinfo is not None:
            raise ValueError("shift times are facility-local wall-clock times, without an offset")
        if self.start_time == self.end_time:
            raise ValueError("a shift cannot start and end at the same time")
        return self


class ShiftDefinitionUpdate(_In):
    name: Str100 | None = None
    start_time: time | None = None
    end_time: time | None = None
    clinical: bool | None = None
    active: bool | None = None


class ShiftDefinitionRead(_Out):
    id: uuid.UUID
    name: str
    start_time: time
    end_time: time
    clinical: bool
    active: bool
    crosses_midnight: bool
    nominal_minutes: int  # on a day without a clock change


_WALL_CLOCK = (
    "Facility-local wall-clock time. A time inside the spring-forward gap (e.g. 01:30 on the last "
    "Sunday of March in Europe/London) is refused with 400 nonexistent_local_time; a time the "
    "autumn clock change repeats (e.g. 01:30 on the last Sunday of October) is its first "
    "occurrence, on summer time."
)


class _ShiftTimes(_In):
    definition_id: uuid.UUID | None = None
    # Explicit facility-local times instead of a definition.
    start_time: time | None = Field(default=None, description=_WALL_CLOCK)
    end_time: time | None = Field(
        default=None, description=_WALL_CLOCK + " At or before start_time: the next day."
    )
    clinical: bool | None = None  # default: the definition's flag, else the person's
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> _ShiftTimes:
        explicit = (self.start_time is not None, self.end_time is not None)
        if explicit[0] != explicit[1]:
            raise ValueError("give both start_time and end_time, or neither")
        if self.definition_id is not None and any(explicit):
            raise ValueError("give a definition_id or explicit times, not both")
        for t in (self.start_time, self.end_time):
            if t is not None and t.tzinfo is not None:
                raise ValueError("shift times are facility-local wall-clock times, without an offset")
        if self.start_time is not None and self.start_time == self.end_time:
            raise ValueError("a shift cannot start and end at the same time")
        return self


class RotaShift(_ShiftTimes):
    """One shift in a bulk week (the department comes from the week)."""

    staff_id: uuid.UUID
    date: Day  # facility-local day the shift starts on

    @model_validator(mode="after")
    def _needs_times(self) -> RotaShift:
        if self.definition_id is None and self.start_time is None:
            raise ValueError("give a definition_id or start_time and end_time")
        return self


class ShiftCreate(RotaShift):
    department_id: uuid.UUID


class ShiftUpdate(_ShiftTimes):
    """Partial update. Times: a definition_id, or both explicit times, replace the current ones."""

    staff_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    date: Day | None = None


MAX_WEEK_SHIFTS = 500


class RotaWeek(_In):
    department_id: uuid.UUID
    week_start: date  # a Monday
    # A week of a big department is a few hundred shifts; the rules are checked in O(n log n)
    # but every shift is written and audited, so a request stays bounded.
    shifts: Annotated[list[RotaShift], Field(max_length=MAX_WEEK_SHIFTS)]
    # Replace the department's shifts that start in this week (a whole week saved at once).
    replace: bool = False


class ShiftRead(BaseModel):
    id: uuid.UUID
    staff_id: uuid.UUID
    staff_name: str
    department_id: uuid.UUID
    department_name: str | None
    definition_id: uuid.UUID | None
    definition_name: str | None
    date: Day
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    local_start: str = Field(
        description="The start on the facility's clock, ISO 8601 with its offset (e.g. +00:00, +01:00)"
    )
    local_end: str = Field(description="The end on the facility's clock, ISO 8601 with its offset")
    minutes: int
    clinical: bool
    note: str | None


class RotaWarning(BaseModel):
    code: Literal["weekly_hours"]
    message: str
    staff_id: uuid.UUID
    week_start: date
    hours: float
    limit: int


class ShiftResult(BaseModel):
    shift: ShiftRead
    warnings: list[RotaWarning]


class ShiftCheck(BaseModel):
    """What the rota rules say about a shift change, without saving it."""

    ok: bool = Field(description="No rule would refuse it (now: the write itself decides)")
    violations: list[dict[str, Any]] = Field(
        description="The rules it would break, as in a refused write's details.violations"
    )


class RotaWeekResult(BaseModel):
    created: list[ShiftRead]
    removed: list[uuid.UUID]
    warnings: list[RotaWarning]


LeaveKind = Literal["annual", "sick", "training", "unavailable"]


class _LeaveTimes(_In):
    # Whole days (facility-local, both inclusive) or exact instants.
    start_date: date | None = None
    end_date: date | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None

    def _check_times(self, required: bool) -> None:
        days = (self.start_date is not None, self.end_date is not None)
        instants = (self.starts_at is not None, self.ends_at is not None)
        if days[0] != days[1] or instants[0] != instants[1]:
            raise ValueError("give start_date and end_date, or starts_at and ends_at")
        if any(days) and any(instants):
            raise ValueError("give whole days or exact times, not both")
        if required and not any(days) and not any(instants):
            raise ValueError("give start_date and end_date, or starts_at and ends_at")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")


_ACK_LEAVE = (
    "Booked appointments of the person during the leave are refused (409 "
    "appointments_during_leave, listing them) unless this is true: then the leave is recorded and "
    "the answer lists them under warnings, to be rescheduled."
)


class LeaveCreate(_LeaveTimes):
    staff_id: uuid.UUID
    kind: LeaveKind
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    # Shifts inside the leave are refused (409 shift_during_leave) unless this removes them.
    cancel_shifts: bool = False
    acknowledge_appointments: bool = Field(default=False, description=_ACK_LEAVE)

    @model_validator(mode="after")
    def _times(self) -> LeaveCreate:
        self._check_times(required=True)
        return self


class LeaveUpdate(_LeaveTimes):
    kind: LeaveKind | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    cancel_shifts: bool = False
    acknowledge_appointments: bool = Field(default=False, description=_ACK_LEAVE)

    @model_validator(mode="after")
    def _times(self) -> LeaveUpdate:
        self._check_times(required=False)
        return self


class LeaveRead(BaseModel):
    id: uuid.UUID
    staff_id: uuid.UUID
    staff_name: str
    kind: LeaveKind
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    all_day: bool
    start_date: date  # facility-local first day
    end_date: date  # facility-local last day (inclusive)
    note: str | None


class AffectedAppointment(BaseModel):
    """A booked appointment a leave or licence change leaves without its clinician (no patient
    data: reception looks the appointment up to reschedule it)."""

    id: uuid.UUID
    start: UtcDatetime
    end: UtcDatetime
    local_start: str = Field(description="The start on the facility's clock, ISO 8601 with its offset")
    type: str | None = Field(description="The appointment type's name")
    mode: str
    status: str


AppointmentsCode = Literal["appointments_during_leave", "appointments_without_licence"]


class AppointmentsWarning(BaseModel):
    code: AppointmentsCode
    message: str
    total: int
    appointments: list[AffectedAppointment]  # the first ones by start when there are many


class QualificationChanged(QualificationRead):
    """A changed licence, with the booked appointments it leaves without a licence (when the
    change was acknowledged)."""

    warnings: list[AppointmentsWarning] = []


class LeaveResult(BaseModel):
    leave: LeaveRead
    cancelled_shifts: list[uuid.UUID]
    warnings: list[AppointmentsWarning] = []


class RotaStaff(BaseModel):
    id: uuid.UUID
    display_name: str
    position: str | None
    clinical: bool
    weekly_hours: dict[date, float]  # week start (Monday) -> hours rostered in this department's view


class RotaDay(BaseModel):
    date: Day
    shifts: list[ShiftRead]
    leave: list[LeaveRead]


class Rota(BaseModel):
    """A department's rota for a range of facility-local days, grouped for a calendar."""

    department: DepartmentRead
    start: date
    end: date
    timezone: str
    weekly_hours_warning: int
    staff: list[RotaStaff]
    days: list[RotaDay]
    warnings: list[RotaWarning]


class Schedule(BaseModel):
    """One person's shifts (any department) and leave in a range of days."""

    staff_id: uuid.UUID
    start: date
    end: date
    timezone: str
    shifts: list[ShiftRead]
    leave: list[LeaveRead]


# --- calendar feed ------------------------------------------------------------------------------


class CalendarFeedCreated(BaseModel):
    url: str  # absolute; the token is the secret, shown once
    path: str
    token: str
    created_at: UtcDatetime


class CalendarFeedStatus(BaseModel):
    active: bool
    created_at: UtcDatetime | None
    last_read_at: UtcDatetime | None
