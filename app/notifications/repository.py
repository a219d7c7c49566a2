"""Every query on the outbox tables. The state changes of the dispatcher are conditional
UPDATEs: the database decides which dispatcher owns a message."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.notifications.models import NotificationMessage

M = NotificationMessage


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)


async def release_expired_leases(
    session: AsyncSession, *, now: datetime, max_attempts: int
) -> tuple[int, int]:
    """Messages left in ``sending`` past their lease (a dispatcher died or hung mid-send) go
    back to ``pending``, or to ``failed`` when they have used up their attempts.
    Returns (released, failed)."""
    expired = (M.status == "sending", M.next_attempt_at <= now)
    released = await session.execute(
        update(M)
        .where(*expired, M.attempts < max_attempts)
        .values(
            status="pending",
            claim_token=None,
            last_error="delivery interrupted: the lease ran out before it was confirmed",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    failed = await session.execute(
        update(M)
        .where(*expired, M.attempts >= max_attempts)
        .values(
            status="failed",
            claim_token=None,
            last_error="delivery interrupted on its last attempt: the lease ran out",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(released), _rowcount(failed)


async def due_ids(session: AsyncSession, *, now: datetime, limit: int) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(M.id)
        .where(M.status == "pending", M.next_attempt_at <= now)
        .order_by(M.next_attempt_at, M.id)
        .limit(limit)
    )
    return list(rows)


async def claim(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, token: str, now: datetime, lease_until: datetime
) -> int:
    """pending -> sending for those of ``ids`` still pending and due; the rest belong to
    someone else now. While sending, ``next_attempt_at`` is the end of the lease."""
    result = await session.execute(
        update(M)
        .where(M.id.in_(list(ids)), M.status == "pending", M.next_attempt_at <= now)
        .values(
            status="sending",
            claim_token=token,
            attempts=M.attempts + 1,
            next_attempt_at=lease_until,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


async def claimed(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, token: str
) -> list[NotificationMessage]:
    rows = await session.scalars(
        select(M)
        .where(M.id.in_(list(ids)), M.claim_token == token)
        .options(selectinload(M.attachments))
        .order_by(M.next_attempt_at, M.id)
    )
    return list(rows)


async def finish(session: AsyncSession, message_id: uuid.UUID, *, token: str, values: dict[str, Any]) -> bool:
    """Record the outcome of an attempt, if this dispatcher still holds the lease."""
    result = await session.execute(
        update(M)
        .where(M.id == message_id, M.claim_token == token, M.status == "sending")
        .values(claim_token=None, **values)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def list_messages(
    session: AsyncSession, *, status: str | None, limit: int, offset: int
) -> tuple[list[NotificationMessage], int]:
    query = select(M)
    count = select(func.count()).select_from(M)
    if status is not None:
        query = query.where(M.status == status)
        count = count.where(M.status == status)
    total = int(await session.scalar(count) or 0)
    rows = await session.scalars(query.order_by(M.created_at.desc(), M.id).limit(limit).offset(offset))
    return list(rows), total


async def get(
    session: AsyncSession, message_id: uuid.UUID, *, attachments: bool = False
) -> NotificationMessage | None:
    query = select(M).where(M.id == message_id)
    if attachments:
        query = query.options(selectinload(M.attachments))
    return (await session.scalars(query)).one_or_none()


async def requeue(
    session: AsyncSession, message_id: uuid.UUID, *, now: datetime, from_statuses: Sequence[str]
) -> bool:
    """Make a message due now with a fresh set of attempts, if it is in one of ``from_statuses``."""
    result = await session.execute(
        update(M)
        .where(M.id == message_id, M.status.in_(list(from_statuses)))
        .values(status="pending", attempts=0, next_attempt_at=now, claim_token=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(M.status, func.count()).group_by(M.status))
    return {status: int(n) for status, n in rows.all()}


async def cancel_pending(
    session: AsyncSession, *, related: str, kinds: list[str] | None, now: datetime
) -> int:
    stmt = (
        update(M)
        .where(M.related == related, M.status == "pending")
        .values(status="cancelled", dedupe_key=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if kinds is not None:
        stmt = stmt.where(M.kind.in_(kinds))
    return _rowcount(await session.execute(stmt))


async def id_by_dedupe_key(session: AsyncSession, dedupe_key: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(select(M.id).where(M.dedupe_key == dedupe_key))
    return found


async def recipients(session: AsyncSession, *, related: str, kinds: list[str]) -> list[str]:
    rows = await session.scalars(
        select(M.to_email)
        .where(M.related == related, M.kind.in_(kinds), M.status != "cancelled")
        .distinct()
        .order_by(M.to_email)
    )
    return list(rows)
