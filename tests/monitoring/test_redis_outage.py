"""Redis stops mid-stream: ingestion keeps storing (the broker is best effort), dashboards are
told and served from the database, and live fan-out resumes when Redis returns. A private
redis-server on a free port, never the machine's shared one."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import uuid

import pytest
from sqlalchemy import func, select

from app.broker import RedisBroker
from app.monitoring.models import VitalReading
from tests.monitoring.helpers import ago, recv_until, serve, vital

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start_redis(port: int) -> subprocess.Popen[bytes]:
    assert REDIS_SERVER is not None
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting a server, not waiting on it
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return proc
        except OSError:
            await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("the private redis-server did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_server_binary() -> str:
    if REDIS_SERVER is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    return REDIS_SERVER


async def test_ingestion_survives_a_redis_outage_and_live_fan_out_resumes(
    monitoring_database_url: str, redis_server_binary: str
):
    port = _free_port()
    proc = await _start_redis(port)
    broker = RedisBroker(f"redis://127.0.0.1:{port}/0", prefix=f"hh-outage-{uuid.uuid4().hex[:6]}:")
    await broker.start()
    try:
        async with serve(monitoring_database_url, broker) as live:
            nurse, access = await live.staff("nurse")
            pid = await live.patient(nurse)
            token = (await live.device(nurse, pid))["token"]
            async with live.ws("/ws/devices", token) as dev, live.ws("/ws/monitoring", access) as dash:
                await dev.recv()
                await dash.recv()
                await dash.send(json.dumps({"type": "subscribe", "patients": [pid]}))
                await recv_until(dash, lambda f: f["type"] == "replayed")
                seq = 0

                async def send(value: int, ident: str) -> None:
                    nonlocal seq
                    seq += 1
                    await dev.send(json.dumps(vital("8867-4", value, "/min", ago(seconds=1), ident)))
                    acked = await recv_until(dev, lambda f: f.get("seq") == seq)
                    assert acked[-1]["type"] == "ack" and acked[-1]["stored"] == 1, acked

                await send(70, "before")
                frames = await recv_until(dash, lambda f: f["type"] == "reading")
                assert frames[-1]["reading"]["value"] == 70

                _stop(proc)  # Redis goes away mid-stream
                for i in range(5):
                    await send(71 + i, f"during-{i}")  # still acknowledged: stored
                frames = await recv_until(
                    dash, lambda f: f["type"] == "reading" and f["reading"]["value"] == 75
                )
                assert any(f["type"] == "degraded" for f in frames)
                got = [f["reading"]["value"] for f in frames if f["type"] == "reading"]
                assert got == [71, 72, 73, 74, 75]  # from the database meanwhile, nothing missed

                proc = await _start_redis(port)  # Redis is back
                await recv_until(dash, lambda f: f["type"] == "live", within=30)
                await asyncio.sleep(1.5)  # the publisher's pause after the failure
                await send(90, "after")
                frames = await recv_until(dash, lambda f: f["type"] == "reading")
                assert frames[-1]["reading"]["value"] == 90
            assert live.pipeline.publisher.published >= 2  # before and after went through Redis
            async with live.db.sessionmaker() as s:
                stored = await s.scalar(
                    select(func.count())
                    .select_from(VitalReading)
                    .where(VitalReading.patient_id == uuid.UUID(pid))
                )
            assert stored == 7
    finally:
        await broker.close()
        if proc.poll() is None:
            _stop(proc)
