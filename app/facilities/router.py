"""HTTP endpoints of facilities under /api/facilities."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.permissions import Perm
from app.deps import Principal, SessionDep, require
from app.facilities import schemas as s
from app.facilities import service
from app.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/facilities", tags=["facilities"])

PageDep = Annotated[PageParams, Depends(page_params)]
DirectoryReader = Annotated[Principal, Depends(require(Perm.STAFF_READ))]


@router.get("", response_model=Page[s.FacilityRead], summary="Search facilities")
async def search_facilities(
    principal: DirectoryReader,
    session: SessionDep,
    page: PageDep,
    name: Annotated[str | None, Query(min_length=1, max_length=200, description="Part of the name")] = None,
    identifier: Annotated[
        str | None, Query(min_length=1, max_length=400, description="system|value, or value")
    ] = None,
    active: bool | None = None,
) -> Page[s.FacilityRead]:
    rows, total = await service.search_facilities(
        session,
        principal,
        name=name,
        identifier=identifier,
        active=active,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(
        items=[s.FacilityRead.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{facility_id}", response_model=s.FacilityRead, summary="One facility")
async def get_facility(
    facility_id: uuid.UUID, principal: DirectoryReader, session: SessionDep
) -> s.FacilityRead:
    return s.FacilityRead.model_validate(await service.get_facility(session, principal, facility_id))
