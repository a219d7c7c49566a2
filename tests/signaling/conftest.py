"""Real servers on loopback for the signaling and media suites.

``stack``: the API (uvicorn, real HTTP) on a migrated database whose commits every process sees,
plus the signaling instances the participants connect to. On the memory broker that is the
signaling mounted in the API itself (the embedded default, one instance); with Redis
(HOSPITAL_TEST_REDIS_URL) two standalone signaling apps (`signaling.main.create_app`) on the
same Redis and database, and the tests put the patient on the first and the clinician on the
second.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis

from app.config import Settings
from app.db import Database
from app.main import create_app as create_api
from signaling.main import SignalingOptions
from signaling.main import create_app as create_signaling
from tests.conftest import TEST_SECRET, drop_database, make_settings, new_migrated_database

REDIS_URL = os.environ.get("HOSPITAL_TEST_REDIS_URL")
TIMEOUT = 20.0  # two noisy cores: generous on purpose


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on a free loopback port in this event loop; yield host:port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", ws_max_size=1_048_576))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("the app failed to start (is the broker reachable?)")
            assert asyncio.get_running_loop().time() < deadline, "the app did not start in time"
            await asyncio.sleep(0.01)
        yield f"{host}:{port}"
    finally:
        server.should_exit = True
        done, _ = await asyncio.wait({task}, timeout=TIMEOUT)
        sock.close()
        if not done:
            stacks = io.StringIO()
            for other in asyncio.all_tasks():
                if other is not asyncio.current_task():
                    other.print_stack(limit=8, file=stacks)
            task.cancel()
            raise AssertionError(f"the app did not shut down in time; tasks:\n{stacks.getvalue()}")
        task.result()


@dataclass
class Stack:
    api: str  # host:port of the API
    signaling: list[str]  # host:port of each signaling instance (one on memory, two on Redis)
    settings: Settings
    db: Database
    client: httpx.AsyncClient
    prefix: str
    apps: list[Any] = field(default_factory=list)

    def ws(self, index: int = 0) -> str:
        return f"ws://{self.signaling[index % len(self.signaling)]}/ws/signaling"

    @property
    def last(self) -> int:
        return len(self.signaling) - 1


@pytest.fixture(scope="module")
async def live_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    url = await new_migrated_database(tmp_path_factory.mktemp("live"))
    yield url
    await drop_database(url)


@contextlib.asynccontextmanager
async def build_stack(
    database_url: str,
    redis_url: str | None,
    *,
    options: SignalingOptions | None = None,
    tmp: Path | None = None,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    prefix = f"hh-test:{uuid.uuid4().hex[:12]}:"
    settings = make_settings(database_url, redis_url=redis_url, secret_key=TEST_SECRET, **overrides)
    db = Database.from_settings(settings)
    from app.broker import create_broker

    broker = create_broker(redis_url, prefix=prefix)
    await broker.start()
    api = create_api(settings, database=db, broker=broker)
    try:
        async with contextlib.AsyncExitStack() as stack:
            api_host = await stack.enter_async_context(serve(api))
            if redis_url is None:
                hosts = [api_host]
                apps = [api]
            else:
                apps = [create_signaling(settings, broker_prefix=prefix, options=options) for _ in range(2)]
                hosts = [await stack.enter_async_context(serve(a)) for a in apps]
            client = await stack.enter_async_context(
                httpx.AsyncClient(base_url=f"http://{api_host}", timeout=TIMEOUT)
            )
            yield Stack(api_host, hosts, settings, db, client, prefix, apps)
    finally:
        await broker.close()
        await db.dispose()
        if redis_url:
            r = Redis.from_url(redis_url)
            keys = [key async for key in r.scan_iter(match=f"{prefix}*")]
            if keys:
                await r.delete(*keys)
            await r.aclose()


@pytest.fixture(params=["memory", "redis"] if REDIS_URL else ["memory"])
async def stack(request: pytest.FixtureRequest, live_database: str) -> AsyncIterator[Stack]:
    async with build_stack(live_database, REDIS_URL if request.param == "redis" else None) as s:
        yield s
