"""Pydantic schemas of video consultations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.kit.text import no_control_characters

UtcDatetime = Annotated[datetime, AfterValidator(lambda v: v.astimezone(UTC))]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(no_control_characters),
]
ConsultationStatus = Literal["scheduled", "waiting", "in_progress", "ended", "missed"]
Role = Literal["patient", "clinician", "guest", "media"]
Relationship = Literal["interpreter", "family", "carer", "other"]
CHAT_MAX_CHARS = 2000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ParticipantRead(_Out):
    id: uuid.UUID
    peer_id: str
    role: Role
    display_name: str
    joined_at: UtcDatetime | None
    left_at: UtcDatetime | None
    connections: int
    admitted_at: UtcDatetime | None
    consent_to_record: bool | None
    consent_at: UtcDatetime | None


class RecordingRead(_Out):
    id: uuid.UUID
    status: Literal["starting", "recording", "completed", "failed"]
    content_type: str
    size_bytes: int | None
    started_at: UtcDatetime | None
    ended_at: UtcDatetime | None
    error: str | None
    created_at: UtcDatetime


class ChatMessageRead(_Out):
    id: uuid.UUID
    participant_id: uuid.UUID
    sender_display: str
    text: str
    sent_at: UtcDatetime


class PersonBrief(BaseModel):
    id: uuid.UUID
    display_name: str


class ConsultationRead(BaseModel):
    id: uuid.UUID
    appointment_id: uuid.UUID
    status: ConsultationStatus
    start: UtcDatetime
    end: UtcDatetime
    local_start: str
    timezone: str
    join_opens_at: UtcDatetime
    join_closes_at: UtcDatetime
    can_join: bool  # the caller may join now (right person, inside the window, not ended)
    my_role: Role | None
    patient: PersonBrief
    clinician: PersonBrief
    type_name: str
    encounter_id: uuid.UUID | None
    started_at: UtcDatetime | None
    ended_at: UtcDatetime | None


class ConsultationDetail(ConsultationRead):
    participants: list[ParticipantRead]
    recordings: list[RecordingRead]
    all_consented: bool  # every participant who joined consented to recording


class IceServer(BaseModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class JoinResponse(BaseModel):
    token: str
    expires_at: UtcDatetime
    signaling_url: str = Field(description="Absolute ws(s):// URL, or a path on this origin")
    ice_servers: list[IceServer]
    consultation_id: uuid.UUID
    participant_id: uuid.UUID
    peer_id: str
    role: Role
    display_name: str
    encounter_id: uuid.UUID | None = None
    resume_key: str | None = Field(
        default=None, description="Guests only: send it back with the invite to join again"
    )


class InviteCreate(_In):
    display_name: Name
    relationship: Relationship = "other"


class InviteRead(_Out):
    id: uuid.UUID
    display_name: str
    relationship: Relationship
    expires_at: UtcDatetime
    used_at: UtcDatetime | None
    revoked_at: UtcDatetime | None
    created_at: UtcDatetime


class InviteCreated(InviteRead):
    token: str = Field(description="The secret of the one-time link; shown once, never stored")
    path: str = Field(description="The guest's page on this origin, with the secret in the fragment")


class GuestJoin(_In):
    token: Annotated[str, StringConstraints(min_length=16, max_length=128)]
    resume_key: Annotated[str, StringConstraints(min_length=16, max_length=128)] | None = None


class RecordingStart(_In):
    pass


class EndResponse(BaseModel):
    consultation: ConsultationRead


def brief(data: dict[str, Any]) -> PersonBrief:
    return PersonBrief.model_validate(data)
