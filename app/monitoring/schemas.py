"""Monitoring API shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SeriesName = Literal["hr", "rr", "spo2", "sbp", "dbp", "temp"]
ACVPU = Literal["A", "C", "V", "P", "U"]


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=120)
    kind: str = Field(default="monitor", min_length=1, max_length=40)


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    patient_id: uuid.UUID
    label: str
    kind: str
    token_hint: str
    created_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None


class DeviceRegistered(DeviceRead):
    token: str = Field(description="The device token. Shown once: only its hash is kept.")


class ProfileUpdate(BaseModel):
    """What a nurse records. Leave a field out to keep it."""

    model_config = ConfigDict(extra="forbid")
    ward: str | None = Field(default=None, max_length=64)
    bed: str | None = Field(default=None, max_length=32)
    hypercapnic: bool | None = Field(default=None, description="NEWS2 SpO2 scale 2 (target 88-92%)")
    on_oxygen: bool | None = None
    consciousness: ACVPU | None = Field(default=None, description="ACVPU")


class ProfileRead(BaseModel):
    patient_id: uuid.UUID
    ward: str | None
    bed: str | None
    hypercapnic: bool
    on_oxygen: bool | None
    oxygen_recorded_at: datetime | None
    consciousness: ACVPU | None
    consciousness_at: datetime | None


class ThresholdItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series: SeriesName
    low: Decimal | None = Field(default=None, ge=0, le=1000, decimal_places=3)
    high: Decimal | None = Field(default=None, ge=0, le=1000, decimal_places=3)

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdItem:
        if self.low is None and self.high is None:
            raise ValueError("give low, high or both")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class ThresholdsUpdate(BaseModel):
    """The patient's limits; the list replaces what was set (an empty list clears them)."""

    model_config = ConfigDict(extra="forbid")
    thresholds: list[ThresholdItem] = Field(max_length=12)


class ThresholdRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    series: str
    low: Decimal | None
    high: Decimal | None
    set_at: datetime


class AlarmRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    patient_id: uuid.UUID
    kind: Literal["clinical", "technical"]
    key: str
    severity: Literal["urgent", "emergency", "technical"]
    state: Literal["raised", "acknowledged", "resolved"]
    message: str
    value: str | None
    news2_score: int | None
    condition_active: bool
    trigger_count: int
    raised_at: datetime
    last_triggered_at: datetime
    notify_role: str
    escalation_level: int
    escalated_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by_name: str | None
    resolved_at: datetime | None
    resolved_by_name: str | None


class AlarmPage(BaseModel):
    items: list[AlarmRead]
    total: int


class LatestValue(BaseModel):
    value: float
    at: datetime


class News2Read(BaseModel):
    total: int
    response: Literal["low", "urgent", "emergency"]
    parameters: dict[str, int]
    missing: list[str]
    scale: int


class SparkPoint(BaseModel):
    t: datetime
    v: float


class PatientTile(BaseModel):
    patient_id: uuid.UUID
    display_name: str
    ward: str | None
    bed: str | None
    latest: dict[str, LatestValue]
    news2: News2Read | None
    open_alarms: list[AlarmRead]
    sparkline: list[SparkPoint] = Field(description="Heart rate over the last 30 minutes, per-minute means")
    devices: int


class Overview(BaseModel):
    patients: list[PatientTile]
    last_event_id: int = Field(description="Subscribe from here on /ws/monitoring")


class Bucket(BaseModel):
    start: datetime
    min: float
    max: float
    mean: float
    count: int


class History(BaseModel):
    patient_id: uuid.UUID
    series: str
    unit: str
    start: datetime
    end: datetime
    bucket_seconds: int
    buckets: list[Bucket]


class EcgSegment(BaseModel):
    start_at: datetime
    period_ms: float
    origin: float
    factor: float
    unit: str
    code: str
    data: str


class EcgRead(BaseModel):
    patient_id: uuid.UUID
    segments: list[EcgSegment]


class HomeBloodPressure(BaseModel):
    """A reading the patient took at home with their own cuff."""

    model_config = ConfigDict(extra="forbid")
    systolic: int = Field(ge=40, le=300)
    diastolic: int = Field(ge=20, le=200)
    pulse: int | None = Field(default=None, ge=20, le=250)
    measured_at: datetime | None = Field(default=None, description="Default: now")
    client_id: str | None = Field(
        default=None, max_length=64, description="Your id for this entry: sending it again stores nothing new"
    )

    @model_validator(mode="after")
    def _ordered(self) -> HomeBloodPressure:
        if self.diastolic >= self.systolic:
            raise ValueError("diastolic must be below systolic")
        return self


class ReadingRead(BaseModel):
    id: int
    metric: str
    value: float | None
    value2: float | None
    unit: str
    quality: str
    effective_at: datetime
    source: str


class StoredReadings(BaseModel):
    stored: int
    duplicates: int
    readings: list[ReadingRead]


class WardRead(BaseModel):
    ward: str
    patients: int


class SocketToken(BaseModel):
    token: str
    expires_in: int
