"""The background dispatcher of the API process: polls, and wakes early after an enqueue."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.broker import cancel_and_wait, honour_cancellation
from app.config import Settings
from app.context import RequestContext, set_context
from app.db import Database
from app.notifications import service
from app.notifications.adapters import Adapter
from app.notifications.dispatcher import dispatch_due

log = logging.getLogger("app.notifications")

ROUND = 100  # messages per dispatch round; a full round means more may be due: go again at once


class NotificationWorker:
    def __init__(self, database: Database, settings: Settings, *, adapter: Adapter | None = None) -> None:
        self.database = database
        self.settings = settings
        self.adapter = adapter
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._waker: object | None = None
        self.rounds = 0

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the notification worker is already running")
        loop = asyncio.get_running_loop()

        def wake() -> None:
            # Called from the after-commit hook, possibly of a session on another loop or thread.
            with contextlib.suppress(RuntimeError):  # our loop has closed
                loop.call_soon_threadsafe(self._wake.set)

        self._waker = service.register_waker(wake)
        self._task = asyncio.create_task(self._run(), name="notifications-worker")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Let the message being sent finish and be recorded (hand the rest back), then end.
        A delivery still hanging after the grace period is cancelled: its lease covers it."""
        self._waker = None
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=self.settings.smtp_timeout_seconds + 5)
            await cancel_and_wait([self._task])
            self._task = None

    async def _run(self) -> None:
        # The worker's own context: audit entries name it as their actor.
        set_context(RequestContext(actor_username="system-notifications", client_address="worker"))
        poll = self.settings.notifications_poll_seconds
        while not self._stopping:
            self._wake.clear()
            busy = False
            try:
                result = await honour_cancellation(
                    dispatch_due(
                        self.database,
                        self.settings,
                        limit=ROUND,
                        adapter=self.adapter,
                        should_stop=lambda: self._stopping,
                    )
                )
                self.rounds += 1
                busy = result.attempted >= ROUND
                if result.attempted or result.released:
                    log.info(
                        "notifications: %d sent, %d to retry, %d failed, %d released",
                        result.sent,
                        result.retrying,
                        result.failed,
                        result.released,
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be down for a moment: keep polling, never die.
                log.exception("notifications: dispatch round failed")
            if busy:
                continue
            with contextlib.suppress(TimeoutError):
                await honour_cancellation(asyncio.wait_for(self._wake.wait(), timeout=poll))
