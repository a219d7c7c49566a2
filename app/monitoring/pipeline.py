"""The one ingestion pipeline: every way in (FHIR REST, the device WebSocket, the WebRTC data
channel, the portal) submits parsed readings here and gets an answer once they are committed.

One writer task per process drains a queue: whatever has arrived while the previous transaction
ran goes into the next one (so one device alone waits one commit, and a thousand share it).
A transaction stores the new readings (duplicates of (source, identifier) are answered
``duplicate`` and not stored again), the per-minute rollups, the live-feed events, the alarm
changes and one audit entry per sender and patient; then the answer goes back and the events
go to the broker. The broker is best effort: when it is down, storing goes on and dashboards
catch up from the database (``monitoring_events``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.broker import Broker, BrokerError, cancel_and_wait
from app.config import Settings
from app.context import RequestContext, set_context
from app.db import Database
from app.errors import Unauthorized
from app.kit.time import utcnow
from app.monitoring import ids
from app.monitoring.engine import Engine
from app.monitoring.models import EcgChunk, MonitoringDevice, MonitoringEvent, VitalReading, VitalRollup
from app.monitoring.parse import Item, Reading, Waveform

log = logging.getLogger("app.monitoring")

LAST_SEEN_EVERY_SECONDS = 60.0
PUBLISH_QUEUE_MAX = 200_000
PUBLISH_BACKOFF_SECONDS = 1.0
PUBLISH_BATCH = 1000
AUDIT_WINDOW_SECONDS = 60.0
DEVICE_CHECK_SECONDS = 5.0


def patient_channel(patient_id: uuid.UUID | str) -> str:
    return f"monitoring:patient:{patient_id}"


def ecg_channel(patient_id: uuid.UUID | str) -> str:
    return f"monitoring:ecg:{patient_id}"


@dataclass(frozen=True, slots=True)
class Source:
    """Who sends: a device, a portal user, or the chart (a clinician's recorded observation)."""

    patient_id: uuid.UUID
    key: str  # device:<id> | portal:<user id> | chart:<user id>
    actor_name: str
    device_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    identifier: str
    status: Literal["stored", "duplicate"]
    id: int | None
    kind: Literal["reading", "ecg"]


@dataclass
class Stored:
    results: list[list[ItemResult]]
    events: list[Any]  # MonitoringEvent rows (with id, patient_id, payload)
    waveforms: list[EcgChunk]
    audited: list[tuple[str, uuid.UUID]] = field(default_factory=list)


@dataclass
class _Job:
    source: Source
    items: list[Item]
    future: asyncio.Future[list[ItemResult]]
    # False for a device's steady stream (after the first messages of a connection, which may
    # be resends): its batch skips the duplicate lookup, and the unique key catches the rare
    # duplicate anyway (the batch is then retried with the lookup).
    maybe_duplicate: bool = True
    submitted: float = field(default_factory=time.monotonic)


def _num(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def reading_payload(row: Any) -> dict[str, Any]:
    return {
        "type": "reading",
        "patient_id": str(row.patient_id),
        "reading": {
            "id": row.id,
            "metric": row.metric,
            "code": row.code,
            "value": _num(row.value),
            "value2": _num(row.value2),
            "unit": row.unit,
            "quality": row.quality,
            "effective_at": row.effective_at.isoformat(),
            "device_id": str(row.device_id) if row.device_id else None,
            "source": row.source.split(":", 1)[0],
        },
    }


def ecg_payload(row: EcgChunk) -> dict[str, Any]:
    return {
        "type": "ecg",
        "patient_id": str(row.patient_id),
        "ecg": {
            "id": row.id,
            "code": row.code,
            "start_at": row.start_at.isoformat(),
            "period_ms": float(row.period_ms),
            "origin": float(row.origin),
            "factor": float(row.factor),
            "unit": row.unit,
            "data": row.data,
        },
    }


def event_message(event: Any) -> dict[str, Any]:
    # A row this process just wrote keeps its payload as a dict (no JSON round trip).
    known: dict[str, Any] | None = getattr(event, "message", None)
    data: dict[str, Any] = dict(known) if known is not None else json.loads(event.payload)
    data["id"] = event.id
    return data


class Publisher:
    """Sends feed messages to the broker in commit order, from one task, never blocking the
    writer: when the broker fails, what is queued is dropped (the database has it) and sending
    resumes after a short pause."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.published = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="monitoring-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None

    def put(self, channel: str, message: dict[str, Any]) -> None:
        if len(self._queue) >= PUBLISH_QUEUE_MAX:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append((channel, message))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            # Whatever has queued goes in one round trip (a Redis pipeline), in order.
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), PUBLISH_BATCH))]
            try:
                await self.broker.publish_many(batch)
                self.published += len(batch)
            except BrokerError as exc:
                self.dropped += len(batch) + len(self._queue)
                self._queue.clear()
                log.warning("monitoring: live fan-out paused, the broker failed: %r", exc)
                await asyncio.sleep(PUBLISH_BACKOFF_SECONDS)


class Pipeline:
    def __init__(self, database: Database, broker: Broker, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.engine = Engine(settings)
        self.publisher = Publisher(broker)
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._last_seen: dict[uuid.UUID, float] = {}
        self._audited: dict[tuple[str, uuid.UUID], float] = {}
        self._checked: dict[uuid.UUID, float] = {}  # device -> when it was last found not revoked
        self._revoked: set[uuid.UUID] = set()  # revoked through this process
        self.batches = 0

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the monitoring pipeline is already running")
        self.publisher.start()
        self._task = asyncio.create_task(self._run(), name="monitoring-writer")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(ConnectionAbortedError("the server is shutting down"))
        await self.publisher.stop()

    async def submit(self, source: Source, items: list[Item], *, fresh: bool = False) -> list[ItemResult]:
        """Store ``items`` (already parsed and checked for this source's patient); returns once
        they are committed. Raises ``Unauthorized`` when the device has been revoked.
        ``fresh``: new readings in all likelihood (a stream's steady state, not a resend)."""
        if not items:
            return []
        if self._task is None:
            raise RuntimeError("the monitoring pipeline is not running")
        future: asyncio.Future[list[ItemResult]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(source, items, future, maybe_duplicate=not fresh))
        return await future

    def publish_events(self, events: Sequence[Any]) -> None:
        for event in events:
            self.publisher.put(patient_channel(event.patient_id), event_message(event))

    # --- the writer ----------------------------------------------------------------

    async def _run(self) -> None:
        set_context(RequestContext(actor_username="monitoring-ingest", client_address="device"))
        while True:
            first = await self._queue.get()
            jobs = [first]
            count = len(first.items)
            while not self._queue.empty() and count < self.settings.monitoring_batch_max:
                job = self._queue.get_nowait()
                jobs.append(job)
                count += len(job.items)
            await self._write_jobs(jobs)

    async def _write_jobs(self, jobs: list[_Job], *, split: bool = True) -> None:
        live = [j for j in jobs if not j.future.done()]
        if not live:
            return
        try:
            try:
                await self._write(live, check=any(j.maybe_duplicate for j in live))
                return
            except IntegrityError:
                # A duplicate the batch did not look for (or one another process inserted
                # between the lookup and the insert): once more, with the lookup.
                await self._write(live, check=True)
        except IntegrityError:
            # Still racing: one job per transaction, so the others are not held up by it.
            if len(live) == 1 or not split:
                self._fail(live, "a duplicate raced this message; resend it")
                return
            for job in live:
                await self._write_jobs([job], split=False)
        except asyncio.CancelledError:
            self._fail(live, "the server is shutting down")
            raise
        except Exception as exc:
            log.exception("monitoring: a batch of %d message(s) could not be stored", len(live))
            for job in live:
                if not job.future.done():
                    job.future.set_exception(exc)

    @staticmethod
    def _fail(jobs: list[_Job], why: str) -> None:
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(ConnectionAbortedError(why))

    async def _write(self, jobs: list[_Job], *, check: bool = True) -> None:
        set_context(RequestContext(actor_username="monitoring-ingest", client_address="device"))
        async with self.database.sessionmaker() as session:
            jobs = await self._drop_revoked(session, jobs)
            if not jobs:
                return
            stored = await self._store(session, jobs, check=check)
            await session.commit()
        self.batches += 1
        self.after_commit(stored)
        for j, job in enumerate(jobs):
            if not job.future.done():
                job.future.set_result(stored.results[j])

    async def store_in(self, session: AsyncSession, source: Source, items: list[Item]) -> Stored:
        """Store in the caller's transaction (a request that holds its connection: the SQLite
        default has one). Call ``after_commit`` with the answer once that transaction committed."""
        loop = asyncio.get_running_loop()
        return await self._store(session, [_Job(source, items, loop.create_future())])

    def after_commit(self, stored: Stored) -> None:
        clock = time.monotonic()
        for key in stored.audited:
            self._audited[key] = clock
        self.publish_events(stored.events)
        for chunk in stored.waveforms:
            self.publisher.put(ecg_channel(chunk.patient_id), ecg_payload(chunk))

    async def _store(self, session: AsyncSession, jobs: list[_Job], *, check: bool = True) -> Stored:
        existing = await self._existing(session, jobs) if check else {}
        results: dict[int, list[ItemResult]] = {}
        readings: list[tuple[_Job, Reading, Any]] = []
        waveforms: list[tuple[_Job, EcgChunk]] = []
        pending: list[tuple[int, int, Any]] = []  # (job index, item index, row)
        seen: set[tuple[str, str]] = set(existing)
        now = utcnow()
        for j, job in enumerate(jobs):
            results[j] = []
            src = job.source
            for i, item in enumerate(job.items):
                key = (src.key, item.identifier)
                if key in seen:
                    results[j].append(
                        ItemResult(item.identifier, "duplicate", existing.get(key), _kind(item))
                    )
                    continue
                seen.add(key)
                if isinstance(item, Reading):
                    row: Any = _Row(
                        id=None,
                        patient_id=src.patient_id,
                        device_id=src.device_id,
                        source=src.key,
                        identifier=item.identifier,
                        metric=item.metric,
                        code=item.code,
                        value=item.value,
                        value2=item.value2,
                        unit=item.unit,
                        quality=item.quality,
                        effective_at=item.effective_at,
                        received_at=now,
                    )
                    readings.append((job, item, row))
                else:
                    row = EcgChunk(
                        patient_id=src.patient_id,
                        device_id=src.device_id,
                        source=src.key,
                        identifier=item.identifier,
                        code=item.code,
                        start_at=item.start_at,
                        period_ms=item.period_ms,
                        origin=item.origin,
                        factor=item.factor,
                        unit=item.unit,
                        sample_count=item.sample_count,
                        data=item.data,
                        received_at=now,
                    )
                    waveforms.append((job, row))
                pending.append((j, i, row))
                results[j].append(ItemResult(item.identifier, "stored", None, _kind(item)))
        # Core bulk inserts of plain rows (one executemany per table, ids made here): at a
        # thousand devices the ORM's per-object bookkeeping was the writer's largest cost.
        for model, rows in (
            (VitalReading, [r for _, _, r in readings]),
            (EcgChunk, [c for _, c in waveforms]),
        ):
            if rows:
                await _bulk_insert(session, model, rows)
        for j, i, row in pending:
            old = results[j][i]
            results[j][i] = ItemResult(old.identifier, old.status, row.id, old.kind)
        await self._rollups(session, [(r, row) for _, r, row in readings])
        events: list[Any] = []
        for _, _, row in readings:
            message = reading_payload(row)
            events.append(
                _Row(
                    id=None,
                    patient_id=row.patient_id,
                    kind="reading",
                    payload=json.dumps(message, separators=(",", ":"), allow_nan=False),
                    created_at=now,
                    message=message,
                )
            )
        if events:
            await _bulk_insert(session, MonitoringEvent, events)
        by_patient: dict[uuid.UUID, list[tuple[Reading, uuid.UUID | None]]] = defaultdict(list)
        for job, reading, _ in readings:
            by_patient[job.source.patient_id].append((reading, job.source.device_id))
        await self.engine.ensure(session, by_patient)
        for patient_id, items in by_patient.items():
            items.sort(key=lambda pair: pair[0].effective_at)
            events += await self.engine.evaluate(session, patient_id, items)
        audited = self._audit(session, jobs, results)
        await self._touch_devices(session, jobs)
        await session.flush()
        events.sort(key=lambda e: e.id)
        return Stored(
            results=[results[j] for j in range(len(jobs))],
            events=events,
            waveforms=[chunk for _, chunk in waveforms],
            audited=audited,
        )

    def revoked(self, device_id: uuid.UUID) -> None:
        """A device of this process was revoked: refuse its next message at once."""
        self._checked.pop(device_id, None)
        self._revoked.add(device_id)

    async def _drop_revoked(self, session: AsyncSession, jobs: list[_Job]) -> list[_Job]:
        """Refuse revoked devices. A device found valid is trusted for ``DEVICE_CHECK_SECONDS``
        (one lookup per device and period, not per batch); a revocation made in this process
        takes effect at once (``revoked``), one made by another process within that period."""
        clock = time.monotonic()
        device_ids = {
            j.source.device_id
            for j in jobs
            if j.source.device_id is not None
            and clock - self._checked.get(j.source.device_id, -DEVICE_CHECK_SECONDS) >= DEVICE_CHECK_SECONDS
        }
        if device_ids:
            valid = set(
                await session.scalars(
                    select(MonitoringDevice.id).where(
                        MonitoringDevice.id.in_(device_ids), MonitoringDevice.revoked_at.is_(None)
                    )
                )
            )
            for device_id in valid:
                self._checked[device_id] = clock
            for device_id in device_ids - valid:
                self._checked.pop(device_id, None)
        kept = []
        for job in jobs:
            sender = job.source.device_id
            if sender is not None and (sender not in self._checked or sender in self._revoked):
                if not job.future.done():
                    job.future.set_exception(
                        Unauthorized("This device token has been revoked", code="device_revoked")
                    )
            else:
                kept.append(job)
        return kept

    async def _existing(self, session: AsyncSession, jobs: list[_Job]) -> dict[tuple[str, str], int | None]:
        found: dict[tuple[str, str], int | None] = {}
        for model in (VitalReading, EcgChunk):
            wanted = {
                (job.source.key, item.identifier)
                for job in jobs
                for item in job.items
                if isinstance(item, Reading if model is VitalReading else Waveform)
            }
            if not wanted:
                continue
            keys = sorted(wanted)
            for start in range(0, len(keys), 500):
                rows = await session.execute(
                    select(model.source, model.identifier, model.id).where(
                        tuple_(model.source, model.identifier).in_(keys[start : start + 500])
                    )
                )
                for source, identifier, row_id in rows:
                    found[(source, identifier)] = row_id
        return found

    async def _rollups(self, session: AsyncSession, rows: list[tuple[Reading, Any]]) -> None:
        acc: dict[tuple[uuid.UUID, str, datetime], list[Decimal]] = defaultdict(list)
        for reading, row in rows:
            if reading.quality != "valid" or reading.value is None:
                continue
            minute = reading.effective_at.replace(second=0, microsecond=0)
            if reading.metric == "bp":
                acc[(row.patient_id, "sbp", minute)].append(reading.value)
                if reading.value2 is not None:
                    acc[(row.patient_id, "dbp", minute)].append(reading.value2)
            else:
                acc[(row.patient_id, reading.metric, minute)].append(reading.value)
        if not acc:
            return
        values: list[dict[str, Any]] = [
            {
                "patient_id": pid,
                "series": series,
                "minute": minute,
                "min_value": min(vals),
                "max_value": max(vals),
                "sum_value": sum(vals, Decimal(0)),
                "count": len(vals),
            }
            for (pid, series, minute), vals in acc.items()
        ]
        table: Any = VitalRollup.__table__
        stmt: Any
        if session.get_bind().dialect.name == "sqlite":
            lite = sqlite_insert(table)
            stmt = lite.on_conflict_do_update(
                index_elements=["patient_id", "series", "minute"],
                set_={
                    "min_value": _sql_min(table.c.min_value, lite.excluded.min_value, "min"),
                    "max_value": _sql_min(table.c.max_value, lite.excluded.max_value, "max"),
                    "sum_value": table.c.sum_value + lite.excluded.sum_value,
                    "count": table.c.count + lite.excluded.count,
                },
            )
        else:
            my = mysql_insert(table)
            stmt = my.on_duplicate_key_update(
                min_value=_sql_min(table.c.min_value, my.inserted.min_value, "least"),
                max_value=_sql_min(table.c.max_value, my.inserted.max_value, "greatest"),
                sum_value=table.c.sum_value + my.inserted.sum_value,
                count=table.c.count + my.inserted.count,
            )
        # Sorted: concurrent writers then lock the rollup rows in one order (no deadlock).
        values.sort(key=lambda r: (r["patient_id"].int, r["series"], r["minute"]))
        await session.execute(stmt, values)

    def _audit(
        self, session: AsyncSession, jobs: list[_Job], results: dict[int, list[ItemResult]]
    ) -> list[tuple[str, uuid.UUID]]:
        """One audit entry per sender and patient per transaction; a device's continuous
        stream at most once per ``AUDIT_WINDOW_SECONDS`` (its readings carry their source and
        arrival time, so the entry plus the rows say exactly who wrote what, and when).
        Returns the (source, patient) pairs audited, to mark once the transaction committed."""
        totals: dict[tuple[str, uuid.UUID], list[Any]] = {}
        for j, job in enumerate(jobs):
            src = job.source
            entry = totals.setdefault((src.key, src.patient_id), [src, 0, 0])
            entry[1] += sum(r.status == "stored" for r in results[j])
            entry[2] += sum(r.status == "duplicate" for r in results[j])
        clock = time.monotonic()
        audited = []
        for key, (src, stored, duplicates) in totals.items():
            last = self._audited.get(key)
            if src.device_id is not None and last is not None and clock - last < AUDIT_WINDOW_SECONDS:
                continue
            audit.record(
                session,
                action="monitoring.readings_write",
                resource_type="Observation",
                patient_id=src.patient_id,
                resource_id=src.device_id,
                details={
                    "source": src.key,
                    "stored": stored,
                    "duplicates": duplicates,
                    "window_seconds": AUDIT_WINDOW_SECONDS if src.device_id is not None else 0,
                },
                actor_id=src.actor_id,
                actor_username=src.actor_name[:150],
            )
            audited.append(key)
        return audited

    async def _touch_devices(self, session: AsyncSession, jobs: list[_Job]) -> None:
        clock = time.monotonic()
        due = {
            j.source.device_id
            for j in jobs
            if j.source.device_id is not None
            and clock - self._last_seen.get(j.source.device_id, -LAST_SEEN_EVERY_SECONDS)
            >= LAST_SEEN_EVERY_SECONDS
        }
        if not due:
            return
        for device_id in due:
            self._last_seen[device_id] = clock
        await session.execute(
            update(MonitoringDevice).where(MonitoringDevice.id.in_(due)).values(last_seen_at=utcnow())
        )


class _Row:
    """A row to INSERT as plain attributes (no ORM instrumentation to pay for)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


_COLUMNS: dict[type[Any], list[str]] = {}


async def _bulk_insert(session: AsyncSession, model: type[Any], rows: list[Any]) -> None:
    """INSERT the (transient) objects in one executemany, with ids made here (``ids``)."""
    columns = _COLUMNS.get(model)
    if columns is None:
        columns = _COLUMNS[model] = [c.key for c in model.__table__.columns]
    for row, row_id in zip(rows, ids.next_ids(len(rows)), strict=True):
        row.id = row_id
    await session.execute(insert(model), [{c: getattr(row, c) for c in columns} for row in rows])


def _kind(item: Item) -> Literal["reading", "ecg"]:
    return "reading" if isinstance(item, Reading) else "ecg"


def _sql_min(a: Any, b: Any, name: str) -> Any:
    from sqlalchemy import func

    return getattr(func, name)(a, b)


__all__ = ["ItemResult", "Pipeline", "Source", "Stored", "ecg_channel", "patient_channel"]
