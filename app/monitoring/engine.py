"""Alarm evaluation inside the ingestion transaction: technical alarms, thresholds, NEWS2.

The engine keeps, per patient, the latest *valid* value of each series, the NEWS2 inputs a nurse
recorded, the thresholds and the open alarms: loaded from the database the first time a patient
is seen (one query each for a whole batch of patients), refreshed after ``ttl`` seconds and
whenever this process changes them. Every state change is a conditional UPDATE on the alarm row
(the database decides), so a stale cache can cost a query, never a wrong transition.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.kit.time import utcnow
from app.monitoring import ids, news2
from app.monitoring import vitals as v
from app.monitoring.models import Alarm, MonitoringEvent, MonitoringProfile, Threshold, VitalReading
from app.monitoring.parse import Reading

CACHE_TTL_SECONDS = 60.0
OPEN_STATES = ("raised", "acknowledged")


@dataclass
class Profile:
    ward: str | None = None
    bed: str | None = None
    hypercapnic: bool = False
    on_oxygen: bool | None = None
    consciousness: str | None = None


@dataclass
class OpenAlarm:
    id: uuid.UUID
    severity: str
    active: bool = True


@dataclass
class PatientState:
    loaded_at: float
    latest: dict[str, tuple[Decimal, datetime]] = field(default_factory=dict)
    profile: Profile = field(default_factory=Profile)
    thresholds: dict[str, tuple[Decimal | None, Decimal | None]] = field(default_factory=dict)
    open_alarms: dict[str, OpenAlarm] = field(default_factory=dict)
    news2_total: int | None = None
    news2_response: str | None = None


def alarm_payload(alarm: Alarm) -> dict[str, Any]:
    return {
        "type": "alarm",
        "patient_id": str(alarm.patient_id),
        "alarm": {
            "id": str(alarm.id),
            "kind": alarm.kind,
            "key": alarm.key,
            "severity": alarm.severity,
            "state": alarm.state,
            "message": alarm.message,
            "value": alarm.value,
            "news2_score": alarm.news2_score,
            "condition_active": alarm.condition_active,
            "trigger_count": alarm.trigger_count,
            "raised_at": alarm.raised_at.isoformat(),
            "notify_role": alarm.notify_role,
            "escalation_level": alarm.escalation_level,
            "acknowledged_at": alarm.acknowledged_at.isoformat() if alarm.acknowledged_at else None,
            "acknowledged_by_name": alarm.acknowledged_by_name,
            "resolved_at": alarm.resolved_at.isoformat() if alarm.resolved_at else None,
            "resolved_by_name": alarm.resolved_by_name,
        },
    }


def add_event(
    session: AsyncSession, patient_id: uuid.UUID, kind: str, payload: dict[str, Any]
) -> MonitoringEvent:
    event = MonitoringEvent(
        id=ids.next_id(),
        patient_id=patient_id,
        kind=kind,
        payload=json.dumps(payload, separators=(",", ":"), allow_nan=False),
        created_at=utcnow(),
    )
    session.add(event)
    return event


def _fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


class Engine:
    def __init__(self, settings: Settings, *, clock: Any = None) -> None:
        self.settings = settings
        self._states: dict[uuid.UUID, PatientState] = {}
        import time

        self._clock = clock or time.monotonic

    def invalidate(self, patient_id: uuid.UUID) -> None:
        self._states.pop(patient_id, None)

    def state(self, patient_id: uuid.UUID) -> PatientState | None:
        return self._states.get(patient_id)

    async def ensure(self, session: AsyncSession, patient_ids: Iterable[uuid.UUID]) -> None:
        now = self._clock()
        stale = [
            p
            for p in set(patient_ids)
            if p not in self._states or now - self._states[p].loaded_at > CACHE_TTL_SECONDS
        ]
        if not stale:
            return
        states = {p: PatientState(loaded_at=now) for p in stale}
        for chunk in _chunks(stale, 500):
            await self._load(session, chunk, states)
        self._states.update(states)

    async def _load(
        self, session: AsyncSession, ids: Sequence[uuid.UUID], states: dict[uuid.UUID, PatientState]
    ) -> None:
        cutoff = utcnow() - timedelta(minutes=self.settings.monitoring_news2_window_minutes)
        newest = (
            select(
                VitalReading.patient_id, VitalReading.metric, func.max(VitalReading.effective_at).label("at")
            )
            .where(
                VitalReading.patient_id.in_(ids),
                VitalReading.quality == "valid",
                VitalReading.effective_at >= cutoff,
            )
            .group_by(VitalReading.patient_id, VitalReading.metric)
            .subquery()
        )
        rows = await session.execute(
            select(
                VitalReading.patient_id,
                VitalReading.metric,
                VitalReading.value,
                VitalReading.value2,
                VitalReading.effective_at,
            )
            .join(
                newest,
                and_(
                    VitalReading.patient_id == newest.c.patient_id,
                    VitalReading.metric == newest.c.metric,
                    VitalReading.effective_at == newest.c.at,
                ),
            )
            .where(VitalReading.quality == "valid")
        )
        for pid, metric, value, value2, at in rows:
            _remember(states[pid], metric, value, value2, at)
        for profile in await session.scalars(
            select(MonitoringProfile).where(MonitoringProfile.patient_id.in_(ids))
        ):
            states[profile.patient_id].profile = profile_of(profile)
        for t in await session.scalars(select(Threshold).where(Threshold.patient_id.in_(ids))):
            states[t.patient_id].thresholds[t.series] = (t.low, t.high)
        for a in await session.scalars(
            select(Alarm).where(Alarm.patient_id.in_(ids), Alarm.state.in_(OPEN_STATES))
        ):
            states[a.patient_id].open_alarms[a.key] = OpenAlarm(a.id, a.severity, a.condition_active)
            if a.key == "news2":
                states[a.patient_id].news2_total = a.news2_score

    # --- evaluation -----------------------------------------------------------------

    async def evaluate(
        self,
        session: AsyncSession,
        patient_id: uuid.UUID,
        readings: Sequence[tuple[Reading, uuid.UUID | None]],
    ) -> list[MonitoringEvent]:
        """Apply new readings of one patient (in effective order); returns the feed events the
        alarm changes produced (flushed, with ids)."""
        state = self._states[patient_id]
        out: list[MonitoringEvent] = []
        touched_series: set[str] = set()
        # Technical alarms follow the readings in order: a stretch of zeros raises one alarm
        # (counted, not repeated) and the first valid value after it resolves it.
        for reading, device_id in readings:
            metric = reading.metric
            if reading.quality == "valid":
                if _remember(state, metric, reading.value, reading.value2, reading.effective_at):
                    touched_series.update(v.series_of(metric))
                for kind in ("signal_loss", "artefact"):
                    if f"{kind}:{metric}" in state.open_alarms:
                        out += await self._clear(
                            session, patient_id, state, f"{kind}:{metric}", technical=True
                        )
                continue
            quality = reading.quality
            other = "artefact" if quality == "signal_loss" else "signal_loss"
            if f"{other}:{metric}" in state.open_alarms:
                out += await self._clear(session, patient_id, state, f"{other}:{metric}", technical=True)
            label = v.VITALS[reading.code].label
            text = (
                "signal loss (no value / probe off)"
                if quality == "signal_loss"
                else "artefact (impossible value)"
            )
            out += await self._trigger(
                session,
                patient_id,
                state,
                key=f"{quality}:{metric}",
                kind="technical",
                severity="technical",
                message=f"{label}: {text}",
                value=_fmt(reading.value) if reading.value is not None else None,
                device_id=device_id,
            )
        # Thresholds on the series that got a newer valid value.
        for series in sorted(touched_series):
            limits = state.thresholds.get(series)
            current = state.latest.get(series)
            if limits is None or current is None:
                continue
            low, high = limits
            reading_value: Decimal = current[0]
            for side, breached in (
                ("low", low is not None and reading_value < low),
                ("high", high is not None and reading_value > high),
            ):
                key = f"threshold:{series}:{side}"
                if breached:
                    bound = low if side == "low" else high
                    assert bound is not None
                    out += await self._trigger(
                        session,
                        patient_id,
                        state,
                        key=key,
                        kind="clinical",
                        severity="urgent",
                        message=f"{v.SERIES_LABEL[series]} {_fmt(reading_value)} "
                        f"{'below' if side == 'low' else 'above'} {_fmt(bound)}",
                        value=_fmt(reading_value),
                    )
                else:
                    out += await self._clear(session, patient_id, state, key, technical=False)
        if touched_series or state.news2_total is None:
            out += await self._news2(session, patient_id, state)
        return out

    def news2_inputs(self, state: PatientState) -> news2.Inputs:
        latest = state.latest
        cutoff = utcnow() - timedelta(minutes=self.settings.monitoring_news2_window_minutes)

        def val(series: str) -> Decimal | None:
            found = latest.get(series)
            return found[0] if found and found[1] >= cutoff else None

        p = state.profile
        return news2.Inputs(
            respiration_rate=val("rr"),
            spo2=val("spo2"),
            hypercapnic=p.hypercapnic,
            on_oxygen=p.on_oxygen,
            systolic_bp=val("sbp"),
            pulse=val("hr"),
            consciousness=p.consciousness if p.consciousness in ("A", "C", "V", "P", "U") else None,  # type: ignore[arg-type]
            temperature=val("temp"),
        )

    async def _news2(
        self, session: AsyncSession, patient_id: uuid.UUID, state: PatientState
    ) -> list[MonitoringEvent]:
        result = news2.score(self.news2_inputs(state))
        out: list[MonitoringEvent] = []
        if not result.parameters:
            return out
        if result.total != state.news2_total or result.response != state.news2_response:
            state.news2_total, state.news2_response = result.total, result.response
            out.append(add_event(session, patient_id, "news2", news2_payload(patient_id, result)))
        if result.response == "low":
            out += await self._clear(session, patient_id, state, "news2", technical=False)
        else:
            why = "a single parameter scored 3" if result.total < 5 else f"total {result.total}"
            out += await self._trigger(
                session,
                patient_id,
                state,
                key="news2",
                kind="clinical",
                severity=result.response,
                message=f"NEWS2 {result.total} ({why}): {result.response} response",
                value=str(result.total),
                news2_score=result.total,
            )
        return out

    async def _trigger(
        self,
        session: AsyncSession,
        patient_id: uuid.UUID,
        state: PatientState,
        *,
        key: str,
        kind: str,
        severity: str,
        message: str,
        value: str | None,
        news2_score: int | None = None,
        device_id: uuid.UUID | None = None,
    ) -> list[MonitoringEvent]:
        now = utcnow()
        existing = state.open_alarms.get(key)
        if existing is not None:
            changes: dict[str, Any] = {
                "trigger_count": Alarm.trigger_count + 1,
                "last_triggered_at": now,
                "value": value,
                "condition_active": True,
            }
            worse = severity != existing.severity
            if worse:
                changes.update(severity=severity, message=message, news2_score=news2_score)
            elif news2_score is not None:
                changes["news2_score"] = news2_score
            done = await session.execute(
                update(Alarm).where(Alarm.id == existing.id, Alarm.state.in_(OPEN_STATES)).values(**changes)
            )
            if done.rowcount:  # type: ignore[attr-defined]
                reactivated = not existing.active
                existing.active = True
                existing.severity = severity
                if worse or reactivated:
                    alarm = await session.get(Alarm, existing.id, populate_existing=True)
                    assert alarm is not None
                    return [add_event(session, patient_id, "alarm", alarm_payload(alarm))]
                return []  # a repeat: counted on the row, not broadcast again
            del state.open_alarms[key]  # resolved by someone meanwhile: raise a new one
        roles = self.settings.monitoring_escalation_roles or ["nurse"]
        alarm = Alarm(
            patient_id=patient_id,
            kind=kind,
            key=key,
            open_key=f"{patient_id}:{key}",
            severity=severity,
            state="raised",
            message=message[:255],
            value=value,
            news2_score=news2_score,
            condition_active=True,
            trigger_count=1,
            raised_at=now,
            last_triggered_at=now,
            notify_role=roles[0],
            escalation_level=0,
            device_id=device_id,
        )
        try:
            async with session.begin_nested():
                session.add(alarm)
        except IntegrityError:
            # Another process raised it first: count this trigger on that one.
            found = await session.scalar(select(Alarm).where(Alarm.open_key == f"{patient_id}:{key}"))
            if found is None:
                raise
            state.open_alarms[key] = OpenAlarm(found.id, found.severity, found.condition_active)
            return await self._trigger(
                session,
                patient_id,
                state,
                key=key,
                kind=kind,
                severity=severity,
                message=message,
                value=value,
                news2_score=news2_score,
                device_id=device_id,
            )
        state.open_alarms[key] = OpenAlarm(alarm.id, severity, True)
        return [add_event(session, patient_id, "alarm", alarm_payload(alarm))]

    async def _clear(
        self, session: AsyncSession, patient_id: uuid.UUID, state: PatientState, key: str, *, technical: bool
    ) -> list[MonitoringEvent]:
        """The condition is over. A technical alarm resolves itself; a clinical one resolves if
        someone acknowledged it, and otherwise stays raised (latched, marked inactive) so that
        nobody misses that it happened."""
        existing = state.open_alarms.get(key)
        if existing is None:
            return []
        now = utcnow()
        resolve = {
            "state": "resolved",
            "resolved_at": now,
            "resolved_by_name": "system",
            "open_key": None,
            "condition_active": False,
        }
        if technical:
            done = await session.execute(
                update(Alarm).where(Alarm.id == existing.id, Alarm.state.in_(OPEN_STATES)).values(**resolve)
            )
            resolved = bool(done.rowcount)  # type: ignore[attr-defined]
        else:
            done = await session.execute(
                update(Alarm).where(Alarm.id == existing.id, Alarm.state == "acknowledged").values(**resolve)
            )
            resolved = bool(done.rowcount)  # type: ignore[attr-defined]
            if not resolved:
                if not existing.active:
                    return []
                latched = await session.execute(
                    update(Alarm)
                    .where(Alarm.id == existing.id, Alarm.state == "raised")
                    .values(condition_active=False)
                )
                if latched.rowcount:  # type: ignore[attr-defined]
                    existing.active = False
                    alarm = await session.get(Alarm, existing.id, populate_existing=True)
                    assert alarm is not None
                    return [add_event(session, patient_id, "alarm", alarm_payload(alarm))]
        del state.open_alarms[key]
        if not resolved:
            return []
        alarm = await session.get(Alarm, existing.id, populate_existing=True)
        assert alarm is not None
        return [add_event(session, patient_id, "alarm", alarm_payload(alarm))]


def news2_payload(patient_id: uuid.UUID, result: news2.Score) -> dict[str, Any]:
    return {
        "type": "news2",
        "patient_id": str(patient_id),
        "news2": {
            "total": result.total,
            "response": result.response,
            "parameters": result.parameters,
            "missing": list(result.missing),
            "scale": result.scale,
        },
    }


def profile_of(row: MonitoringProfile) -> Profile:
    return Profile(
        ward=row.ward,
        bed=row.bed,
        hypercapnic=row.hypercapnic,
        on_oxygen=row.on_oxygen if row.oxygen_recorded_at is not None else None,
        consciousness=row.consciousness,
    )


def _remember(
    state: PatientState, metric: str, value: Decimal | None, value2: Decimal | None, at: datetime
) -> bool:
    """Keep a valid value if it is the newest of its series; True when it was."""
    if value is None:
        return False
    pairs = [("sbp", value), ("dbp", value2)] if metric == "bp" else [(metric, value)]
    changed = False
    for series, val in pairs:
        if val is None:
            continue
        known = state.latest.get(series)
        if known is None or at >= known[1]:
            state.latest[series] = (val, at)
            changed = True
    return changed


def _chunks(items: Sequence[uuid.UUID], size: int) -> Iterable[Sequence[uuid.UUID]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


__all__ = ["Engine", "add_event", "alarm_payload", "news2_payload"]
