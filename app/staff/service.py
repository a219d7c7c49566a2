"""The staff directory's business rules: the only entry other modules (FHIR, import,
appointments) may call. Reads need staff:read, writes staff:write; writes are audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.permissions import Perm
from app.deps import Principal
from app.errors import BadRequest, Conflict, Forbidden
from app.patients import names as naming
from app.staff import repository as repo
from app.staff import schemas as s
from app.staff.models import StaffIdentifier, StaffMember, StaffQualification, dump_json_list

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
        identifiers=[
            StaffIdentifier(position=i, system=x.system, value=x.value, use=x.use)
            for i, x in enumerate(data.identifiers)
        ],
        qualifications=[
            StaffQualification(
                position=i,
                code_system=q.code.system if q.code else None,
                code_code=q.code.code if q.code else None,
                code_display=q.code.display if q.code else None,
                number=q.number,
                issuer=q.issuer,
                valid_from=q.valid_from,
                valid_to=q.valid_to,
            )
            for i, q in enumerate(data.qualifications)
        ],
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create took the identifier (or the user link)
        raise Conflict(
            "A staff member with this identifier or user account already exists", code="duplicate_identifier"
        ) from exc
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
        limit=limit,
        offset=offset,
    )
