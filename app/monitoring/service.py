"""Monitoring business rules: devices and their tokens, the nurse's NEWS2 inputs, thresholds,
alarms (acknowledge, resolve, escalate), history with downsampling, the wall's overview, the
live feed's replay, retention. The only entry other modules (FHIR, media) may call.

Access: staff need monitoring:read / monitoring:write; a portal user may read their own
readings and add home blood-pressure readings for themselves; any other patient is a 404 to
them. Every read and write of a patient's data is audited with the patient id.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.permissions import Perm
from app.config import Settings
from app.deps import Principal
from app.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from app.kit.time import utcnow
from app.monitoring import news2
from app.monitoring import schemas as s
from app.monitoring import vitals as v
from app.monitoring.engine import Engine, PatientState, add_event, alarm_payload
from app.monitoring.models import (
    Alarm,
    EcgChunk,
    MonitoringDevice,
    MonitoringEvent,
    MonitoringProfile,
    Threshold,
    VitalReading,
    VitalRollup,
)
from app.patients import service as patients

TOKEN_PREFIX = "hhd_"  # noqa: S105 - the prefix that marks device tokens, not a secret
MAX_BUCKETS = 1000
REPLAY_LIMIT = 5000


# --- access ------------------------------------------------------------------------------


def authorize(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    *,
    write: bool,
    portal_ok: bool = False,
) -> None:
    perm = Perm.MONITORING_WRITE if write else Perm.MONITORING_READ
    if perm in principal.permissions:
        return
    own = principal.has(Perm.SELF_SERVICE) and principal.patient_id == patient_id
    if own and portal_ok:
        return
    audit.record(
        session,
        action="monitoring.access_denied",
        resource_type="Patient",
        resource_id=patient_id,
        patient_id=patient_id,
        outcome="denied",
        details={"missing": [perm.value]},
    )
    if principal.has(Perm.SELF_SERVICE) and not own:
        raise NotFound("Patient not found")
    raise Forbidden("You do not have permission for this action", details={"missing": [perm.value]})


def require_staff(session: AsyncSession, principal: Principal, *, write: bool = False) -> None:
    perm = Perm.MONITORING_WRITE if write else Perm.MONITORING_READ
    if perm not in principal.permissions:
        audit.record(
            session,
            action="monitoring.access_denied",
            resource_type="endpoint",
            outcome="denied",
            details={"missing": [perm.value]},
        )
        raise Forbidden("You do not have permission for this action", details={"missing": [perm.value]})


async def require_patient(session: AsyncSession, patient_id: uuid.UUID) -> dict[str, Any]:
    found = await patients.contact_summaries(session, [patient_id])
    if patient_id not in found:
        raise NotFound("Patient not found")
    return found[patient_id]


# --- devices -----------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def register_device(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.DeviceCreate
) -> s.DeviceRegistered:
    authorize(session, principal, patient_id, write=True)
    await require_patient(session, patient_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = MonitoringDevice(
        patient_id=patient_id,
        label=data.label,
        kind=data.kind,
        token_hash=hash_token(token),
        token_hint=token[:10],
        registered_by=principal.user_id,
    )
    session.add(device)
    await session.flush()
    audit.record(
        session,
        action="monitoring.device_register",
        resource_type="Device",
        resource_id=device.id,
        patient_id=patient_id,
        details={"label": data.label, "kind": data.kind},
    )
    return s.DeviceRegistered(**s.DeviceRead.model_validate(device).model_dump(), token=token)


async def register_device_unattended(
    session: AsyncSession, patient_id: uuid.UUID, data: s.DeviceCreate, actor: str
) -> s.DeviceRegistered:
    """Register a device without a signed-in user (``hospital simulate-device`` on the server's
    own database); audited under ``actor``."""
    await require_patient(session, patient_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = MonitoringDevice(
        patient_id=patient_id,
        label=data.label,
        kind=data.kind,
        token_hash=hash_token(token),
        token_hint=token[:10],
    )
    session.add(device)
    await session.flush()
    audit.record(
        session,
        action="monitoring.device_register",
        resource_type="Device",
        resource_id=device.id,
        patient_id=patient_id,
        details={"label": data.label, "kind": data.kind},
        actor_username=actor,
    )
    return s.DeviceRegistered(**s.DeviceRead.model_validate(device).model_dump(), token=token)


async def list_devices(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID
) -> list[MonitoringDevice]:
    authorize(session, principal, patient_id, write=False)
    await require_patient(session, patient_id)
    rows = await session.scalars(
        select(MonitoringDevice)
        .where(MonitoringDevice.patient_id == patient_id)
        .order_by(MonitoringDevice.created_at.desc())
    )
    audit.record(session, action="monitoring.devices_read", resource_type="Device", patient_id=patient_id)
    return list(rows)


async def get_device(session: AsyncSession, principal: Principal, device_id: uuid.UUID) -> MonitoringDevice:
    device = await session.get(MonitoringDevice, device_id)
    if device is None:
        require_staff(session, principal)
        raise NotFound("Device not found")
    authorize(session, principal, device.patient_id, write=False)
    audit.record(
        session,
        action="monitoring.device_read",
        resource_type="Device",
        resource_id=device.id,
        patient_id=device.patient_id,
    )
    return device


async def search_devices(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[MonitoringDevice], int]:
    if patient_id is None:
        require_staff(session, principal)
    else:
        authorize(session, principal, patient_id, write=False)
    query = select(MonitoringDevice)
    if patient_id is not None:
        query = query.where(MonitoringDevice.patient_id == patient_id)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.scalars(
        query.order_by(MonitoringDevice.created_at, MonitoringDevice.id).limit(limit).offset(offset)
    )
    found = list(rows)
    for pid in {d.patient_id for d in found}:
        audit.record(session, action="monitoring.devices_read", resource_type="Device", patient_id=pid)
    return found, total


async def revoke_device(
    session: AsyncSession, principal: Principal, device_id: uuid.UUID
) -> MonitoringDevice:
    device = await session.get(MonitoringDevice, device_id)
    if device is None:
        require_staff(session, principal, write=True)
        raise NotFound("Device not found")
    authorize(session, principal, device.patient_id, write=True)
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        device.revoked_by = principal.user_id
        await session.flush()
    audit.record(
        session,
        action="monitoring.device_revoke",
        resource_type="Device",
        resource_id=device.id,
        patient_id=device.patient_id,
    )
    return device


async def authenticate_device(session: AsyncSession, token: str) -> MonitoringDevice:
    """The device a token belongs to; ``Unauthorized`` for anything else (revoked included)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("The device token is invalid", code="invalid_token")
    device = await session.scalar(
        select(MonitoringDevice).where(MonitoringDevice.token_hash == hash_token(token))
    )
    if device is None:
        raise Unauthorized("The device token is invalid", code="invalid_token")
    if device.revoked_at is not None:
        raise Unauthorized("This device token has been revoked", code="device_revoked")
    return device


# --- profile (ward, NEWS2 inputs) ---------------------------------------------------------


def _profile_read(patient_id: uuid.UUID, row: MonitoringProfile | None) -> s.ProfileRead:
    if row is None:
        return s.ProfileRead(
            patient_id=patient_id,
            ward=None,
            bed=None,
            hypercapnic=False,
            on_oxygen=None,
            oxygen_recorded_at=None,
            consciousness=None,
            consciousness_at=None,
        )
    return s.ProfileRead(
        patient_id=patient_id,
        ward=row.ward,
        bed=row.bed,
        hypercapnic=row.hypercapnic,
        on_oxygen=row.on_oxygen if row.oxygen_recorded_at else None,
        oxygen_recorded_at=row.oxygen_recorded_at,
        consciousness=row.consciousness,
        consciousness_at=row.consciousness_at,
    )


async def get_profile(session: AsyncSession, principal: Principal, patient_id: uuid.UUID) -> s.ProfileRead:
    authorize(session, principal, patient_id, write=False)
    await require_patient(session, patient_id)
    audit.record(
        session,
        action="monitoring.profile_read",
        resource_type="Patient",
        resource_id=patient_id,
        patient_id=patient_id,
    )
    return _profile_read(patient_id, await session.get(MonitoringProfile, patient_id))


async def update_profile(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.ProfileUpdate
) -> s.ProfileRead:
    authorize(session, principal, patient_id, write=True)
    await require_patient(session, patient_id)
    row = await session.get(MonitoringProfile, patient_id, with_for_update=True)
    if row is None:
        row = MonitoringProfile(patient_id=patient_id, hypercapnic=False, on_oxygen=False)
        session.add(row)
    now = utcnow()
    sent = data.model_fields_set
    for name in ("ward", "bed"):
        if name in sent:
            setattr(row, name, (getattr(data, name) or "").strip() or None)
    if "hypercapnic" in sent and data.hypercapnic is not None:
        row.hypercapnic = data.hypercapnic
    if "on_oxygen" in sent and data.on_oxygen is not None:
        row.on_oxygen = data.on_oxygen
        row.oxygen_recorded_at = now
    if "consciousness" in sent and data.consciousness is not None:
        row.consciousness = data.consciousness
        row.consciousness_at = now
    row.updated_by = principal.user_id
    row.updated_at = now
    await session.flush()
    audit.record(
        session,
        action="monitoring.profile_update",
        resource_type="Patient",
        resource_id=patient_id,
        patient_id=patient_id,
        details={k: getattr(data, k) for k in sorted(sent)},
    )
    return _profile_read(patient_id, row)


async def list_wards(session: AsyncSession, principal: Principal) -> list[s.WardRead]:
    require_staff(session, principal)
    rows = await session.execute(
        select(MonitoringProfile.ward, func.count())
        .where(MonitoringProfile.ward.is_not(None))
        .group_by(MonitoringProfile.ward)
        .order_by(MonitoringProfile.ward)
    )
    return [s.WardRead(ward=w, patients=n) for w, n in rows]


async def ward_patients(session: AsyncSession, ward: str) -> list[uuid.UUID]:
    return list(
        await session.scalars(select(MonitoringProfile.patient_id).where(MonitoringProfile.ward == ward))
    )


# --- thresholds --------------------------------------------------------------------------


async def get_thresholds(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID
) -> list[Threshold]:
    authorize(session, principal, patient_id, write=False)
    await require_patient(session, patient_id)
    audit.record(
        session,
        action="monitoring.thresholds_read",
        resource_type="Patient",
        resource_id=patient_id,
        patient_id=patient_id,
    )
    return list(
        await session.scalars(
            select(Threshold).where(Threshold.patient_id == patient_id).order_by(Threshold.series)
        )
    )


async def set_thresholds(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.ThresholdsUpdate
) -> list[Threshold]:
    authorize(session, principal, patient_id, write=True)
    await require_patient(session, patient_id)
    series = [t.series for t in data.thresholds]
    if len(set(series)) != len(series):
        raise BadRequest("Each series may appear once", code="duplicate_series")
    await session.execute(delete(Threshold).where(Threshold.patient_id == patient_id))
    now = utcnow()
    rows = [
        Threshold(
            patient_id=patient_id,
            series=t.series,
            low=t.low,
            high=t.high,
            set_by=principal.user_id,
            set_at=now,
        )
        for t in data.thresholds
    ]
    session.add_all(rows)
    await session.flush()
    audit.record(
        session,
        action="monitoring.thresholds_update",
        resource_type="Patient",
        resource_id=patient_id,
        patient_id=patient_id,
        details={
            t.series: [str(t.low) if t.low is not None else None, str(t.high) if t.high is not None else None]
            for t in data.thresholds
        },
    )
    return sorted(rows, key=lambda t: t.series)


# --- alarms ------------------------------------------------------------------------------


async def list_alarms(
    session: AsyncSession,
    principal: Principal,
    *,
    patient_ids: Sequence[uuid.UUID] | None,
    states: Sequence[str],
    limit: int,
    offset: int,
) -> tuple[list[Alarm], int]:
    if patient_ids is not None and len(patient_ids) == 1:
        authorize(session, principal, patient_ids[0], write=False)
    else:
        require_staff(session, principal)
    query = select(Alarm)
    if states:
        query = query.where(Alarm.state.in_(states))
    if patient_ids is not None:
        query = query.where(Alarm.patient_id.in_(patient_ids))
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = list(
        await session.scalars(
            query.order_by(Alarm.state == "resolved", Alarm.raised_at.desc(), Alarm.id)
            .limit(limit)
            .offset(offset)
        )
    )
    for pid in {a.patient_id for a in rows}:
        audit.record(
            session, action="monitoring.alarms_read", resource_type="Patient", resource_id=pid, patient_id=pid
        )
    return rows, total


async def _alarm_for_change(session: AsyncSession, principal: Principal, alarm_id: uuid.UUID) -> Alarm:
    alarm = await session.get(Alarm, alarm_id, with_for_update=True, populate_existing=True)
    if alarm is None:
        require_staff(session, principal, write=True)
        raise NotFound("Alarm not found")
    authorize(session, principal, alarm.patient_id, write=True)
    return alarm


async def acknowledge_alarm(
    session: AsyncSession, principal: Principal, alarm_id: uuid.UUID, engine: Engine | None
) -> tuple[Alarm, list[MonitoringEvent]]:
    """raised -> acknowledged (who, when). An alarm whose condition has already cleared is
    resolved at once. Acknowledging twice answers the alarm as it is (no change)."""
    alarm = await _alarm_for_change(session, principal, alarm_id)
    if alarm.state == "resolved":
        raise Conflict("The alarm is already resolved", code="alarm_resolved")
    events: list[MonitoringEvent] = []
    if alarm.state == "raised":
        now = utcnow()
        alarm.state = "acknowledged"
        alarm.acknowledged_at = now
        alarm.acknowledged_by = principal.user_id
        alarm.acknowledged_by_name = principal.full_name or principal.username
        if not alarm.condition_active:
            _resolve(alarm, principal, now)
        await session.flush()
        events.append(add_event(session, alarm.patient_id, "alarm", alarm_payload(alarm)))
        await session.flush()
        audit.record(
            session,
            action="monitoring.alarm_acknowledge",
            resource_type="Alarm",
            resource_id=alarm.id,
            patient_id=alarm.patient_id,
            details={"key": alarm.key},
        )
    if engine is not None:
        engine.invalidate(alarm.patient_id)
    return alarm, events


def _resolve(alarm: Alarm, principal: Principal, now: datetime) -> None:
    alarm.state = "resolved"
    alarm.resolved_at = now
    alarm.resolved_by = principal.user_id
    alarm.resolved_by_name = principal.full_name or principal.username
    alarm.open_key = None


async def resolve_alarm(
    session: AsyncSession, principal: Principal, alarm_id: uuid.UUID, engine: Engine | None
) -> tuple[Alarm, list[MonitoringEvent]]:
    alarm = await _alarm_for_change(session, principal, alarm_id)
    events: list[MonitoringEvent] = []
    if alarm.state != "resolved":
        now = utcnow()
        if alarm.acknowledged_at is None:
            alarm.acknowledged_at = now
            alarm.acknowledged_by = principal.user_id
            alarm.acknowledged_by_name = principal.full_name or principal.username
        _resolve(alarm, principal, now)
        await session.flush()
        events.append(add_event(session, alarm.patient_id, "alarm", alarm_payload(alarm)))
        await session.flush()
        audit.record(
            session,
            action="monitoring.alarm_resolve",
            resource_type="Alarm",
            resource_id=alarm.id,
            patient_id=alarm.patient_id,
            details={"key": alarm.key},
        )
    if engine is not None:
        engine.invalidate(alarm.patient_id)
    return alarm, events


async def escalate_due(
    session: AsyncSession, settings: Settings, now: datetime | None = None
) -> list[MonitoringEvent]:
    """Raised alarms nobody acknowledged within the escalation time go to the next role."""
    now = now or utcnow()
    roles = settings.monitoring_escalation_roles or ["nurse"]
    if len(roles) < 2:
        return []
    cutoff = now - timedelta(minutes=settings.monitoring_escalation_minutes)
    due = list(
        await session.scalars(
            select(Alarm)
            .where(
                Alarm.state == "raised",
                Alarm.escalation_level < len(roles) - 1,
                or_(Alarm.escalated_at <= cutoff, Alarm.escalated_at.is_(None) & (Alarm.raised_at <= cutoff)),
            )
            .order_by(Alarm.raised_at)
            .limit(500)
            .with_for_update(skip_locked=True)
        )
    )
    events = []
    for alarm in due:
        alarm.escalation_level += 1
        alarm.notify_role = roles[alarm.escalation_level]
        alarm.escalated_at = now
        await session.flush()
        events.append(add_event(session, alarm.patient_id, "alarm", alarm_payload(alarm)))
        audit.record(
            session,
            action="monitoring.alarm_escalate",
            resource_type="Alarm",
            resource_id=alarm.id,
            patient_id=alarm.patient_id,
            details={"to": alarm.notify_role, "level": alarm.escalation_level},
            actor_username="system-monitoring",
        )
    await session.flush()
    return events


# --- readings: history, latest, ECG ------------------------------------------------------

_BUCKETS = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)


def choose_bucket(span: timedelta, requested: int | None) -> int:
    seconds = span.total_seconds()
    if requested is not None:
        if seconds / requested > MAX_BUCKETS * 10:
            raise BadRequest(
                f"bucket too small for this range (at most {MAX_BUCKETS * 10} buckets)",
                code="bucket_too_small",
            )
        return requested
    for size in _BUCKETS:
        if seconds / size <= MAX_BUCKETS:
            return size
    return _BUCKETS[-1]


async def history(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    series: str,
    start: datetime,
    end: datetime,
    bucket_seconds: int | None,
) -> s.History:
    """min/max/mean per bucket. Buckets of a minute or more read the per-minute rollups (kept
    for good); shorter ones read the raw readings (kept ``monitoring_raw_retention_days``)."""
    authorize(session, principal, patient_id, write=False, portal_ok=True)
    await require_patient(session, patient_id)
    if end <= start:
        raise BadRequest("end must be after start", code="invalid_range")
    if end - start > timedelta(days=800):
        raise BadRequest("at most 800 days per request", code="invalid_range")
    size = choose_bucket(end - start, bucket_seconds)
    epoch0 = start
    buckets: dict[int, list[Decimal]] = {}  # index -> [min, max, sum, count]
    if size >= 60 and size % 60 == 0:
        rows = await session.execute(
            select(
                VitalRollup.minute,
                VitalRollup.min_value,
                VitalRollup.max_value,
                VitalRollup.sum_value,
                VitalRollup.count,
            )
            .where(
                VitalRollup.patient_id == patient_id,
                VitalRollup.series == series,
                VitalRollup.minute >= start,
                VitalRollup.minute < end,
            )
            .order_by(VitalRollup.minute)
        )
        for minute, lo, hi, total, count in rows:
            _acc(buckets, int((minute - epoch0).total_seconds() // size), lo, hi, total, count)
    else:
        metric = "bp" if series in ("sbp", "dbp") else series
        column = VitalReading.value2 if series == "dbp" else VitalReading.value
        raw_rows = await session.execute(
            select(VitalReading.effective_at, column)
            .where(
                VitalReading.patient_id == patient_id,
                VitalReading.metric == metric,
                VitalReading.quality == "valid",
                VitalReading.effective_at >= start,
                VitalReading.effective_at < end,
            )
            .order_by(VitalReading.effective_at)
            .limit(MAX_BUCKETS * 10 * 5)
        )
        for at, raw in raw_rows:
            if raw is not None:
                _acc(buckets, int((at - epoch0).total_seconds() // size), raw, raw, raw, 1)
    audit.record(
        session,
        action="monitoring.history_read",
        resource_type="Observation",
        patient_id=patient_id,
        details={"series": series, "start": start.isoformat(), "end": end.isoformat()},
    )
    return s.History(
        patient_id=patient_id,
        series=series,
        unit=v.SERIES_UNIT[series],
        start=start,
        end=end,
        bucket_seconds=size,
        buckets=[
            s.Bucket(
                start=epoch0 + timedelta(seconds=i * size),
                min=float(b[0]),
                max=float(b[1]),
                mean=round(float(b[2] / b[3]), 3),
                count=int(b[3]),
            )
            for i, b in sorted(buckets.items())
        ],
    )


def _acc(
    buckets: dict[int, list[Decimal]], index: int, lo: Decimal, hi: Decimal, total: Decimal, count: int
) -> None:
    b = buckets.get(index)
    if b is None:
        buckets[index] = [lo, hi, Decimal(total), Decimal(count)]
    else:
        b[0] = min(b[0], lo)
        b[1] = max(b[1], hi)
        b[2] += total
        b[3] += count


async def recent_ecg(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, seconds: int
) -> s.EcgRead:
    authorize(session, principal, patient_id, write=False)
    await require_patient(session, patient_id)
    since = utcnow() - timedelta(seconds=seconds)
    rows = await session.scalars(
        select(EcgChunk)
        .where(EcgChunk.patient_id == patient_id, EcgChunk.start_at >= since)
        .order_by(EcgChunk.start_at.desc())
        .limit(600)
    )
    chunks = sorted(rows, key=lambda c: c.start_at)
    audit.record(session, action="monitoring.ecg_read", resource_type="Observation", patient_id=patient_id)
    return s.EcgRead(
        patient_id=patient_id,
        segments=[
            s.EcgSegment(
                start_at=c.start_at,
                period_ms=float(c.period_ms),
                origin=float(c.origin),
                factor=float(c.factor),
                unit=c.unit,
                code=c.code,
                data=c.data,
            )
            for c in chunks
        ],
    )


def reading_read(row: VitalReading) -> s.ReadingRead:
    return s.ReadingRead(
        id=row.id,
        metric=row.metric,
        value=float(row.value) if row.value is not None else None,
        value2=float(row.value2) if row.value2 is not None else None,
        unit=row.unit,
        quality=row.quality,
        effective_at=row.effective_at,
        source=row.source.split(":", 1)[0],
    )


async def list_readings(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    *,
    metric: str | None,
    source_kind: str | None,
    limit: int,
    offset: int,
    since: datetime | None = None,
    until: datetime | None = None,
    codes: Sequence[str] | None = None,
    exclude_chart: bool = False,
) -> tuple[list[VitalReading], int]:
    """Raw readings, newest first (the portal's own list, FHIR search)."""
    authorize(session, principal, patient_id, write=False, portal_ok=True)
    query = select(VitalReading).where(VitalReading.patient_id == patient_id)
    if metric is not None:
        query = query.where(VitalReading.metric == metric)
    if codes is not None:
        query = query.where(VitalReading.code.in_(list(codes)))
    if source_kind is not None:
        query = query.where(VitalReading.source.startswith(source_kind + ":"))
    if exclude_chart:
        query = query.where(VitalReading.source.not_like("chart:%"))
    if since is not None:
        query = query.where(VitalReading.effective_at >= since)
    if until is not None:
        query = query.where(VitalReading.effective_at <= until)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = list(
        await session.scalars(
            query.order_by(VitalReading.effective_at.desc(), VitalReading.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    if limit:
        audit.record(
            session,
            action="monitoring.readings_read",
            resource_type="Observation",
            patient_id=patient_id,
            details={"count": len(rows)},
        )
    return rows, total


async def get_reading(session: AsyncSession, principal: Principal, reading_id: int) -> VitalReading:
    row = await session.get(VitalReading, reading_id)
    if row is None:
        raise NotFound("Observation not found")
    try:
        authorize(session, principal, row.patient_id, write=False, portal_ok=True)
    except Forbidden as exc:
        raise NotFound("Observation not found") from exc
    audit.record(
        session,
        action="monitoring.reading_read",
        resource_type="Observation",
        resource_id=str(row.id),
        patient_id=row.patient_id,
    )
    return row


# --- the wall ----------------------------------------------------------------------------


async def overview(
    session: AsyncSession, principal: Principal, engine: Engine, patient_ids: Sequence[uuid.UUID]
) -> s.Overview:
    require_staff(session, principal)
    ids = list(dict.fromkeys(patient_ids))[:200]
    people = await patients.contact_summaries(session, ids)
    ids = [p for p in ids if p in people]
    await engine.ensure(session, ids)
    profiles = {
        p.patient_id: p
        for p in await session.scalars(select(MonitoringProfile).where(MonitoringProfile.patient_id.in_(ids)))
    }
    open_alarms: dict[uuid.UUID, list[Alarm]] = {p: [] for p in ids}
    for a in await session.scalars(
        select(Alarm)
        .where(Alarm.patient_id.in_(ids), Alarm.state.in_(("raised", "acknowledged")))
        .order_by(Alarm.raised_at)
    ):
        open_alarms[a.patient_id].append(a)
    since = utcnow() - timedelta(minutes=30)
    spark: dict[uuid.UUID, list[s.SparkPoint]] = {p: [] for p in ids}
    for pid, minute, total, count in await session.execute(
        select(VitalRollup.patient_id, VitalRollup.minute, VitalRollup.sum_value, VitalRollup.count)
        .where(VitalRollup.patient_id.in_(ids), VitalRollup.series == "hr", VitalRollup.minute >= since)
        .order_by(VitalRollup.minute)
    ):
        spark[pid].append(s.SparkPoint(t=minute, v=round(float(total / count), 1)))
    devices = dict(
        (
            await session.execute(
                select(MonitoringDevice.patient_id, func.count())
                .where(MonitoringDevice.patient_id.in_(ids), MonitoringDevice.revoked_at.is_(None))
                .group_by(MonitoringDevice.patient_id)
            )
        ).all()
    )
    last_id = int(await session.scalar(select(func.max(MonitoringEvent.id))) or 0)
    tiles = []
    for pid in ids:
        state = engine.state(pid)
        tiles.append(
            s.PatientTile(
                patient_id=pid,
                display_name=people[pid]["display_name"],
                ward=profiles[pid].ward if pid in profiles else None,
                bed=profiles[pid].bed if pid in profiles else None,
                latest={
                    k: s.LatestValue(value=float(val), at=at)
                    for k, (val, at) in (state.latest.items() if state else [])
                },
                news2=_news2_read(engine, state),
                open_alarms=[s.AlarmRead.model_validate(a) for a in open_alarms[pid]],
                sparkline=spark[pid],
                devices=int(devices.get(pid, 0)),
            )
        )
        audit.record(
            session,
            action="monitoring.overview_read",
            resource_type="Patient",
            resource_id=pid,
            patient_id=pid,
        )
    return s.Overview(patients=tiles, last_event_id=last_id)


def _news2_read(engine: Engine, state: PatientState | None) -> s.News2Read | None:
    if state is None:
        return None
    result = news2.score(engine.news2_inputs(state))
    if not result.parameters:
        return None
    return s.News2Read(
        total=result.total,
        response=result.response,
        parameters=result.parameters,
        missing=list(result.missing),
        scale=result.scale,
    )


async def monitored_patients(session: AsyncSession, limit: int = 200) -> list[uuid.UUID]:
    """Patients with an active device or a ward assignment, for the wall's default view."""
    with_devices = select(MonitoringDevice.patient_id).where(MonitoringDevice.revoked_at.is_(None))
    with_ward = select(MonitoringProfile.patient_id).where(MonitoringProfile.ward.is_not(None))
    ids = list(dict.fromkeys([*await session.scalars(with_ward), *await session.scalars(with_devices)]))
    return ids[:limit]


# --- the live feed's replay --------------------------------------------------------------


async def events_since(
    session: AsyncSession, patient_ids: Sequence[uuid.UUID], since: int, limit: int = REPLAY_LIMIT
) -> list[dict[str, Any]]:
    """Feed events of these patients after ``since`` in id order (the caller authorised them)."""
    if not patient_ids:
        return []
    out: list[dict[str, Any]] = []
    rows = await session.execute(
        select(MonitoringEvent.id, MonitoringEvent.payload)
        .where(MonitoringEvent.patient_id.in_(list(patient_ids)), MonitoringEvent.id > since)
        .order_by(MonitoringEvent.id)
        .limit(limit)
    )
    for event_id, payload in rows:
        data = json.loads(payload)
        data["id"] = event_id
        out.append(data)
    return out


async def last_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(MonitoringEvent.id))) or 0)


# --- retention ---------------------------------------------------------------------------


async def prune(session: AsyncSession, settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Delete raw readings, ECG and feed events past their retention (rollups are kept)."""
    now = now or utcnow()
    done: dict[str, int] = {}
    for name, model, column, cutoff in (
        (
            "readings",
            VitalReading,
            VitalReading.effective_at,
            now - timedelta(days=settings.monitoring_raw_retention_days),
        ),
        ("ecg", EcgChunk, EcgChunk.start_at, now - timedelta(hours=settings.monitoring_ecg_retention_hours)),
        (
            "events",
            MonitoringEvent,
            MonitoringEvent.created_at,
            now - timedelta(hours=settings.monitoring_event_retention_hours),
        ),
    ):
        result = await session.execute(delete(model).where(column < cutoff))
        done[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return done


__all__ = ["TOKEN_PREFIX", "VitalReading"]
