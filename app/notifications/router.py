"""Admin API of the outbox under /api/admin/notifications (settings administrators)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.auth.permissions import Perm
from app.deps import Principal, SessionDep, require
from app.kit.pagination import Page, PageParams, page_params
from app.notifications import service
from app.notifications.schemas import NotificationDetail, NotificationStatus, NotificationSummary

router = APIRouter(prefix="/api/admin/notifications", tags=["notifications"])

AdminDep = Annotated[Principal, Depends(require(Perm.SETTINGS_ADMIN))]


@router.get("", response_model=Page[NotificationSummary])
async def list_notifications(
    _: AdminDep,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[NotificationStatus | None, Query(description="Only messages in this state")] = None,
) -> Page[NotificationSummary]:
    """The outbox, newest first, without bodies."""
    return await service.list_messages(session, status=status, limit=page.limit, offset=page.offset)


@router.get("/{notification_id}", response_model=NotificationDetail)
async def read_notification(
    _: AdminDep, session: SessionDep, notification_id: uuid.UUID
) -> NotificationDetail:
    """One message with its body (patient information: the read is audited)."""
    return await service.get_message(session, notification_id)


@router.post("/{notification_id}/retry", response_model=NotificationSummary)
async def retry_notification(
    _: AdminDep, session: SessionDep, notification_id: uuid.UUID
) -> NotificationSummary:
    """Send a failed message again (fresh attempts, due now); 409 for sent or cancelled ones."""
    return await service.retry(session, notification_id)
