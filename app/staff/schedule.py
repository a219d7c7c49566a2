"""Work schedules: shift definitions, department rotas, leave and unavailability.

Every write that changes one person's time (a shift, a week of shifts, leave) first locks that
person's staff row (``SELECT ... FOR UPDATE``, in id order) and then reads their shifts, leave
and licences with shared locks, so two receptionists saving at once are decided one after the
other by the database: the second sees the first one's shift and gets a clear 409. SQLite
serialises writers anyway (``BEGIN IMMEDIATE``). Nothing is written when a rule is broken.

Part of the staff module's service layer (the router calls it); other modules call
``app.staff.service``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.permissions import Perm
from app.config import Settings
from app.deps import Principal
from app.errors import BadRequest, Conflict, NotFound
from app.staff import repository as repo
from app.staff import rules
from app.staff import schemas as s
from app.staff import service as staff_service
from app.staff.models import Department, Leave, Shift, ShiftDefinition, StaffMember
from app.staff.service import require

SHIFT = "Shift"
LEAVE = "Leave"
DEFINITION = "ShiftDefinition"
MAX_RANGE_DAYS = 62
# A refused week lists the problems of its first items only (each violation lists at most
# rules.MAX_LISTED clashes): a bad request for 500 shifts gets a short answer, not megabytes.
MAX_REPORTED_ITEMS = 100
_MIN_YEAR, _MAX_YEAR = 1990, 2200


def zone(settings: Settings) -> ZoneInfo:
    return rules.zone(settings.facility_timezone)


@asynccontextmanager
async def _decided_by_database() -> AsyncIterator[None]:
    """MariaDB may end one of two transactions that wait on each other's locks (a deadlock or
    a lock wait timeout); the loser's transaction is gone, so say so plainly instead of a 500."""
    try:
        yield
    except DBAPIError as exc:
        code = exc.orig.args[0] if exc.orig is not None and getattr(exc.orig, "args", None) else None
        if code in (1205, 1213):
            raise Conflict(
                "Another change to the same rota was being saved at the same moment; please try again",
                code="concurrent_change",
            ) from exc
        raise


def _check_day(day: date) -> None:
    if not _MIN_YEAR <= day.year <= _MAX_YEAR:
        raise BadRequest(f"{day.isoformat()} is out of range", code="date_out_of_range")


def _check_range(start: date, end: date) -> None:
    _check_day(start)
    _check_day(end)
    if end < start:
        raise BadRequest("end is before start", code="invalid_range")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise BadRequest(f"at most {MAX_RANGE_DAYS} days at a time", code="range_too_long")


# --- reading back --------------------------------------------------------------------------------


@dataclass
class _Names:
    staff: dict[uuid.UUID, StaffMember]
    departments: dict[uuid.UUID, Department]
    definitions: dict[uuid.UUID, ShiftDefinition]


async def lookup_names(
    session: AsyncSession,
    shifts: Sequence[Shift],
    leave: Sequence[Leave] = (),
    extra_staff: Sequence[uuid.UUID] = (),
) -> _Names:
    staff_ids = [x.staff_id for x in shifts] + [x.staff_id for x in leave] + list(extra_staff)
    return _Names(
        staff=await repo.staff_rows(session, staff_ids),
        departments=await repo.departments_by_id(session, [x.department_id for x in shifts]),
        definitions=await repo.definitions_by_id(session, [x.definition_id for x in shifts]),
    )


def shift_read(row: Shift, names: _Names, tz: ZoneInfo) -> s.ShiftRead:
    person = names.staff.get(row.staff_id)
    dept = names.departments.get(row.department_id)
    definition = names.definitions.get(row.definition_id) if row.definition_id else None
    return s.ShiftRead(
        id=row.id,
        staff_id=row.staff_id,
        staff_name=person.display_name if person else "",
        department_id=row.department_id,
        department_name=dept.name if dept else None,
        definition_id=row.definition_id,
        definition_name=definition.name if definition else None,
        date=row.local_date,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        local_start=row.starts_at.astimezone(tz).isoformat(),
        local_end=row.ends_at.astimezone(tz).isoformat(),
        minutes=int((row.ends_at - row.starts_at).total_seconds() // 60),
        clinical=row.clinical,
        note=row.note,
    )


def leave_read(row: Leave, names: _Names, tz: ZoneInfo) -> s.LeaveRead:
    person = names.staff.get(row.staff_id)
    days = rules.local_days(row.starts_at, row.ends_at, tz)
    return s.LeaveRead(
        id=row.id,
        staff_id=row.staff_id,
        staff_name=person.display_name if person else "",
        kind=row.kind,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        all_day=row.all_day,
        start_date=days[0],
        end_date=days[-1],
        note=row.note,
    )


def definition_read(row: ShiftDefinition) -> s.ShiftDefinitionRead:
    start = datetime.combine(date(2001, 1, 1), row.start_time)
    end = datetime.combine(date(2001, 1, 2 if row.end_time <= row.start_time else 1), row.end_time)
    return s.ShiftDefinitionRead(
        id=row.id,
        name=row.name,
        start_time=row.start_time,
        end_time=row.end_time,
        clinical=row.clinical,
        active=row.active,
        crosses_midnight=row.end_time <= row.start_time,
        nominal_minutes=int((end - start).total_seconds() // 60),
    )


# --- shift definitions ----------------------------------------------------------------------------


async def list_definitions(
    session: AsyncSession, principal: Principal, *, active: bool | None = None
) -> list[s.ShiftDefinitionRead]:
    require(session, principal, Perm.STAFF_READ)
    return [definition_read(d) for d in await repo.definitions(session, active=active)]


async def _flush_definition(session: AsyncSession, name: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A shift definition named {name!r} already exists",
            code="duplicate_definition",
            details={"name": name},
        ) from exc


async def create_definition(
    session: AsyncSession, principal: Principal, data: s.ShiftDefinitionCreate
) -> s.ShiftDefinitionRead:
    require(session, principal, Perm.ROTA_WRITE)
    row = ShiftDefinition(
        name=data.name,
        start_time=data.start_time.replace(microsecond=0),
        end_time=data.end_time.replace(microsecond=0),
        clinical=data.clinical,
        active=data.active,
    )
    session.add(row)
    await _flush_definition(session, data.name)
    audit.record(session, action="shift_definition.create", resource_type=DEFINITION, resource_id=row.id)
    return definition_read(row)


async def update_definition(
    session: AsyncSession, principal: Principal, definition_id: uuid.UUID, data: s.ShiftDefinitionUpdate
) -> s.ShiftDefinitionRead:
    """Changes apply to shifts assigned from now on; shifts already on the rota keep their times."""
    require(session, principal, Perm.ROTA_WRITE)
    row = await repo.get_definition(session, definition_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for key in ("start_time", "end_time"):
        if key in changes:
            if changes[key].tzinfo is not None:
                raise BadRequest("shift times are facility-local, without an offset", code="invalid_time")
            changes[key] = changes[key].replace(microsecond=0)
    for key, value in changes.items():
        setattr(row, key, value)
    if row.start_time == row.end_time:
        raise BadRequest("a shift cannot start and end at the same time", code="invalid_time")
    await _flush_definition(session, row.name)
    audit.record(
        session,
        action="shift_definition.update",
        resource_type=DEFINITION,
        resource_id=row.id,
        details={"fields": sorted(changes)},
    )
    return definition_read(row)


# --- the rules -------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    index: int
    staff_id: uuid.UUID
    department_id: uuid.UUID
    local_date: date
    starts_at: datetime
    ends_at: datetime
    clinical: bool
    definition_id: uuid.UUID | None
    label: str | None
    note: str | None

    def interval(self) -> rules.Interval:
        return rules.Interval(
            None, self.staff_id, self.starts_at, self.ends_at, label=self.label, ref=self.index
        )

    def describe(self) -> dict[str, object]:
        return {
            "index": self.index,
            "staff_id": str(self.staff_id),
            "date": self.local_date.isoformat(),
            "start": self.starts_at.isoformat(),
            "end": self.ends_at.isoformat(),
        }


def _resolve_times(
    day: date,
    definition: ShiftDefinition | None,
    start: time | None,
    end: time | None,
    tz: ZoneInfo,
) -> tuple[datetime, datetime]:
    """The UTC bounds of a shift; a wall-clock time inside the spring-forward gap is refused
    (``nonexistent_local_time``), an ambiguous one is its first occurrence."""
    _check_day(day)
    if definition is not None:
        try:
            return rules.shift_bounds(day, definition.start_time, definition.end_time, tz, strict=True)
        except rules.NonexistentLocalTime as exc:
            exc.message = f"Shift definition {definition.name!r}: {exc.message}; give explicit times"
            raise
    assert start is not None and end is not None  # the schema asks for a definition or both times
    return rules.shift_bounds(day, start, end, tz, strict=True)


async def _evaluate(
    session: AsyncSession,
    settings: Settings,
    candidates: Sequence[_Candidate],
    *,
    exclude: set[uuid.UUID],
    staff: dict[uuid.UUID, StaffMember],
    locking: bool = True,
) -> dict[int, list[rules.Violation]]:
    """The rule violations of each candidate, against stored shifts and leave (locked reads)
    and against the other candidates. ``staff`` must already be locked (``locking`` False: a
    check that writes nothing reads without locks)."""
    if not candidates:
        return {}
    tz = zone(settings)
    rest = timedelta(hours=settings.min_rest_hours)
    staff_ids = sorted({c.staff_id for c in candidates})
    lo = min(c.starts_at for c in candidates)
    hi = max(c.ends_at for c in candidates)
    stored = await repo.shifts_between(session, lo - rest, hi + rest, staff_ids=staff_ids, for_share=locking)
    away = await repo.leave_between(session, staff_ids, lo, hi, for_share=locking)
    periods = await repo.licence_periods(session, staff_ids, for_share=locking)
    names = await repo.definitions_by_id(session, [x.definition_id for x in stored])
    # One timeline per person of their stored shifts and all the candidates, sorted once: each
    # candidate is then checked with binary searches, O(n log n) for a week of n shifts.
    shifts_by: dict[uuid.UUID, list[rules.Interval]] = {sid: [] for sid in staff_ids}
    for row in stored:
        if row.id in exclude:
            continue
        label = names[row.definition_id].name if row.definition_id in names else None
        shifts_by[row.staff_id].append(
            rules.Interval(row.id, row.staff_id, row.starts_at, row.ends_at, label=label)
        )
    for c in candidates:
        shifts_by[c.staff_id].append(c.interval())
    leave_by: dict[uuid.UUID, list[rules.Interval]] = {sid: [] for sid in staff_ids}
    for lv in away:
        leave_by[lv.staff_id].append(
            rules.Interval(lv.id, lv.staff_id, lv.starts_at, lv.ends_at, kind=lv.kind)
        )
    shift_lines = {sid: rules.Timeline(items) for sid, items in shifts_by.items()}
    leave_lines = {sid: rules.Timeline(items) for sid, items in leave_by.items()}
    out: dict[int, list[rules.Violation]] = {}
    for c in candidates:
        person = staff[c.staff_id]
        facts = rules.PersonFacts(
            staff_id=person.id,
            display_name=person.display_name,
            active=person.active,
            clinical=person.clinical,
            licence_periods=tuple(periods.get(person.id, [])),
        )
        found = rules.check_shift(
            c.interval(),
            clinical_shift=c.clinical,
            person=facts,
            others=shift_lines[c.staff_id],
            leave=leave_lines[c.staff_id],
            min_rest=rest,
            tz=tz,
        )
        if found:
            out[c.index] = found
    return out


async def _weekly_warnings(
    session: AsyncSession, settings: Settings, keys: set[tuple[uuid.UUID, date]]
) -> list[s.RotaWarning]:
    """Weekly hours (all departments) of the given (person, Monday) pairs above the limit."""
    if not keys:
        return []
    tz = zone(settings)
    first = min(k[1] for k in keys)
    last = max(k[1] for k in keys) + timedelta(days=6)
    rows = await repo.shifts_on_days(session, first, last, staff_ids=list({k[0] for k in keys}))
    totals = rules.weekly_hours((rules.Interval(r.id, r.staff_id, r.starts_at, r.ends_at) for r in rows), tz)
    people = await repo.staff_rows(session, [k[0] for k in keys])
    out = []
    for staff_id, monday in sorted(keys, key=lambda k: (k[1], str(k[0]))):
        hours = round(totals.get((staff_id, monday), 0.0), 2)
        if hours > settings.weekly_hours_warning:
            name = people[staff_id].display_name if staff_id in people else str(staff_id)
            out.append(
                s.RotaWarning(
                    code="weekly_hours",
                    message=(
                        f"{name} is rostered {hours:g} hours in the week of {monday.isoformat()}, "
                        f"above {settings.weekly_hours_warning}"
                    ),
                    staff_id=staff_id,
                    week_start=monday,
                    hours=hours,
                    limit=settings.weekly_hours_warning,
                )
            )
    return out


def _refuse(violations: list[rules.Violation], candidate: _Candidate) -> Conflict:
    first = violations[0]
    return Conflict(
        first.message,
        code=first.code,
        details={"shift": candidate.describe(), "violations": [v.as_dict() for v in violations]},
    )


async def _department(session: AsyncSession, department_id: uuid.UUID) -> Department:
    dept = await repo.get_department(session, department_id)
    if not dept.active:
        raise Conflict(f"{dept.name} is not an active department", code="department_inactive")
    return dept


async def _definition(session: AsyncSession, definition_id: uuid.UUID | None) -> ShiftDefinition | None:
    if definition_id is None:
        return None
    definition = await repo.get_definition(session, definition_id)
    if not definition.active:
        raise Conflict(
            f"The shift definition {definition.name!r} is no longer in use", code="definition_inactive"
        )
    return definition


# --- shifts -----------------------------------------------------------------------------------------


async def get_shift(
    session: AsyncSession, principal: Principal, settings: Settings, shift_id: uuid.UUID
) -> s.ShiftRead:
    require(session, principal, Perm.STAFF_READ)
    row = await repo.get_shift(session, shift_id)
    return shift_read(row, await lookup_names(session, [row]), zone(settings))


def _audit_shift(session: AsyncSession, action: str, row: Shift, **extra: object) -> None:
    audit.record(
        session,
        action=action,
        resource_type=SHIFT,
        resource_id=row.id,
        details={
            "staff_id": str(row.staff_id),
            "department_id": str(row.department_id),
            "start": row.starts_at.isoformat(),
            "end": row.ends_at.isoformat(),
            **extra,
        },
    )


async def _new_candidate(
    session: AsyncSession, settings: Settings, data: s.ShiftCreate, *, locking: bool
) -> tuple[_Candidate, dict[uuid.UUID, StaffMember]]:
    """The shift ``data`` asks for, and its person (their row locked when ``locking``)."""
    await _department(session, data.department_id)
    definition = await _definition(session, data.definition_id)
    people = await (repo.lock_staff if locking else repo.staff_rows)(session, [data.staff_id])
    person = people.get(data.staff_id)
    if person is None:
        raise NotFound("Staff member not found", code="staff_not_found")
    start, end = _resolve_times(data.date, definition, data.start_time, data.end_time, zone(settings))
    candidate = _Candidate(
        index=0,
        staff_id=data.staff_id,
        department_id=data.department_id,
        local_date=data.date,
        starts_at=start,
        ends_at=end,
        clinical=_clinical(data.clinical, definition, person),
        definition_id=definition.id if definition else None,
        label=definition.name if definition else None,
        note=data.note,
    )
    return candidate, people


def _check_result(violations: Sequence[rules.Violation] | None) -> s.ShiftCheck:
    return s.ShiftCheck(ok=not violations, violations=[v.as_dict() for v in violations or []])


async def check_new_shift(
    session: AsyncSession, principal: Principal, settings: Settings, data: s.ShiftCreate
) -> s.ShiftCheck:
    """The rota rules a new shift would break, without saving it (nothing is written or
    locked): a screen asks first and shows them, instead of provoking a refused write. The
    write decides, under its locks, as before; this is the answer of the moment."""
    require(session, principal, Perm.ROTA_WRITE)
    candidate, people = await _new_candidate(session, settings, data, locking=False)
    found = await _evaluate(session, settings, [candidate], exclude=set(), staff=people, locking=False)
    return _check_result(found.get(0))


async def create_shift(
    session: AsyncSession, principal: Principal, settings: Settings, data: s.ShiftCreate
) -> s.ShiftResult:
    require(session, principal, Perm.ROTA_WRITE)
    tz = zone(settings)
    async with _decided_by_database():
        candidate, locked = await _new_candidate(session, settings, data, locking=True)
        violations = (await _evaluate(session, settings, [candidate], exclude=set(), staff=locked)).get(0)
        if violations:
            raise _refuse(violations, candidate)
        row = _shift_row(candidate)
        session.add(row)
        await session.flush()
    _audit_shift(session, "shift.create", row)
    warnings = await _weekly_warnings(session, settings, {(row.staff_id, rules.week_start(row.local_date))})
    return s.ShiftResult(shift=shift_read(row, await lookup_names(session, [row]), tz), warnings=warnings)


def _clinical(given: bool | None, definition: ShiftDefinition | None, person: StaffMember) -> bool:
    if given is not None:
        return given
    return definition.clinical if definition is not None else person.clinical


def _shift_row(c: _Candidate) -> Shift:
    return Shift(
        staff_id=c.staff_id,
        department_id=c.department_id,
        definition_id=c.definition_id,
        local_date=c.local_date,
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        clinical=c.clinical,
        note=c.note,
    )


async def _changed_candidate(
    session: AsyncSession, settings: Settings, shift_id: uuid.UUID, data: s.ShiftUpdate, *, locking: bool
) -> tuple[Shift, _Candidate, dict[uuid.UUID, StaffMember]]:
    """The shift as ``data`` would leave it; with ``locking``, after locking both people's rows
    and re-reading the shift as it is now."""
    tz = zone(settings)
    fields = data.model_fields_set
    row = await repo.get_shift(session, shift_id)
    staff_id = data.staff_id if "staff_id" in fields and data.staff_id else row.staff_id
    department_id = (
        data.department_id if "department_id" in fields and data.department_id else row.department_id
    )
    day = data.date if "date" in fields and data.date else row.local_date
    if department_id != row.department_id:
        await _department(session, department_id)
    people = await (repo.lock_staff if locking else repo.staff_rows)(session, [staff_id, row.staff_id])
    person = people.get(staff_id)
    if person is None:
        raise NotFound("Staff member not found", code="staff_not_found")
    if locking:
        row = await repo.get_shift(session, shift_id, for_update=True)  # as it is now, after the wait
    # New times come from explicit times or a new definition; otherwise the shift keeps its
    # wall-clock times (not its definition's current ones, which may have been edited since).
    definition: ShiftDefinition | None = None
    definition_id = row.definition_id
    if data.start_time is not None and data.end_time is not None:
        start_t, end_t, definition_id = data.start_time, data.end_time, None
    elif data.definition_id is not None:
        definition = await _definition(session, data.definition_id)
        assert definition is not None
        start_t, end_t, definition_id = definition.start_time, definition.end_time, definition.id
    else:
        start_t, end_t = row.starts_at.astimezone(tz).time(), row.ends_at.astimezone(tz).time()
    start, end = _resolve_times(day, None, start_t, end_t, tz)
    if data.clinical is not None:
        clinical = data.clinical
    elif definition is not None or staff_id != row.staff_id:
        clinical = _clinical(None, definition, person)
    else:
        clinical = row.clinical
    label = (
        (await repo.definitions_by_id(session, [definition_id])).get(definition_id) if definition_id else None
    )
    candidate = _Candidate(
        index=0,
        staff_id=staff_id,
        department_id=department_id,
        local_date=day,
        starts_at=start,
        ends_at=end,
        clinical=clinical,
        definition_id=definition_id,
        label=label.name if label else None,
        note=data.note if "note" in fields else row.note,
    )
    return row, candidate, people


async def check_shift_change(
    session: AsyncSession, principal: Principal, settings: Settings, shift_id: uuid.UUID, data: s.ShiftUpdate
) -> s.ShiftCheck:
    """The rota rules a change of a shift (a move, new times) would break, without saving it."""
    require(session, principal, Perm.ROTA_WRITE)
    row, candidate, people = await _changed_candidate(session, settings, shift_id, data, locking=False)
    found = await _evaluate(session, settings, [candidate], exclude={row.id}, staff=people, locking=False)
    return _check_result(found.get(0))


async def update_shift(
    session: AsyncSession, principal: Principal, settings: Settings, shift_id: uuid.UUID, data: s.ShiftUpdate
) -> s.ShiftResult:
    require(session, principal, Perm.ROTA_WRITE)
    tz = zone(settings)
    fields = data.model_fields_set
    async with _decided_by_database():
        before = await repo.get_shift(session, shift_id)
        old_staff, old_week = before.staff_id, rules.week_start(before.local_date)
        row, candidate, locked = await _changed_candidate(session, settings, shift_id, data, locking=True)
        staff_id, department_id, day = candidate.staff_id, candidate.department_id, candidate.local_date
        start, end, clinical = candidate.starts_at, candidate.ends_at, candidate.clinical
        violations = (await _evaluate(session, settings, [candidate], exclude={row.id}, staff=locked)).get(0)
        if violations:
            raise _refuse(violations, candidate)
        row.staff_id, row.department_id, row.definition_id = staff_id, department_id, candidate.definition_id
        row.local_date, row.starts_at, row.ends_at = day, start, end
        row.clinical, row.note = clinical, candidate.note
        await session.flush()
    _audit_shift(session, "shift.update", row, fields=sorted(fields))
    keys = {(row.staff_id, rules.week_start(row.local_date))}
    if (old_staff, old_week) not in keys:
        keys.add((old_staff, old_week))
    warnings = [w for w in await _weekly_warnings(session, settings, keys) if w.staff_id == row.staff_id]
    return s.ShiftResult(shift=shift_read(row, await lookup_names(session, [row]), tz), warnings=warnings)


async def delete_shift(session: AsyncSession, principal: Principal, shift_id: uuid.UUID) -> None:
    require(session, principal, Perm.ROTA_WRITE)
    row = await repo.get_shift(session, shift_id)
    _audit_shift(session, "shift.delete", row)
    await session.delete(row)
    await session.flush()


async def save_week(
    session: AsyncSession, principal: Principal, settings: Settings, data: s.RotaWeek
) -> s.RotaWeekResult:
    """A week of one department's rota in one go, all or nothing: when any shift breaks a rule,
    nothing is saved and the error lists every broken rule per item (``details.items``: the first
    ``MAX_REPORTED_ITEMS`` items, with ``total`` and ``truncated``; each clash list capped at
    ``rules.MAX_LISTED`` with ``conflicts_total``)."""
    require(session, principal, Perm.ROTA_WRITE)
    tz = zone(settings)
    _check_day(data.week_start)
    if data.week_start.weekday() != 0:
        raise BadRequest("week_start must be a Monday", code="invalid_week_start")
    week_end = data.week_start + timedelta(days=6)
    async with _decided_by_database():
        await _department(session, data.department_id)
        definitions = await repo.definitions_by_id(session, [x.definition_id for x in data.shifts])
        replaced = (
            await repo.shifts_on_days(session, data.week_start, week_end, department_id=data.department_id)
            if data.replace
            else []
        )
        locked = await repo.lock_staff(
            session, [x.staff_id for x in data.shifts] + [r.staff_id for r in replaced]
        )
        problems: dict[int, list[rules.Violation]] = {}
        candidates: list[_Candidate] = []
        for i, item in enumerate(data.shifts):
            definition = definitions.get(item.definition_id) if item.definition_id else None
            person = locked.get(item.staff_id)
            found: list[rules.Violation] = []
            if person is None:
                found.append(rules.Violation("staff_not_found", "Staff member not found"))
            if item.definition_id is not None and definition is None:
                found.append(rules.Violation("definition_not_found", "Shift definition not found"))
            elif definition is not None and not definition.active:
                found.append(
                    rules.Violation("definition_inactive", f"{definition.name!r} is no longer in use")
                )
            if not data.week_start <= item.date <= week_end:
                found.append(
                    rules.Violation(
                        "outside_week", f"{item.date.isoformat()} is not in the week of {data.week_start}"
                    )
                )
            if found or person is None:
                problems[i] = found
                continue
            try:
                start, end = _resolve_times(item.date, definition, item.start_time, item.end_time, tz)
            except rules.NonexistentLocalTime as exc:
                problems[i] = [rules.Violation(exc.code, exc.message, extra=exc.details)]
                continue
            candidates.append(
                _Candidate(
                    index=i,
                    staff_id=item.staff_id,
                    department_id=data.department_id,
                    local_date=item.date,
                    starts_at=start,
                    ends_at=end,
                    clinical=_clinical(item.clinical, definition, person),
                    definition_id=definition.id if definition else None,
                    label=definition.name if definition else None,
                    note=item.note,
                )
            )
        for i, found in (
            await _evaluate(session, settings, candidates, exclude={r.id for r in replaced}, staff=locked)
        ).items():
            problems.setdefault(i, []).extend(found)
        if problems:
            reported = sorted(problems)[:MAX_REPORTED_ITEMS]
            raise Conflict(
                f"{len(problems)} of {len(data.shifts)} shifts break the rota rules; nothing was saved",
                code="rota_violations",
                details={
                    "items": [
                        {
                            "index": i,
                            "staff_id": str(data.shifts[i].staff_id),
                            "date": data.shifts[i].date.isoformat(),
                            "violations": [v.as_dict() for v in problems[i]],
                        }
                        for i in reported
                    ],
                    "total": len(problems),
                    "truncated": len(problems) > len(reported),
                },
            )
        for r in replaced:
            await session.delete(r)
        rows = [_shift_row(c) for c in candidates]
        session.add_all(rows)
        await session.flush()
    audit.record(
        session,
        action="rota.week.save",
        resource_type="Rota",
        resource_id=data.department_id,
        details={
            "week_start": data.week_start.isoformat(),
            "created": len(rows),
            "removed": len(replaced),
        },
    )
    for row in rows:
        _audit_shift(session, "shift.create", row)
    for r in replaced:
        _audit_shift(session, "shift.delete", r)
    keys = {(row.staff_id, data.week_start) for row in rows}
    names = await lookup_names(session, rows)
    return s.RotaWeekResult(
        created=[shift_read(row, names, tz) for row in rows],
        removed=[r.id for r in replaced],
        warnings=await _weekly_warnings(session, settings, keys),
    )


# --- reading rotas -----------------------------------------------------------------------------------


async def get_rota(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    department_id: uuid.UUID,
    start: date,
    end: date,
) -> s.Rota:
    """A department's shifts for the local days [start, end], and the leave of everyone on it or
    in it, grouped per day; each person's weekly hours count every department."""
    require(session, principal, Perm.STAFF_READ)
    _check_range(start, end)
    tz = zone(settings)
    dept = await repo.get_department(session, department_id)
    shifts = await repo.shifts_on_days(session, start, end, department_id=department_id)
    members = await repo.department_member_ids(session, department_id, start)
    people = sorted({*members, *(x.staff_id for x in shifts)}, key=str)
    lo, hi = rules.day_bounds(start, end, tz)
    away = await repo.leave_between(session, people, lo, hi)
    names = await lookup_names(session, shifts, away, people)
    first_week = rules.week_start(start)
    last_week = rules.week_start(end)
    all_shifts = await repo.shifts_on_days(
        session, first_week, last_week + timedelta(days=6), staff_ids=people
    )
    totals = rules.weekly_hours(
        (rules.Interval(r.id, r.staff_id, r.starts_at, r.ends_at) for r in all_shifts), tz
    )
    weeks = [first_week + timedelta(days=7 * i) for i in range((last_week - first_week).days // 7 + 1)]
    staff_out = []
    warnings = []
    ordered = sorted(
        people, key=lambda i: (names.staff[i].sort_name, str(i)) if i in names.staff else ("", str(i))
    )
    for sid in ordered:
        person = names.staff.get(sid)
        if person is None:
            continue
        hours = {w: round(totals.get((sid, w), 0.0), 2) for w in weeks}
        staff_out.append(
            s.RotaStaff(
                id=sid,
                display_name=person.display_name,
                position=person.position,
                clinical=person.clinical,
                weekly_hours=hours,
            )
        )
        for w, h in hours.items():
            if h > settings.weekly_hours_warning:
                warnings.append(
                    s.RotaWarning(
                        code="weekly_hours",
                        message=f"{person.display_name} is rostered {h:g} hours in the week of {w}",
                        staff_id=sid,
                        week_start=w,
                        hours=h,
                        limit=settings.weekly_hours_warning,
                    )
                )
    shift_reads = [shift_read(x, names, tz) for x in shifts]
    leave_reads = [leave_read(x, names, tz) for x in away]
    days = []
    for i in range((end - start).days + 1):
        d = start + timedelta(days=i)
        d_lo, d_hi = rules.day_bounds(d, d, tz)
        days.append(
            s.RotaDay(
                date=d,
                shifts=[x for x in shift_reads if x.date == d],
                leave=[x for x in leave_reads if x.starts_at < d_hi and x.ends_at > d_lo],
            )
        )
    return s.Rota(
        department=s.DepartmentRead.model_validate(dept),
        start=start,
        end=end,
        timezone=settings.facility_timezone,
        weekly_hours_warning=settings.weekly_hours_warning,
        staff=staff_out,
        days=days,
        warnings=warnings,
    )


async def staff_schedule(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    staff_id: uuid.UUID,
    start: date,
    end: date,
) -> s.Schedule:
    require(session, principal, Perm.STAFF_READ)
    _check_range(start, end)
    tz = zone(settings)
    await repo.get(session, staff_id)
    lo, hi = rules.day_bounds(start, end, tz)
    shifts = await repo.shifts_between(session, lo, hi, staff_ids=[staff_id])
    away = await repo.leave_between(session, [staff_id], lo, hi)
    names = await lookup_names(session, shifts, away, [staff_id])
    return s.Schedule(
        staff_id=staff_id,
        start=start,
        end=end,
        timezone=settings.facility_timezone,
        shifts=[shift_read(x, names, tz) for x in shifts],
        leave=[leave_read(x, names, tz) for x in away],
    )


# --- leave ---------------------------------------------------------------------------------------------


def _leave_times(data: s.LeaveCreate | s.LeaveUpdate, tz: ZoneInfo) -> tuple[datetime, datetime, bool] | None:
    if data.start_date is not None and data.end_date is not None:
        _check_day(data.start_date)
        _check_day(data.end_date)
        lo, hi = rules.day_bounds(data.start_date, data.end_date, tz)
        return lo, hi, True
    if data.starts_at is not None and data.ends_at is not None:
        return data.starts_at.astimezone(UTC), data.ends_at.astimezone(UTC), False
    return None


async def list_leave(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    start: date,
    end: date,
    staff_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
) -> list[s.LeaveRead]:
    require(session, principal, Perm.STAFF_READ)
    _check_range(start, end)
    tz = zone(settings)
    if staff_id is not None:
        people = [staff_id]
    elif department_id is not None:
        await repo.get_department(session, department_id)
        people = await repo.department_member_ids(session, department_id, start)
    else:
        raise BadRequest("give staff_id or department_id", code="invalid_search")
    lo, hi = rules.day_bounds(start, end, tz)
    away = await repo.leave_between(session, people, lo, hi)
    names = await lookup_names(session, [], away)
    return [leave_read(x, names, tz) for x in away]


async def _shifts_in_leave(
    session: AsyncSession, staff_id: uuid.UUID, start: datetime, end: datetime, cancel: bool, name: str
) -> list[Shift]:
    """The person's shifts during the leave; 409 ``shift_during_leave`` unless they may go."""
    clashing = await repo.shifts_between(session, start, end, staff_ids=[staff_id], for_share=True)
    if clashing and not cancel:
        raise Conflict(
            f"{name} has shifts during this leave; remove them first or ask to cancel them",
            code="shift_during_leave",
            details={
                "shifts": [
                    {
                        "id": str(x.id),
                        "date": x.local_date.isoformat(),
                        "start": x.starts_at.isoformat(),
                        "end": x.ends_at.isoformat(),
                        "department_id": str(x.department_id),
                    }
                    for x in clashing
                ]
            },
        )
    return clashing


async def _cancel_shifts(session: AsyncSession, shifts: Sequence[Shift]) -> None:
    for x in shifts:
        _audit_shift(session, "shift.delete", x, reason="leave")
        await session.delete(x)


_IN_LEAVE = "These booked appointments fall during the leave: reschedule them"


async def _appointments_in_leave(
    session: AsyncSession,
    staff_id: uuid.UUID,
    window: tuple[datetime, datetime],
    covered: tuple[datetime, datetime] | None,
    acknowledged: bool,
    name: str,
    tz: ZoneInfo,
) -> list[staff_service.BookedAppointment]:
    """Booked appointments the leave newly covers (``covered``: what this leave already covered
    before a change); 409 ``appointments_during_leave`` listing them unless acknowledged."""
    found = [
        a
        for a in await staff_service.booked_appointments(session, staff_id, *window)
        if covered is None or not rules.overlaps(a.start, a.end, *covered)
    ]
    if found and not acknowledged:
        raise staff_service.appointments_conflict(
            "appointments_during_leave",
            f"{name} has {len(found)} booked appointment(s) during this leave; reschedule them first, "
            "or repeat with acknowledge_appointments to record the leave anyway",
            staff_id,
            found,
            tz,
        )
    return found


def _leave_warnings(
    found: Sequence[staff_service.BookedAppointment], tz: ZoneInfo
) -> list[s.AppointmentsWarning]:
    return (
        [staff_service.appointments_warning("appointments_during_leave", _IN_LEAVE, found, tz)]
        if found
        else []
    )


def _acknowledged(found: Sequence[staff_service.BookedAppointment]) -> dict[str, object]:
    if not found:
        return {}
    return {"acknowledged_appointments": [str(a.id) for a in found[: staff_service.MAX_LISTED_APPOINTMENTS]]}


async def create_leave(
    session: AsyncSession, principal: Principal, settings: Settings, data: s.LeaveCreate
) -> s.LeaveResult:
    require(session, principal, Perm.ROTA_WRITE)
    tz = zone(settings)
    times = _leave_times(data, tz)
    assert times is not None  # the schema asks for one of the two forms
    start, end, all_day = times
    async with _decided_by_database():
        locked = await repo.lock_staff(session, [data.staff_id])
        person = locked.get(data.staff_id)
        if person is None:
            raise NotFound("Staff member not found", code="staff_not_found")
        cancelled = await _shifts_in_leave(
            session, data.staff_id, start, end, data.cancel_shifts, person.display_name
        )
        affected = await _appointments_in_leave(
            session, data.staff_id, (start, end), None, data.acknowledge_appointments, person.display_name, tz
        )
        await _cancel_shifts(session, cancelled)
        row = Leave(
            staff_id=data.staff_id,
            kind=data.kind,
            starts_at=start,
            ends_at=end,
            all_day=all_day,
            note=data.note,
        )
        session.add(row)
        await session.flush()
    audit.record(
        session,
        action="leave.create",
        resource_type=LEAVE,
        resource_id=row.id,
        details={
            "staff_id": str(row.staff_id),
            "kind": row.kind,
            "cancelled_shifts": len(cancelled),
            **_acknowledged(affected),
        },
    )
    names = await lookup_names(session, [], [row])
    return s.LeaveResult(
        leave=leave_read(row, names, tz),
        cancelled_shifts=[x.id for x in cancelled],
        warnings=_leave_warnings(affected, tz),
    )


async def update_leave(
    session: AsyncSession, principal: Principal, settings: Settings, leave_id: uuid.UUID, data: s.LeaveUpdate
) -> s.LeaveResult:
    require(session, principal, Perm.ROTA_WRITE)
    tz = zone(settings)
    async with _decided_by_database():
        row = await repo.get_leave(session, leave_id)
        locked = await repo.lock_staff(session, [row.staff_id])
        person = locked[row.staff_id]
        row = await repo.get_leave(session, leave_id, for_update=True)  # as it is now, after the wait
        times = _leave_times(data, tz)
        cancelled: list[Shift] = []
        affected: list[staff_service.BookedAppointment] = []
        if times is not None:
            start, end, all_day = times
            cancelled = await _shifts_in_leave(
                session, row.staff_id, start, end, data.cancel_shifts, person.display_name
            )
            affected = await _appointments_in_leave(
                session,
                row.staff_id,
                (start, end),
                (row.starts_at, row.ends_at),
                data.acknowledge_appointments,
                person.display_name,
                tz,
            )
            await _cancel_shifts(session, cancelled)
            row.starts_at, row.ends_at, row.all_day = start, end, all_day
        if data.kind is not None:
            row.kind = data.kind
        if "note" in data.model_fields_set:
            row.note = data.note
        await session.flush()
    audit.record(
        session,
        action="leave.update",
        resource_type=LEAVE,
        resource_id=row.id,
        details={
            "staff_id": str(row.staff_id),
            "fields": sorted(data.model_fields_set - {"acknowledge_appointments"}),
            **_acknowledged(affected),
        },
    )
    names = await lookup_names(session, [], [row])
    return s.LeaveResult(
        leave=leave_read(row, names, tz),
        cancelled_shifts=[x.id for x in cancelled],
        warnings=_leave_warnings(affected, tz),
    )


async def delete_leave(session: AsyncSession, principal: Principal, leave_id: uuid.UUID) -> None:
    require(session, principal, Perm.ROTA_WRITE)
    row = await repo.get_leave(session, leave_id)
    audit.record(
        session,
        action="leave.delete",
        resource_type=LEAVE,
        resource_id=row.id,
        details={"staff_id": str(row.staff_id), "kind": row.kind},
    )
    await session.delete(row)
    await session.flush()
