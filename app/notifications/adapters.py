"""Delivery adapters: build the RFC 5322 message and hand it to a file drop or an SMTP server.

An adapter either returns (delivered), or raises :class:`DeliveryError`, ``permanent`` when
trying again cannot help (the server refused the recipient for good).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Sequence
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from app.config import Settings
from app.notifications.models import NotificationAttachment, NotificationMessage

MAX_REASON = 500


class DeliveryError(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = clean_reason(reason)
        self.permanent = permanent


def clean_reason(reason: str) -> str:
    """One line, bounded: error texts end up in the admin list and logs."""
    return " ".join(reason.split())[:MAX_REASON]


class Adapter(Protocol):
    async def deliver(self, email: EmailMessage, *, sender: str, recipient: str, name: str) -> None:
        """Deliver ``email`` to ``recipient``; ``name`` is a stable file-safe id of the message."""


def _split_content_type(value: str) -> tuple[str, str, dict[str, str]]:
    head, *rest = value.split(";")
    maintype, _, subtype = head.strip().partition("/")
    params: dict[str, str] = {}
    for part in rest:
        key, sep, val = part.strip().partition("=")
        if sep and key.strip():
            params[key.strip().lower()] = val.strip().strip('"')
    return maintype.strip().lower() or "application", subtype.strip().lower() or "octet-stream", params


def build_email(
    message: NotificationMessage, attachments: Sequence[NotificationAttachment], settings: Settings
) -> EmailMessage:
    email = EmailMessage(policy=policy.SMTP)
    email["From"] = settings.notifications_from
    if message.to_name:
        email["To"] = Address(display_name=message.to_name, addr_spec=message.to_email)
    else:
        email["To"] = message.to_email
    email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    # Stable across attempts: a receiver that got an earlier attempt can drop this one.
    email["Message-ID"] = message.message_id
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
    # Quoted-printable, not 8bit, for non-ASCII text: not every relay speaks 8BITMIME.
    email.set_content(message.body, cte="7bit" if message.body.isascii() else "quoted-printable")
    for item in attachments:
        maintype, subtype, params = _split_content_type(item.content_type)
        email.add_attachment(
            item.content, maintype=maintype, subtype=subtype, filename=item.filename, params=params
        )
    return email


def envelope_sender(settings: Settings) -> str:
    return parseaddr(settings.notifications_from)[1] or settings.notifications_from


class FileAdapter:
    """Writes each message as ``<id>.eml`` into a directory: the embedded default, and a mail
    drop other tools can pick up. Written to a temporary name and renamed, so a reader never
    sees half a message; a redelivery replaces the file with the same content."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def deliver(self, email: EmailMessage, *, sender: str, recipient: str, name: str) -> None:
        data = email.as_bytes(policy=policy.SMTP)
        try:
            await asyncio.to_thread(self._write, f"{name}.eml", data)
        except OSError as exc:
            raise DeliveryError(f"cannot write to the outbox directory: {exc.strerror or exc}") from exc

    def _write(self, filename: str, data: bytes) -> None:
        # Messages carry patient information: owner-only directory and files.
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.directory / filename)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class SmtpAdapter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def deliver(self, email: EmailMessage, *, sender: str, recipient: str, name: str) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                email,
                sender=sender,
                recipients=[recipient],
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password if s.smtp_username else None,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise DeliveryError(
                f"recipient refused: {text}", permanent=bool(codes) and all(c >= 500 for c in codes)
            ) from exc
        except aiosmtplib.SMTPRecipientRefused as exc:
            raise DeliveryError(
                f"recipient refused: {exc.code} {exc.message}", permanent=exc.code >= 500
            ) from exc
        except aiosmtplib.SMTPDataError as exc:
            # The server read the message and refused it for good (size, content).
            raise DeliveryError(
                f"message refused: {exc.code} {exc.message}", permanent=exc.code >= 500
            ) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our configuration, not the message: keep retrying until an admin fixes it.
            raise DeliveryError(f"SMTP authentication failed: {exc.code}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP error: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(
                f"SMTP server {s.smtp_host}:{s.smtp_port} unavailable: {type(exc).__name__}: {exc}"
            ) from exc


def adapter_for(settings: Settings) -> Adapter:
    if settings.notifications_adapter == "smtp":
        return SmtpAdapter(settings)
    return FileAdapter(settings.notifications_dir)
