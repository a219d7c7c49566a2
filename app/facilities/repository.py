"""Every query of the facilities module."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.errors import NotFound
from app.facilities.models import Facility, FacilityIdentifier
from app.kit.text import escape_like


async def get(session: AsyncSession, facility_id: uuid.UUID) -> Facility:
    row = (
        await session.execute(
            select(Facility).where(Facility.id == facility_id).options(selectinload(Facility.identifiers))
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("Facility not found")
    return row


async def identifier_owners(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    found: dict[tuple[str, str], uuid.UUID] = {}
    unique = sorted(set(pairs))
    for start in range(0, len(unique), 500):
        by_system: dict[str, list[str]] = {}
        for system, value in unique[start : start + 500]:
            by_system.setdefault(system, []).append(value)
        query = select(
            FacilityIdentifier.system, FacilityIdentifier.value, FacilityIdentifier.facility_id
        ).where(
            or_(
                *(
                    and_(FacilityIdentifier.system == system, FacilityIdentifier.value.in_(values))
                    for system, values in by_system.items()
                )
            )
        )
        for system, value, facility_id in (await session.execute(query)).all():
            found[(system, value)] = facility_id
    return found


async def search(
    session: AsyncSession,
    *,
    name_tokens: Sequence[str] = (),
    identifier: tuple[str | None, str] | None = None,
    active: bool | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Facility], int]:
    query: Select[Facility] = select(Facility)
    for token in name_tokens:
        query = query.where(Facility.sort_name.like(f"%{escape_like(token)}%", escape="\\"))
    if identifier is not None:
        system, value = identifier
        sub = select(FacilityIdentifier.facility_id).where(FacilityIdentifier.value == value)
        if system is not None:
            sub = sub.where(FacilityIdentifier.system == system)
        query = query.where(Facility.id.in_(sub))
    if active is not None:
        query = query.where(Facility.active == active)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.options(selectinload(Facility.identifiers))
        .order_by(Facility.sort_name, Facility.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), total
