"""Outgoing notifications: the transactional outbox other modules write to.

Other modules call :func:`enqueue` inside their own unit of work: it only adds rows to the
caller's session, so a change that rolls back sends nothing and a committed one is never lost.
The dispatcher (``app.notifications.dispatcher.dispatch_due``, run by the background worker or
``hospital notifications dispatch``) sends what is due later, retrying failures with backoff.

Contract for other modules (kept stable):

- ``Attachment(filename, content_type, content)``
- ``await enqueue(session, *, kind, to_email, subject, body, attachments=(), not_before=None,
  dedupe_key=None, related=None, patient_id=None, to_name=None) -> uuid.UUID | None``
  (async: it may flush to honour ``dedupe_key``; returns the new message's id, or ``None``
  when a live message with that ``dedupe_key`` already exists and was kept instead)
- ``await cancel_pending(session, *, related, kinds=None) -> int``
- ``await recipients(session, *, related, kinds) -> set[str]``: who was sent (or is about to be
  sent) messages of these kinds about ``related``
- ``is_valid_address(value) -> bool``: check an address before enqueueing (``enqueue`` raises
  ``InvalidNotification``, a 400 with code ``invalid_notification``, for one that is not).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.errors import BadRequest, Conflict, NotFound
from app.kit.pagination import Page
from app.kit.time import ensure_aware, utcnow
from app.notifications import repository
from app.notifications.models import NotificationAttachment, NotificationMessage
from app.notifications.schemas import NotificationAttachmentInfo, NotificationDetail, NotificationSummary

MESSAGE_ID_DOMAIN = "hospital-hub"
_ENQUEUED_KEY = "notifications_enqueued"


class InvalidNotification(BadRequest):
    code = "invalid_notification"


@dataclass(frozen=True)
class Attachment:
    """One file attached to a message, e.g. ``("visit.ics", "text/calendar; method=REQUEST", b"...")``."""

    filename: str
    content_type: str
    content: bytes


def normalize_address(value: str | None) -> str | None:
    """``value`` as a single plain ASCII address (``user@example.org``; an internationalised
    domain in its punycode form), or ``None`` if it is not one we can send to. Non-ASCII local
    parts need SMTPUTF8 end to end and are refused."""
    if not value or len(value) > 320 or any(ch in value for ch in "\r\n\0"):
        return None
    try:
        address = Address(addr_spec=value)
        domain = address.domain.encode("idna").decode("ascii")
    except (HeaderParseError, ValueError, IndexError, UnicodeError):
        return None
    if (
        address.addr_spec != value
        or not address.username
        or "." not in domain
        or not address.username.isascii()
    ):
        return None
    return f"{address.username}@{domain}"


def is_valid_address(value: str | None) -> bool:
    """Whether ``value`` is a single plain e-mail address (``user@example.org``) we can send to."""
    return normalize_address(value) is not None


def _single_line(value: str, field: str, max_len: int) -> str:
    if any(ch in value for ch in "\r\n\0"):
        raise InvalidNotification(f"The notification's {field} must be a single line")
    if len(value) > max_len:
        raise InvalidNotification(f"The notification's {field} is longer than {max_len} characters")
    return value


def _message_id(message_uuid: uuid.UUID) -> str:
    return f"<{message_uuid.hex}@{MESSAGE_ID_DOMAIN}>"


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    to_email: str,
    subject: str,
    body: str,
    attachments: Sequence[Attachment] = (),
    not_before: datetime | None = None,
    dedupe_key: str | None = None,
    related: str | None = None,
    patient_id: uuid.UUID | None = None,
    to_name: str | None = None,
) -> uuid.UUID | None:
    """Add a message to the outbox in the caller's transaction (committed or rolled back with it).

    ``not_before`` (aware) holds it until then (a reminder). ``dedupe_key`` makes enqueueing
    idempotent: while a message with that key exists (and was not cancelled), a second enqueue
    keeps the first and returns ``None``. ``related`` (``"appointment:<uuid>"``) lets
    :func:`cancel_pending` find it again.
    """
    address = normalize_address(to_email)
    if address is None:
        raise InvalidNotification("The notification's recipient is not a valid e-mail address")
    if not kind or len(kind) > 64:
        raise InvalidNotification("The notification's kind must be 1 to 64 characters")
    _single_line(subject, "subject", 500)
    if to_name is not None:
        _single_line(to_name, "recipient name", 200)
    if dedupe_key is not None and not 0 < len(dedupe_key) <= 190:
        raise InvalidNotification("The notification's dedupe key must be 1 to 190 characters")
    if related is not None and not 0 < len(related) <= 190:
        raise InvalidNotification("The notification's related reference must be 1 to 190 characters")
    for item in attachments:
        _single_line(item.filename, "attachment file name", 255)
        _single_line(item.content_type, "attachment content type", 255)
        if "/" not in item.content_type:
            raise InvalidNotification("An attachment's content type must look like type/subtype")
    due = ensure_aware(not_before) if not_before is not None else utcnow()

    if dedupe_key is not None and await _live_with_key(session, dedupe_key) is not None:
        return None

    message_uuid = uuid.uuid4()
    message = NotificationMessage(
        id=message_uuid,
        kind=kind,
        status="pending",
        to_email=address,
        to_name=to_name,
        subject=subject,
        body=body,
        message_id=_message_id(message_uuid),
        dedupe_key=dedupe_key,
        related=related,
        patient_id=patient_id,
        attempts=0,
        next_attempt_at=due,
        attachments=[
            NotificationAttachment(
                position=index, filename=item.filename, content_type=item.content_type, content=item.content
            )
            for index, item in enumerate(attachments)
        ],
    )
    if dedupe_key is None:
        session.add(message)
    else:
        # Another transaction may be enqueueing the same key right now: the unique index
        # decides, inside a savepoint so the caller's transaction carries on either way.
        try:
            async with session.begin_nested():
                session.add(message)
        except IntegrityError:
            return None
    session.info[_ENQUEUED_KEY] = True
    return message_uuid


async def _live_with_key(session: AsyncSession, dedupe_key: str) -> uuid.UUID | None:
    for obj in session.new:
        if isinstance(obj, NotificationMessage) and obj.dedupe_key == dedupe_key:
            return obj.id
    return await repository.id_by_dedupe_key(session, dedupe_key)


async def cancel_pending(session: AsyncSession, *, related: str, kinds: Sequence[str] | None = None) -> int:
    """Cancel the not-yet-sent messages about ``related`` (only these ``kinds`` if given).

    Only ``pending`` messages are cancelled: one being sent right now (``sending``) goes out.
    Cancelling frees the message's ``dedupe_key``, so the same key can be enqueued again (a
    rescheduled appointment's new reminder). Returns how many were cancelled.
    """
    if kinds is not None and not kinds:
        return 0
    # Messages of this session not flushed yet must be cancelled too.
    await session.flush()
    count = await repository.cancel_pending(
        session, related=related, kinds=list(kinds) if kinds is not None else None, now=utcnow()
    )
    if count:
        for obj in list(session.identity_map.values()):
            if isinstance(obj, NotificationMessage) and obj.related == related:
                session.expire(obj)
    return count


async def recipients(session: AsyncSession, *, related: str, kinds: Sequence[str]) -> set[str]:
    """The addresses of the messages of these ``kinds`` about ``related`` that were not
    cancelled: sent, failed (an administrator may retry them) or still to be sent. Lets a module
    follow an earlier message up (a calendar invitation with its cancellation) only where the
    first one went."""
    if not kinds:
        return set()
    await session.flush()  # messages of this session count too
    return set(await repository.recipients(session, related=related, kinds=list(kinds)))


# --- waking the worker after a commit that enqueued --------------------------------------

_wakers: weakref.WeakSet[_Waker] = weakref.WeakSet()


class _Waker:
    """Called after any commit that enqueued a message (a running worker registers one)."""

    def __init__(self, callback: Callable[[], Any]) -> None:
        self.callback = callback

    def __call__(self) -> None:
        self.callback()


def register_waker(callback: Callable[[], Any]) -> _Waker:
    """Keep the returned object alive as long as ``callback`` should be called."""
    waker = _Waker(callback)
    _wakers.add(waker)
    return waker


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_ENQUEUED_KEY, False):
        for waker in list(_wakers):
            waker()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None and not previous_transaction.nested:
        session.info.pop(_ENQUEUED_KEY, None)


# --- administration ------------------------------------------------------------------------

RETRYABLE = ("failed", "pending")


def _summary(row: NotificationMessage) -> NotificationSummary:
    summary = NotificationSummary.model_validate(row)
    if row.status in ("sent", "cancelled", "failed"):
        summary.next_attempt_at = None  # nothing more will happen to it
    return summary


async def list_messages(
    session: AsyncSession, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> Page[NotificationSummary]:
    rows, total = await repository.list_messages(session, status=status, limit=limit, offset=offset)
    audit.record(
        session,
        action="notification.list",
        resource_type="notification",
        details={"status": status, "limit": limit, "offset": offset, "returned": len(rows)},
    )
    return Page(items=[_summary(r) for r in rows], total=total, limit=limit, offset=offset)


async def get_message(session: AsyncSession, message_id: uuid.UUID) -> NotificationDetail:
    row = await repository.get(session, message_id, attachments=True)
    if row is None:
        raise NotFound("No such notification", code="notification_not_found")
    audit.record(
        session,
        action="notification.read",
        resource_type="notification",
        resource_id=row.id,
        patient_id=row.patient_id,
    )
    return NotificationDetail(
        **_summary(row).model_dump(),
        to_name=row.to_name,
        body=row.body,
        attachments=[
            NotificationAttachmentInfo(filename=a.filename, content_type=a.content_type, size=len(a.content))
            for a in row.attachments
        ],
    )


async def retry(session: AsyncSession, message_id: uuid.UUID) -> NotificationSummary:
    """Send a failed (or still pending) message again as soon as the dispatcher runs, with a
    fresh set of attempts. Sent, cancelled and in-flight messages are refused (409)."""
    row = await repository.get(session, message_id)
    if row is None:
        raise NotFound("No such notification", code="notification_not_found")
    previous = row.status
    if not await repository.requeue(session, message_id, now=utcnow(), from_statuses=RETRYABLE):
        await session.refresh(row)
        raise Conflict(
            f"A {row.status} notification cannot be retried (only failed or pending ones)",
            code="notification_not_retryable",
            details={"status": row.status},
        )
    await session.refresh(row)
    audit.record(
        session,
        action="notification.retry",
        resource_type="notification",
        resource_id=row.id,
        patient_id=row.patient_id,
        details={"previous_status": previous, "last_error": row.last_error},
    )
    session.info[_ENQUEUED_KEY] = True
    return _summary(row)


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    return await repository.counts_by_status(session)
