"""What the admin API shows of the outbox. The list leaves bodies and attachments out: they
carry patient information, read one message at a time (audited) when needed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

NotificationStatus = Literal["pending", "sending", "sent", "cancelled", "failed"]


class NotificationSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    status: NotificationStatus
    to_email: str
    subject: str
    related: str | None
    patient_id: uuid.UUID | None
    message_id: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


class NotificationAttachmentInfo(BaseModel):
    filename: str
    content_type: str
    size: int


class NotificationDetail(NotificationSummary):
    to_name: str | None
    body: str
    attachments: list[NotificationAttachmentInfo]
