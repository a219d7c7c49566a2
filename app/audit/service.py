"""Recording and verifying the audit log.

Events are collected on the session while a request runs and written, chained, just before
its transaction commits (a ``before_commit`` hook), so the chain-head lock is held only for
the last moment of a transaction and an audit row exists if and only if the change it
describes was committed. When a request fails, ``write_failed`` stores the same events, with
the failure outcome, in a transaction of their own: attempts are audited too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from app.audit.models import AuditChainHead, AuditEvent
from app.context import current_context
from app.kit.time import utcnow

GENESIS_HASH = "0" * 64
_PENDING_KEY = "audit_pending"  # recorded, waiting for the commit
_SEALING_KEY = "audit_sealing"  # written by a commit that has not finished yet
_ROLLED_BACK_KEY = "audit_rolled_back"  # their transaction was rolled back
_MARKS_KEY = "audit_savepoint_marks"  # savepoint -> how many events were pending when it began


@dataclass
class PendingEvent:
    action: str
    resource_type: str
    resource_id: str | None
    patient_id: uuid.UUID | None
    outcome: str
    details: dict[str, Any] | None
    occurred_at: datetime = field(default_factory=utcnow)
    actor_id: uuid.UUID | None = None
    actor_username: str | None = None
    actor_roles: str | None = None
    client_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


def record(
    session: AsyncSession,
    *,
    action: str,
    resource_type: str,
    resource_id: str | uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
    actor_id: uuid.UUID | None = None,
    actor_username: str | None = None,
) -> None:
    """Queue an audit event on this session's transaction. Actor and origin come from the
    request context unless given (login, where the actor is only known by the name tried)."""
    ctx = current_context()
    if session.sync_session.get_transaction() is None:
        # Tie the event to a transaction now, so a rollback before any SQL still discards it.
        session.sync_session.begin()
    pending: list[PendingEvent] = session.info.setdefault(_PENDING_KEY, [])
    pending.append(
        PendingEvent(
            action=action,
            resource_type=resource_type,
            resource_id=str(resource_id) if resource_id is not None else None,
            patient_id=patient_id,
            outcome=outcome,
            details=details,
            actor_id=actor_id or ctx.actor_id,
            actor_username=actor_username or ctx.actor_username,
            actor_roles=",".join(ctx.actor_roles) or None,
            client_address=ctx.client_address,
            user_agent=(ctx.user_agent or "")[:255] or None,
            request_id=ctx.request_id,
        )
    )


def take_pending(session: AsyncSession) -> list[PendingEvent]:
    """Every event of this unit of work that has not been committed, for the failure path."""
    info = session.info
    taken: list[PendingEvent] = []
    for key in (_ROLLED_BACK_KEY, _SEALING_KEY, _PENDING_KEY):
        taken.extend(info.pop(key, []))
    return taken


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _row_fields(row: AuditEvent) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "occurred_at": row.occurred_at.isoformat(timespec="microseconds"),
        "actor_id": str(row.actor_id) if row.actor_id else None,
        "actor_username": row.actor_username,
        "actor_roles": row.actor_roles,
        "action": row.action,
        "resource_type": row.resource_type,
        "resource_id": row.resource_id,
        "patient_id": str(row.patient_id) if row.patient_id else None,
        "outcome": row.outcome,
        "client_address": row.client_address,
        "user_agent": row.user_agent,
        "request_id": row.request_id,
        "details": row.details,
        "prev_hash": row.prev_hash,
    }


def compute_hash(row: AuditEvent, key: bytes) -> str:
    # Keyed: someone who can write to the database but does not hold the key cannot re-chain
    # the rows after an edit.
    return hmac.new(key, _canonical(_row_fields(row)).encode(), hashlib.sha256).hexdigest()


def _key(session: Session | AsyncSession) -> bytes:
    key = session.info.get("audit_key")
    if not isinstance(key, bytes):
        raise RuntimeError("sessions must come from app.db.Database, which carries the audit key")
    return key


def _append(session: Session, pending: Sequence[PendingEvent], outcome: str | None = None) -> None:
    key = _key(session)
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditChainHead(id=1, last_seq=0, last_hash=GENESIS_HASH)
        session.add(head)
    for ev in pending:
        # Microsecond precision is what both SQLite and MySQL DATETIME(6) keep; hash what is stored.
        row = AuditEvent(
            seq=head.last_seq + 1,
            occurred_at=ev.occurred_at,
            actor_id=ev.actor_id,
            actor_username=ev.actor_username,
            actor_roles=ev.actor_roles,
            action=ev.action,
            resource_type=ev.resource_type,
            resource_id=ev.resource_id,
            patient_id=ev.patient_id,
            outcome=outcome or ev.outcome,
            client_address=ev.client_address,
            user_agent=ev.user_agent,
            request_id=ev.request_id,
            details=_canonical(ev.details) if ev.details is not None else None,
            prev_hash=head.last_hash,
        )
        row.hash = compute_hash(row, key)
        session.add(row)
        head.last_seq = row.seq
        head.last_hash = row.hash
    session.flush()


@event.listens_for(Session, "before_commit")
def _seal_pending(session: Session) -> None:
    pending: list[PendingEvent] = session.info.pop(_PENDING_KEY, [])
    if pending:
        session.info[_SEALING_KEY] = pending
        _append(session, pending)


@event.listens_for(Session, "after_commit")
def _sealed(session: Session) -> None:
    # Events of a transaction rolled back earlier in this session describe nothing that
    # happened; the unit of work had its chance to record them as failures.
    session.info.pop(_SEALING_KEY, None)
    session.info.pop(_ROLLED_BACK_KEY, None)


@event.listens_for(Session, "after_transaction_create")
def _savepoint_began(session: Session, transaction: Any) -> None:
    if transaction.nested:
        # Weak keys: a savepoint's mark goes away with the savepoint, whatever its end.
        marks = session.info.setdefault(_MARKS_KEY, weakref.WeakKeyDictionary())
        marks[transaction] = len(session.info.get(_PENDING_KEY, []))


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.nested:
        # A savepoint rolled back: what was recorded inside it did not happen; the outer
        # transaction and its earlier events live on.
        mark = session.info.get(_MARKS_KEY, {}).get(previous_transaction)
        if mark is not None:
            del session.info.get(_PENDING_KEY, [])[mark:]
        return
    if previous_transaction.parent is not None:
        return
    moved = session.info.pop(_SEALING_KEY, []) + session.info.pop(_PENDING_KEY, [])
    if moved:
        session.info.setdefault(_ROLLED_BACK_KEY, []).extend(moved)


async def write_failed(
    sessionmaker: async_sessionmaker[AsyncSession],
    pending: Sequence[PendingEvent],
    outcome: str,
    error_code: str,
) -> None:
    """Store the events of a failed request in their own transaction, marked with its outcome."""
    for ev in pending:
        ev.details = {**(ev.details or {}), "error": error_code}
    async with sessionmaker() as session:
        await session.run_sync(lambda s: _append(s, pending, outcome))
        await session.commit()


# --- reading ---------------------------------------------------------------------------


async def list_events(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    patient_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    resource_type: str | None = None,
) -> tuple[list[AuditEvent], int]:
    query = select(AuditEvent)
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if resource_type is not None:
        query = query.where(AuditEvent.resource_type == resource_type)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(query.order_by(AuditEvent.seq.desc()).limit(limit).offset(offset))
    return list(rows.scalars()), total


# --- verification ----------------------------------------------------------------------


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    head_seq: int = 0
    head_hash: str = GENESIS_HASH

    @property
    def ok(self) -> bool:
        return not self.problems


async def _iter_rows(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEvent]:
    last = 0
    while True:
        rows = list(
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
                )
            ).scalars()
        )
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq
        session.expunge_all()


async def verify(session: AsyncSession, expect: tuple[int, str] | None = None) -> VerifyReport:
    """Walk the chain in order; name every edited row, every deleted row and every broken link.

    A chain kept in the database cannot prove that its newest rows were not cut off together
    with the head. ``expect`` is an anchor (seq, hash) recorded elsewhere earlier (the report's
    head): the chain must still contain that row, unchanged."""
    key = _key(session)
    report = VerifyReport()
    anchor_seen = expect is None
    expected_seq = 1
    expected_prev = GENESIS_HASH
    async for row in _iter_rows(session):
        report.checked += 1
        gap = row.seq != expected_seq
        if gap:
            missing = (
                f"seq {expected_seq}" if row.seq == expected_seq + 1 else f"seq {expected_seq}..{row.seq - 1}"
            )
            report.problems.append(f"deleted: {missing} missing before seq {row.seq} (id {row.id})")
        if expect is not None and row.seq == expect[0]:
            anchor_seen = True
            if row.hash != expect[1]:
                report.problems.append(f"anchor: seq {row.seq} no longer has the recorded hash")
        if compute_hash(row, key) != row.hash:
            report.problems.append(
                f"edited: seq {row.seq} (id {row.id}, {row.action} {row.resource_type}) "
                "does not match its hash"
            )
        elif not gap and row.prev_hash != expected_prev:
            report.problems.append(
                f"broken link: seq {row.seq} (id {row.id}) does not chain to the row before it"
            )
        expected_seq = row.seq + 1
        expected_prev = row.hash
    head = (await session.execute(select(AuditChainHead).where(AuditChainHead.id == 1))).scalar_one_or_none()
    if head is not None:
        if head.last_seq >= expected_seq:
            report.problems.append(
                f"deleted: seq {expected_seq}..{head.last_seq} missing at the end of the log"
            )
        elif head.last_seq == expected_seq - 1 and head.last_hash != expected_prev:
            report.problems.append(f"edited: the last row (seq {head.last_seq}) differs from the chain head")
    report.head_seq, report.head_hash = expected_seq - 1, expected_prev
    if not anchor_seen and expect is not None:
        report.problems.append(f"deleted: the anchored row seq {expect[0]} is gone (the log was cut short)")
    return report
