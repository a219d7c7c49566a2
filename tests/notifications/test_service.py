"""The outbox contract other modules use: enqueue in the caller's transaction, dedupe, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.kit.time import utcnow
from app.notifications import service
from app.notifications.dispatcher import dispatch_due
from app.notifications.models import NotificationAttachment, NotificationMessage
from tests.notifications.helpers import enqueue_committed, load

MESSAGE = {
    "kind": "confirmation",
    "to_email": "zoe.patient@example.org",
    "subject": "Your appointment",
    "body": "Booked.",
}


async def count_messages(db: Database, **where: str) -> int:
    async with db.sessionmaker() as session:
        query = select(func.count()).select_from(NotificationMessage)
        for column, value in where.items():
            query = query.where(getattr(NotificationMessage, column) == value)
        return int(await session.scalar(query) or 0)


async def test_a_rolled_back_transaction_sends_nothing(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"notifications_dir": tmp_path / "outbox"})
    async with db.sessionmaker() as session:
        message_id = await service.enqueue(
            session,
            **MESSAGE,
            attachments=[service.Attachment("visit.ics", "text/calendar", b"BEGIN:VCALENDAR")],
        )
        await session.flush()
        assert message_id is not None
        await session.rollback()

    assert await count_messages(db) == 0
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(NotificationAttachment)) == 0
    result = await dispatch_due(db, settings)
    assert result.attempted == 0
    assert not (tmp_path / "outbox").exists()


async def test_a_committed_message_is_kept_with_its_attachments_in_order(db: Database) -> None:
    message_id = await enqueue_committed(
        db,
        attachments=[
            service.Attachment("visit.ics", "text/calendar; method=REQUEST", b"BEGIN:VCALENDAR\r\n"),
            service.Attachment("letter.pdf", "application/pdf", bytes(range(256)) * 300),  # > 64 KB
        ],
        related="appointment:123",
        dedupe_key="appointment:123:confirmation",
    )
    async with db.sessionmaker() as session:
        detail = await service.get_message(session, message_id)
        await session.commit()
    assert detail.status == "pending" and detail.attempts == 0
    assert [(a.filename, a.size) for a in detail.attachments] == [("visit.ics", 17), ("letter.pdf", 76800)]
    row = await load(db, message_id)
    assert row.message_id == f"<{message_id.hex}@hospital-hub>"
    assert row.related == "appointment:123"


async def test_the_same_dedupe_key_keeps_one_message(db: Database) -> None:
    key = "appointment:abc:confirmation"
    async with db.sessionmaker() as session:
        first = await service.enqueue(session, **MESSAGE, dedupe_key=key)
        second = await service.enqueue(session, **MESSAGE, dedupe_key=key)  # same transaction
        await session.commit()
    async with db.sessionmaker() as session:
        third = await service.enqueue(session, **MESSAGE, dedupe_key=key)  # a retried request
        other = await service.enqueue(session, **MESSAGE, dedupe_key="appointment:abc:reminder")
        await session.commit()

    assert first is not None and second is None and third is None and other is not None
    assert await count_messages(db, dedupe_key=key) == 1
    assert await count_messages(db) == 2


async def test_a_dedupe_key_enqueued_by_another_transaction_meanwhile_does_not_fail_the_caller(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "appointment:race:confirmation"
    await enqueue_committed(db, dedupe_key=key)

    # Lose the race: the check sees nothing (the other transaction had not committed yet),
    # the insert then meets the unique index.
    async def saw_nothing(*_: object) -> None:
        return None

    monkeypatch.setattr(service, "_live_with_key", saw_nothing)
    async with db.sessionmaker() as session:
        kept = await service.enqueue(session, **MESSAGE, dedupe_key=key)
        also = await service.enqueue(
            session, **{**MESSAGE, "kind": "staff-notice", "to_email": "desk@example.org"}
        )
        await session.commit()
    assert kept is None and also is not None
    assert await count_messages(db, dedupe_key=key) == 1
    assert await count_messages(db, kind="staff-notice") == 1  # the caller's transaction went on


async def test_cancel_pending_cancels_only_the_matching_unsent_messages(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"notifications_dir": tmp_path / "outbox"})
    later = utcnow() + timedelta(days=2)
    confirmation = await enqueue_committed(db, related="appointment:X")
    reminder = await enqueue_committed(
        db, kind="reminder", related="appointment:X", not_before=later, dedupe_key="appointment:X:reminder"
    )
    other = await enqueue_committed(db, kind="reminder", related="appointment:Y", not_before=later)
    await dispatch_due(db, settings)  # the confirmation goes out

    async with db.sessionmaker() as session:
        assert await service.cancel_pending(session, related="appointment:X", kinds=["reminder"]) == 1
        await session.commit()
    async with db.sessionmaker() as session:
        assert await service.cancel_pending(session, related="appointment:X") == 0  # sent stays sent
        assert await service.cancel_pending(session, related="appointment:Y", kinds=[]) == 0
        await session.commit()

    assert (await load(db, confirmation)).status == "sent"
    cancelled = await load(db, reminder)
    assert cancelled.status == "cancelled" and cancelled.dedupe_key is None
    assert (await load(db, other)).status == "pending"
    result = await dispatch_due(db, settings, now=later)
    assert result.sent == 1
    assert (await load(db, reminder)).status == "cancelled"
    assert (await load(db, other)).status == "sent"

    # A rescheduled appointment's new reminder may reuse the key the cancelled one freed.
    async with db.sessionmaker() as session:
        again = await service.enqueue(
            session,
            **{**MESSAGE, "kind": "reminder"},
            related="appointment:X",
            dedupe_key="appointment:X:reminder",
        )
        await session.commit()
    assert again is not None and again != reminder


async def test_cancel_pending_sees_messages_of_its_own_unflushed_transaction(db: Database) -> None:
    async with db.sessionmaker() as session:
        message_id = await service.enqueue(session, **MESSAGE, related="appointment:Z")
        assert await service.cancel_pending(session, related="appointment:Z") == 1
        await session.commit()
    assert message_id is not None
    assert (await load(db, message_id)).status == "cancelled"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to_email", "not-an-address"),
        ("to_email", "two@example.org, three@example.org"),
        ("to_email", "x@example.org\r\nBcc: evil@example.org"),
        ("to_email", ""),
        ("subject", "Hello\r\nBcc: evil@example.org"),
        ("to_name", "Zoë\nBcc: evil@example.org"),
        ("kind", ""),
        ("dedupe_key", "k" * 191),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(db: Database, field: str, value: str) -> None:
    async with db.sessionmaker() as session:
        with pytest.raises(service.InvalidNotification) as err:
            await service.enqueue(session, **{**MESSAGE, field: value})
        await session.commit()
    assert err.value.code == "invalid_notification" and err.value.status_code == 400
    assert await count_messages(db) == 0


async def test_a_naive_not_before_is_refused(db: Database) -> None:
    async with db.sessionmaker() as session:
        with pytest.raises(ValueError, match="naive"):
            await service.enqueue(session, **MESSAGE, not_before=datetime(2027, 1, 1, 9, 0))


def test_is_valid_address() -> None:
    assert service.is_valid_address("zoe.patient@example.org")
    assert service.normalize_address("zoe@exämple.org") == "zoe@xn--exmple-cua.org"
    bad_ones = (None, "", "zoe", "zoe@", "@example.org", "a@b", "Zoë <zoe@example.org>", "a@example.org\n")
    for bad in (*bad_ones, "zoë@example.org"):  # a non-ASCII local part needs SMTPUTF8: refused
        assert not service.is_valid_address(bad), bad


async def test_an_internationalised_domain_is_stored_in_punycode(db: Database) -> None:
    message_id = await enqueue_committed(db, to_email="zoe@exämple.org")
    assert (await load(db, message_id)).to_email == "zoe@xn--exmple-cua.org"
