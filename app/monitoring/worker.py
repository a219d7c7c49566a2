"""Background work of the API process: alarm escalation (every few seconds) and retention
(hourly). ``hospital monitoring prune`` runs the retention sweep from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from app.broker import cancel_and_wait, honour_cancellation
from app.config import Settings
from app.context import RequestContext, set_context
from app.db import Database
from app.monitoring import service
from app.monitoring.pipeline import Pipeline

log = logging.getLogger("app.monitoring")

ESCALATION_SECONDS = 15.0
PRUNE_SECONDS = 3600.0


class MonitoringWorker:
    def __init__(self, database: Database, settings: Settings, pipeline: Pipeline) -> None:
        self.database = database
        self.settings = settings
        self.pipeline = pipeline
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="monitoring-worker")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None

    async def escalate(self) -> int:
        async with self.database.sessionmaker() as session:
            events = await service.escalate_due(session, self.settings)
            await session.commit()
        self.pipeline.publish_events(events)
        for event in events:
            self.pipeline.engine.invalidate(event.patient_id)
        return len(events)

    async def prune(self) -> dict[str, int]:
        async with self.database.sessionmaker() as session:
            done = await service.prune(session, self.settings)
            await session.commit()
            return done

    async def _run(self) -> None:
        set_context(RequestContext(actor_username="system-monitoring", client_address="worker"))
        last_prune = 0.0
        while True:
            try:
                escalated = await honour_cancellation(self.escalate())
                if escalated:
                    log.info("monitoring: %d alarm(s) escalated", escalated)
                if time.monotonic() - last_prune >= PRUNE_SECONDS:
                    last_prune = time.monotonic()
                    log.info("monitoring: retention sweep %s", await honour_cancellation(self.prune()))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("monitoring: background sweep failed")
            with contextlib.suppress(TimeoutError):
                await honour_cancellation(asyncio.sleep(ESCALATION_SECONDS))
