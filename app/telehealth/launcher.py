"""Starting the media recorder without putting aiortc on the API's event loop.

Each recording is a separate process, ``python -m media.recorder``: it joins the room through
signaling like any participant, writes the file and reports its progress through
``app.telehealth.service``. Who starts it:

- ``subprocess`` (embedded default): the API process itself, as its child;
- ``broker``: the media service (``python -m media.worker``), which listens on the broker
  channel :data:`MEDIA_COMMANDS` and starts the same process on its own host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Final

from app.broker import Broker
from app.config import Settings
from app.telehealth.service import RecordingOrder

log = logging.getLogger("app.telehealth.launcher")

MEDIA_COMMANDS: Final = "media:commands"


def recorder_argv(order: dict[str, Any]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "media.recorder",
        "--signaling",
        str(order["signaling_url"]),
        "--recording-id",
        str(order["recording_id"]),
        "--output",
        str(order["output"]),
    ]


def recorder_env(settings: Settings, token: str) -> dict[str, str]:
    # The token travels in the environment, not on the command line (which `ps` shows everyone).
    env = dict(os.environ)
    env.update(
        {
            "HOSPITAL_DATABASE_URL": settings.database_url,
            "HOSPITAL_SECRET_KEY": settings.secret_key,
            "HOSPITAL_ENV": settings.env,
            "HOSPITAL_MEDIA_JOIN_TOKEN": token,
        }
    )
    return env


class Launcher:
    """Starts recorders; the API keeps one (``app.state.media_launcher``) and stops it on shutdown."""

    def __init__(self, settings: Settings, broker: Broker) -> None:
        self.settings = settings
        self.broker = broker
        self._children: set[asyncio.subprocess.Process] = set()
        self._waiters: set[asyncio.Task[None]] = set()

    async def launch(self, order: RecordingOrder, signaling_url: str) -> None:
        spec = {
            "recording_id": str(order.recording_id),
            "consultation_id": str(order.consultation_id),
            "output": order.output,
            "signaling_url": signaling_url,
        }
        if self.settings.media_launcher == "broker":
            await self.broker.publish(MEDIA_COMMANDS, {"type": "record", **spec, "token": order.token})
            return
        await self.spawn(spec, order.token)

    async def spawn(self, spec: dict[str, Any], token: str) -> asyncio.subprocess.Process:
        Path(spec["output"]).parent.mkdir(parents=True, exist_ok=True)
        child = await asyncio.create_subprocess_exec(
            *recorder_argv(spec), env=recorder_env(self.settings, token), stdin=asyncio.subprocess.DEVNULL
        )
        self._children.add(child)
        waiter = asyncio.create_task(self._reap(child, spec["recording_id"]))
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.discard)
        return child

    async def _reap(self, child: asyncio.subprocess.Process, recording_id: str) -> None:
        code = await child.wait()
        self._children.discard(child)
        if code:
            log.warning("recorder for %s exited with %s", recording_id, code)

    @property
    def running(self) -> int:
        return len(self._children)

    async def close(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM every recorder (each closes its file and reports), then wait a bounded time."""
        for child in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
        if self._waiters:
            _, pending = await asyncio.wait(set(self._waiters), timeout=grace_seconds)
            for child in list(self._children):
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
            if pending:
                await asyncio.wait(pending, timeout=2)
