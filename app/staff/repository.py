"""Every query of the staff directory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from app.errors import NotFound
from app.kit.text import escape_like
from app.staff.models import StaffIdentifier, StaffMember

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
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.options(*STAFF_LOAD).order_by(StaffMember.sort_name, StaffMember.id).limit(limit).offset(offset)
    )
    return list(rows.scalars()), total
