"""Video consultations: one per video appointment, with its participants, chat, guest invites
and recordings.

A consultation is created on first use (the first time anyone looks at or joins a video
appointment's call), never by the appointment book itself; ``appointment_id`` is unique, so two
requests racing to create it end with one row. It reuses the appointment's ``room_id`` (random,
unguessable, no patient id in it) as the signaling room.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamps, UUIDPk

# Consultation states: scheduled -> waiting (someone is in the waiting room) -> in_progress (the
# clinician admitted someone) -> ended; scheduled or waiting -> missed once the join window closed.
SCHEDULED = "scheduled"
WAITING = "waiting"
IN_PROGRESS = "in_progress"
ENDED = "ended"
MISSED = "missed"
STATUSES = (SCHEDULED, WAITING, IN_PROGRESS, ENDED, MISSED)
OPEN = (SCHEDULED, WAITING, IN_PROGRESS)

# Participant roles (the join token carries one).
PATIENT = "patient"
CLINICIAN = "clinician"
GUEST = "guest"
MEDIA = "media"  # the server-side recorder
ROLES = (PATIENT, CLINICIAN, GUEST, MEDIA)

# Recording states.
REC_STARTING = "starting"
REC_RECORDING = "recording"
REC_COMPLETED = "completed"
REC_FAILED = "failed"


class Consultation(UUIDPk, Timestamps, Base):
    __tablename__ = "consultations"
    __table_args__ = (
        Index("ix_consultations_staff_id_start_at", "staff_id", "start_at"),
        Index("ix_consultations_patient_id_start_at", "patient_id", "start_at"),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), unique=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_members.id"))
    room_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Copied from the appointment on every read (a reschedule moves them).
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=SCHEDULED)
    # The "virtual" (v3 ActCode VR) Encounter on the patient's chart, opened when the clinician
    # first joins; notes and prescriptions of the call go there.
    encounter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("encounters.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Participant(UUIDPk, Timestamps, Base):
    """Someone who joined (or was let into) a consultation. One row per person and consultation:
    a reconnect, or a second join, finds the same row and so the same ``peer_id`` and place."""

    __tablename__ = "consultation_participants"
    __table_args__ = (UniqueConstraint("consultation_id", "identity"),)

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"))
    # "user:<uuid>" for accounts, "guest:<invite uuid>" for guests, "media:<recording uuid>".
    identity: Mapped[str] = mapped_column(String(80))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    invite_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("consultation_invites.id", ondelete="SET NULL")
    )
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200))
    # The signaling peer id: random, stable for this participant (resume after a reconnect).
    peer_id: Mapped[str] = mapped_column(String(32), unique=True)
    joined_at: Mapped[datetime | None]  # first connection to the room
    left_at: Mapped[datetime | None]  # last disconnection (None while connected)
    connections: Mapped[int] = mapped_column(default=0)  # how many times it connected
    admitted_at: Mapped[datetime | None]
    admitted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    consent_to_record: Mapped[bool | None]  # None: not asked / not answered yet
    consent_at: Mapped[datetime | None]


class ChatMessage(UUIDPk, Base):
    __tablename__ = "consultation_messages"
    __table_args__ = (Index("ix_consultation_messages_consultation_id", "consultation_id", "sent_at"),)

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"))
    participant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("consultation_participants.id", ondelete="CASCADE"), index=True
    )
    sender_display: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime]


class GuestInvite(UUIDPk, Timestamps, Base):
    """A one-time link for a guest (interpreter, family). Only the SHA-256 of the link's secret is
    stored. Redeeming it marks it used (a conditional update decides a race) and returns a
    ``resume`` secret, whose hash is kept too, so that browser alone can get a new join token."""

    __tablename__ = "consultation_invites"
    __table_args__ = (Index("ix_consultation_invites_consultation_id", "consultation_id"),)

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(200))
    relationship: Mapped[str] = mapped_column(String(32))  # interpreter | family | carer | other
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    resume_hash: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Recording(UUIDPk, Timestamps, Base):
    __tablename__ = "consultation_recordings"
    __table_args__ = (Index("ix_consultation_recordings_consultation_id", "consultation_id"),)

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=REC_STARTING)
    started_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Relative to the recordings directory (settings.recordings_dir).
    file_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64), default="video/x-matroska")
    size_bytes: Mapped[int | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))
