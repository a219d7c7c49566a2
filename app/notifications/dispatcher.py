"""Sending what is due: claim, deliver, record; each step its own short transaction.

Delivery is at least once. A claim is a conditional UPDATE (pending -> sending with a token and
a lease), so two dispatchers, in one process or several, never take the same message while its
lease runs. Only when a dispatcher dies (or hangs past the lease) between sending and recording
can a message go out twice; its Message-ID is the same both times, so receivers can drop it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.config import Settings
from app.db import Database
from app.kit.time import ensure_aware, utcnow
from app.notifications import repository
from app.notifications.adapters import (
    Adapter,
    DeliveryError,
    adapter_for,
    build_email,
    clean_reason,
    envelope_sender,
)
from app.notifications.models import NotificationMessage

log = logging.getLogger("app.notifications")
T = TypeVar("T")

BATCH = 10  # claimed per transaction: small, so a crash strands few messages until their lease ends
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
ACTOR = "system-notifications"


@dataclass
class DispatchResult:
    sent: int = 0
    retrying: int = 0  # failed this time, will be tried again
    failed: int = 0  # given up (permanent refusal or out of attempts)
    released: int = 0  # found past their lease and made pending again
    lost: int = 0  # sent, but another dispatcher had taken the message over meanwhile

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed + self.lost


async def _transaction(
    database: Database, work: Callable[[AsyncSession], Awaitable[T]], *, tries: int = 4
) -> T:
    """Run ``work`` in a short transaction of its own, again if the database refused it for a
    moment (a deadlock between dispatchers on MariaDB, a busy SQLite file)."""
    for attempt in range(1, tries + 1):
        try:
            async with database.sessionmaker() as session:
                value = await work(session)
                await session.commit()
                return value
        except OperationalError as exc:
            if attempt == tries:
                raise
            log.warning("notifications: transaction refused (%s), trying again", type(exc.orig).__name__)
            await asyncio.sleep(0.05 * attempt * (1 + random.random()))  # noqa: S311 - jitter, not secrets
    raise AssertionError("unreachable")


def backoff(attempts: int, *, rng: Callable[[], float] = random.random) -> timedelta:
    """Exponential (30 s, 1 min, 2 min, ... up to an hour) with jitter: between half and all of it,
    so messages that failed together (the server was down) do not all come back together."""
    delay = min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS)
    return timedelta(seconds=delay * (0.5 + 0.5 * rng()))


async def dispatch_due(
    database: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = 100,
    adapter: Adapter | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DispatchResult:
    """Send up to ``limit`` messages that are due by ``now`` (default: the current time).

    ``should_stop`` is asked before each message (a shutting-down worker): when it says yes,
    the messages claimed but not yet tried are handed back, due at once, and the round ends."""
    stopping: Callable[[], bool] = should_stop or (lambda: False)
    clock: Callable[[], datetime] = (lambda: ensure_aware(now)) if now is not None else utcnow
    adapter = adapter or adapter_for(settings)
    result = DispatchResult()

    released, failed = await _transaction(
        database,
        lambda session: repository.release_expired_leases(
            session, now=clock(), max_attempts=settings.notifications_max_attempts
        ),
    )
    result.released, result.failed = released, failed
    if released or failed:
        log.warning(
            "notifications: %d lease(s) ran out, %d released, %d failed", released + failed, released, failed
        )

    remaining = limit
    while remaining > 0 and not stopping():
        batch = await _claim_batch(database, settings, clock, min(remaining, BATCH))
        if not batch:
            break
        remaining -= len(batch)
        for index, message in enumerate(batch):
            if stopping():
                await _hand_back(database, batch[index:], clock())
                return result
            assert message.claim_token is not None
            await _deliver_one(database, settings, adapter, message, message.claim_token, clock, result)
    return result


async def _hand_back(database: Database, messages: list[NotificationMessage], now: datetime) -> None:
    """Release claimed messages that were not tried: due at once, the attempt not counted."""

    async def work(session: AsyncSession) -> None:
        for message in messages:
            assert message.claim_token is not None
            await repository.finish(
                session,
                message.id,
                token=message.claim_token,
                values={"status": "pending", "next_attempt_at": now, "attempts": message.attempts - 1},
            )

    await _transaction(database, work)


async def _claim_batch(
    database: Database, settings: Settings, clock: Callable[[], datetime], size: int
) -> list[NotificationMessage]:
    """Claim up to ``size`` due messages; none when nothing is due. Another dispatcher may
    take the same candidates first: then look again (they are no longer pending)."""
    for _ in range(20):
        token = str(uuid.uuid4())
        now = clock()
        try:
            async with database.sessionmaker() as session:
                ids = await repository.due_ids(session, now=now, limit=size)
                if not ids:
                    return []
                won = await repository.claim(
                    session,
                    ids,
                    token=token,
                    now=now,
                    lease_until=now + timedelta(seconds=settings.notifications_lease_seconds),
                )
                await session.commit()
                if not won:
                    continue
                async with database.sessionmaker() as read:
                    return await repository.claimed(read, ids, token=token)
        except OperationalError as exc:
            # A deadlock or lock timeout between dispatchers: nothing was claimed, look again.
            log.warning("notifications: claim failed, retrying: %s", type(exc.orig).__name__)
    return []


async def _deliver_one(
    database: Database,
    settings: Settings,
    adapter: Adapter,
    message: NotificationMessage,
    token: str,
    clock: Callable[[], datetime],
    result: DispatchResult,
) -> None:
    error: DeliveryError | None = None
    try:
        email = build_email(message, message.attachments, settings)
    except (ValueError, TypeError) as exc:
        error = DeliveryError(f"cannot build the message: {exc}", permanent=True)
    else:
        try:
            await adapter.deliver(
                email, sender=envelope_sender(settings), recipient=message.to_email, name=str(message.id)
            )
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # an adapter bug must not strand the message in "sending"
            log.exception("notifications: adapter crashed on %s", message.id)
            error = DeliveryError(f"unexpected {type(exc).__name__}: {exc}")

    now = clock()
    if error is None:
        values: dict[str, object] = {"status": "sent", "sent_at": now, "last_error": None, "updated_at": now}
        outcome = "sent"
    elif error.permanent or message.attempts >= settings.notifications_max_attempts:
        values = {"status": "failed", "last_error": clean_reason(error.reason), "updated_at": now}
        outcome = "failed"
    else:
        values = {
            "status": "pending",
            "next_attempt_at": now + backoff(message.attempts),
            "last_error": clean_reason(error.reason),
            "updated_at": now,
        }
        outcome = "retrying"

    async def record(session: AsyncSession) -> bool:
        kept = await repository.finish(session, message.id, token=token, values=values)
        if kept and outcome != "retrying":
            # The message carries patient information: its disclosure (or the final failure) is audited.
            audit.record(
                session,
                action=f"notification.{outcome}",
                resource_type="notification",
                resource_id=message.id,
                patient_id=message.patient_id,
                outcome="success" if outcome == "sent" else "failure",
                details={"kind": message.kind, "attempts": message.attempts, "related": message.related},
                actor_username=ACTOR,
            )
        return kept

    kept = await _transaction(database, record)

    if not kept:
        result.lost += 1
        log.warning("notifications: %s outlived its lease; another dispatcher has it now", message.id)
    elif outcome == "sent":
        result.sent += 1
    elif outcome == "failed":
        result.failed += 1
        log.warning(
            "notifications: %s failed for good after %d attempt(s): %s",
            message.id,
            message.attempts,
            values["last_error"],
        )
    else:
        result.retrying += 1
        log.info(
            "notifications: %s attempt %d failed, will retry: %s",
            message.id,
            message.attempts,
            values["last_error"],
        )
