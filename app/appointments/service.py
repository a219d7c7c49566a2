"""The appointment book's business rules: the only entry other modules (FHIR, telehealth) may call.

Every instant handed in lies between 1900 and 2200 (``date_out_of_range`` otherwise; see
:func:`check_instant`). Bookings are refused with a specific code, writing nothing, when they are
in the past (``in_past``), more than ``schemas.BOOKING_HORIZON_DAYS`` (two years) ahead
(``too_far_ahead``), outside the clinician's weekly hours (``outside_hours``) or inside them but
off the type's grid of starts (``not_a_slot``, naming the nearest), when the
clinician cannot be booked that day (the staff module's ``licence_expired``, ``staff_on_leave``,
``staff_inactive``, ``not_clinical``), when the slot is taken (``slot_taken``) or the patient is
busy elsewhere (``patient_busy``). The last two are decided by the database: each appointment
that occupies time inserts its lock rows (``appointment_locks``: one per 5-minute granule, for the
clinician and for the patient) in the booking's own transaction, and the primary key admits one
holder per granule. The checks before the insert only give the common case a precise answer.

Waitlist offers: a freed slot (cancel, reschedule, a declined or expired offer) goes to the first
matching waiting entry (oldest first) as an ``offered`` appointment holding the slot's locks until
``waitlist_offer_minutes`` after the offer (never past the slot's start). Expired offers are
processed lazily, by whichever request next touches that clinician's time (slot search, booking,
reschedule, accept) and by :func:`expire_offers` (the API process runs it every minute beside the
notification worker; ``hospital`` has no separate command for it).
"""

from __future__ import annotations

import bisect
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments import repository as repo
from app.appointments import schemas as s
from app.appointments import slots as sl
from app.appointments.models import (
    BOOKED,
    CANCELLED,
    CHECKED_IN,
    COMPLETED,
    LOCK_PATIENT,
    LOCK_STAFF,
    NO_SHOW,
    OFFERED,
    WAITING,
    WL_BOOKED,
    WL_CANCELLED,
    WL_DECLINED,
    WL_EXPIRED,
    WL_OFFERED,
    Appointment,
    AppointmentType,
    ClinicHours,
    WaitlistEntry,
)
from app.appointments.repository import Access
from app.audit import service as audit
from app.auth.permissions import Perm
from app.config import Settings
from app.deps import Principal
from app.errors import BadRequest, Conflict, Forbidden, NotFound
from app.kit import ical
from app.kit.time import utcnow, within_bounds
from app.notifications import service as notifications
from app.patients import service as patients
from app.staff import service as staff

APPOINTMENT = "Appointment"
DEFAULT_WINDOW_DAYS = 14
MAX_WINDOW_DAYS = 62
CHUNK_DAYS = 7  # slot search reads leave and bookings a week at a time, and stops at a full page
WAITLIST_SCAN = 50  # waiting entries examined per freed slot
ROOM_BYTES = 24  # secrets.token_urlsafe(24): 32 characters, 192 random bits

KIND_CONFIRMATION = "appointment.confirmation"
KIND_REMINDER = "appointment.reminder"
KIND_CANCELLATION = "appointment.cancellation"
KIND_STAFF_NOTICE = "appointment.staff_notice"
KIND_STAFF_CANCELLATION = "appointment.staff_cancellation"
KIND_OFFER = "appointment.waitlist_offer"

# MariaDB/MySQL errors that mean "another transaction wanted the same rows": deadlock, lock wait
# timeout, and the savepoint a deadlock rollback took with it.
_CONTENTION_CODES = {1213, 1205, 1305}


def check_instant(value: datetime, name: str) -> datetime:
    """``value`` in UTC when it lies in the instants the appointment book takes at all (from
    ``schemas.EARLIEST_INSTANT`` to before ``LATEST_INSTANT``: 1900 to 2200); else 400
    ``date_out_of_range``. Every instant handed in (natively or by the FHIR facade) passes here
    first: arithmetic on the year 1 or 9999 would overflow."""
    utc = within_bounds(value)  # None also for the year 1 or 9999 in another zone (no UTC twin)
    if utc is None:
        raise BadRequest(
            f"{name} must be between {s.EARLIEST_INSTANT.year} and {s.LATEST_INSTANT.year} (UTC)",
            code="date_out_of_range",
            details={
                "field": name,
                "earliest": s.EARLIEST_INSTANT.isoformat(),
                "before": s.LATEST_INSTANT.isoformat(),
            },
        )
    return utc


def _horizon(now: datetime) -> datetime:
    """The latest instant a booking may start before (``schemas.BOOKING_HORIZON_DAYS`` ahead)."""
    return now + timedelta(days=s.BOOKING_HORIZON_DAYS)


def _cursor_key(settings: Settings) -> bytes:
    return hashlib.sha256(b"hospital-hub/slot-cursor/v1:" + settings.secret_key.encode()).digest()


def _cursor_scope(type_id: uuid.UUID, staff_id: uuid.UUID | None, department_id: uuid.UUID | None) -> str:
    return f"{type_id}|{staff_id or '-'}|{department_id or '-'}"


def zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.facility_timezone)


def related(appointment_id: uuid.UUID) -> str:
    return f"appointment:{appointment_id}"


# --- small helpers ----------------------------------------------------------------------------


def _require(session: AsyncSession, principal: Principal, *perms: Perm) -> None:
    """Admit a principal holding any one of ``perms``."""
    if any(principal.has(p) for p in perms):
        return
    missing = [p.value for p in perms]
    audit.record(
        session,
        action="appointment.access_denied",
        resource_type=APPOINTMENT,
        outcome="denied",
        details={"missing": missing},
    )
    raise Forbidden("You do not have permission for this action", details={"missing": missing})


def _contention(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is a lock conflict between transactions."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, IntegrityError):
            return True
        if isinstance(current, DBAPIError):
            args = getattr(current.orig, "args", ())
            if args and args[0] in _CONTENTION_CODES:
                return True
        current = current.__cause__ or current.__context__
    return False


def _local(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).isoformat()


def _human(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local:%A %d %B %Y, %H:%M} ({local.tzname()})"


async def _active_type(session: AsyncSession, type_id: uuid.UUID) -> AppointmentType:
    kind = await repo.get_type(session, type_id)
    if not kind.active:
        raise Conflict("This appointment type is no longer offered", code="type_inactive")
    return kind


def _change_deadline(start: datetime, settings: Settings) -> datetime:
    """Until when a patient may change or cancel an appointment starting at ``start`` online."""
    return start - timedelta(hours=settings.cancellation_cutoff_hours)


def _duration(kind: AppointmentType) -> timedelta:
    return timedelta(minutes=kind.duration_minutes)


# --- appointment types ------------------------------------------------------------------------


async def list_types(
    session: AsyncSession,
    principal: Principal,
    *,
    active: bool | None = True,
    mode: str | None = None,
    department_id: uuid.UUID | None = None,
) -> list[AppointmentType]:
    """Every signed-in user may list the types (the patient portal needs them to book)."""
    return await repo.list_types(session, active=active, mode=mode, department_id=department_id)


async def get_type(session: AsyncSession, principal: Principal, type_id: uuid.UUID) -> AppointmentType:
    return await repo.get_type(session, type_id)


async def _flush_type(session: AsyncSession, kind: AppointmentType, changes: dict[str, Any]) -> None:
    """Apply ``changes`` and flush inside a savepoint: the database checks the department
    reference (and a code taken by a concurrent request) without spoiling the transaction."""
    try:
        async with session.begin_nested():
            for field, value in changes.items():
                setattr(kind, field, value)
            session.add(kind)
            await session.flush()
    except IntegrityError as exc:
        if await repo.type_code_taken(session, kind.code, exclude=kind.id):
            raise Conflict("An appointment type with this code exists", code="duplicate_code") from exc
        raise NotFound("Department not found", code="department_not_found") from exc


async def create_type(
    session: AsyncSession, principal: Principal, data: s.AppointmentTypeCreate
) -> AppointmentType:
    _require(session, principal, Perm.SETTINGS_ADMIN)
    if await repo.type_code_taken(session, data.code):
        raise Conflict("An appointment type with this code exists", code="duplicate_code")
    kind = AppointmentType(id=uuid.uuid4(), code=data.code)
    await _flush_type(
        session,
        kind,
        {
            "name": data.name,
            "duration_minutes": data.duration_minutes,
            "mode": data.mode,
            "department_id": data.department_id,
            "active": data.active,
        },
    )
    audit.record(
        session,
        action="appointment_type.create",
        resource_type="AppointmentType",
        resource_id=kind.id,
        details={"code": kind.code, "duration_minutes": kind.duration_minutes, "mode": kind.mode},
    )
    return kind


async def update_type(
    session: AsyncSession, principal: Principal, type_id: uuid.UUID, data: s.AppointmentTypeUpdate
) -> AppointmentType:
    _require(session, principal, Perm.SETTINGS_ADMIN)
    kind = await repo.get_type(session, type_id)
    changed = data.model_dump(exclude_unset=True)
    apply = {k: v for k, v in changed.items() if v is not None or k == "department_id"}
    await _flush_type(session, kind, apply)
    audit.record(
        session,
        action="appointment_type.update",
        resource_type="AppointmentType",
        resource_id=kind.id,
        details={"fields": sorted(changed)},
    )
    return kind


# --- weekly hours -----------------------------------------------------------------------------


async def _check_hours_refs(
    session: AsyncSession, staff_id: uuid.UUID, type_ids: Sequence[uuid.UUID]
) -> None:
    if staff_id not in await staff.staff_summaries(session, [staff_id]):
        raise NotFound("Staff member not found", code="staff_not_found")
    missing = set(type_ids) - set(await repo.types_by_id(session, list(type_ids)))
    if missing:
        raise NotFound(
            "Appointment type not found",
            code="type_not_found",
            details={"type_ids": sorted(str(t) for t in missing)},
        )


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _validity(valid_from: date, valid_to: date | None) -> str:
    return f"from {valid_from.isoformat()}" + (f" to {valid_to.isoformat()}" if valid_to else "")


async def _refuse_overlapping_hours(
    session: AsyncSession,
    staff_id: uuid.UUID,
    *,
    weekday: int,
    start_time: time,
    end_time: time,
    valid_from: date,
    valid_to: date | None,
    exclude: uuid.UUID | None = None,
) -> None:
    """409 ``hours_overlap`` when the clinician already has hours on that weekday that overlap
    [start_time, end_time) on some day both are valid. Refused rather than merged: each row is
    what somebody entered (its types, dates and note), a clinician runs one session at a time
    (one row lists every type it offers), and an overlap is nearly always a typo. Decided under
    the clinician's row lock (the caller takes it with ``staff.lock_member`` before it changes
    anything), so two concurrent requests cannot both add an overlap."""
    for other in await repo.weekday_hours(session, staff_id, weekday, exclude=exclude):
        times_meet = other.start_time < end_time and start_time < other.end_time
        dates_meet = (valid_to is None or other.valid_from <= valid_to) and (
            other.valid_to is None or valid_from <= other.valid_to
        )
        if times_meet and dates_meet:
            raise Conflict(
                f"These hours overlap the clinician's {_WEEKDAYS[weekday]} hours"
                f" {other.start_time:%H:%M}-{other.end_time:%H:%M}"
                f" ({_validity(other.valid_from, other.valid_to)}); change those instead"
                " (one set of hours can offer several appointment types)",
                code="hours_overlap",
                details={
                    "hours_id": str(other.id),
                    "weekday": other.weekday,
                    "start_time": other.start_time.isoformat(timespec="minutes"),
                    "end_time": other.end_time.isoformat(timespec="minutes"),
                    "valid_from": other.valid_from.isoformat(),
                    "valid_to": other.valid_to.isoformat() if other.valid_to else None,
                },
            )


async def list_hours(
    session: AsyncSession, principal: Principal, *, staff_id: uuid.UUID | None
) -> list[ClinicHours]:
    _require(session, principal, Perm.APPOINTMENTS_READ, Perm.ROTA_WRITE)
    return await repo.list_hours(session, staff_ids=[staff_id] if staff_id else None)


async def create_hours(session: AsyncSession, principal: Principal, data: s.ClinicHoursCreate) -> ClinicHours:
    """Add weekly hours; 409 ``hours_overlap`` when they overlap the clinician's other hours."""
    _require(session, principal, Perm.ROTA_WRITE)
    await _check_hours_refs(session, data.staff_id, data.type_ids)
    await staff.lock_member(session, data.staff_id)
    await _refuse_overlapping_hours(
        session,
        data.staff_id,
        weekday=data.weekday,
        start_time=data.start_time,
        end_time=data.end_time,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
    )
    row = ClinicHours(
        staff_id=data.staff_id,
        weekday=data.weekday,
        start_time=data.start_time,
        end_time=data.end_time,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        note=data.note,
    )
    row.type_ids = list(data.type_ids)
    session.add(row)
    await session.flush()
    audit.record(
        session,
        action="appointment_hours.create",
        resource_type="ClinicHours",
        resource_id=row.id,
        details={"staff_id": str(row.staff_id), "weekday": row.weekday},
    )
    return row


async def update_hours(
    session: AsyncSession, principal: Principal, hours_id: uuid.UUID, data: s.ClinicHoursUpdate
) -> ClinicHours:
    """Changing hours never moves or cancels existing bookings; it only changes future slots."""
    _require(session, principal, Perm.ROTA_WRITE)
    row = await repo.get_hours(session, hours_id)
    # The clinician's lock first (before any write, so two changes cannot wait on each other),
    # then the row as last committed.
    await staff.lock_member(session, row.staff_id)
    row = await repo.get_hours(session, hours_id, latest=True)
    changed = data.model_dump(exclude_unset=True)
    if data.type_ids is not None:
        await _check_hours_refs(session, row.staff_id, data.type_ids)
        row.type_ids = list(data.type_ids)
    for field in ("start_time", "end_time", "valid_from"):
        if changed.get(field) is not None:
            setattr(row, field, changed[field])
    if "valid_to" in changed:
        row.valid_to = data.valid_to
    if "note" in changed:
        row.note = data.note
    if row.end_time <= row.start_time:
        raise BadRequest("end_time must be after start_time", code="invalid_hours")
    if row.valid_to is not None and row.valid_to < row.valid_from:
        raise BadRequest("valid_to is before valid_from", code="invalid_hours")
    await _refuse_overlapping_hours(
        session,
        row.staff_id,
        weekday=row.weekday,
        start_time=row.start_time,
        end_time=row.end_time,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        exclude=row.id,
    )
    await session.flush()
    audit.record(
        session,
        action="appointment_hours.update",
        resource_type="ClinicHours",
        resource_id=row.id,
        details={"staff_id": str(row.staff_id), "fields": sorted(changed)},
    )
    return row


async def delete_hours(session: AsyncSession, principal: Principal, hours_id: uuid.UUID) -> None:
    _require(session, principal, Perm.ROTA_WRITE)
    row = await repo.get_hours(session, hours_id)
    await session.delete(row)
    await session.flush()
    audit.record(
        session,
        action="appointment_hours.delete",
        resource_type="ClinicHours",
        resource_id=hours_id,
        details={"staff_id": str(row.staff_id)},
    )


# --- availability -----------------------------------------------------------------------------


async def _weekly_hours(
    session: AsyncSession,
    kind: AppointmentType,
    staff_ids: Sequence[uuid.UUID] | None,
    first_day: date,
    last_day: date,
) -> list[sl.WeeklyHours]:
    """The weekly hours that may offer ``kind``: those naming it, and "every type" hours of
    clinicians in the type's department (or of anyone, for a type without a department)."""
    rows = await repo.list_hours(session, staff_ids=staff_ids, first_day=first_day, last_day=last_day)
    members: set[uuid.UUID] | None = None
    if kind.department_id is not None:
        members = set(await staff.department_staff_ids(session, kind.department_id))
    out = []
    for row in rows:
        listed = row.type_ids
        admits = kind.id in listed if listed else (members is None or row.staff_id in members)
        out.append(
            sl.WeeklyHours(
                staff_id=row.staff_id,
                weekday=row.weekday,
                start_time=row.start_time,
                end_time=row.end_time,
                valid_from=row.valid_from,
                valid_to=row.valid_to,
                admits=admits,
            )
        )
    return out


async def _busy(
    session: AsyncSession, staff_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> sl.Busy:
    leave = await staff.unavailable_intervals(session, staff_ids, start, end)
    booked = await repo.busy_intervals(session, staff_ids, start, end)
    merged: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for source in (leave, booked):
        for sid, items in source.items():
            merged.setdefault(sid, []).extend(items)
    return sl.Busy(merged)


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    return sl.wall_to_utc(day, time(0), tz)


async def search_slots(
    session: AsyncSession,
    principal: Principal,
    *,
    type_id: uuid.UUID,
    staff_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
    settings: Settings,
    now: datetime | None = None,
) -> s.SlotPage:
    """Free slots of one type, for a clinician, a department or everyone offering the type,
    ordered by (start, staff id) and paged by a cursor on that pair (stable while bookings come
    and go: a page never repeats a slot of the page before)."""
    _require(session, principal, Perm.APPOINTMENTS_READ, Perm.SELF_SERVICE)
    tz = zone(settings)
    now = now or utcnow()
    window_start = check_instant(start, "start") if start is not None else now
    window_end = (
        check_instant(end, "end") if end is not None else window_start + timedelta(days=DEFAULT_WINDOW_DAYS)
    )
    if window_end <= window_start:
        raise BadRequest("end must be after start", code="invalid_window")
    if window_end - window_start > timedelta(days=MAX_WINDOW_DAYS):
        raise BadRequest(f"Search at most {MAX_WINDOW_DAYS} days at a time", code="window_too_long")
    position: tuple[datetime, uuid.UUID] | None = None
    scope_key = _cursor_scope(type_id, staff_id, department_id)
    if cursor is not None:
        try:
            position = sl.decode_cursor(cursor, key=_cursor_key(settings), scope=scope_key)
        except ValueError as exc:
            raise BadRequest("The cursor is not one this search returned", code="invalid_cursor") from exc
    kind = await _active_type(session, type_id)
    duration = _duration(kind)

    scope: list[uuid.UUID] | None = None
    if staff_id is not None:
        if staff_id not in await staff.staff_summaries(session, [staff_id]):
            raise NotFound("Staff member not found", code="staff_not_found")
        scope = [staff_id]
    if department_id is not None:
        await staff.require_department(session, department_id)  # unknown: 404, as a clinician is
        members = await staff.department_staff_ids(session, department_id)
        scope = [m for m in members if scope is None or m in scope]
    effective_start = max(window_start, position[0]) if position else window_start
    # Nothing past the booking horizon is offered; a cursor past the window's end ends the search.
    search_end = min(window_end, _horizon(now))
    if effective_start >= search_end:
        return s.SlotPage(
            items=[],
            next_cursor=None,
            timezone=settings.facility_timezone,
            window_start=window_start,
            window_end=window_end,
        )
    days = sl.local_days(effective_start, search_end, tz)
    hours = await _weekly_hours(session, kind, scope, days[0], days[-1])
    staff_ids = sorted({h.staff_id for h in hours if h.admits}, key=str)
    facts = await staff.eligibility(session, staff_ids)
    hours = [h for h in hours if h.staff_id in facts]
    staff_ids = [sid for sid in staff_ids if sid in facts]
    await expire_offers(
        session, settings, now=now, staff_ids=staff_ids, start=effective_start, end=search_end + duration
    )

    found: list[sl.Slot] = []
    for offset in range(0, len(days), CHUNK_DAYS):
        chunk = days[offset : offset + CHUNK_DAYS]
        chunk_start = max(effective_start, _day_start(chunk[0], tz))
        chunk_end = min(search_end, _day_start(chunk[-1] + timedelta(days=1), tz))
        if chunk_end <= chunk_start or not staff_ids:
            continue
        busy = await _busy(session, staff_ids, chunk_start, chunk_end + duration)
        free = sl.free_slots(
            sl.candidate_slots(hours, chunk, duration, tz),
            busy=busy,
            not_before=now,
            window_start=chunk_start,
            window_end=chunk_end,
            bookable=lambda sid, day: facts[sid].bookable_on(day),
            tz=tz,
        )
        found.extend(slot for slot in free if sl.after_cursor(slot, position))
        if len(found) > limit:
            break
    page = found[:limit]
    return s.SlotPage(
        items=[
            s.SlotRead(
                start=slot.start,
                end=slot.end,
                local_start=_local(slot.start, tz),
                local_end=_local(slot.end, tz),
                staff_id=slot.staff_id,
                staff_name=facts[slot.staff_id].display_name,
                type_id=kind.id,
                mode=kind.mode,
                change_deadline=_change_deadline(slot.start, settings),
            )
            for slot in page
        ],
        next_cursor=(
            sl.encode_cursor(page[-1], key=_cursor_key(settings), scope=scope_key)
            if len(found) > limit
            else None
        ),
        timezone=settings.facility_timezone,
        window_start=window_start,
        window_end=window_end,
    )


async def _check_slot(
    session: AsyncSession,
    kind: AppointmentType,
    staff_id: uuid.UUID,
    start: datetime,
    *,
    settings: Settings,
    now: datetime,
) -> datetime:
    """Refuse unless [start, start + duration) is a slot of the clinician's weekly hours on a
    day they may be booked, clear of leave; returns the end. Bookings are not looked at.

    A start in the clinician's hours but off the type's grid (a 20-minute type at 10:30 when
    its slots start 10:20 and 10:40) is ``not_a_slot``, naming the nearest starts; a start
    outside the hours is ``outside_hours``."""
    start = check_instant(start, "start")
    if start <= now:
        raise BadRequest("That time is in the past", code="in_past")
    if start >= _horizon(now):
        raise BadRequest(
            f"Appointments can be booked at most {s.BOOKING_HORIZON_DAYS} days ahead",
            code="too_far_ahead",
            details={"horizon_days": s.BOOKING_HORIZON_DAYS, "latest": _horizon(now).isoformat()},
        )
    duration = _duration(kind)
    end = start + duration
    tz = zone(settings)
    await staff.booking_problem(session, staff_id, start, end, tz=tz)
    day = start.astimezone(tz).date()
    hours = await _weekly_hours(session, kind, [staff_id], day, day)
    grid = sorted({x.start for x in sl.candidate_slots(hours, [day], duration, tz) if sl.aligned(x.start)})
    if start in grid:
        return end
    details: dict[str, Any] = {
        "staff_id": str(staff_id),
        "start": start.isoformat(),
        "local_start": _local(start, tz),
    }
    sessions = [sl.session_bounds(h, day, tz) for h in hours if h.admits and h.applies_on(day)]
    if grid and any(b is not None and b[0] <= start < b[1] for b in sessions):
        at = bisect.bisect_left(grid, start)
        nearest = grid[max(at - 1, 0) : at + 1]
        details |= {
            "nearest": [x.isoformat() for x in nearest],
            "nearest_local": [_local(x, tz) for x in nearest],
        }
        names = " and ".join(f"{x.astimezone(tz):%H:%M}" for x in nearest)
        asked = start.astimezone(tz)
        # Slots start on whole minutes: a start with seconds says so, not "10:00 is not a start".
        off_minute = bool(asked.second or asked.microsecond)
        label = asked.strftime("%H:%M:%S.%f").rstrip("0").rstrip(".") if off_minute else f"{asked:%H:%M}"
        raise BadRequest(
            f"{label} is not the start of a {kind.duration_minutes}-minute slot of this type"
            f"{' (slots start on a whole minute)' if off_minute else ''};"
            f" the nearest {'is' if len(nearest) == 1 else 'are'} {names} ({settings.facility_timezone})",
            code="not_a_slot",
            details=details,
        )
    raise BadRequest(
        "That time is not a slot of the clinician's hours for this appointment type",
        code="outside_hours",
        details=details,
    )


# --- locks ------------------------------------------------------------------------------------


async def _take_locks(
    session: AsyncSession, appointment: Appointment, *, staff_side: bool = True, patient_side: bool = True
) -> None:
    """Insert the appointment's lock rows; the database refuses any granule another holds."""
    sides = []
    if staff_side:
        sides.append((LOCK_STAFF, appointment.staff_id, "slot_taken", "That slot has just been taken"))
    if patient_side:
        sides.append(
            (LOCK_PATIENT, appointment.patient_id, "patient_busy", "The patient has another appointment then")
        )
    for kind, resource, code, message in sides:
        rows = repo.lock_rows(appointment.id, kind, resource, appointment.start_at, appointment.end_at)
        try:
            async with session.begin_nested():
                await repo.insert_locks(session, rows)
        except DBAPIError as exc:
            if not _contention(exc):
                raise
            raise Conflict(message, code=code) from exc


async def _refuse_overlaps(
    session: AsyncSession,
    *,
    staff_id: uuid.UUID,
    patient_id: uuid.UUID,
    start: datetime,
    end: datetime,
    exclude: uuid.UUID | None = None,
) -> None:
    """The precise answer for the common case; the lock rows decide races."""
    if await repo.occupying(session, staff_ids=[staff_id], start=start, end=end, exclude=exclude):
        raise Conflict("That slot is already booked", code="slot_taken")
    clash = await repo.occupying(session, patient_id=patient_id, start=start, end=end, exclude=exclude)
    if clash:
        raise Conflict(
            "The patient has another appointment at that time",
            code="patient_busy",
            details={"start": clash[0].start_at.isoformat(), "end": clash[0].end_at.isoformat()},
        )


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Names:
    types: dict[uuid.UUID, AppointmentType]
    staff: dict[uuid.UUID, str]
    patients: dict[uuid.UUID, dict[str, Any]]


async def _names(session: AsyncSession, rows: Sequence[Appointment]) -> _Names:
    types = await repo.types_by_id(session, [r.type_id for r in rows])
    people = await staff.staff_summaries(session, list({r.staff_id for r in rows}))
    contacts = await patients.contact_summaries(session, list({r.patient_id for r in rows}))
    return _Names(types, {k: v.display_name for k, v in people.items()}, contacts)


def _actions(
    appointment: Appointment, principal: Principal, settings: Settings, now: datetime
) -> list[s.Action]:
    staff_write = repo.is_staff(principal, Access.WRITE)
    owner = repo.is_patient(principal) and principal.patient_id == appointment.patient_id
    if not (staff_write or owner):
        return []
    status = appointment.status
    out: list[s.Action] = []
    if status == OFFERED and (appointment.offer_expires_at is None or appointment.offer_expires_at > now):
        out += ["accept", "decline"]
    if status == BOOKED:
        before_cutoff = now < _change_deadline(appointment.start_at, settings)
        if staff_write or before_cutoff:
            out += ["reschedule", "cancel"]
        if staff_write:
            if now >= _day_start(appointment.start_at.astimezone(zone(settings)).date(), zone(settings)):
                out.append("check_in")
            if now >= appointment.start_at:
                out.append("no_show")
    if status == CHECKED_IN and staff_write and now >= appointment.start_at:
        out.append("complete")
    return out


def _read(
    appointment: Appointment, names: _Names, principal: Principal, settings: Settings, now: datetime
) -> s.AppointmentRead:
    tz = zone(settings)
    kind = names.types[appointment.type_id]
    return s.AppointmentRead(
        id=appointment.id,
        status=appointment.status,
        start=appointment.start_at,
        end=appointment.end_at,
        local_start=_local(appointment.start_at, tz),
        local_end=_local(appointment.end_at, tz),
        timezone=settings.facility_timezone,
        mode=appointment.mode,
        type=s.TypeBrief.model_validate(kind),
        staff=s.PersonBrief(id=appointment.staff_id, display_name=names.staff.get(appointment.staff_id, "")),
        patient=s.PersonBrief(
            id=appointment.patient_id,
            display_name=names.patients.get(appointment.patient_id, {}).get("display_name", ""),
        ),
        reason=appointment.reason,
        room_id=appointment.room_id,
        booked_online=appointment.booked_online,
        offer_expires_at=appointment.offer_expires_at,
        waitlist_entry_id=appointment.waitlist_entry_id,
        checked_in_at=appointment.checked_in_at,
        completed_at=appointment.completed_at,
        cancelled_at=appointment.cancelled_at,
        cancel_reason=appointment.cancel_reason,
        sequence=appointment.sequence,
        created_at=appointment.created_at,
        updated_at=appointment.updated_at,
        change_deadline=_change_deadline(appointment.start_at, settings),
        actions=_actions(appointment, principal, settings, now),
    )


async def present(
    session: AsyncSession,
    principal: Principal,
    rows: Sequence[Appointment],
    *,
    settings: Settings,
    now: datetime | None = None,
) -> list[s.AppointmentRead]:
    """The API shape of ``rows`` (names looked up in three queries, whatever the number)."""
    names = await _names(session, rows)
    moment = now or utcnow()
    return [_read(r, names, principal, settings, moment) for r in rows]


async def get_appointment(
    session: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> Appointment:
    row = await repo.get_appointment(session, appointment_id)
    repo.authorize(session, principal, row.patient_id, Access.READ, resource_id=appointment_id)
    audit.record(
        session,
        action="appointment.read",
        resource_type=APPOINTMENT,
        resource_id=row.id,
        patient_id=row.patient_id,
    )
    return row


async def list_appointments(
    session: AsyncSession,
    principal: Principal,
    *,
    staff_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    statuses: Sequence[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Appointment], int]:
    """A clinician's calendar (staff_id + start/end), a patient's appointments, a day's list.
    A patient sees only their own (another patient_id answers 404)."""
    if not repo.is_staff(principal, Access.READ):
        if principal.has(Perm.SELF_SERVICE) and patient_id is None:
            patient_id = principal.patient_id
            if patient_id is None:
                return [], 0
        repo.authorize(session, principal, patient_id, Access.READ, not_found="patient_not_found")
    start = check_instant(start, "start") if start is not None else None
    end = check_instant(end, "end") if end is not None else None
    if start is not None and end is not None and end <= start:
        raise BadRequest("end must be after start", code="invalid_window")
    rows, total = await repo.search_appointments(
        session,
        staff_id=staff_id,
        patient_id=patient_id,
        start=start,
        end=end,
        statuses=statuses,
        limit=limit,
        offset=offset,
    )
    for pid in dict.fromkeys(r.patient_id for r in rows):
        audit.record(
            session,
            action="appointment.list",
            resource_type=APPOINTMENT,
            patient_id=pid,
            details={"appointments": [str(r.id) for r in rows if r.patient_id == pid][:50]},
        )
    return rows, total


# --- notifications ----------------------------------------------------------------------------


def _organizer(settings: Settings) -> ical.Party | None:
    """The ORGANIZER of the .ics we e-mail: the notifications' sender (a name and address)."""
    try:
        return ical.Party.from_header(settings.notifications_from)
    except ValueError:
        return None


def _attendee(email: str | None, name: str | None) -> tuple[ical.Party, ...]:
    """The ATTENDEE of an .ics e-mailed to ``email`` (empty if it cannot be written as one)."""
    address = notifications.normalize_address(email)
    try:
        return (ical.Party(address, name),) if address else ()
    except ValueError:
        return ()


def _event(
    appointment: Appointment,
    kind: AppointmentType,
    clinician: str,
    *,
    cancelled: bool = False,
    organizer: ical.Party | None = None,
    attendees: tuple[ical.Party, ...] = (),
) -> ical.CalendarEvent:
    """The patient's copy of the appointment; e-mailed (iTIP) with the organizer and the patient
    as attendee, so a client applies the update or the cancellation (RFC 5546)."""
    video = appointment.mode == "video"
    return ical.CalendarEvent(
        uid=f"appointment-{appointment.id}",
        start=appointment.start_at,
        end=appointment.end_at,
        summary=f"{kind.name} with {clinician}" if clinician else kind.name,
        description=(
            "Video consultation: join from the patient portal a few minutes before the start."
            if video
            else "Please arrive ten minutes early and check in at reception."
        ),
        location="Video consultation" if video else None,
        status="CANCELLED" if cancelled else "CONFIRMED",
        sequence=appointment.sequence,
        updated=utcnow(),
        organizer=organizer,
        attendees=attendees,
    )


async def _notify_patient(
    session: AsyncSession,
    appointment: Appointment,
    kind: AppointmentType,
    *,
    settings: Settings,
    now: datetime,
    what: str,
    contact: dict[str, Any] | None = None,
    replaces: bool = False,
) -> dict[str, Any]:
    """Queue the patient's messages for ``what`` (booked, rescheduled, cancelled, offered:
    ``replaces`` when the offer would replace a later booking of theirs); returns what was done,
    for the audit entry. Each message belongs to one committed change of the appointment (made
    under its row lock), so no de-duplication key is needed."""
    tz = zone(settings)
    if contact is None:
        contact = (await patients.contact_summaries(session, [appointment.patient_id])).get(
            appointment.patient_id, {}
        )
    email = contact.get("email")
    if not email or not notifications.is_valid_address(email):
        return {"notification": "skipped", "notification_reason": "patient has no e-mail address"}
    clinician = (await staff.staff_summaries(session, [appointment.staff_id])).get(appointment.staff_id)
    clinician_name = clinician.display_name if clinician else ""
    when = _human(appointment.start_at, tz)
    ref = related(appointment.id)
    name = contact.get("display_name") or None
    greeting = f"Dear {name}," if name else "Hello,"
    # The .ics goes to the patient only, so it may name them (CN) as its attendee.
    parties: dict[str, Any] = {"organizer": _organizer(settings), "attendees": _attendee(email, name)}
    where = (
        "This is a video consultation: join it from the patient portal a few minutes before the start."
        if appointment.mode == "video"
        else "Please arrive ten minutes early and check in at reception."
    )
    if what in ("booked", "rescheduled"):
        subject = f"Appointment confirmed: {when}" if what == "booked" else f"Appointment moved to {when}"
        deadline = _change_deadline(appointment.start_at, settings)
        changes = (
            f"To change or cancel it, use the patient portal until {_human(deadline, tz)}, or call"
            " reception.\n"
            if now < deadline
            else f"It is less than {settings.cancellation_cutoff_hours} hours away, so it can no longer"
            " be changed or cancelled online: to change or cancel it, please call reception.\n"
        )
        body = (
            f"{greeting}\n\nYour {kind.name} appointment with {clinician_name} is on {when}.\n{where}\n\n"
            + changes
        )
        await notifications.enqueue(
            session,
            kind=KIND_CONFIRMATION,
            to_email=email,
            to_name=name,
            subject=subject,
            body=body,
            attachments=[
                notifications.Attachment(
                    "appointment.ics",
                    "text/calendar; method=REQUEST; charset=utf-8",
                    ical.calendar_bytes(
                        [_event(appointment, kind, clinician_name, **parties)], method="REQUEST"
                    ),
                )
            ],
            related=ref,
            patient_id=appointment.patient_id,
        )
        remind_at = appointment.start_at - timedelta(hours=settings.reminder_hours_before)
        reminder = "too_late"
        if remind_at > now:
            reminder = "queued"
            await notifications.enqueue(
                session,
                kind=KIND_REMINDER,
                to_email=email,
                to_name=name,
                subject=f"Reminder: appointment {when}",
                body=f"{greeting}\n\nA reminder of your {kind.name} appointment with {clinician_name} "
                f"on {when}.\n{where}\n",
                not_before=remind_at,
                related=ref,
                patient_id=appointment.patient_id,
            )
        return {"notification": "queued", "reminder": reminder}
    if what == "cancelled":
        await notifications.enqueue(
            session,
            kind=KIND_CANCELLATION,
            to_email=email,
            to_name=name,
            subject=f"Appointment cancelled: {when}",
            body=f"{greeting}\n\nYour {kind.name} appointment with {clinician_name} on {when} "
            "has been cancelled.\nTo book another, use the patient portal or call reception.\n",
            attachments=[
                notifications.Attachment(
                    "appointment.ics",
                    "text/calendar; method=CANCEL; charset=utf-8",
                    ical.calendar_bytes(
                        [_event(appointment, kind, clinician_name, cancelled=True, **parties)],
                        method="CANCEL",
                    ),
                )
            ],
            related=ref,
            patient_id=appointment.patient_id,
        )
        return {"notification": "queued"}
    # An offer from the waitlist: "earlier" only when it would replace a later booking.
    until = _human(appointment.offer_expires_at or appointment.start_at, tz)
    wish = "earlier than the one you have booked" if replaces else "that you are on the waitlist for"
    await notifications.enqueue(
        session,
        kind=KIND_OFFER,
        to_email=email,
        to_name=name,
        subject=f"{'An earlier' if replaces else 'An'} appointment is free: {when}",
        body=f"{greeting}\n\nA {kind.name} appointment with {clinician_name} on {when}, {wish}, has "
        f"become free, and we are holding it for you until {until}.\nAccept or decline it in the "
        "patient portal, or call reception. If we do not hear from you, it goes to the next person "
        "waiting.\n",
        related=ref,
        patient_id=appointment.patient_id,
    )
    return {"notification": "queued"}


def _staff_event(
    appointment: Appointment,
    kind: AppointmentType,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    cancelled: bool = False,
    organizer: ical.Party | None = None,
    attendees: tuple[ical.Party, ...] = (),
) -> ical.CalendarEvent:
    """The clinician's copy of the appointment: the patient's UID (so it merges with the
    clinician's feed and follows every change), the type only, never the patient.

    E-mailed as an iTIP REQUEST (a later move: REQUEST with a higher SEQUENCE; a withdrawal:
    CANCEL), so it names the facility's sender as ORGANIZER and the clinician, already accepted
    and asked for no reply, as the one ATTENDEE. Not PUBLISH: a published copy is a one-off
    import that Outlook, Gmail and Apple Calendar never update or remove on a later message,
    and RFC 5546 allows a CANCEL only for an event whose organizer and attendee it names."""
    return ical.CalendarEvent(
        uid=f"appointment-{appointment.id}",
        start=start or appointment.start_at,
        end=end or appointment.end_at,
        summary=f"Patient visit: {kind.name}",
        description="Open your calendar in Hospital Hub for the details.",
        location="Video consultation" if appointment.mode == "video" else None,
        status="CANCELLED" if cancelled else "CONFIRMED",
        sequence=appointment.sequence,
        updated=utcnow(),
        organizer=organizer,
        attendees=attendees,
    )


async def _clinician_address(session: AsyncSession, staff_id: uuid.UUID) -> tuple[str | None, str | None]:
    clinician = (await staff.staff_summaries(session, [staff_id])).get(staff_id)
    if clinician is None or not clinician.email or not notifications.is_valid_address(clinician.email):
        return None, None
    return clinician.email, clinician.display_name


async def _notify_clinician(
    session: AsyncSession, appointment: Appointment, kind: AppointmentType, *, settings: Settings, what: str
) -> dict[str, Any]:
    """Tell the clinician a patient booked (or moved) online, with an iTIP REQUEST .ics that
    invites the clinician (see :func:`_staff_event`). No patient name in an e-mail."""
    email, name = await _clinician_address(session, appointment.staff_id)
    if email is None:
        return {"staff_notice": "skipped", "staff_notice_reason": "clinician has no e-mail address"}
    when = _human(appointment.start_at, zone(settings))
    await notifications.enqueue(
        session,
        kind=KIND_STAFF_NOTICE,
        to_email=email,
        to_name=name,
        subject=f"Online booking{' moved' if what == 'moved' else ''}: {kind.name}, {when}",
        body=f"A patient {what} a {kind.name} appointment with you online for {when}.\n"
        "Open your calendar in Hospital Hub for the details.\n",
        attachments=[
            notifications.Attachment(
                "appointment.ics",
                "text/calendar; method=REQUEST; charset=utf-8",
                ical.calendar_bytes(
                    [
                        _staff_event(
                            appointment,
                            kind,
                            organizer=_organizer(settings),
                            attendees=_attendee(email, name),
                        )
                    ],
                    method="REQUEST",
                ),
            )
        ],
        related=related(appointment.id),
        patient_id=appointment.patient_id,
    )
    return {"staff_notice": "queued"}


async def _withdraw_from_clinician(
    session: AsyncSession,
    appointment: Appointment,
    kind: AppointmentType,
    *,
    staff_id: uuid.UUID,
    start: datetime,
    end: datetime,
    settings: Settings,
    what: str,
) -> dict[str, Any]:
    """Send the clinician ``staff_id`` an iTIP CANCEL for [start, end) after a patient cancelled
    online (``what`` "cancelled") or moved the appointment to another clinician ("moved"), when
    a staff notice of this appointment went to them (its invitation is in their calendar)."""
    email, name = await _clinician_address(session, staff_id)
    notified = await notifications.recipients(
        session, related=related(appointment.id), kinds=[KIND_STAFF_NOTICE]
    )
    if email is None or notifications.normalize_address(email) not in notified:
        return {"staff_cancellation": "skipped"}
    when = _human(start, zone(settings))
    await notifications.enqueue(
        session,
        kind=KIND_STAFF_CANCELLATION,
        to_email=email,
        to_name=name,
        subject=f"Online booking cancelled: {kind.name}, {when}",
        body=(
            f"A patient moved their {kind.name} appointment with you on {when} to another clinician online.\n"
            if what == "moved"
            else f"A patient cancelled their {kind.name} appointment with you on {when} online.\n"
        )
        + "The time is no longer booked with you.\n",
        attachments=[
            notifications.Attachment(
                "appointment.ics",
                "text/calendar; method=CANCEL; charset=utf-8",
                ical.calendar_bytes(
                    [
                        _staff_event(
                            appointment,
                            kind,
                            start=start,
                            end=end,
                            cancelled=True,
                            organizer=_organizer(settings),
                            attendees=_attendee(email, name),
                        )
                    ],
                    method="CANCEL",
                ),
            )
        ],
        related=related(appointment.id),
        patient_id=appointment.patient_id,
    )
    return {"staff_cancellation": "queued"}


# --- booking ----------------------------------------------------------------------------------


async def _bookable_patient(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID | None
) -> tuple[uuid.UUID, dict[str, Any]]:
    """The patient a booking or waitlist entry is for, checked; with their contact summary."""
    if patient_id is None:
        if repo.is_patient(principal) and not repo.is_staff(principal, Access.WRITE):
            patient_id = principal.patient_id
        else:
            raise BadRequest("patient_id is required", code="patient_required")
    assert patient_id is not None
    repo.authorize(session, principal, patient_id, Access.WRITE, not_found="patient_not_found")
    contact = (await patients.contact_summaries(session, [patient_id])).get(patient_id)
    if contact is None:
        raise NotFound("Patient not found", code="patient_not_found")
    if not contact["active"]:
        raise Conflict("This patient record is not active", code="patient_inactive")
    return patient_id, contact


def booking_patient(principal: Principal, patient_id: uuid.UUID | None) -> uuid.UUID | None:
    """The patient a booking request is for (a patient may leave it out: their own)."""
    if patient_id is None and repo.is_patient(principal) and not repo.is_staff(principal, Access.WRITE):
        return principal.patient_id
    return patient_id


def check_access(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID | None, access: Access
) -> None:
    """The access rule for the appointments of ``patient_id``, for callers that must decide before
    calling a service (idempotent replays); another patient's answers 404 ``patient_not_found``."""
    repo.authorize(session, principal, patient_id, access, not_found="patient_not_found")


async def check_change_access(session: AsyncSession, principal: Principal, appointment_id: uuid.UUID) -> None:
    """Raise unless ``principal`` may change this appointment (404 for another patient's)."""
    row = await repo.get_appointment(session, appointment_id)
    repo.authorize(session, principal, row.patient_id, Access.WRITE, resource_id=appointment_id)


def record_replay(session: AsyncSession, action: str, body: Any) -> None:
    data = body if isinstance(body, dict) else {}
    patient = data.get("patient") or {}
    pid = patient.get("id") if isinstance(patient, dict) else None
    audit.record(
        session,
        action=f"appointment.{action}_replayed",
        resource_type=APPOINTMENT,
        resource_id=data.get("id"),
        patient_id=uuid.UUID(pid) if pid else None,
    )


def _online(principal: Principal) -> bool:
    return repo.is_patient(principal) and not repo.is_staff(principal, Access.WRITE)


async def book(
    session: AsyncSession,
    principal: Principal,
    data: s.AppointmentCreate,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    now = now or utcnow()
    patient_id, contact = await _bookable_patient(session, principal, data.patient_id)
    kind = await _active_type(session, data.type_id)
    start = check_instant(data.start, "start")
    end = await _check_slot(session, kind, data.staff_id, start, settings=settings, now=now)
    await expire_offers(session, settings, now=now, staff_ids=[data.staff_id], start=start, end=end)
    await _refuse_overlaps(session, staff_id=data.staff_id, patient_id=patient_id, start=start, end=end)
    online = _online(principal)
    appointment = Appointment(
        id=uuid.uuid4(),
        type_id=kind.id,
        staff_id=data.staff_id,
        patient_id=patient_id,
        start_at=start,
        end_at=end,
        status=BOOKED,
        mode=kind.mode,
        reason=data.reason,
        room_id=secrets.token_urlsafe(ROOM_BYTES) if kind.mode == "video" else None,
        booked_by=principal.user_id,
        booked_online=online,
        sequence=0,
    )
    session.add(appointment)
    await session.flush()
    await _take_locks(session, appointment)
    details: dict[str, Any] = {
        "staff_id": str(appointment.staff_id),
        "type": kind.code,
        "start": start.isoformat(),
        "online": online,
    }
    details |= await _notify_patient(
        session, appointment, kind, settings=settings, now=now, what="booked", contact=contact
    )
    if online:
        details |= await _notify_clinician(session, appointment, kind, settings=settings, what="booked")
    audit.record(
        session,
        action="appointment.book",
        resource_type=APPOINTMENT,
        resource_id=appointment.id,
        patient_id=patient_id,
        details=details,
    )
    return appointment


async def _for_change(session: AsyncSession, principal: Principal, appointment_id: uuid.UUID) -> Appointment:
    # Read first without a lock, so another patient's appointment is refused (404) before any
    # row is locked; then lock the row and work on its latest committed state.
    peek = await repo.get_appointment(session, appointment_id)
    repo.authorize(session, principal, peek.patient_id, Access.WRITE, resource_id=appointment_id)
    return await repo.get_appointment(session, appointment_id, for_update=True)


def _invalid(appointment: Appointment, to: str) -> Conflict:
    return Conflict(
        f"A {appointment.status.replace('_', ' ')} appointment cannot be {to}",
        code="invalid_transition",
        details={"status": appointment.status, "to": to},
    )


def _cutoff_applies(principal: Principal) -> bool:
    """The facility's cut-off binds patients; staff may override it (with a reason)."""
    return not repo.is_staff(principal, Access.WRITE)


def _check_cutoff(
    appointment: Appointment, principal: Principal, reason: str | None, *, settings: Settings, now: datetime
) -> bool:
    """Refuse a patient's late change; require staff's reason for one. True when overridden."""
    deadline = _change_deadline(appointment.start_at, settings)
    if now < deadline:
        return False
    if _cutoff_applies(principal):
        raise Conflict(
            f"Appointments can be changed online until {settings.cancellation_cutoff_hours} hours "
            "before the start; please call reception",
            code="cancellation_cutoff",
            details={"cutoff_hours": settings.cancellation_cutoff_hours, "deadline": deadline.isoformat()},
        )
    if not reason:
        raise BadRequest(
            f"Within {settings.cancellation_cutoff_hours} hours of the start, give a reason to override "
            "the cut-off",
            code="reason_required",
        )
    return True


async def reschedule(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    data: s.RescheduleRequest,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    """Move a booked appointment (same id, SEQUENCE raised): its locks are swapped for the new
    time's in one transaction; the old time is offered to the waitlist."""
    now = now or utcnow()
    appointment = await _for_change(session, principal, appointment_id)
    if appointment.status != BOOKED:
        raise _invalid(appointment, "rescheduled")
    overridden = _check_cutoff(appointment, principal, data.reason, settings=settings, now=now)
    kind = await repo.get_type(session, appointment.type_id)
    staff_id = data.staff_id or appointment.staff_id
    start = check_instant(data.start, "start")
    if start == appointment.start_at and staff_id == appointment.staff_id:
        return appointment
    end = await _check_slot(session, kind, staff_id, start, settings=settings, now=now)
    await expire_offers(session, settings, now=now, staff_ids=[staff_id], start=start, end=end)
    await _refuse_overlaps(
        session,
        staff_id=staff_id,
        patient_id=appointment.patient_id,
        start=start,
        end=end,
        exclude=appointment.id,
    )
    old = (appointment.staff_id, appointment.start_at, appointment.end_at)
    await repo.release_locks(session, appointment.id)
    appointment.staff_id = staff_id
    appointment.start_at = start
    appointment.end_at = end
    appointment.sequence += 1
    if appointment.mode == "video" and appointment.room_id is None:
        appointment.room_id = secrets.token_urlsafe(ROOM_BYTES)
    await session.flush()
    await _take_locks(session, appointment)
    await notifications.cancel_pending(session, related=related(appointment.id), kinds=[KIND_REMINDER])
    details: dict[str, Any] = {
        "from": {"staff_id": str(old[0]), "start": old[1].isoformat()},
        "to": {"staff_id": str(staff_id), "start": start.isoformat()},
        "cutoff_overridden": overridden,
    }
    if data.reason:
        details["reason"] = data.reason
    details |= await _notify_patient(
        session, appointment, kind, settings=settings, now=now, what="rescheduled"
    )
    if _online(principal):
        if staff_id != old[0]:
            details |= await _withdraw_from_clinician(
                session,
                appointment,
                kind,
                staff_id=old[0],
                start=old[1],
                end=old[2],
                settings=settings,
                what="moved",
            )
        details |= await _notify_clinician(session, appointment, kind, settings=settings, what="moved")
    audit.record(
        session,
        action="appointment.reschedule",
        resource_type=APPOINTMENT,
        resource_id=appointment.id,
        patient_id=appointment.patient_id,
        details=details,
    )
    await _offer_freed(session, kind, old[0], old[1], old[2], settings=settings, now=now)
    return appointment


async def _close(
    session: AsyncSession,
    appointment: Appointment,
    *,
    principal_id: uuid.UUID | None,
    reason: str | None,
    now: datetime,
) -> None:
    appointment.status = CANCELLED
    appointment.cancelled_at = now
    appointment.cancelled_by = principal_id
    appointment.cancel_reason = reason
    appointment.offer_expires_at = None
    appointment.sequence += 1
    await session.flush()
    await repo.release_locks(session, appointment.id)
    await notifications.cancel_pending(session, related=related(appointment.id), kinds=[KIND_REMINDER])


async def cancel(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    data: s.CancelRequest,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    now = now or utcnow()
    appointment = await _for_change(session, principal, appointment_id)
    if appointment.status == OFFERED:
        return await decline(
            session, principal, appointment_id, s.DeclineRequest(), settings=settings, now=now
        )
    if appointment.status != BOOKED:
        raise _invalid(appointment, "cancelled")
    overridden = _check_cutoff(appointment, principal, data.reason, settings=settings, now=now)
    kind = await repo.get_type(session, appointment.type_id)
    details: dict[str, Any] = {"cutoff_overridden": overridden}
    if data.reason:
        details["reason"] = data.reason
    await _cancel_booked(
        session, principal, appointment, kind, data.reason, details, settings=settings, now=now
    )
    return appointment


async def _cancel_booked(
    session: AsyncSession,
    principal: Principal,
    appointment: Appointment,
    kind: AppointmentType,
    reason: str | None,
    details: dict[str, Any],
    *,
    settings: Settings,
    now: datetime,
) -> None:
    """Cancel a booked appointment: close it (its locks released), end the waitlist entry it
    came from, tell the patient (and the clinician of an online change) when it is still to
    come, audit it with ``details``, and offer its time to the next person waiting."""
    await _close(session, appointment, principal_id=principal.user_id, reason=reason, now=now)
    if appointment.waitlist_entry_id is not None:
        entry = await repo.get_waitlist_entry(session, appointment.waitlist_entry_id)
        await repo.claim_waitlist_entry(session, entry, WL_BOOKED, WL_CANCELLED)
    details = {
        "staff_id": str(appointment.staff_id),
        "start": appointment.start_at.isoformat(),
        **details,
        "by_patient": _online(principal),
    }
    if appointment.start_at > now:
        details |= await _notify_patient(
            session, appointment, kind, settings=settings, now=now, what="cancelled"
        )
        if _online(principal):
            details |= await _withdraw_from_clinician(
                session,
                appointment,
                kind,
                staff_id=appointment.staff_id,
                start=appointment.start_at,
                end=appointment.end_at,
                settings=settings,
                what="cancelled",
            )
    audit.record(
        session,
        action="appointment.cancel",
        resource_type=APPOINTMENT,
        resource_id=appointment.id,
        patient_id=appointment.patient_id,
        details=details,
    )
    await _offer_freed(
        session,
        kind,
        appointment.staff_id,
        appointment.start_at,
        appointment.end_at,
        settings=settings,
        now=now,
    )


async def _transition(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    *,
    allowed_from: Sequence[str],
    to: str,
    verb: str,
    settings: Settings,
    now: datetime | None,
) -> Appointment:
    now = now or utcnow()
    _require(session, principal, Perm.APPOINTMENTS_WRITE)
    appointment = await repo.get_appointment(session, appointment_id, for_update=True)
    if appointment.status not in allowed_from:
        raise _invalid(appointment, verb)
    tz = zone(settings)
    if to == CHECKED_IN and now < _day_start(appointment.start_at.astimezone(tz).date(), tz):
        raise Conflict("Check-in opens on the day of the appointment", code="too_early")
    if to in (NO_SHOW, COMPLETED) and now < appointment.start_at:
        # A visit cannot have taken place (or been missed) before its start: checked in early,
        # the patient is still waiting; completion and no-show wait for the start time.
        raise Conflict(
            f"The appointment has not started yet: it can be {verb} from its start"
            f" ({_human(appointment.start_at, tz)})",
            code="not_started",
            details={"start": appointment.start_at.isoformat()},
        )
    appointment.status = to
    if to == CHECKED_IN:
        appointment.checked_in_at = now
    if to == COMPLETED:
        appointment.completed_at = now
    await session.flush()
    if to == NO_SHOW:
        await notifications.cancel_pending(session, related=related(appointment.id), kinds=[KIND_REMINDER])
    audit.record(
        session,
        action=f"appointment.{to}",
        resource_type=APPOINTMENT,
        resource_id=appointment.id,
        patient_id=appointment.patient_id,
    )
    return appointment


async def check_in(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    return await _transition(
        session,
        principal,
        appointment_id,
        allowed_from=[BOOKED],
        to=CHECKED_IN,
        verb="checked in",
        settings=settings,
        now=now,
    )


async def complete(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    """The visit took place: a checked-in appointment, from its start on (before it, 409
    ``not_started``; the actions offer "complete" only then)."""
    return await _transition(
        session,
        principal,
        appointment_id,
        allowed_from=[CHECKED_IN],
        to=COMPLETED,
        verb="completed",
        settings=settings,
        now=now,
    )


async def no_show(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    """The patient did not come: a booked appointment, from its start on (409 ``not_started``)."""
    return await _transition(
        session,
        principal,
        appointment_id,
        allowed_from=[BOOKED],
        to=NO_SHOW,
        verb="marked as a no-show",
        settings=settings,
        now=now,
    )


# --- waitlist ---------------------------------------------------------------------------------


async def add_to_waitlist(
    session: AsyncSession,
    principal: Principal,
    data: s.WaitlistCreate,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> WaitlistEntry:
    """Put a patient on the waitlist. One live (waiting or offered) entry per patient and
    criteria: the same again is 409 ``already_waiting`` (the database decides under
    concurrency). With ``replaces_appointment_id`` (the patient's own booked, future
    appointment of the same type) only earlier slots are offered, and accepting one cancels it."""
    now = now or utcnow()
    patient_id, _ = await _bookable_patient(session, principal, data.patient_id)
    await _active_type(session, data.type_id)
    today = now.astimezone(zone(settings)).date()
    if data.latest < today:
        raise BadRequest("The dates are in the past", code="in_past")
    last_day = _horizon(now).astimezone(zone(settings)).date()
    if data.latest > last_day:
        raise BadRequest(
            f"Appointments can be booked at most {s.BOOKING_HORIZON_DAYS} days ahead: wait until"
            f" {last_day.isoformat()} at the latest",
            code="too_far_ahead",
            details={"horizon_days": s.BOOKING_HORIZON_DAYS, "latest": last_day.isoformat()},
        )
    if data.staff_id is not None and data.staff_id not in await staff.staff_summaries(
        session, [data.staff_id]
    ):
        raise NotFound("Staff member not found", code="staff_not_found")
    if data.replaces_appointment_id is not None:
        await _check_replaceable(session, principal, data, patient_id, now=now)
    earliest = max(data.earliest, today)
    key = _live_key(patient_id, data, earliest)
    await _refuse_already_waiting(session, key)
    entry = WaitlistEntry(
        patient_id=patient_id,
        type_id=data.type_id,
        staff_id=data.staff_id,
        department_id=data.department_id,
        earliest=earliest,
        latest=data.latest,
        status=WAITING,
        note=data.note,
        created_by=principal.user_id,
        created_at=now,
        replaces_appointment_id=data.replaces_appointment_id,
        live_key=key,
    )
    try:
        async with session.begin_nested():
            session.add(entry)
            await session.flush()
    except IntegrityError as exc:  # a twin committed meanwhile, or the department reference
        await _refuse_already_waiting(session, key, locking=True)
        raise NotFound("Department not found", code="department_not_found") from exc
    details = {"type_id": str(entry.type_id), "earliest": str(entry.earliest), "latest": str(entry.latest)}
    if entry.replaces_appointment_id is not None:
        details["replaces_appointment_id"] = str(entry.replaces_appointment_id)
    audit.record(
        session,
        action="appointment.waitlist_add",
        resource_type="WaitlistEntry",
        resource_id=entry.id,
        patient_id=patient_id,
        details=details,
    )
    return entry


def _live_key(patient_id: uuid.UUID, data: s.WaitlistCreate, earliest: date) -> str:
    """The digest of a waitlist wish: who, which type, with whom or where, between which days."""
    parts = (patient_id, data.type_id, data.staff_id, data.department_id, earliest, data.latest)
    return hashlib.sha256("|".join("-" if p is None else str(p) for p in parts).encode()).hexdigest()


async def _refuse_already_waiting(session: AsyncSession, key: str, *, locking: bool = False) -> None:
    """409 ``already_waiting`` when a live entry has the same wish. ``locking``: read the latest
    committed row (after losing a race, the transaction's own snapshot may predate the twin)."""
    twin = await repo.live_waitlist_entry(session, key, latest=locking)
    if twin is not None:
        raise Conflict(
            f"The patient is already waiting for this ({twin.status})",
            code="already_waiting",
            details={"waitlist_entry_id": str(twin.id), "status": twin.status},
        )


async def _check_replaceable(
    session: AsyncSession,
    principal: Principal,
    data: s.WaitlistCreate,
    patient_id: uuid.UUID,
    *,
    now: datetime,
) -> None:
    """The appointment a waitlist entry would replace: the patient's own, booked, still to come,
    of the type waited for. Another patient's is 404 to a patient, as everywhere."""
    assert data.replaces_appointment_id is not None
    replaced = await repo.get_appointment(session, data.replaces_appointment_id)
    repo.authorize(session, principal, replaced.patient_id, Access.WRITE, resource_id=replaced.id)
    if replaced.patient_id != patient_id:
        raise BadRequest(
            "The appointment to replace is another patient's", code="replacement_patient_mismatch"
        )
    if replaced.status != BOOKED or replaced.start_at <= now:
        raise Conflict(
            "Only a booked appointment still to come can be replaced",
            code="replacement_not_booked",
            details={"status": replaced.status},
        )
    if replaced.type_id != data.type_id:
        raise BadRequest(
            "The appointment to replace is of another type than the one waited for",
            code="replacement_type_mismatch",
            details={"type_id": str(replaced.type_id)},
        )


async def list_waitlist(
    session: AsyncSession,
    principal: Principal,
    *,
    patient_id: uuid.UUID | None = None,
    type_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    statuses: Sequence[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[WaitlistEntry], int]:
    if not repo.is_staff(principal, Access.READ):
        if principal.has(Perm.SELF_SERVICE) and patient_id is None:
            patient_id = principal.patient_id
            if patient_id is None:
                return [], 0
        repo.authorize(
            session,
            principal,
            patient_id,
            Access.READ,
            resource_type="WaitlistEntry",
            not_found="patient_not_found",
        )
    rows, total = await repo.list_waitlist(
        session,
        patient_id=patient_id,
        type_id=type_id,
        staff_id=staff_id,
        statuses=statuses,
        limit=limit,
        offset=offset,
    )
    for pid in dict.fromkeys(r.patient_id for r in rows):
        audit.record(
            session, action="appointment.waitlist_list", resource_type="WaitlistEntry", patient_id=pid
        )
    return rows, total


async def offered_appointments(
    session: AsyncSession, entry_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The appointment each of these waitlist entries was offered, while it holds the time (a
    live offer, or the booking an accepted one became)."""
    return await repo.entry_appointments(session, entry_ids)


async def remove_from_waitlist(
    session: AsyncSession,
    principal: Principal,
    entry_id: uuid.UUID,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> WaitlistEntry:
    """Leave the waitlist; a live offer of the entry is declined with it."""
    now = now or utcnow()
    peek = await repo.get_waitlist_entry(session, entry_id)
    repo.authorize(
        session,
        principal,
        peek.patient_id,
        Access.WRITE,
        resource_type="WaitlistEntry",
        resource_id=entry_id,
        not_found="waitlist_entry_not_found",
    )
    entry = await repo.get_waitlist_entry(session, entry_id, for_update=True)
    if entry.status == WL_OFFERED:
        offers = await repo.offers_for_entries(session, [entry.id])
        if entry.id in offers:
            await decline(
                session, principal, offers[entry.id], s.DeclineRequest(), settings=settings, now=now
            )
            entry = await repo.get_waitlist_entry(session, entry_id)
    if entry.status not in (WAITING, WL_DECLINED):
        raise Conflict(
            f"This waitlist entry is {entry.status}",
            code="invalid_transition",
            details={"status": entry.status},
        )
    entry.status = WL_CANCELLED
    entry.live_key = None
    await session.flush()
    audit.record(
        session,
        action="appointment.waitlist_remove",
        resource_type="WaitlistEntry",
        resource_id=entry.id,
        patient_id=entry.patient_id,
    )
    return entry


async def accept(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    """Take up a waitlist offer: the held slot becomes the patient's booking. When the entry
    replaces a later appointment of the patient's, that one is cancelled in the same transaction
    (its locks released, the patient sent its cancellation, its time offered on)."""
    now = now or utcnow()
    appointment = await _for_change(session, principal, appointment_id)
    if appointment.status != OFFERED:
        raise _invalid(appointment, "accepted")
    if appointment.offer_expires_at is not None and appointment.offer_expires_at <= now:
        raise Conflict("This offer has expired", code="offer_expired")
    kind = await repo.get_type(session, appointment.type_id)
    appointment.status = BOOKED
    appointment.offer_expires_at = None
    appointment.booked_by = principal.user_id
    appointment.booked_online = _online(principal)
    if appointment.mode == "video" and appointment.room_id is None:
        appointment.room_id = secrets.token_urlsafe(ROOM_BYTES)
    await session.flush()
    entry: WaitlistEntry | None = None
    if appointment.waitlist_entry_id is not None:
        entry = await repo.get_waitlist_entry(session, appointment.waitlist_entry_id)
        await repo.claim_waitlist_entry(session, entry, WL_OFFERED, WL_BOOKED)
    details: dict[str, Any] = {
        "staff_id": str(appointment.staff_id),
        "start": appointment.start_at.isoformat(),
    }
    details |= await _notify_patient(session, appointment, kind, settings=settings, now=now, what="booked")
    if appointment.booked_online:
        details |= await _notify_clinician(session, appointment, kind, settings=settings, what="booked")
    if entry is not None and entry.replaces_appointment_id is not None:
        details["replaces_appointment_id"] = str(entry.replaces_appointment_id)
    audit.record(
        session,
        action="appointment.offer_accept",
        resource_type=APPOINTMENT,
        resource_id=appointment.id,
        patient_id=appointment.patient_id,
        details=details,
    )
    if entry is not None and entry.replaces_appointment_id is not None:
        await _cancel_replaced(
            session, principal, entry.replaces_appointment_id, appointment, settings=settings, now=now
        )
    return appointment


async def _cancel_replaced(
    session: AsyncSession,
    principal: Principal,
    replaced_id: uuid.UUID,
    replacement: Appointment,
    *,
    settings: Settings,
    now: datetime,
) -> None:
    """Cancel the appointment an accepted waitlist offer replaces, as a cancellation would (no
    cut-off: the clinic gets its time back earlier than it gives it), if it is still the
    patient's booked one; then offer its time to the next person waiting."""
    old = await repo.get_appointment(session, replaced_id, for_update=True)
    if old.status != BOOKED or old.patient_id != replacement.patient_id:
        return
    kind = await repo.get_type(session, old.type_id)
    await _cancel_booked(
        session,
        principal,
        old,
        kind,
        "replaced by an earlier appointment",
        {"replaced_by": str(replacement.id)},
        settings=settings,
        now=now,
    )


async def decline(
    session: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    data: s.DeclineRequest,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    """Turn down a waitlist offer; the slot goes to the next person waiting."""
    now = now or utcnow()
    appointment = await _for_change(session, principal, appointment_id)
    if appointment.status != OFFERED:
        raise _invalid(appointment, "declined")
    kind = await repo.get_type(session, appointment.type_id)
    await _close(session, appointment, principal_id=principal.user_id, reason="offer declined", now=now)
    skip: list[uuid.UUID] = []
    if appointment.waitlist_entry_id is not None:
        skip.append(appointment.waitlist_entry_id)
        entry = await repo.get_waitlist_entry(session, appointment.waitlist_entry_id)
        await repo.claim_waitlist_entry(
            session, entry, WL_OFFERED, WAITING if data.keep_waiting else WL_DECLINED
        )
    audit.record(
        session,
        action="appointment.offer_decline",
        resource_type=APPOINTMENT,
        resource_id=appointment.id,
        patient_id=appointment.patient_id,
        details={"keep_waiting": data.keep_waiting},
    )
    await _offer_freed(
        session,
        kind,
        appointment.staff_id,
        appointment.start_at,
        appointment.end_at,
        settings=settings,
        now=now,
        skip=skip,
    )
    return appointment


async def expire_offers(
    session: AsyncSession,
    settings: Settings,
    *,
    now: datetime | None = None,
    staff_ids: Sequence[uuid.UUID] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Release offers past their hold (of these clinicians in [start, end), or all), each to the
    next person waiting. Returns how many expired."""
    now = now or utcnow()
    count = 0
    for appointment_id in await repo.expired_offers(session, now, staff_ids=staff_ids, start=start, end=end):
        appointment = await repo.get_appointment(session, appointment_id, for_update=True)
        if appointment.status != OFFERED or appointment.offer_expires_at is None:
            continue
        if appointment.offer_expires_at > now:
            continue
        kind = await repo.get_type(session, appointment.type_id)
        await _close(session, appointment, principal_id=None, reason="offer expired", now=now)
        skip: list[uuid.UUID] = []
        if appointment.waitlist_entry_id is not None:
            skip.append(appointment.waitlist_entry_id)
            entry = await repo.get_waitlist_entry(session, appointment.waitlist_entry_id)
            await repo.claim_waitlist_entry(session, entry, WL_OFFERED, WL_EXPIRED)
        audit.record(
            session,
            action="appointment.offer_expired",
            resource_type=APPOINTMENT,
            resource_id=appointment.id,
            patient_id=appointment.patient_id,
        )
        count += 1
        await _offer_freed(
            session,
            kind,
            appointment.staff_id,
            appointment.start_at,
            appointment.end_at,
            settings=settings,
            now=now,
            skip=skip,
        )
    return count


async def _offer_freed(
    session: AsyncSession,
    freed_kind: AppointmentType,
    staff_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    settings: Settings,
    now: datetime,
    skip: Sequence[uuid.UUID] = (),
) -> Appointment | None:
    """Offer the freed time [start, end) with ``staff_id`` to the first matching waiting entry:
    same clinician or department if the entry names one, the day within its dates, its type's
    slot starting at ``start`` in the clinician's hours and fitting in the freed time, and
    earlier than the appointment the entry would replace (while that one is booked)."""
    if start <= now:
        return None
    tz = zone(settings)
    day = start.astimezone(tz).date()
    entries = [
        e
        for e in await repo.waiting_entries(session, first_day=day, last_day=day, limit=WAITLIST_SCAN)
        if e.id not in skip and (e.staff_id is None or e.staff_id == staff_id)
    ]
    if not entries:
        return None
    facts = (await staff.eligibility(session, [staff_id])).get(staff_id)
    if facts is None or not facts.bookable_on(day):
        return None
    if await repo.occupying(session, staff_ids=[staff_id], start=start, end=end):
        return None  # someone booked it already
    types = await repo.types_by_id(session, [e.type_id for e in entries])
    departments: dict[uuid.UUID, set[uuid.UUID]] = {}
    for entry in entries:
        kind = types.get(entry.type_id)
        if kind is None or not kind.active or start + _duration(kind) > end:
            continue
        if entry.department_id is not None:
            if entry.department_id not in departments:
                departments[entry.department_id] = set(
                    await staff.department_staff_ids(session, entry.department_id)
                )
            if staff_id not in departments[entry.department_id]:
                continue
        if entry.replaces_appointment_id is not None:
            replaced = await repo.get_appointment(session, entry.replaces_appointment_id)
            if replaced.status == BOOKED and start >= replaced.start_at:
                continue
        try:
            await _check_slot(session, kind, staff_id, start, settings=settings, now=now)
        except (Conflict, BadRequest, NotFound):
            continue
        if await repo.occupying(
            session, patient_id=entry.patient_id, start=start, end=start + _duration(kind)
        ):
            continue
        offer = await _hold(session, entry, kind, staff_id, start, settings=settings, now=now)
        if offer is not None:
            return offer
    return None


async def _hold(
    session: AsyncSession,
    entry: WaitlistEntry,
    kind: AppointmentType,
    staff_id: uuid.UUID,
    start: datetime,
    *,
    settings: Settings,
    now: datetime,
) -> Appointment | None:
    """Create the offered appointment holding the slot's locks for ``entry``; None if the entry
    or the time was taken meanwhile (everything of the attempt is rolled back then)."""
    expires = min(now + timedelta(minutes=settings.waitlist_offer_minutes), start)
    offer = Appointment(
        id=uuid.uuid4(),
        type_id=kind.id,
        staff_id=staff_id,
        patient_id=entry.patient_id,
        start_at=start,
        end_at=start + _duration(kind),
        status=OFFERED,
        mode=kind.mode,
        offer_expires_at=expires,
        waitlist_entry_id=entry.id,
        sequence=0,
    )
    try:
        async with session.begin_nested():
            if not await repo.claim_waitlist_entry(session, entry, WAITING, WL_OFFERED):
                return None
            session.add(offer)
            await session.flush()
            await _take_locks(session, offer)
    except Conflict:
        await session.refresh(entry)
        return None
    details = await _notify_patient(
        session,
        offer,
        kind,
        settings=settings,
        now=now,
        what="offered",
        replaces=entry.replaces_appointment_id is not None,
    )
    audit.record(
        session,
        action="appointment.offer",
        resource_type=APPOINTMENT,
        resource_id=offer.id,
        patient_id=offer.patient_id,
        details={
            "waitlist_entry_id": str(entry.id),
            "staff_id": str(staff_id),
            "start": start.isoformat(),
            "expires": expires.isoformat(),
            **details,
        },
    )
    return offer


# --- the clinician's calendar feed -------------------------------------------------------------


async def calendar_events(
    session: AsyncSession, staff_id: uuid.UUID, start: datetime, end: datetime
) -> list[ical.CalendarEvent]:
    """The clinician's appointments for their iCalendar feed: no patient name or id in it."""
    rows = await repo.occupying(session, staff_ids=[staff_id], start=start, end=end)
    types = await repo.types_by_id(session, [r.type_id for r in rows])
    return [
        ical.CalendarEvent(
            uid=f"appointment-{r.id}",
            start=r.start_at,
            end=r.end_at,
            summary="Video consultation" if r.mode == "video" else "Appointment",
            description=types[r.type_id].name if r.type_id in types else None,
            status="TENTATIVE" if r.status == OFFERED else "CONFIRMED",
            sequence=r.sequence,
            updated=r.updated_at,
        )
        for r in rows
    ]


# Bookings appear in each clinician's personal calendar feed (app/staff/feeds.py).
staff.register_calendar_source(calendar_events)


# --- for the FHIR facade: Schedule and Slot (app/fhir/scheduling.py) --------------------------


@dataclass(frozen=True, slots=True)
class ClinicianSchedule:
    """A bookable clinician's schedule: the active appointment types their weekly hours offer
    and the facility-local dates those hours cover, from today on."""

    staff_id: uuid.UUID
    display_name: str
    active: bool  # an active clinical staff member (a licence is checked per day, by the slots)
    types: tuple[AppointmentType, ...]
    first_day: date
    last_day: date | None  # None: open-ended


async def schedules(
    session: AsyncSession,
    principal: Principal,
    *,
    staff_ids: Sequence[uuid.UUID] | None = None,
    settings: Settings,
    now: datetime | None = None,
) -> list[ClinicianSchedule]:
    """One per clinician with weekly hours valid today or later, ordered by staff id (of these
    clinicians, or all). The slot search's permission: appointments:read, or a portal patient."""
    _require(session, principal, Perm.APPOINTMENTS_READ, Perm.SELF_SERVICE)
    today = (now or utcnow()).astimezone(zone(settings)).date()
    rows = await repo.list_hours(session, staff_ids=staff_ids, first_day=today)
    if not rows:
        return []
    facts = await staff.eligibility(session, list({r.staff_id for r in rows}))
    kinds = await repo.list_types(session, active=True, mode=None, department_id=None)
    members: dict[uuid.UUID, set[uuid.UUID]] = {}
    for department_id in {k.department_id for k in kinds if k.department_id is not None}:
        members[department_id] = set(await staff.department_staff_ids(session, department_id))
    by_staff: dict[uuid.UUID, list[ClinicHours]] = {}
    for row in rows:
        if row.staff_id in facts:
            by_staff.setdefault(row.staff_id, []).append(row)
    out = []
    for staff_id in sorted(by_staff, key=str):
        hours = by_staff[staff_id]
        listed = {t for h in hours for t in h.type_ids}
        every = any(not h.type_ids for h in hours)  # "every type" hours: as in _weekly_hours
        offered = tuple(
            k
            for k in kinds
            if k.id in listed or (every and (k.department_id is None or staff_id in members[k.department_id]))
        )
        ends = [h.valid_to for h in hours]
        fact = facts[staff_id]
        out.append(
            ClinicianSchedule(
                staff_id=staff_id,
                display_name=fact.display_name,
                active=fact.active and fact.clinical,
                types=offered,
                first_day=max(today, min(h.valid_from for h in hours)),
                last_day=None if any(e is None for e in ends) else max(e for e in ends if e is not None),
            )
        )
    return out


async def bookable_clinicians(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str | None = None,
    type_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[list[s.ClinicianRead], int]:
    """The clinicians a booking desk or calendar picks from: active clinical staff whose weekly
    hours are valid today or later (of them, those whose hours offer ``type_id``, in
    ``department_id``, or matching ``name`` as the staff directory matches it), by name, paged.
    A directory of hundreds of imported practitioners stays out of the way. Needs
    appointments:read and staff:read (the directory's own rule); an unknown type or department
    is 404."""
    _require(session, principal, Perm.APPOINTMENTS_READ)
    if type_id is not None:
        await repo.get_type(session, type_id)
    found = [x for x in await schedules(session, principal, settings=settings, now=now) if x.active]
    if type_id is not None:
        found = [x for x in found if any(k.id == type_id for k in x.types)]
    if department_id is not None:
        await staff.require_department(session, department_id)
        members = set(await staff.department_staff_ids(session, department_id))
        found = [x for x in found if x.staff_id in members]
    offered = {x.staff_id: [k.id for k in x.types] for x in found}
    rows, total = await staff.search_staff(
        session,
        principal,
        name=name,
        ids=list(offered),
        active=True,
        clinical=True,
        limit=limit,
        offset=offset,
    )
    departments = await staff.staff_summaries(session, [r.id for r in rows])
    return [
        s.ClinicianRead(
            id=r.id,
            display_name=r.display_name,
            position=r.position,
            department_id=r.department_id,
            department_name=departments[r.id].department_name if r.id in departments else None,
            type_ids=offered.get(r.id, []),
        )
        for r in rows
    ], total


async def slot_status(
    session: AsyncSession,
    principal: Principal,
    *,
    type_id: uuid.UUID,
    staff_id: uuid.UUID,
    start: datetime,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[AppointmentType, str] | None:
    """The state of one computed slot (the FHIR Slot read). None when the clinician's weekly
    hours do not offer ``type_id`` at ``start`` (no such slot); else the type and one of "free"
    (what the slot search would offer), "busy" (an appointment holds the time),
    "busy-tentative" (held for a waitlist offer) or "busy-unavailable" (past, beyond the booking
    horizon, leave, the type retired, or the clinician not bookable that day)."""
    _require(session, principal, Perm.APPOINTMENTS_READ, Perm.SELF_SERVICE)
    now = now or utcnow()
    kind = (await repo.types_by_id(session, [type_id])).get(type_id)
    facts = (await staff.eligibility(session, [staff_id])).get(staff_id)
    if kind is None or facts is None:
        return None
    tz = zone(settings)
    try:
        start = check_instant(start, "start")
    except BadRequest:
        return None
    end = start + _duration(kind)
    day = start.astimezone(tz).date()
    hours = await _weekly_hours(session, kind, [staff_id], day, day)
    offered = {x.start for x in sl.candidate_slots(hours, [day], _duration(kind), tz)}
    if not sl.aligned(start) or start not in offered:
        return None
    if start > now:
        await expire_offers(session, settings, now=now, staff_ids=[staff_id], start=start, end=end)
    held = await repo.occupying(session, staff_ids=[staff_id], start=start, end=end)
    if held:
        return kind, "busy-tentative" if all(a.status == OFFERED for a in held) else "busy"
    if start < now or start >= _horizon(now) or not kind.active or not facts.bookable_on(day):
        return kind, "busy-unavailable"
    if (await staff.unavailable_intervals(session, [staff_id], start, end)).get(staff_id):
        return kind, "busy-unavailable"
    return kind, "free"


# --- for the staff module: bookings a leave or licence change would strand ----------------------


async def staff_bookings(
    session: AsyncSession, staff_id: uuid.UUID, start: datetime, end: datetime
) -> list[staff.BookedAppointment]:
    """The clinician's appointments still to be seen (offered, booked, checked in) overlapping
    [start, end), for the staff module's leave and licence checks; no patient data."""
    rows = await repo.occupying(session, staff_ids=[staff_id], start=start, end=end)
    rows = [r for r in rows if r.status in (OFFERED, BOOKED, CHECKED_IN)]
    types = await repo.types_by_id(session, [r.type_id for r in rows])
    return [
        staff.BookedAppointment(
            id=r.id,
            start=r.start_at,
            end=r.end_at,
            type_name=types[r.type_id].name if r.type_id in types else None,
            mode=r.mode,
            status=r.status,
        )
        for r in rows
    ]


# Recording leave or shortening a licence over these asks for an acknowledgement first
# (registered here rather than beside calendar_events above: the name must exist first).
staff.register_appointment_source(staff_bookings)
