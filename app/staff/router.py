"""HTTP endpoints of the staff directory under /api/staff."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.permissions import Perm
from app.deps import Principal, SessionDep, require
from app.kit.pagination import Page, PageParams, page_params
from app.staff import schemas as s
from app.staff import service

router = APIRouter(prefix="/api/staff", tags=["staff"])

PageDep = Annotated[PageParams, Depends(page_params)]
StaffReader = Annotated[Principal, Depends(require(Perm.STAFF_READ))]


@router.get("", response_model=Page[s.StaffRead], summary="Search the staff directory")
async def search_staff(
    principal: StaffReader,
    session: SessionDep,
    page: PageDep,
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Part of any name (accents ignored)")
    ] = None,
    identifier: Annotated[
        str | None, Query(min_length=1, max_length=400, description="system|value, or value (e.g. an NPI)")
    ] = None,
    active: bool | None = None,
) -> Page[s.StaffRead]:
    rows, total = await service.search_staff(
        session,
        principal,
        name=name,
        identifier=identifier,
        active=active,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(
        items=[s.StaffRead.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{staff_id}", response_model=s.StaffRead, summary="One staff record")
async def get_staff(staff_id: uuid.UUID, principal: StaffReader, session: SessionDep) -> s.StaffRead:
    return s.StaffRead.model_validate(await service.get_staff(session, principal, staff_id))
