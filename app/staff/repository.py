"""Every query of the staff directory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from app.errors import NotFound
from app.kit.text import escape_like
from app.staff.models import (
    CalendarFeed,
    Department,
    Leave,
    Shift,
    ShiftDefinition,
    StaffIdentifier,
    StaffMember,
    StaffPosition,
    StaffQualification,
)

LICENCE = "licence"

STAFF_LOAD: tuple[LoaderOption, ...] = (
    selectinload(StaffMember.identifiers),
    selectinload(StaffMember.qualifications),
)


async def get(session: AsyncSession, staff_id: uuid.UUID) -> StaffMember:
    row = (
        await session.execute(select(StaffMember).where(StaffMember.id == staff_id).options(*STAFF_LOAD))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("Staff member not found")
    return row


async def identifier_owners(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    """(system, value) -> staff id, for the pairs that are taken. Chunked: one query per 500."""
    found: dict[tuple[str, str], uuid.UUID] = {}
    unique = sorted(set(pairs))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        by_system: dict[str, list[str]] = {}
        for system, value in chunk:
            by_system.setdefault(system, []).append(value)
        query = select(StaffIdentifier.system, StaffIdentifier.value, StaffIdentifier.staff_id).where(
            or_(
                *(
                    and_(StaffIdentifier.system == system, StaffIdentifier.value.in_(values))
                    for system, values in by_system.items()
                )
            )
        )
        for system, value, staff_id in (await session.execute(query)).all():
            found[(system, value)] = staff_id
    return found


async def search(
    session: AsyncSession,
    *,
    name_tokens: Sequence[str] = (),
    identifier: tuple[str | None, str] | None = None,
    active: bool | None = None,
    ids: Sequence[uuid.UUID] | None = None,
    department_id: uuid.UUID | None = None,
    clinical: bool | None = None,
    limit: int,
    offset: int,
) -> tuple[list[StaffMember], int]:
    query: Select[StaffMember] = select(StaffMember)
    for token in name_tokens:
        # Staff directories are small (thousands): a contains-match on the folded name is enough.
        query = query.where(StaffMember.sort_name.like(f"%{escape_like(token)}%", escape="\\"))
    if identifier is not None:
        system, value = identifier
        sub = select(StaffIdentifier.staff_id).where(StaffIdentifier.value == value)
        if system is not None:
            sub = sub.where(StaffIdentifier.system == system)
        query = query.where(StaffMember.id.in_(sub))
    if active is not None:
        query = query.where(StaffMember.active == active)
    if ids is not None:
        query = query.where(StaffMember.id.in_(list(ids)))
    if department_id is not None:
        query = query.where(StaffMember.department_id == department_id)
    if clinical is not None:
        query = query.where(StaffMember.clinical == clinical)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.options(*STAFF_LOAD).order_by(StaffMember.sort_name, StaffMember.id).limit(limit).offset(offset)
    )
    return list(rows.scalars()), total


# --- departments, licences, shifts, leave -----------------------------------------------------


async def lock_staff(session: AsyncSession, staff_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StaffMember]:
    """Lock these staff rows (SELECT ... FOR UPDATE, in id order so two writers never deadlock)
    and return them: rota changes for one person are decided one writer at a time. SQLite
    ignores the clause; its BEGIN IMMEDIATE already serialises writers."""
    ids = sorted(set(staff_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(StaffMember)
        .where(StaffMember.id.in_(ids))
        .order_by(StaffMember.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {r.id: r for r in rows.scalars()}


async def staff_rows(session: AsyncSession, staff_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StaffMember]:
    ids = list(set(staff_ids))
    if not ids:
        return {}
    rows = await session.execute(select(StaffMember).where(StaffMember.id.in_(ids)))
    return {r.id: r for r in rows.scalars()}


async def licence_periods(
    session: AsyncSession, staff_ids: Sequence[uuid.UUID], *, for_share: bool = False
) -> dict[uuid.UUID, list[tuple[date | None, date | None]]]:
    out: dict[uuid.UUID, list[tuple[date | None, date | None]]] = {i: [] for i in staff_ids}
    if not staff_ids:
        return out
    query = (
        select(StaffQualification.staff_id, StaffQualification.valid_from, StaffQualification.valid_to)
        .where(StaffQualification.staff_id.in_(list(set(staff_ids))), StaffQualification.kind == LICENCE)
        .order_by(StaffQualification.staff_id, StaffQualification.valid_from)
    )
    if for_share:
        query = query.with_for_update(read=True)
    rows = await session.execute(query)
    for staff_id, valid_from, valid_to in rows.all():
        out.setdefault(staff_id, []).append((valid_from, valid_to))
    return out


async def departments_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Department]:
    wanted = list({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await session.execute(select(Department).where(Department.id.in_(wanted)))
    return {d.id: d for d in rows.scalars()}


async def get_department(session: AsyncSession, department_id: uuid.UUID) -> Department:
    row = await session.get(Department, department_id)
    if row is None:
        raise NotFound("Department not found", code="department_not_found")
    return row


async def list_departments(session: AsyncSession, *, active: bool | None = None) -> list[Department]:
    query = select(Department).order_by(Department.name, Department.id)
    if active is not None:
        query = query.where(Department.active == active)
    return list((await session.execute(query)).scalars())


async def department_member_ids(
    session: AsyncSession, department_id: uuid.UUID, today: date
) -> list[uuid.UUID]:
    """Active staff whose current post is in the department, or who hold a current position
    there (someone may work for two departments)."""
    holding = select(StaffPosition.staff_id).where(
        StaffPosition.department_id == department_id,
        StaffPosition.start_date <= today,
        or_(StaffPosition.end_date.is_(None), StaffPosition.end_date >= today),
    )
    rows = await session.execute(
        select(StaffMember.id)
        .where(
            StaffMember.active.is_(True),
            or_(StaffMember.department_id == department_id, StaffMember.id.in_(holding)),
        )
        .order_by(StaffMember.sort_name, StaffMember.id)
    )
    return list(rows.scalars())


async def staff_id_for_user(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    return (
        await session.execute(select(StaffMember.id).where(StaffMember.user_id == user_id))
    ).scalar_one_or_none()


async def leave_between(
    session: AsyncSession,
    staff_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    *,
    for_share: bool = False,
) -> list[Leave]:
    if not staff_ids:
        return []
    query = (
        select(Leave)
        .where(Leave.staff_id.in_(list(set(staff_ids))), Leave.starts_at < end, Leave.ends_at > start)
        .order_by(Leave.starts_at, Leave.id)
    )
    if for_share:
        query = query.with_for_update(read=True)
    rows = await session.execute(query)
    return list(rows.scalars())


async def shifts_between(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    staff_ids: Sequence[uuid.UUID] | None = None,
    department_id: uuid.UUID | None = None,
    for_share: bool = False,
) -> list[Shift]:
    """Shifts overlapping [start, end). ``for_share`` reads them with a shared lock: on MariaDB
    (REPEATABLE READ) a plain read would come from the transaction's snapshot, taken before the
    staff row lock was granted, and could miss a shift another writer has just committed."""
    query = select(Shift).where(Shift.starts_at < end, Shift.ends_at > start)
    if staff_ids is not None:
        if not staff_ids:
            return []
        query = query.where(Shift.staff_id.in_(list(set(staff_ids))))
    if department_id is not None:
        query = query.where(Shift.department_id == department_id)
    if for_share:
        query = query.with_for_update(read=True)
    rows = await session.execute(query.order_by(Shift.starts_at, Shift.id))
    return list(rows.scalars())


async def shifts_on_days(
    session: AsyncSession,
    first: date,
    last: date,
    *,
    staff_ids: Sequence[uuid.UUID] | None = None,
    department_id: uuid.UUID | None = None,
) -> list[Shift]:
    """Shifts whose facility-local start day is within [first, last]."""
    query = select(Shift).where(Shift.local_date >= first, Shift.local_date <= last)
    if staff_ids is not None:
        if not staff_ids:
            return []
        query = query.where(Shift.staff_id.in_(list(set(staff_ids))))
    if department_id is not None:
        query = query.where(Shift.department_id == department_id)
    rows = await session.execute(query.order_by(Shift.starts_at, Shift.staff_id, Shift.id))
    return list(rows.scalars())


async def get_shift(session: AsyncSession, shift_id: uuid.UUID, *, for_update: bool = False) -> Shift:
    if for_update:  # fresh from the database: it may have changed while we waited for a lock
        query = (
            select(Shift)
            .where(Shift.id == shift_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        found = (await session.execute(query)).scalar_one_or_none()
    else:
        found = await session.get(Shift, shift_id)
    row = found
    if row is None:
        raise NotFound("Shift not found", code="shift_not_found")
    return row


async def get_leave(session: AsyncSession, leave_id: uuid.UUID, *, for_update: bool = False) -> Leave:
    if for_update:
        query = (
            select(Leave)
            .where(Leave.id == leave_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = (await session.execute(query)).scalar_one_or_none()
    else:
        row = await session.get(Leave, leave_id)
    if row is None:
        raise NotFound("Leave not found", code="leave_not_found")
    return row


async def definitions(session: AsyncSession, *, active: bool | None = None) -> list[ShiftDefinition]:
    query = select(ShiftDefinition).order_by(ShiftDefinition.start_time, ShiftDefinition.name)
    if active is not None:
        query = query.where(ShiftDefinition.active == active)
    return list((await session.execute(query)).scalars())


async def definitions_by_id(
    session: AsyncSession, ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID, ShiftDefinition]:
    wanted = list({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await session.execute(select(ShiftDefinition).where(ShiftDefinition.id.in_(wanted)))
    return {d.id: d for d in rows.scalars()}


async def get_definition(session: AsyncSession, definition_id: uuid.UUID) -> ShiftDefinition:
    row = await session.get(ShiftDefinition, definition_id)
    if row is None:
        raise NotFound("Shift definition not found", code="definition_not_found")
    return row


async def feed_by_staff(session: AsyncSession, staff_id: uuid.UUID) -> CalendarFeed | None:
    return (
        await session.execute(select(CalendarFeed).where(CalendarFeed.staff_id == staff_id))
    ).scalar_one_or_none()


async def feed_by_hash(session: AsyncSession, token_hash: str) -> CalendarFeed | None:
    return (
        await session.execute(select(CalendarFeed).where(CalendarFeed.token_hash == token_hash))
    ).scalar_one_or_none()


async def positions_of(session: AsyncSession, staff_id: uuid.UUID) -> list[StaffPosition]:
    rows = await session.execute(
        select(StaffPosition)
        .where(StaffPosition.staff_id == staff_id)
        .order_by(StaffPosition.start_date.desc(), StaffPosition.created_at.desc(), StaffPosition.id)
    )
    return list(rows.scalars())


async def get_position(session: AsyncSession, staff_id: uuid.UUID, position_id: uuid.UUID) -> StaffPosition:
    row = await session.get(StaffPosition, position_id)
    if row is None or row.staff_id != staff_id:
        raise NotFound("Position not found", code="position_not_found")
    return row


async def get_qualification(
    session: AsyncSession, staff_id: uuid.UUID, qualification_id: uuid.UUID
) -> StaffQualification:
    row = await session.get(StaffQualification, qualification_id)
    if row is None or row.staff_id != staff_id:
        raise NotFound("Licence or qualification not found", code="licence_not_found")
    return row


async def licences_ending_before(
    session: AsyncSession, horizon: date
) -> list[tuple[StaffQualification, StaffMember]]:
    """Licences with an end date on or before ``horizon``, of active staff."""
    rows = await session.execute(
        select(StaffQualification, StaffMember)
        .join(StaffMember, StaffMember.id == StaffQualification.staff_id)
        .where(
            StaffQualification.kind == LICENCE,
            StaffQualification.valid_to.is_not(None),
            StaffQualification.valid_to <= horizon,
            StaffMember.active.is_(True),
        )
        .order_by(StaffQualification.valid_to, StaffMember.sort_name, StaffQualification.id)
    )
    return [(q, m) for q, m in rows.all()]
