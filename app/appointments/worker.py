"""The API process's sweep of waitlist offers past their hold: each goes to the next person
waiting (or the slot becomes free). Requests touching a clinician's time do the same lazily; this
sweep makes sure an offer nobody looks at still moves on within a minute."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.appointments import service
from app.broker import cancel_and_wait, honour_cancellation
from app.config import Settings
from app.context import RequestContext, set_context
from app.db import Database

log = logging.getLogger("app.appointments")

SWEEP_SECONDS = 60.0


class OfferSweeper:
    def __init__(self, database: Database, settings: Settings, *, interval: float = SWEEP_SECONDS) -> None:
        self.database = database
        self.settings = settings
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the offer sweeper is already running")
        self._task = asyncio.create_task(self._run(), name="appointments-offer-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None

    async def sweep(self) -> int:
        async with self.database.sessionmaker() as session:
            count = await service.expire_offers(session, self.settings)
            await session.commit()
            return count

    async def _run(self) -> None:
        set_context(RequestContext(actor_username="system-appointments", client_address="worker"))
        while True:
            try:
                expired = await honour_cancellation(self.sweep())
                if expired:
                    log.info("appointments: %d waitlist offer(s) expired and handed on", expired)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("appointments: offer sweep failed")  # the database may be down a moment
            with contextlib.suppress(TimeoutError):
                await honour_cancellation(asyncio.sleep(self.interval))
