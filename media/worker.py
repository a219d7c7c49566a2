"""The media service (``python -m media.worker``): runs recorders on behalf of the API.

With ``HOSPITAL_MEDIA_LAUNCHER=broker`` the API publishes a ``record`` command on the broker
channel ``media:commands`` instead of starting the recorder itself; this service (one or more
replicas on Redis) starts ``python -m media.recorder`` for it, so aiortc's encoding runs on the
media hosts, never in the API's processes. ``GET /media/health`` answers while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.broker import Broker, BrokerError, create_broker
from app.config import Settings, get_settings
from app.telehealth.launcher import MEDIA_COMMANDS, Launcher

log = logging.getLogger("media.worker")


async def consume(broker: Broker, launcher: Launcher) -> None:
    """Start a recorder for every ``record`` command; survive broker blips."""
    while True:
        try:
            async with broker.subscribe(MEDIA_COMMANDS) as commands:
                async for message in commands:
                    data = message.data
                    if data.get("type") == "record" and data.get("token"):
                        await launcher.spawn(
                            {k: data[k] for k in ("recording_id", "output", "signaling_url")},
                            str(data["token"]),
                        )
            return  # the broker closed: shutting down
        except BrokerError as exc:
            log.warning("media worker lost the broker: %r; retrying", exc)
            await asyncio.sleep(1)


def create_app(settings: Settings | None = None) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        resolved = settings or get_settings()
        broker = create_broker(resolved.redis_url)
        await broker.start()
        launcher = Launcher(resolved, broker)
        app.state.launcher = launcher
        task = asyncio.create_task(consume(broker, launcher))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await launcher.close()
            await broker.close()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "recorders": request.app.state.launcher.running})

    return Starlette(routes=[Route("/media/health", health)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m media.worker", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
