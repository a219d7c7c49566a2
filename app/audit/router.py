from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from app.audit import service
from app.audit.models import AuditEvent
from app.auth.permissions import Perm
from app.deps import Principal, SessionDep, require
from app.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditEventRead(BaseModel):
    seq: int
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_username: str | None
    actor_roles: str | None
    action: str
    resource_type: str
    resource_id: str | None
    patient_id: uuid.UUID | None
    outcome: str
    client_address: str | None
    request_id: str | None
    details: dict[str, Any] | None
    hash: str


def _read(row: AuditEvent) -> AuditEventRead:
    return AuditEventRead(
        seq=row.seq,
        occurred_at=row.occurred_at,
        actor_id=row.actor_id,
        actor_username=row.actor_username,
        actor_roles=row.actor_roles,
        action=row.action,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        patient_id=row.patient_id,
        outcome=row.outcome,
        client_address=row.client_address,
        request_id=row.request_id,
        details=json.loads(row.details) if row.details else None,
        hash=row.hash,
    )


class VerifyResult(BaseModel):
    ok: bool
    checked: int
    problems: list[str]
    anchor: str


@router.get("/events", response_model=Page[AuditEventRead])
async def list_events(
    _: Annotated[Principal, Depends(require(Perm.AUDIT_READ))],
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    patient_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    resource_type: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AuditEventRead]:
    rows, total = await service.list_events(
        session,
        limit=page.limit,
        offset=page.offset,
        patient_id=patient_id,
        actor_id=actor_id,
        action=action,
        resource_type=resource_type,
    )
    return Page(items=[_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/verify", response_model=VerifyResult)
async def verify(
    _: Annotated[Principal, Depends(require(Perm.AUDIT_READ))], session: SessionDep
) -> VerifyResult:
    report = await service.verify(session)
    return VerifyResult(
        ok=report.ok,
        checked=report.checked,
        problems=report.problems,
        anchor=f"{report.head_seq}:{report.head_hash}",
    )
