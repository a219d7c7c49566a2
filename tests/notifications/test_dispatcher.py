"""Dispatching the outbox through a real SMTP server on loopback and through the file drop."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.config import Settings
from app.db import Database
from app.kit.time import utcnow
from app.notifications import service
from app.notifications.dispatcher import backoff, dispatch_due
from app.notifications.models import NotificationMessage
from tests.conftest import make_settings
from tests.notifications.helpers import SmtpServer, enqueue_committed, ics, load


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def smtp_settings(database_url: str, port: int, tmp_path: Path, **extra: Any) -> Settings:
    return make_settings(
        database_url,
        notifications_adapter="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=5,
        notifications_dir=tmp_path / "outbox",
        **extra,
    )


def only_attachment(message: EmailMessage) -> EmailMessage:
    parts = list(message.iter_attachments())
    assert len(parts) == 1
    part = parts[0]
    assert isinstance(part, EmailMessage)
    return part


async def test_smtp_delivers_the_message_with_its_ics_intact(
    db: Database, database_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    settings = smtp_settings(database_url, smtp.port, tmp_path)
    invitation = ics()
    message_id = await enqueue_committed(
        db,
        attachments=[
            service.Attachment("visit.ics", "text/calendar; method=REQUEST; charset=utf-8", invitation)
        ],
    )

    result = await dispatch_due(db, settings)

    assert (result.sent, result.retrying, result.failed) == (1, 0, 0)
    assert smtp.received[0].content.isascii()  # 7-bit clean: "Zoë" travels quoted-printable
    assert len(smtp.received) == 1
    got = smtp.received[0]
    assert got.rcpt_tos == ["zoe.patient@example.org"]
    assert got.mail_from == "no-reply@hospital-hub.local"
    email = got.message
    row = await load(db, message_id)
    assert email["Message-ID"] == row.message_id
    assert email["Subject"] == "Your appointment on 12 January"
    assert email["To"].addresses[0].display_name == "Zoë Patient"
    body = email.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n").startswith("Dear Zoë,\n\nyour video visit is booked")
    part = only_attachment(email)
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "REQUEST" and part.get_content_charset() == "utf-8"
    assert part.get_filename() == "visit.ics"
    assert part.get_content() in (invitation, invitation.decode())
    payload = part.get_payload(decode=True)
    assert payload == invitation
    event = Calendar.from_ical(payload).walk("VEVENT")[0]
    assert str(event["summary"]) == "Video visit with Dr. Okafor"

    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None and row.last_error is None
    # Delivered once: another round finds nothing due.
    again = await dispatch_due(db, settings)
    assert again.attempted == 0
    assert len(smtp.received) == 1


async def test_smtp_down_keeps_the_message_then_delivers_it_once_when_the_server_is_up(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    server = SmtpServer()  # not started yet: connections to its port are refused
    settings = smtp_settings(database_url, server.port, tmp_path)
    message_id = await enqueue_committed(db)
    before = utcnow()

    result = await dispatch_due(db, settings)

    assert (result.sent, result.retrying, result.failed) == (0, 1, 0)
    row = await load(db, message_id)
    assert row.status == "pending"
    assert row.attempts == 1
    assert row.next_attempt_at > before + timedelta(seconds=10)
    assert row.last_error is not None and "unavailable" in row.last_error
    assert row.claim_token is None
    # Not due yet: nothing is tried before its time.
    assert (await dispatch_due(db, settings)).attempted == 0

    await server.start()
    try:
        later = row.next_attempt_at + timedelta(seconds=1)
        result = await dispatch_due(db, settings, now=later)
        assert result.sent == 1
        again = await dispatch_due(db, settings, now=later + timedelta(hours=2))
        assert again.attempted == 0
        assert len(server.received) == 1
        assert server.received[0].message["Message-ID"] == row.message_id
    finally:
        await server.stop()
    row = await load(db, message_id)
    assert row.status == "sent" and row.attempts == 2 and row.last_error is None


async def test_a_permanent_refusal_fails_at_once_with_the_reason_and_is_audited(
    db: Database, database_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.handler.refuse["gone@example.org"] = "550 5.1.1 <gone@example.org>: mailbox unavailable"
    settings = smtp_settings(database_url, smtp.port, tmp_path)
    message_id = await enqueue_committed(db, to_email="gone@example.org")

    result = await dispatch_due(db, settings)

    assert (result.sent, result.retrying, result.failed) == (0, 0, 1)
    row = await load(db, message_id)
    assert row.status == "failed" and row.attempts == 1
    assert row.last_error is not None and "550" in row.last_error and "mailbox unavailable" in row.last_error
    assert smtp.received == []
    async with db.sessionmaker() as session:
        actions = (
            await session.scalars(select(AuditEvent.action).where(AuditEvent.resource_id == str(message_id)))
        ).all()
    assert actions == ["notification.failed"]


async def test_a_temporary_refusal_is_retried(
    db: Database, database_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.handler.refuse["busy@example.org"] = "450 4.2.1 mailbox busy, try later"
    settings = smtp_settings(database_url, smtp.port, tmp_path)
    message_id = await enqueue_committed(db, to_email="busy@example.org")

    result = await dispatch_due(db, settings)

    assert result.retrying == 1
    row = await load(db, message_id)
    assert row.status == "pending" and row.attempts == 1 and row.last_error is not None
    assert "450" in row.last_error

    del smtp.handler.refuse["busy@example.org"]
    assert (await dispatch_due(db, settings, now=row.next_attempt_at)).sent == 1
    assert len(smtp.received) == 1


async def test_out_of_attempts_it_fails_and_an_admin_retry_sends_it(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    server = SmtpServer()
    settings = smtp_settings(database_url, server.port, tmp_path, notifications_max_attempts=2)
    message_id = await enqueue_committed(db)

    assert (await dispatch_due(db, settings)).retrying == 1
    row = await load(db, message_id)
    assert (await dispatch_due(db, settings, now=row.next_attempt_at)).failed == 1
    row = await load(db, message_id)
    assert row.status == "failed" and row.attempts == 2 and "unavailable" in (row.last_error or "")

    async with db.sessionmaker() as session:
        summary = await service.retry(session, message_id)
        await session.commit()
    assert summary.status == "pending" and summary.attempts == 0

    await server.start()
    try:
        assert (await dispatch_due(db, settings)).sent == 1
        assert len(server.received) == 1
    finally:
        await server.stop()


async def test_the_file_adapter_writes_a_parseable_eml_atomically(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    settings = settings.model_copy(update={"notifications_dir": outbox})
    invitation = ics()
    message_id = await enqueue_committed(
        db, attachments=[service.Attachment("visit.ics", "text/calendar; method=REQUEST", invitation)]
    )

    result = await dispatch_due(db, settings)

    assert result.sent == 1
    files = sorted(p.name for p in outbox.iterdir())
    assert files == [f"{message_id}.eml"]  # no temporary file left behind
    path = outbox / files[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    raw = path.read_bytes()
    assert b"\r\n" in raw  # RFC 5322 line ends
    email = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(email, EmailMessage)
    row = await load(db, message_id)
    assert email["Message-ID"] == row.message_id
    assert email["From"] == "Hospital Hub <no-reply@hospital-hub.local>"
    assert email["Auto-Submitted"] == "auto-generated"
    assert only_attachment(email).get_payload(decode=True) == invitation


async def test_the_file_adapter_failing_leaves_the_message_to_retry(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings = settings.model_copy(update={"notifications_dir": blocker / "outbox"})
    message_id = await enqueue_committed(db)

    assert (await dispatch_due(db, settings)).retrying == 1
    row = await load(db, message_id)
    assert row.status == "pending" and "outbox directory" in (row.last_error or "")


async def test_a_message_stuck_in_sending_past_its_lease_is_delivered_again(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    settings = settings.model_copy(update={"notifications_dir": outbox})
    message_id = await enqueue_committed(db)

    class Hang:
        started = asyncio.Event()

        async def deliver(self, email: EmailMessage, *, sender: str, recipient: str, name: str) -> None:
            self.started.set()
            await asyncio.Event().wait()  # a dispatcher that hangs (or dies) mid-send

    hang = Hang()
    crashed = asyncio.create_task(dispatch_due(db, settings, adapter=hang))
    await asyncio.wait_for(hang.started.wait(), 10)
    crashed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashed

    row = await load(db, message_id)
    assert row.status == "sending" and row.attempts == 1
    # Within the lease, nobody else touches it.
    assert (await dispatch_due(db, settings)).attempted == 0
    assert not outbox.exists()

    after_lease = row.next_attempt_at + timedelta(seconds=1)
    result = await dispatch_due(db, settings, now=after_lease)

    assert result.released == 1 and result.sent == 1
    row = await load(db, message_id)
    assert row.status == "sent" and row.attempts == 2
    assert (outbox / f"{message_id}.eml").is_file()


async def test_a_lease_that_ran_out_on_the_last_attempt_fails(db: Database, settings: Settings) -> None:
    settings = settings.model_copy(update={"notifications_max_attempts": 1})
    message_id = await enqueue_committed(db)
    now = utcnow()
    async with db.sessionmaker() as session:
        await session.execute(
            update(NotificationMessage)
            .where(NotificationMessage.id == message_id)
            .values(
                status="sending", claim_token="dead", attempts=1, next_attempt_at=now - timedelta(seconds=1)
            )
        )
        await session.commit()

    result = await dispatch_due(db, settings)

    assert result.failed == 1 and result.sent == 0
    row = await load(db, message_id)
    assert row.status == "failed" and "lease" in (row.last_error or "")


async def test_reminders_wait_for_their_time(db: Database, settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"notifications_dir": tmp_path / "outbox"})
    due = utcnow() + timedelta(hours=24)
    message_id = await enqueue_committed(db, kind="reminder", not_before=due)

    assert (await dispatch_due(db, settings)).attempted == 0
    assert (await dispatch_due(db, settings, now=due - timedelta(seconds=1))).attempted == 0
    assert (await dispatch_due(db, settings, now=due)).sent == 1
    assert (await load(db, message_id)).status == "sent"


async def test_limit_bounds_one_round(db: Database, settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"notifications_dir": tmp_path / "outbox"})
    for n in range(15):
        await enqueue_committed(db, subject=f"message {n}")

    assert (await dispatch_due(db, settings, limit=12)).sent == 12
    assert (await dispatch_due(db, settings, limit=12)).sent == 3
    assert len(os.listdir(tmp_path / "outbox")) == 15


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    assert backoff(1, rng=lambda: 1.0) == timedelta(seconds=30)
    assert backoff(1, rng=lambda: 0.0) == timedelta(seconds=15)
    assert backoff(3, rng=lambda: 1.0) == timedelta(seconds=120)
    assert backoff(30, rng=lambda: 1.0) == timedelta(hours=1)
    delays = {backoff(4) for _ in range(50)}
    assert len(delays) > 1 and all(timedelta(seconds=120) <= d <= timedelta(seconds=240) for d in delays)


async def test_a_stopping_dispatcher_hands_back_what_it_claimed_but_did_not_try(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"notifications_dir": tmp_path / "outbox"})
    ids = [await enqueue_committed(db, subject=f"message {n}") for n in range(3)]

    result = await dispatch_due(
        db, settings, should_stop=lambda: len(list((tmp_path / "outbox").glob("*.eml"))) >= 1
    )

    assert result.sent == 1
    rows = [await load(db, message_id) for message_id in ids]
    assert sorted(r.status for r in rows) == ["pending", "pending", "sent"]
    for row in rows:
        if row.status == "pending":
            assert row.attempts == 0 and row.claim_token is None and row.next_attempt_at <= utcnow()
    assert (await dispatch_due(db, settings)).sent == 2
