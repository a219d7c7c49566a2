"""The staff module's business rules and the only entry other modules (FHIR, import,
appointments) may call: staff records, departments, employment history, licences, the
Principal-free lookups appointments uses (``booking_problem``, ``eligibility``,
``unavailable_intervals``, ...) and the registry of calendar sources for personal feeds.

Reads need staff:read, writes staff:write; writes are audited. Rotas and leave live in
``schedule.py`` and feeds in ``feeds.py`` (called by this module's router only)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.permissions import Perm
from app.config import get_settings
from app.deps import Principal
from app.errors import BadRequest, Conflict, Forbidden, NotFound
from app.kit.ical import CalendarEvent
from app.kit.time import ensure_aware, utcnow
from app.patients import names as naming
from app.staff import repository as repo
from app.staff import rules
from app.staff import schemas as s
from app.staff.models import (
    Department,
    StaffIdentifier,
    StaffMember,
    StaffPosition,
    StaffQualification,
    dump_json_list,
)

STAFF = "Staff"


def require(session: AsyncSession, principal: Principal, perm: Perm) -> None:
    if principal.has(perm):
        return
    audit.record(
        session,
        action="staff.access_denied",
        resource_type=STAFF,
        outcome="denied",
        details={"missing": [perm.value]},
    )
    raise Forbidden("You do not have permission for this action", details={"missing": [perm.value]})


def display_name(data: s.StaffCreate) -> str:
    parts = [*data.prefix, *data.given, data.family or "", *data.suffix]
    return " ".join(p for p in parts if p)[:255]


async def _check_links(
    session: AsyncSession,
    staff_id: uuid.UUID | None,
    *,
    user_id: uuid.UUID | None,
    department_id: uuid.UUID | None,
) -> None:
    if department_id is not None:
        await repo.get_department(session, department_id)
    if user_id is not None:
        from app.auth import service as auth_service  # auth imports app.deps, which is fine here

        try:
            await auth_service.get_user(session, user_id)
        except NotFound as exc:
            raise NotFound("User account not found", code="user_not_found") from exc
        owner = await repo.staff_id_for_user(session, user_id)
        if owner is not None and owner != staff_id:
            raise Conflict(
                "This user account is already linked to another staff record",
                code="user_already_linked",
                details={"staff_id": str(owner)},
            )


def _qualification_row(position: int, q: s.Qualification) -> StaffQualification:
    return StaffQualification(
        position=position,
        kind=q.kind,
        code_system=q.code.system if q.code else None,
        code_code=q.code.code if q.code else None,
        code_display=q.code.display if q.code else None,
        number=q.number,
        issuer=q.issuer,
        valid_from=q.valid_from,
        valid_to=q.valid_to,
    )


async def create_staff(session: AsyncSession, principal: Principal, data: s.StaffCreate) -> StaffMember:
    require(session, principal, Perm.STAFF_WRITE)
    taken = await repo.identifier_owners(session, [(i.system, i.value) for i in data.identifiers])
    if taken:
        (system, value), owner = next(iter(taken.items()))
        raise Conflict(
            "A staff member with this identifier already exists",
            code="duplicate_identifier",
            details={"system": system, "value": value, "staff_id": str(owner)},
        )
    await _check_links(session, None, user_id=data.user_id, department_id=data.department_id)
    row = StaffMember(
        active=data.active,
        family=data.family,
        given_json=dump_json_list(data.given),
        prefix_json=dump_json_list(data.prefix),
        suffix_json=dump_json_list(data.suffix),
        display_name=display_name(data),
        sort_name=naming.sort_key(" ".join([data.family or "", *data.given]))[:255],
        gender=data.gender,
        birth_date=data.birth_date,
        telecoms_json=dump_json_list([t.model_dump(mode="json") for t in data.telecoms]),
        addresses_json=dump_json_list([a.model_dump(mode="json") for a in data.addresses]),
        user_id=data.user_id,
        department_id=data.department_id,
        position=data.position,
        clinical=data.clinical,
        identifiers=[
            StaffIdentifier(position=i, system=x.system, value=x.value, use=x.use)
            for i, x in enumerate(data.identifiers)
        ],
        qualifications=[_qualification_row(i, q) for i, q in enumerate(data.qualifications)],
    )
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent create took the identifier (or the user link)
        raise Conflict(
            "A staff member with this identifier or user account already exists", code="duplicate_identifier"
        ) from exc
    if data.position:
        # The post given at creation opens the employment history.
        session.add(
            StaffPosition(
                staff_id=row.id, title=data.position, department_id=data.department_id, start_date=_today()
            )
        )
        await session.flush()
    audit.record(
        session,
        action="staff.create",
        resource_type=STAFF,
        resource_id=row.id,
        details={"identifiers": [f"{i.system}|{i.value}" for i in data.identifiers][:5]},
    )
    return row


async def get_staff(session: AsyncSession, principal: Principal, staff_id: uuid.UUID) -> StaffMember:
    require(session, principal, Perm.STAFF_READ)
    return await repo.get(session, staff_id)


def _today(tz: ZoneInfo | str | None = None) -> date:
    return rules.local_day(utcnow(), _facility_zone(tz))


_NAME_FIELDS = {"family", "given", "prefix", "suffix"}


async def update_staff(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID, data: s.StaffUpdate
) -> StaffMember:
    require(session, principal, Perm.STAFF_WRITE)
    row = await repo.get(session, staff_id)
    fields = data.model_fields_set
    if "user_id" in fields or "department_id" in fields:
        await _check_links(
            session,
            staff_id,
            user_id=data.user_id if "user_id" in fields else None,
            department_id=data.department_id if "department_id" in fields else None,
        )
    for key in ("family", "gender", "birth_date", "user_id", "department_id", "position"):
        if key in fields:
            setattr(row, key, getattr(data, key))
    for key in ("active", "clinical"):
        if key in fields and getattr(data, key) is not None:
            setattr(row, key, getattr(data, key))
    if "gender" in fields and data.gender is None:
        row.gender = "unknown"
    for key in ("given", "prefix", "suffix"):
        if key in fields:
            setattr(row, f"{key}_json", dump_json_list(getattr(data, key) or []))
    if "telecoms" in fields:
        row.telecoms_json = dump_json_list([t.model_dump(mode="json") for t in data.telecoms or []])
    if "addresses" in fields:
        row.addresses_json = dump_json_list([a.model_dump(mode="json") for a in data.addresses or []])
    if fields & _NAME_FIELDS:
        if not (row.family or row.given):
            raise BadRequest("a staff record needs a family or a given name", code="name_required")
        parts = [*row.prefix, *row.given, row.family or "", *row.suffix]
        row.display_name = " ".join(p for p in parts if p)[:255]
        row.sort_name = naming.sort_key(" ".join([row.family or "", *row.given]))[:255]
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "This user account is already linked to another staff record", code="user_already_linked"
        ) from exc
    audit.record(
        session,
        action="staff.update",
        resource_type=STAFF,
        resource_id=row.id,
        details={"fields": sorted(fields)},
    )
    return row


async def staff_detail(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID, *, tz: ZoneInfo | str | None = None
) -> s.StaffDetail:
    """A staff record with its department, employment history (newest first) and licence state."""
    require(session, principal, Perm.STAFF_READ)
    return await _detail(session, await repo.get(session, staff_id), tz)


async def own_staff_detail(session: AsyncSession, principal: Principal, staff_id: uuid.UUID) -> s.StaffDetail:
    """The signed-in person's own record (no staff:read needed to read oneself)."""
    row = await repo.get(session, staff_id)
    if row.user_id != principal.user_id:
        require(session, principal, Perm.STAFF_READ)
    return await _detail(session, row, None)


async def _detail(session: AsyncSession, row: StaffMember, tz: ZoneInfo | str | None) -> s.StaffDetail:
    staff_id = row.id
    positions = await repo.positions_of(session, staff_id)
    departments = await repo.departments_by_id(
        session, [d for d in [row.department_id, *(p.department_id for p in positions)] if d is not None]
    )
    today = _today(tz)
    licences = [q for q in row.qualifications if q.kind == repo.LICENCE]
    valid_now = [q for q in licences if rules.period_covers((q.valid_from, q.valid_to), today)]
    ends = [q.valid_to for q in valid_now]
    base = s.StaffRead.model_validate(row).model_dump()
    return s.StaffDetail(
        **base,
        department=s.DepartmentRead.model_validate(departments[row.department_id])
        if row.department_id in departments
        else None,
        positions=[_position_read(p, departments, today) for p in positions],
        licence_valid_today=bool(valid_now),
        licence_valid_to=None if not ends or None in ends else max(d for d in ends if d is not None),
    )


def _position_read(p: StaffPosition, departments: dict[uuid.UUID, Department], today: date) -> s.PositionRead:
    dept = departments.get(p.department_id) if p.department_id else None
    return s.PositionRead(
        id=p.id,
        title=p.title,
        department_id=p.department_id,
        department_name=dept.name if dept else None,
        start_date=p.start_date,
        end_date=p.end_date,
        current=p.start_date <= today and (p.end_date is None or p.end_date >= today),
    )


async def _sync_current_post(session: AsyncSession, row: StaffMember) -> None:
    """Mirror the open position that started last onto the staff record's current post."""
    positions = await repo.positions_of(session, row.id)
    today = _today()
    current = [p for p in positions if p.start_date <= today and (p.end_date is None or p.end_date >= today)]
    if current:
        latest = max(current, key=lambda p: (p.start_date, p.created_at))
        row.position, row.department_id = latest.title, latest.department_id
    elif positions:  # a history, and no post held today: no current post either
        row.position, row.department_id = None, None
    await session.flush()


async def add_position(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID, data: s.PositionCreate
) -> s.PositionRead:
    require(session, principal, Perm.STAFF_WRITE)
    row = await repo.get(session, staff_id)
    if data.department_id is not None:
        await repo.get_department(session, data.department_id)
    if data.end_previous:
        for p in await repo.positions_of(session, staff_id):
            if p.end_date is None or p.end_date >= data.start_date:
                if p.start_date >= data.start_date:
                    raise Conflict(
                        "Another position starts on or after this one; end or correct it first",
                        code="position_overlap",
                        details={"position_id": str(p.id)},
                    )
                p.end_date = data.start_date - timedelta(days=1)
    position = StaffPosition(
        staff_id=staff_id,
        title=data.title,
        department_id=data.department_id,
        start_date=data.start_date,
        end_date=data.end_date,
    )
    session.add(position)
    await session.flush()
    await _sync_current_post(session, row)
    audit.record(
        session,
        action="staff.position.add",
        resource_type=STAFF,
        resource_id=staff_id,
        details={"position_id": str(position.id), "title": data.title},
    )
    departments = await repo.departments_by_id(
        session, [position.department_id] if position.department_id else []
    )
    return _position_read(position, departments, _today())


async def update_position(
    session: AsyncSession,
    principal: Principal,
    staff_id: uuid.UUID,
    position_id: uuid.UUID,
    data: s.PositionUpdate | s.PositionEnd,
) -> s.PositionRead:
    require(session, principal, Perm.STAFF_WRITE)
    row = await repo.get(session, staff_id)
    position = await repo.get_position(session, staff_id, position_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("department_id") is not None:
        await repo.get_department(session, changes["department_id"])
    if "title" in changes and changes["title"] is None:
        raise BadRequest("A position needs a title", code="title_required")
    if "start_date" in changes and changes["start_date"] is None:
        raise BadRequest("A position needs a start date", code="start_date_required")
    for key, value in changes.items():
        setattr(position, key, value)
    if position.end_date is not None and position.end_date < position.start_date:
        raise BadRequest("end_date is before start_date", code="invalid_dates")
    await session.flush()
    await _sync_current_post(session, row)
    action = "staff.position.end" if isinstance(data, s.PositionEnd) else "staff.position.update"
    audit.record(
        session,
        action=action,
        resource_type=STAFF,
        resource_id=staff_id,
        details={"position_id": str(position_id), "fields": sorted(changes)},
    )
    departments = await repo.departments_by_id(
        session, [position.department_id] if position.department_id else []
    )
    return _position_read(position, departments, _today())


async def add_qualification(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID, data: s.Qualification
) -> StaffQualification:
    require(session, principal, Perm.STAFF_WRITE)
    row = await repo.get(session, staff_id)
    q = _qualification_row(max((x.position for x in row.qualifications), default=-1) + 1, data)
    row.qualifications.append(q)
    await session.flush()
    audit.record(
        session,
        action="staff.licence.add",
        resource_type=STAFF,
        resource_id=staff_id,
        details={"qualification_id": str(q.id), "kind": q.kind, "valid_to": str(q.valid_to)},
    )
    return q


_AUDITED_LICENCE_VALUES = ("kind", "valid_from", "valid_to")


def _licence_values(q: StaffQualification) -> dict[str, str | None]:
    return {
        key: (None if getattr(q, key) is None else str(getattr(q, key))) for key in _AUDITED_LICENCE_VALUES
    }


async def update_qualification(
    session: AsyncSession,
    principal: Principal,
    staff_id: uuid.UUID,
    qualification_id: uuid.UUID,
    data: s.QualificationUpdate,
    *,
    tz: ZoneInfo | str | None = None,
) -> s.QualificationChanged:
    """Change a licence or qualification. A change that leaves booked appointments on days
    without a valid licence is refused (409 ``appointments_without_licence``) unless
    ``data.acknowledge_appointments``; then they are listed under ``warnings``."""
    require(session, principal, Perm.STAFF_WRITE)
    q = await repo.get_qualification(session, staff_id, qualification_id)
    changes = data.model_dump(exclude_unset=True, exclude={"acknowledge_appointments"})
    before = _licence_values(q)
    periods_before = (await repo.licence_periods(session, [staff_id])).get(staff_id, [])
    if "kind" in changes:
        if changes["kind"] is None:
            raise BadRequest("kind is licence or qualification", code="invalid_kind")
        q.kind = changes["kind"]
    if "code" in changes:
        code = data.code
        q.code_system = code.system if code else None
        q.code_code = code.code if code else None
        q.code_display = code.display if code else None
    for key in ("number", "issuer", "valid_from", "valid_to"):
        if key in changes:
            setattr(q, key, changes[key])
    if q.code_code is None and q.code_display is None and q.number is None:
        raise BadRequest("a qualification needs a code or a number", code="invalid_qualification")
    if q.valid_from and q.valid_to and q.valid_to < q.valid_from:
        raise BadRequest("valid_to is before valid_from", code="invalid_dates")
    await session.flush()
    stranded = await _appointments_losing_licence(
        session, staff_id, periods_before, data.acknowledge_appointments, tz
    )
    after = _licence_values(q)
    details: dict[str, object] = {
        "qualification_id": str(q.id),
        "fields": sorted(changes),
        # Licence data is not patient data: keep what the dates were and became.
        "changes": {
            k: {"old": before[k], "new": after[k]} for k in _AUDITED_LICENCE_VALUES if before[k] != after[k]
        },
    }
    if stranded:
        details["acknowledged_appointments"] = [str(a.id) for a in stranded[:MAX_LISTED_APPOINTMENTS]]
    audit.record(
        session, action="staff.licence.update", resource_type=STAFF, resource_id=staff_id, details=details
    )
    warnings = (
        [appointments_warning("appointments_without_licence", _NO_LICENCE, stranded, tz)] if stranded else []
    )
    return s.QualificationChanged(**s.QualificationRead.model_validate(q).model_dump(), warnings=warnings)


async def delete_qualification(
    session: AsyncSession,
    principal: Principal,
    staff_id: uuid.UUID,
    qualification_id: uuid.UUID,
    *,
    acknowledge_appointments: bool = False,
    tz: ZoneInfo | str | None = None,
) -> list[BookedAppointment]:
    """Delete a licence or qualification; refused like ``update_qualification`` when booked
    appointments would be left on unlicensed days. Returns those (acknowledged) appointments."""
    require(session, principal, Perm.STAFF_WRITE)
    q = await repo.get_qualification(session, staff_id, qualification_id)
    before = _licence_values(q)
    periods_before = (await repo.licence_periods(session, [staff_id])).get(staff_id, [])
    await session.delete(q)
    await session.flush()
    stranded = await _appointments_losing_licence(
        session, staff_id, periods_before, acknowledge_appointments, tz
    )
    details: dict[str, object] = {"qualification_id": str(qualification_id), **before}
    if stranded:
        details["acknowledged_appointments"] = [str(a.id) for a in stranded[:MAX_LISTED_APPOINTMENTS]]
    audit.record(
        session, action="staff.licence.delete", resource_type=STAFF, resource_id=staff_id, details=details
    )
    return stranded


async def expiring_licences(
    session: AsyncSession, principal: Principal, *, days: int, tz: ZoneInfo | str | None = None
) -> s.ExpiringLicencesReport:
    """Licences of active staff ending within ``days`` days, and licences of active clinicians
    that have already ended, sorted by end date. A licence already renewed (another licence of
    the person is valid the day after it ends) is left out: nothing to do about it."""
    require(session, principal, Perm.STAFF_READ)
    today = _today(tz)
    horizon = today + timedelta(days=days)
    candidates = await repo.licences_ending_before(session, horizon)
    periods = await repo.licence_periods(session, list({staff.id for _, staff in candidates}))
    departments = await repo.departments_by_id(
        session, [staff.department_id for _, staff in candidates if staff.department_id]
    )
    items: list[s.ExpiringLicence] = []
    for q, staff in candidates:
        assert q.valid_to is not None  # the query asks for an end date
        expired = q.valid_to < today
        if expired and not staff.clinical:
            continue
        if rules.licensed_on(periods.get(staff.id, []), q.valid_to + timedelta(days=1)):
            continue
        dept = departments.get(staff.department_id) if staff.department_id else None
        items.append(
            s.ExpiringLicence(
                staff_id=staff.id,
                display_name=staff.display_name,
                clinical=staff.clinical,
                department_id=staff.department_id,
                department_name=dept.name if dept else None,
                licence=s.QualificationRead.model_validate(q),
                status="expired" if expired else "expiring",
                days_left=(q.valid_to - today).days,
            )
        )
    items.sort(key=lambda i: (i.licence.valid_to or today, i.display_name, i.licence.id))
    return s.ExpiringLicencesReport(as_of=today, days=days, items=items)


async def find_by_identifiers(
    session: AsyncSession, principal: Principal, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    """Which of these (system, value) identifiers belong to a staff member, and to whom."""
    require(session, principal, Perm.STAFF_READ)
    return await repo.identifier_owners(session, pairs)


def parse_identifier(value: str) -> tuple[str | None, str]:
    """``system|value`` or ``value`` (any system)."""
    if "|" in value:
        system, _, ident = value.partition("|")
        if not ident:
            raise BadRequest("identifier needs a value: system|value or value", code="invalid_search")
        return (system or None), ident
    return None, value


async def search_staff(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str | None = None,
    identifier: str | None = None,
    active: bool | None = None,
    ids: Sequence[uuid.UUID] | None = None,
    department_id: uuid.UUID | None = None,
    clinical: bool | None = None,
    limit: int,
    offset: int,
) -> tuple[list[StaffMember], int]:
    require(session, principal, Perm.STAFF_READ)
    tokens: list[str] = []
    if name is not None:
        tokens = naming.tokens(name)
        if not tokens:
            raise BadRequest("name has no searchable letters or digits", code="invalid_search")
    return await repo.search(
        session,
        name_tokens=tokens,
        identifier=parse_identifier(identifier) if identifier else None,
        active=active,
        ids=ids,
        department_id=department_id,
        clinical=clinical,
        limit=limit,
        offset=offset,
    )


# --- lookups for other modules (appointments) ----------------------------------------------
# Principal-free: the caller checks its own permissions. Internal lookups, not audited.


@dataclass(frozen=True, slots=True)
class Eligibility:
    """What decides whether a staff member can be booked on a day."""

    staff_id: uuid.UUID
    display_name: str
    active: bool
    clinical: bool
    licence_periods: tuple[tuple[date | None, date | None], ...]

    def licensed_on(self, day: date) -> bool:
        return rules.licensed_on(self.licence_periods, day)

    def bookable_on(self, day: date) -> bool:
        return self.active and self.clinical and self.licensed_on(day)


@dataclass(frozen=True, slots=True)
class StaffSummary:
    id: uuid.UUID
    display_name: str
    department_id: uuid.UUID | None
    department_name: str | None
    user_id: uuid.UUID | None
    email: str | None


def _facility_zone(tz: ZoneInfo | str | None) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    return rules.zone(tz or get_settings().facility_timezone)


async def eligibility(session: AsyncSession, staff_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Eligibility]:
    """Bookability facts per staff member; unknown ids are left out."""
    rows = await repo.staff_rows(session, staff_ids)
    periods = await repo.licence_periods(session, list(rows))
    return {
        sid: Eligibility(
            staff_id=sid,
            display_name=row.display_name,
            active=row.active,
            clinical=row.clinical,
            licence_periods=tuple(periods.get(sid, [])),
        )
        for sid, row in rows.items()
    }


async def booking_problem(
    session: AsyncSession,
    staff_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    tz: ZoneInfo | str | None = None,
) -> None:
    """Raise when ``staff_id`` cannot be booked for [start, end): NotFound ``staff_not_found``,
    Conflict ``staff_inactive`` / ``not_clinical`` / ``licence_expired`` (no licence valid on the
    facility-local start date) / ``staff_on_leave`` (the interval overlaps leave or
    unavailability). Bookings themselves (double booking) are the caller's business."""
    start, end = ensure_aware(start), ensure_aware(end)
    facts = (await eligibility(session, [staff_id])).get(staff_id)
    if facts is None:
        raise NotFound("Staff member not found", code="staff_not_found")
    who = {"staff_id": str(staff_id), "display_name": facts.display_name}
    if not facts.active:
        raise Conflict(
            f"{facts.display_name} is not an active staff member", code="staff_inactive", details=who
        )
    if not facts.clinical:
        raise Conflict(f"{facts.display_name} is not a clinician", code="not_clinical", details=who)
    day = rules.local_day(start, _facility_zone(tz))
    if not facts.licensed_on(day):
        raise Conflict(
            f"{facts.display_name} has no valid licence on {day.isoformat()}",
            code="licence_expired",
            details={**who, "day": day.isoformat()},
        )
    leave = await repo.leave_between(session, [staff_id], start, end)
    if leave:
        raise Conflict(
            f"{facts.display_name} is on leave or unavailable at that time",
            code="staff_on_leave",
            details={
                **who,
                "leave": [
                    {
                        "id": str(lv.id),
                        "kind": lv.kind,
                        "start": lv.starts_at.isoformat(),
                        "end": lv.ends_at.isoformat(),
                    }
                    for lv in leave
                ],
            },
        )


async def unavailable_intervals(
    session: AsyncSession, staff_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, list[tuple[datetime, datetime]]]:
    """Leave and unavailability of each person clipped to [start, end), sorted and merged,
    UTC-aware. Every requested id is a key (an empty list when free)."""
    start, end = ensure_aware(start), ensure_aware(end)
    out: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {sid: [] for sid in staff_ids}
    by_staff: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for lv in await repo.leave_between(session, list(staff_ids), start, end):
        by_staff.setdefault(lv.staff_id, []).append((lv.starts_at, lv.ends_at))
    for sid, intervals in by_staff.items():
        out[sid] = rules.clip_intervals(intervals, start, end)
    return out


async def lock_member(session: AsyncSession, staff_id: uuid.UUID) -> None:
    """Lock one staff row (SELECT ... FOR UPDATE) for a change that is decided one writer at a
    time per person (appointments: a clinician's weekly hours); 404 ``staff_not_found``."""
    if staff_id not in await repo.lock_staff(session, [staff_id]):
        raise NotFound("Staff member not found", code="staff_not_found")


async def require_department(session: AsyncSession, department_id: uuid.UUID) -> None:
    """404 ``department_not_found`` unless the department exists (active or not)."""
    await repo.get_department(session, department_id)


async def department_staff_ids(session: AsyncSession, department_id: uuid.UUID) -> list[uuid.UUID]:
    """Active current members of a department (by current post or a current position)."""
    today = rules.local_day(utcnow(), _facility_zone(None))
    return await repo.department_member_ids(session, department_id, today)


async def staff_id_for_user(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    return await repo.staff_id_for_user(session, user_id)


def _email(row: StaffMember) -> str | None:
    emails = [t for t in row.telecoms if t.get("system") == "email" and t.get("value")]
    emails.sort(key=lambda t: (t.get("use") != "work", t.get("rank") or 99))
    return str(emails[0]["value"]) if emails else None


async def staff_summaries(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StaffSummary]:
    """Display facts per staff member (unknown ids left out); the e-mail is a work address when
    there is one."""
    rows = await repo.staff_rows(session, ids)
    departments = await repo.departments_by_id(
        session, [r.department_id for r in rows.values() if r.department_id]
    )
    return {
        sid: StaffSummary(
            id=sid,
            display_name=row.display_name,
            department_id=row.department_id,
            department_name=departments[row.department_id].name if row.department_id in departments else None,
            user_id=row.user_id,
            email=_email(row),
        )
        for sid, row in rows.items()
    }


# --- departments ----------------------------------------------------------------------------

DEPARTMENT = "Department"


async def list_departments(
    session: AsyncSession, principal: Principal, *, active: bool | None = None
) -> list[Department]:
    require(session, principal, Perm.STAFF_READ)
    return await repo.list_departments(session, active=active)


async def get_department(session: AsyncSession, principal: Principal, department_id: uuid.UUID) -> Department:
    require(session, principal, Perm.STAFF_READ)
    return await repo.get_department(session, department_id)


async def _flush_department(session: AsyncSession, code: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A department with code {code!r} already exists",
            code="duplicate_department",
            details={"code": code},
        ) from exc


async def create_department(
    session: AsyncSession, principal: Principal, data: s.DepartmentCreate
) -> Department:
    require(session, principal, Perm.STAFF_WRITE)
    row = Department(code=data.code, name=data.name, active=data.active)
    session.add(row)
    await _flush_department(session, data.code)
    audit.record(
        session,
        action="department.create",
        resource_type=DEPARTMENT,
        resource_id=row.id,
        details={"code": data.code},
    )
    return row


async def update_department(
    session: AsyncSession, principal: Principal, department_id: uuid.UUID, data: s.DepartmentUpdate
) -> Department:
    require(session, principal, Perm.STAFF_WRITE)
    row = await repo.get_department(session, department_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for key, value in changes.items():
        setattr(row, key, value)
    await _flush_department(session, row.code)
    audit.record(
        session,
        action="department.update",
        resource_type=DEPARTMENT,
        resource_id=row.id,
        details={"fields": sorted(changes)},
    )
    return row


# --- calendar sources -------------------------------------------------------------------------
# Other modules add their events to staff members' personal iCalendar feeds (appointments adds
# bookings). A feed ends up in third-party calendar services: sources must not put patient
# names or other patient data in the events.

CalendarSource = Callable[[AsyncSession, uuid.UUID, datetime, datetime], Awaitable[list[CalendarEvent]]]
_calendar_sources: list[CalendarSource] = []


def register_calendar_source(fn: CalendarSource) -> CalendarSource:
    """Add ``fn(session, staff_id, start, end) -> list[CalendarEvent]`` to every staff feed
    (idempotent; usable as a decorator). It is called for each feed read with the feed window."""
    if fn not in _calendar_sources:
        _calendar_sources.append(fn)
    return fn


def unregister_calendar_source(fn: CalendarSource) -> None:
    if fn in _calendar_sources:
        _calendar_sources.remove(fn)


def calendar_sources() -> tuple[CalendarSource, ...]:
    return tuple(_calendar_sources)


# --- booked appointments ------------------------------------------------------------------------
# Leave and licence changes must not silently strand patients with an absent or unlicensed
# clinician. The appointments module imports this one (not the other way round), so it registers
# how to find a person's bookings, like the calendar sources above.

MAX_LISTED_APPOINTMENTS = 100


@dataclass(frozen=True, slots=True)
class BookedAppointment:
    """An appointment that holds a staff member's time and is still to be seen (no patient data)."""

    id: uuid.UUID
    start: datetime
    end: datetime
    type_name: str | None
    mode: str
    status: str


AppointmentSource = Callable[
    [AsyncSession, uuid.UUID, datetime, datetime], Awaitable[list[BookedAppointment]]
]
_appointment_sources: list[AppointmentSource] = []


def register_appointment_source(fn: AppointmentSource) -> AppointmentSource:
    """Add ``fn(session, staff_id, start, end) -> list[BookedAppointment]``: the person's
    appointments still to be seen (offered, booked, checked in) overlapping [start, end).
    Idempotent; usable as a decorator."""
    if fn not in _appointment_sources:
        _appointment_sources.append(fn)
    return fn


def unregister_appointment_source(fn: AppointmentSource) -> None:
    if fn in _appointment_sources:
        _appointment_sources.remove(fn)


async def booked_appointments(
    session: AsyncSession, staff_id: uuid.UUID, start: datetime, end: datetime
) -> list[BookedAppointment]:
    """The appointments of ``staff_id`` overlapping [start, end) that have not ended yet, from
    every registered source, by start time."""
    start, end = max(ensure_aware(start), utcnow()), ensure_aware(end)
    if end <= start:
        return []
    found: dict[uuid.UUID, BookedAppointment] = {}
    for source in tuple(_appointment_sources):
        for a in await source(session, staff_id, start, end):
            found[a.id] = a
    return sorted(found.values(), key=lambda a: (a.start, str(a.id)))


def _affected(a: BookedAppointment, tz: ZoneInfo) -> s.AffectedAppointment:
    return s.AffectedAppointment(
        id=a.id,
        start=a.start,
        end=a.end,
        local_start=ensure_aware(a.start).astimezone(tz).isoformat(),
        type=a.type_name,
        mode=a.mode,
        status=a.status,
    )


def appointments_warning(
    code: s.AppointmentsCode,
    message: str,
    appointments: Sequence[BookedAppointment],
    tz: ZoneInfo | str | None = None,
) -> s.AppointmentsWarning:
    zone = _facility_zone(tz)
    return s.AppointmentsWarning(
        code=code,
        message=message,
        total=len(appointments),
        appointments=[_affected(a, zone) for a in appointments[:MAX_LISTED_APPOINTMENTS]],
    )


def appointments_conflict(
    code: str,
    message: str,
    staff_id: uuid.UUID,
    appointments: Sequence[BookedAppointment],
    tz: ZoneInfo | str | None = None,
) -> Conflict:
    """409 listing the appointments (the first ``MAX_LISTED_APPOINTMENTS``) a change would
    strand; the client repeats the request with ``acknowledge_appointments`` to go ahead."""
    zone = _facility_zone(tz)
    listed = appointments[:MAX_LISTED_APPOINTMENTS]
    return Conflict(
        message,
        code=code,
        details={
            "staff_id": str(staff_id),
            "total": len(appointments),
            "truncated": len(appointments) > len(listed),
            "appointments": [_affected(a, zone).model_dump(mode="json") for a in listed],
        },
    )


_FAR_DAY = date(2199, 12, 31)  # no appointment is booked later; keeps the bound storable everywhere
_NO_LICENCE = "These booked appointments fall on days without a valid licence: reschedule them"


def _changed_span(
    before: Sequence[rules.LicencePeriod], after: Sequence[rules.LicencePeriod]
) -> tuple[date | None, date | None] | None:
    """The days whose licence cover may differ (None: unbounded), or None when nothing changed."""
    changed = set(before) ^ set(after)
    if not changed:
        return None
    starts, ends = [p[0] for p in changed], [p[1] for p in changed]
    lo = None if None in starts else min(d for d in starts if d is not None)
    hi = None if None in ends else max(d for d in ends if d is not None)
    return lo, hi


async def _appointments_losing_licence(
    session: AsyncSession,
    staff_id: uuid.UUID,
    before: Sequence[rules.LicencePeriod],
    acknowledged: bool,
    tz: ZoneInfo | str | None,
) -> list[BookedAppointment]:
    """Booked appointments whose (facility-local) day was licensed before a licence change and
    is not after it; raises 409 ``appointments_without_licence`` unless ``acknowledged``."""
    after = (await repo.licence_periods(session, [staff_id])).get(staff_id, [])
    span = _changed_span(before, after)
    if span is None:
        return []
    zone = _facility_zone(tz)
    lo_day, hi_day = span
    # booked_appointments starts the window no earlier than now anyway.
    lo = rules.local_instant(lo_day, time(0), zone) if lo_day else utcnow()
    hi = rules.local_instant(min(hi_day or _FAR_DAY, _FAR_DAY) + timedelta(days=1), time(0), zone)
    stranded = [
        a
        for a in await booked_appointments(session, staff_id, lo, hi)
        if rules.licensed_on(before, rules.local_day(a.start, zone))
        and not rules.licensed_on(after, rules.local_day(a.start, zone))
    ]
    if stranded and not acknowledged:
        name = (await repo.get(session, staff_id)).display_name
        raise appointments_conflict(
            "appointments_without_licence",
            f"{name} has {len(stranded)} booked appointment(s) on days this change leaves without a "
            "valid licence; reschedule them first, or repeat with acknowledge_appointments",
            staff_id,
            stranded,
            zone,
        )
    return stranded
