"""Monitoring tables: devices, the high-volume readings and their rollups, ECG chunks, the live
feed log, per-patient profiles (ward, NEWS2 inputs a nurse records) and thresholds, alarms.

Readings live here, not in the chart's ``observations``: a bedside monitor writes one row per
parameter per second, with its own dedupe key (source + the device's identifier), downsampling
rollups and retention; the chart keeps what clinicians record. FHIR search reads both.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigIntPK, Timestamps, UUIDPk
from app.kit.time import utcnow

PATIENT_FK = "patients.id"
USER_FK = "users.id"
VALUE = Numeric(10, 3)  # vitals: never float
SUM = Numeric(16, 3)


class MonitoringDevice(UUIDPk, Timestamps, Base):
    """A device registered to one patient. Its token (shown once) is kept only as a SHA-256
    hash: tokens are 256 random bits, so a fast hash is enough and each message stays cheap."""

    __tablename__ = "monitoring_devices"
    __table_args__ = (Index("ix_monitoring_devices_patient_id", "patient_id"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40), default="monitor")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(String(16))
    registered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(USER_FK, ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(USER_FK, ondelete="SET NULL"))
    last_seen_at: Mapped[datetime | None]


class VitalReading(Base):
    """One Observation of one vital sign. ``source`` is ``device:<id>``, ``portal:<user>`` or
    ``chart:<observation id>``; (source, identifier) is unique, so a resend is a no-op."""

    __tablename__ = "monitoring_readings"
    __table_args__ = (
        UniqueConstraint("source", "identifier"),
        Index("ix_monitoring_readings_patient_id", "patient_id", "metric", "effective_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("monitoring_devices.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(190))
    metric: Mapped[str] = mapped_column(String(8))  # hr | rr | spo2 | bp | temp
    code: Mapped[str] = mapped_column(String(16))  # the LOINC code sent
    value: Mapped[Decimal | None] = mapped_column(VALUE)
    value2: Mapped[Decimal | None] = mapped_column(VALUE)  # diastolic of a BP panel
    unit: Mapped[str] = mapped_column(String(16))
    quality: Mapped[str] = mapped_column(String(16))  # valid | signal_loss | artefact
    effective_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class VitalRollup(Base):
    """min/max/sum/count of valid readings per patient, series and minute (long-range charts)."""

    __tablename__ = "monitoring_rollups"

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(PATIENT_FK, ondelete="CASCADE"), primary_key=True
    )
    series: Mapped[str] = mapped_column(String(8), primary_key=True)  # hr | rr | spo2 | sbp | dbp | temp
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    min_value: Mapped[Decimal] = mapped_column(VALUE)
    max_value: Mapped[Decimal] = mapped_column(VALUE)
    sum_value: Mapped[Decimal] = mapped_column(SUM)
    count: Mapped[int] = mapped_column(Integer)


class EcgChunk(Base):
    """A chunk of a waveform (FHIR SampledData, e.g. one second of one lead)."""

    __tablename__ = "monitoring_ecg"
    __table_args__ = (
        UniqueConstraint("source", "identifier"),
        Index("ix_monitoring_ecg_patient_id", "patient_id", "start_at"),
        Index("ix_monitoring_ecg_start_at", "start_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("monitoring_devices.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(190))
    code: Mapped[str] = mapped_column(String(32))
    start_at: Mapped[datetime]
    period_ms: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    origin: Mapped[Decimal] = mapped_column(Numeric(14, 6), default=Decimal(0))
    factor: Mapped[Decimal] = mapped_column(Numeric(14, 6), default=Decimal(1))
    unit: Mapped[str] = mapped_column(String(16))
    sample_count: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonitoringEvent(Base):
    """The live feed, kept for a while so a dashboard that reconnects gets what it missed.
    Ids grow in commit order within the ingesting process (one writer)."""

    __tablename__ = "monitoring_events"
    __table_args__ = (
        Index("ix_monitoring_events_patient_id", "patient_id", "id"),
        Index("ix_monitoring_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # reading | alarm | news2
    payload: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonitoringProfile(Base):
    """Per patient: where they are (a minimal ward/bed assignment: there is no bed-management
    module yet) and the NEWS2 inputs that no device measures."""

    __tablename__ = "monitoring_profiles"
    __table_args__ = (Index("ix_monitoring_profiles_ward", "ward"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(PATIENT_FK, ondelete="CASCADE"), primary_key=True
    )
    ward: Mapped[str | None] = mapped_column(String(64))
    bed: Mapped[str | None] = mapped_column(String(32))
    hypercapnic: Mapped[bool] = mapped_column(default=False)  # NEWS2 SpO2 scale 2
    on_oxygen: Mapped[bool] = mapped_column(default=False)
    oxygen_recorded_at: Mapped[datetime | None]
    consciousness: Mapped[str | None] = mapped_column(String(1))  # A | C | V | P | U
    consciousness_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(USER_FK, ondelete="SET NULL"))


class Threshold(Base):
    """A clinician's alarm limits for one patient and series (either bound may be open)."""

    __tablename__ = "monitoring_thresholds"

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(PATIENT_FK, ondelete="CASCADE"), primary_key=True
    )
    series: Mapped[str] = mapped_column(String(8), primary_key=True)
    low: Mapped[Decimal | None] = mapped_column(VALUE)
    high: Mapped[Decimal | None] = mapped_column(VALUE)
    set_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(USER_FK, ondelete="SET NULL"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alarm(UUIDPk, Base):
    """raised -> acknowledged -> resolved. ``open_key`` is set while the alarm is open and
    unique, so the database keeps one open alarm per patient and condition: a repeated trigger
    bumps ``trigger_count`` instead of raising another."""

    __tablename__ = "monitoring_alarms"
    __table_args__ = (
        Index("ix_monitoring_alarms_patient_id", "patient_id", "raised_at"),
        Index("ix_monitoring_alarms_state", "state", "raised_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # clinical | technical
    key: Mapped[str] = mapped_column(String(64))  # news2 | threshold:hr:high | signal_loss:spo2 | ...
    open_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    severity: Mapped[str] = mapped_column(String(16))  # urgent | emergency | technical
    state: Mapped[str] = mapped_column(String(16), default="raised")
    message: Mapped[str] = mapped_column(String(255))
    value: Mapped[str | None] = mapped_column(String(64))
    news2_score: Mapped[int | None] = mapped_column(Integer)
    condition_active: Mapped[bool] = mapped_column(default=True)
    trigger_count: Mapped[int] = mapped_column(BigInteger, default=1)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_triggered_at: Mapped[datetime] = mapped_column(default=utcnow)
    notify_role: Mapped[str] = mapped_column(String(32))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(USER_FK, ondelete="SET NULL"))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(USER_FK, ondelete="SET NULL"))
    resolved_by_name: Mapped[str | None] = mapped_column(String(200))  # "system" when it cleared
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("monitoring_devices.id", ondelete="SET NULL")
    )
