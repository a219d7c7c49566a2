"""Facilities' business rules: the only entry other modules may call. Reading the directory
needs staff:read, writing it staff:write (the directory permission); writes are audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.permissions import Perm
from app.deps import Principal
from app.errors import BadRequest, Conflict
from app.facilities import repository as repo
from app.facilities import schemas as s
from app.facilities.models import Facility, FacilityIdentifier
from app.patients import names as naming
from app.staff.models import dump_json_list
from app.staff.service import parse_identifier, require

FACILITY = "Facility"


async def create_facility(session: AsyncSession, principal: Principal, data: s.FacilityCreate) -> Facility:
    require(session, principal, Perm.STAFF_WRITE)
    taken = await repo.identifier_owners(session, [(i.system, i.value) for i in data.identifiers])
    if taken:
        (system, value), owner = next(iter(taken.items()))
        raise Conflict(
            "A facility with this identifier already exists",
            code="duplicate_identifier",
            details={"system": system, "value": value, "facility_id": str(owner)},
        )
    if data.part_of_id is not None:
        await repo.get(session, data.part_of_id)
    row = Facility(
        active=data.active,
        name=data.name,
        sort_name=naming.sort_key(data.name)[:255],
        type_system=data.type.system if data.type else None,
        type_code=data.type.code if data.type else None,
        type_display=data.type.display if data.type else None,
        telecoms_json=dump_json_list([t.model_dump(mode="json") for t in data.telecoms]),
        addresses_json=dump_json_list([a.model_dump(mode="json") for a in data.addresses]),
        part_of_id=data.part_of_id,
        identifiers=[
            FacilityIdentifier(position=i, system=x.system, value=x.value, use=x.use)
            for i, x in enumerate(data.identifiers)
        ],
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("A facility with this identifier already exists", code="duplicate_identifier") from exc
    audit.record(
        session,
        action="facility.create",
        resource_type=FACILITY,
        resource_id=row.id,
        details={"name": data.name},
    )
    return row


async def get_facility(session: AsyncSession, principal: Principal, facility_id: uuid.UUID) -> Facility:
    require(session, principal, Perm.STAFF_READ)
    return await repo.get(session, facility_id)


async def find_by_identifiers(
    session: AsyncSession, principal: Principal, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    require(session, principal, Perm.STAFF_READ)
    return await repo.identifier_owners(session, pairs)


async def search_facilities(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str | None = None,
    identifier: str | None = None,
    active: bool | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Facility], int]:
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
        limit=limit,
        offset=offset,
    )
