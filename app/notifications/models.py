"""The outbox: one row per outgoing message, its attachments beside it.

A message is written in the same transaction as the change it announces, so it exists exactly
when that change was committed; the dispatcher sends it later and records every attempt.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from app.db import Base, Timestamps, UUIDPk

STATUSES = ("pending", "sending", "sent", "cancelled", "failed")

# MySQL's TEXT stops at 64 KB: a letter fits, an attachment may not.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class Base64Bytes(TypeDecorator[bytes]):
    """Bytes kept as base64 text. aiomysql 0.3.2 cannot send bytes parameters with PyMySQL >= 1.2.3
    (aio-libs/aiomysql#1080: "'str' object is not callable"); text works with every driver."""

    impl = LongText
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> str | None:
        return None if value is None else base64.b64encode(value).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else base64.b64decode(value)


class NotificationMessage(UUIDPk, Timestamps, Base):
    __tablename__ = "notification_messages"
    __table_args__ = (
        # The dispatcher's question: what is pending (or leased and expired) and due by now.
        Index("ix_notification_messages_due", "status", "next_attempt_at"),
        Index("ix_notification_messages_related", "related", "status"),
        Index("ix_notification_messages_status_created", "status", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    to_email: Mapped[str] = mapped_column(String(320))
    to_name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(LongText)
    # The RFC 5322 Message-ID, the same on every attempt, so receivers can drop a redelivery.
    message_id: Mapped[str] = mapped_column(String(190), unique=True)
    # Unique when set; cancelling a message frees its key for a new message.
    dedupe_key: Mapped[str | None] = mapped_column(String(190), unique=True)
    related: Mapped[str | None] = mapped_column(String(190))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When it may next be tried; while ``sending``, when the claim (lease) runs out.
    next_attempt_at: Mapped[datetime]
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(String(1000))
    sent_at: Mapped[datetime | None]

    attachments: Mapped[list[NotificationAttachment]] = relationship(
        lazy="raise",
        order_by="NotificationAttachment.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class NotificationAttachment(UUIDPk, Base):
    __tablename__ = "notification_attachments"

    notification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notification_messages.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(Base64Bytes())
