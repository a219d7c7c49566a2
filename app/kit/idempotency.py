"""Idempotency keys for writes a client may retry (``Idempotency-Key`` header).

A key is scoped by (user, key, endpoint) and stores the response of the first request. The key
row is inserted *before* the work, in the request's own transaction: a concurrent duplicate
blocks on the unique index until the first commits (MariaDB) or waits for the writer lock
(SQLite), then finds the committed row and replays its response. Because the key row and the
work commit together, a failed request leaves no key behind and the client may retry it.

The same key with a different body is refused (409 ``idempotency_key_reused``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPk
from app.errors import Conflict
from app.kit.time import utcnow

MAX_KEY_LENGTH = 128


class IdempotencyKey(UUIDPk, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key", "endpoint"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    user_id: Mapped[uuid.UUID]
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    endpoint: Mapped[str] = mapped_column(String(190))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass
class Replay:
    status_code: int
    body: Any


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _existing(session: AsyncSession, user_id: uuid.UUID, key: str, endpoint: str) -> IdempotencyKey:
    # A locking read sees the latest committed row even inside an older REPEATABLE READ
    # snapshot. A *shared* one: every waiter that lost the insert already holds a shared lock on
    # the row (InnoDB's duplicate-key check), so asking for an exclusive one would deadlock.
    row = (
        await session.execute(
            select(IdempotencyKey)
            .where(
                IdempotencyKey.user_id == user_id,
                IdempotencyKey.key == key,
                IdempotencyKey.endpoint == endpoint,
            )
            .with_for_update(read=True)
        )
    ).scalar_one()
    return row


def _replay_or_refuse(row: IdempotencyKey, digest: str) -> Replay:
    if row.request_hash != digest:
        raise Conflict(
            "This Idempotency-Key was already used with a different request body",
            code="idempotency_key_reused",
        )
    if row.status_code is None or row.response_body is None:
        # Only visible inside the transaction that created it; defensive.
        raise Conflict("A request with this Idempotency-Key is in progress", code="idempotency_in_progress")
    return Replay(status_code=row.status_code, body=json.loads(row.response_body))


async def begin(
    session: AsyncSession, *, user_id: uuid.UUID, key: str, endpoint: str, payload: Any
) -> IdempotencyKey | Replay:
    """Claim the key for this request, or return the stored response of the first one."""
    digest = request_hash(payload)
    row = IdempotencyKey(user_id=user_id, key=key, endpoint=endpoint[:190], request_hash=digest)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return _replay_or_refuse(await _existing(session, user_id, key, endpoint[:190]), digest)
    return row


async def complete(session: AsyncSession, row: IdempotencyKey, status_code: int, body: Any) -> None:
    row.status_code = status_code
    row.response_body = json.dumps(body, ensure_ascii=False, default=str)
    await session.flush()
