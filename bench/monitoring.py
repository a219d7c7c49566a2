"""`python -m bench monitoring`: N devices at 1 Hz into one API process, dashboards subscribed.

Reports readings lost (acknowledged by the server but never seen by a dashboard subscribed to
that patient; goal 0), p50/p99 device-to-dashboard latency (the device stamps each reading with
its send time), and, as the floor, the same-run raw Redis publish->receive round trip at the same
message rate; the ratio p99/p99-floor is the number (goal <= 3).

One process serves the API (uvicorn, SQLite, a private redis-server on a free loopback port);
this process runs the devices (WebSocket clients) and the dashboards. Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import finish, print_machine

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _wait_port(port: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


async def redis_floor(url: str, rate: int, seconds: float) -> list[float]:
    """Raw redis-py publish -> pub/sub receive latency, at ``rate`` messages/s."""
    from redis.asyncio import Redis

    pub, sub_client = Redis.from_url(url), Redis.from_url(url)
    pubsub = sub_client.pubsub()
    await pubsub.subscribe("floor")
    await pubsub.get_message(timeout=1)
    latencies: list[float] = []
    done = asyncio.Event()

    async def receive() -> None:
        while not done.is_set() or len(latencies) < sent:
            m = await pubsub.get_message(timeout=0.5)
            if m and m["type"] == "message":
                latencies.append(time.perf_counter() - float(m["data"]))

    sent = 0
    receiver = asyncio.create_task(receive())
    start = time.perf_counter()
    total = int(rate * seconds)
    while sent < total:
        due = start + sent / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await pub.publish("floor", repr(time.perf_counter()))
        sent += 1
    done.set()
    await asyncio.wait_for(receiver, 30)
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await pub.aclose()
    await sub_client.aclose()
    return latencies


async def setup(db_url: str, devices: int, wards: int) -> list[tuple[str, str, str]]:
    """Patients, wards and devices straight through the services; (patient, ward, token)."""
    from app.db import Database
    from app.monitoring import schemas as ms
    from app.monitoring import service as mon
    from app.monitoring.models import MonitoringProfile
    from app.patients import schemas as ps_schemas
    from app.patients import service as ps
    from bench.common import bench_settings, doctor_principal

    settings = bench_settings(Path(db_url.split(":///", 1)[1]))
    db = Database.from_settings(settings)
    out = []
    principal = doctor_principal()
    try:
        async with db.sessionmaker() as session:
            for i in range(devices):
                patient = await ps.register_patient(
                    session,
                    principal,
                    ps_schemas.PatientCreate.model_validate(
                        {"names": [{"family": f"Bench{i}", "given": ["Load"]}], "gender": "unknown"}
                    ),
                )
                ward = f"W{i % wards}"
                session.add(
                    MonitoringProfile(patient_id=patient.id, ward=ward, hypercapnic=False, on_oxygen=False)
                )
                dev = await mon.register_device_unattended(
                    session, patient.id, ms.DeviceCreate(label=f"bench-{i}"), "bench"
                )
                out.append((str(patient.id), ward, dev.token))
            await session.commit()
    finally:
        await db.dispose()
    return out


async def run(args: argparse.Namespace) -> int:
    from websockets.asyncio.client import connect

    work = Path(tempfile.mkdtemp(prefix="hh-bench-mon-"))
    redis_port, api_port = _port(), _port()
    redis = shutil.which("redis-server")
    if redis is None:
        print("redis-server is not installed", file=sys.stderr)
        return 1
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(  # noqa: ASYNC220 - a server for the run, not awaited
                [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            )
        )
        await _wait_port(redis_port)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        db_path = work / "bench.db"
        db_url = f"sqlite+aiosqlite:///{db_path}"
        from app.migrate import upgrade

        await asyncio.to_thread(upgrade, db_url)
        fleet = await setup(db_url, args.devices, args.dashboards)
        env = {
            **os.environ,
            "HOSPITAL_ENV": "production",
            "HOSPITAL_SECRET_KEY": uuid.uuid4().hex * 2,
            "HOSPITAL_DATABASE_URL": db_url,
            "HOSPITAL_REDIS_URL": redis_url,
            "HOSPITAL_NOTIFICATIONS_WORKER": "false",
            "HOSPITAL_MONITORING_WORKER": "false",
        }
        procs.append(
            subprocess.Popen(  # noqa: ASYNC220 - a server for the run, not awaited
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "app.main:create_app",
                    "--factory",
                    "--port",
                    str(api_port),
                    "--no-access-log",
                    "--log-level=warning",
                    "--ws-max-size",
                    "4194304",
                ],
                cwd=work,
                env=env,
            )
        )
        await _wait_port(api_port)
        # A staff token for the dashboards (the bench's doctor is created through the CLI's service).
        token = await _staff_token(db_url, env, api_port)

        latencies: list[float] = []
        warmup_latencies: list[float] = []  # the first seconds: connections, first audit, caches
        measure_from = time.time() + 2 + args.warmup
        seen: dict[str, set[str]] = {}
        acked: dict[str, set[str]] = {}
        by_ward: dict[str, list[str]] = {}
        for pid, ward, _ in fleet:
            by_ward.setdefault(ward, []).append(pid)

        stop = asyncio.Event()

        async def dashboard(ward: str) -> None:
            async with connect(
                f"ws://127.0.0.1:{api_port}/ws/monitoring?token={token}", max_size=2**24
            ) as ws:
                await ws.recv()
                await ws.send(json.dumps({"type": "subscribe", "ward": ward}))
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "reading":
                        r = frame["reading"]
                        at = datetime.fromisoformat(r["effective_at"]).timestamp()
                        (latencies if at >= measure_from else warmup_latencies).append(time.time() - at)
                        seen.setdefault(frame["patient_id"], set()).add(r["effective_at"])
                    elif frame["type"] == "overflow":
                        print(f"dashboard {ward} overflowed", file=sys.stderr)

        dashboards = [asyncio.create_task(dashboard(w)) for w in by_ward]
        await asyncio.sleep(2)

        async def device(pid: str, dev_token: str, offset: float) -> None:
            async with connect(f"ws://127.0.0.1:{api_port}/ws/devices?token={dev_token}") as ws:
                await ws.recv()
                pending: dict[int, str] = {}
                seq = 0

                async def acks() -> None:
                    while True:
                        frame = json.loads(await ws.recv())
                        stamp = pending.pop(frame.get("seq", -1), None)
                        if frame.get("type") == "ack" and stamp is not None and frame.get("stored"):
                            acked.setdefault(pid, set()).add(stamp)

                reader = asyncio.create_task(acks())
                await asyncio.sleep(offset)
                start = time.monotonic()
                k = 0
                while not stop.is_set() and k < args.seconds:
                    delay = start + k - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    now = datetime.now(UTC).isoformat()
                    seq += 1
                    pending[seq] = now
                    await ws.send(
                        json.dumps(
                            {
                                "resourceType": "Observation",
                                "status": "final",
                                "identifier": [{"value": f"{pid}/{k}"}],
                                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                                "effectiveDateTime": now,
                                "valueQuantity": {
                                    "value": 60 + k % 30,
                                    "unit": "/min",
                                    "system": "http://unitsofmeasure.org",
                                    "code": "/min",
                                },
                            }
                        )
                    )
                    k += 1
                await asyncio.sleep(5)  # the last acks
                reader.cancel()

        t0 = time.monotonic()
        await asyncio.gather(*(device(pid, tok, i / len(fleet)) for i, (pid, _, tok) in enumerate(fleet)))
        elapsed = time.monotonic() - t0
        # Let the dashboards drain what is still on its way (bounded): lag is measured as
        # latency, only what never arrives counts as lost.
        quiet, previous = 0, -1
        for _ in range(120):
            await asyncio.sleep(0.5)
            now_seen = sum(len(v) for v in seen.values())
            quiet = quiet + 1 if now_seen == previous else 0
            previous = now_seen
            if quiet >= 4:
                break
        for task in dashboards:
            task.cancel()
        total_acked = sum(len(v) for v in acked.values())
        lost = sum(len(v - seen.get(pid, set())) for pid, v in acked.items())
        sent = args.devices * args.seconds
        floor = await redis_floor(redis_url, args.devices, min(args.seconds, 10))
        p50, p99 = _pct(latencies, 0.5), _pct(latencies, 0.99)
        f50, f99 = _pct(floor, 0.5), _pct(floor, 0.99)
        ratio = p99 / f99 if f99 else float("nan")
        print(
            f"devices {args.devices} x {args.seconds} s at 1 Hz, {len(by_ward)} dashboards, {elapsed:.1f} s"
        )
        print(f"sent {sent}, acknowledged {total_acked}, lost {lost} (acknowledged, never on a dashboard)")
        w99 = _pct(warmup_latencies, 0.99)
        print(
            f"device->dashboard  p50 {p50 * 1000:8.2f} ms   p99 {p99 * 1000:8.2f} ms"
            f"   (first {args.warmup} s, not counted: p99 {w99 * 1000:.0f} ms)"
        )
        print(f"raw Redis floor    p50 {f50 * 1000:8.2f} ms   p99 {f99 * 1000:8.2f} ms")
        p50_ratio = p50 / f50 if f50 else float("nan")
        print(f"ratio p99/floor p99: {ratio:.1f}x (goal <= 3x); p50 ratio {p50_ratio:.1f}x")
        summary = {
            "valid": total_acked > 0,
            "ratio": round(ratio, 2),
            "goal": 3.0,
            "lost": lost,
            "acknowledged": total_acked,
            "sent": sent,
            "p50_ms": round(p50 * 1000, 3),
            "p99_ms": round(p99 * 1000, 3),
            "floor_p50_ms": round(f50 * 1000, 3),
            "floor_p99_ms": round(f99 * 1000, 3),
            "warmup_p99_ms": round(w99 * 1000, 3),
        }
        return finish(
            "monitoring", summary, {"devices": args.devices, "seconds": args.seconds}, save=not args.no_save
        )
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


async def _staff_token(db_url: str, env: dict[str, str], port: int) -> str:
    import httpx

    username, password = "bench-nurse", uuid.uuid4().hex
    done = subprocess.run(  # noqa: ASYNC221 - setup, before anything is timed
        [
            sys.executable,
            "-m",
            "app.cli",
            "create-user",
            "--username",
            username,
            "--role",
            "nurse",
            "--full-name",
            "Bench Nurse",
        ],
        input=f"{password}\n{password}\n",
        text=True,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        r = await http.post("/api/auth/token", data={"username": username, "password": password})
        r.raise_for_status()
        return str(r.json()["access_token"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench monitoring")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--dashboards", type=int, default=10)
    parser.add_argument(
        "--warmup", type=int, default=5, help="seconds not counted in the latency percentiles"
    )
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    print_machine("monitoring: devices -> dashboards against raw Redis pub/sub")
    return asyncio.run(run(args))


def _unused() -> Any:
    return statistics
