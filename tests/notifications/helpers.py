"""A real SMTP server on loopback (aiosmtpd) and small factories for the notification suites."""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from app.db import Database
from app.kit.ical import CalendarEvent, calendar_bytes
from app.notifications import service
from app.notifications.models import NotificationMessage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.content)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd in its own thread on a fixed loopback port; start and stop it at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = Handler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    async def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        await asyncio.to_thread(self._controller.start)

    async def stop(self) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None


def ics(summary: str = "Video visit with Dr. Okafor") -> bytes:
    start = datetime(2027, 1, 12, 9, 30, tzinfo=UTC)
    return calendar_bytes(
        [
            CalendarEvent(
                uid=f"appointment-{uuid.uuid4()}",
                start=start,
                end=start + timedelta(minutes=20),
                summary=summary,
            )
        ],
        method="REQUEST",
    )


async def enqueue_committed(db: Database, **overrides: Any) -> uuid.UUID:
    fields: dict[str, Any] = {
        "kind": "confirmation",
        "to_email": "zoe.patient@example.org",
        "to_name": "Zoë Patient",
        "subject": "Your appointment on 12 January",
        "body": "Dear Zoë,\n\nyour video visit is booked for 12 January at 09:30.\n",
    }
    fields.update(overrides)
    async with db.sessionmaker() as session:
        message_id = await service.enqueue(session, **fields)
        await session.commit()
    assert message_id is not None
    return message_id


async def load(db: Database, message_id: uuid.UUID) -> NotificationMessage:
    async with db.sessionmaker() as session:
        row = await session.get(NotificationMessage, message_id)
        assert row is not None
        return row
