"""Video consultations: time to the first decoded frame through our signaling, against two
aiortc peers wired directly in one process; and how many 1:1 rooms one signaling process holds
with heartbeats under 10% of a core.

    python -m bench telehealth [--rounds 7] [--steps 25,50,100,200,400] [--window 15]

1. **join to first frame**: the clinician is in the room; the clock starts when the patient
   opens its signaling socket (join token in hand) and stops when the clinician's side decodes
   the patient's first video frame: welcome, peers, offer and answer through the signaling
   server (served on loopback in this process, memory broker, SQLite), ICE, DTLS, the first
   keyframe. The floor: the same two aiortc peers and sources, offer and answer handed over in
   memory. Rounds alternate. **Ratio = median(signaling) / median(direct)**: what our signaling
   adds to a call's start (1.0 would be nothing).
2. **rooms under 10% CPU**: a standalone signaling process (``uvicorn signaling.main:app``, one
   worker, memory broker, SQLite) with N rooms of two connected participants each, every client
   pinging every 10 s as the web client does (the server refreshes presence every 10 s). After
   a settle period, the server's CPU time (/proc) over ``--window`` seconds, for growing N; the
   result is the largest N measured under 10% of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection
from av import VideoFrame
from sqlalchemy import insert

from app.appointments.models import Appointment
from app.telehealth.models import Consultation, Participant
from app.telehealth.tokens import issue_join_token
from bench.booking import build
from bench.common import (
    BenchError,
    bench_settings,
    finish,
    fresh_copy,
    median,
    migrated_template,
    print_machine,
    run_bounded,
    spread_pct,
)
from bench.run import ROOT
from media.client import SignalingClient
from media.peer import CallPeer
from media.sources import TestPatternTrack, ToneTrack

CPU_LIMIT_PCT = 10.0


async def rooms(db: Any, settings: Any, count: int) -> list[dict[str, Any]]:
    """``count`` consultations (in progress, both participants admitted) by Core inserts: a
    fixture, like the search bench's population, not the booking path."""
    clinic = await build(db, settings, 1)
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = []
    appointments, consultations, people = [], [], []
    for _ in range(count):
        aid, cid, room = uuid.uuid4(), uuid.uuid4(), secrets.token_urlsafe(24)
        base = {"created_at": now, "updated_at": now}
        appointments.append(
            {
                "id": aid,
                "type_id": clinic.type_id,
                "staff_id": clinic.staff_id,
                "patient_id": clinic.patient_ids[0],
                "start_at": now,
                "end_at": now + timedelta(hours=2),
                "status": "booked",
                "mode": "video",
                "room_id": room,
                "booked_online": False,
                "sequence": 0,
                **base,
            }
        )
        consultations.append(
            {
                "id": cid,
                "appointment_id": aid,
                "patient_id": clinic.patient_ids[0],
                "staff_id": clinic.staff_id,
                "room_id": room,
                "start_at": now,
                "end_at": now + timedelta(hours=2),
                "status": "in_progress",
                **base,
            }
        )
        entry: dict[str, Any] = {"room": room, "consultation": cid}
        for role in ("clinician", "patient"):
            pid, peer = uuid.uuid4(), secrets.token_urlsafe(12)
            people.append(
                {
                    "id": pid,
                    "consultation_id": cid,
                    "identity": f"bench:{pid}",
                    "role": role,
                    "display_name": role.title(),
                    "peer_id": peer,
                    "connections": 0,
                    "admitted_at": now,
                    **base,
                }
            )
            token, _ = issue_join_token(
                settings,
                consultation_id=cid,
                room=room,
                participant_id=pid,
                peer_id=peer,
                role=role,
                display_name=role.title(),
                user_id=None,
                session_id=None,
                now=now,
                lifetime=timedelta(hours=2),
            )
            entry[role] = token
        out.append(entry)
    async with db.sessionmaker() as session:
        for table, rows in (
            (Appointment, appointments),
            (Consultation, consultations),
            (Participant, people),
        ):
            for start in range(0, len(rows), 500):
                await session.execute(insert(table), rows[start : start + 500])
        await session.commit()
    return out


# --- 1. join to first decoded frame ----------------------------------------------------------


_READERS: set[asyncio.Future[None]] = set()


def _watch(track: MediaStreamTrack, done: asyncio.Future[float]) -> None:
    reader = asyncio.ensure_future(_first_video(track, done))
    _READERS.add(reader)
    reader.add_done_callback(_READERS.discard)


async def _first_video(track: MediaStreamTrack, done: asyncio.Future[float]) -> None:
    while not done.done():
        frame = await track.recv()
        if isinstance(frame, VideoFrame) and not done.done():
            done.set_result(time.perf_counter())


async def through_signaling(url: str, room: dict[str, Any], bound: float) -> float:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()

    def on_track(_: str, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            _watch(track, done)

    async with SignalingClient(url, room["clinician"]) as doctor_link:
        doctor = CallPeer(
            doctor_link, local_tracks=lambda: [TestPatternTrack(), ToneTrack()], on_track=on_track
        )
        doctor_run = asyncio.create_task(doctor.run())
        await asyncio.sleep(0.2)  # the clinician is in the room before the patient comes
        start = time.perf_counter()
        patient_link = SignalingClient(url, room["patient"])
        await patient_link.connect()
        patient = CallPeer(patient_link, local_tracks=lambda: [TestPatternTrack(), ToneTrack()])
        patient_run = asyncio.create_task(patient.run())
        try:
            end = await asyncio.wait_for(done, bound)
        finally:
            for task in (doctor_run, patient_run):
                task.cancel()
            await asyncio.gather(doctor_run, patient_run, return_exceptions=True)
            await patient.close()
            await doctor.close()
    return end - start


async def direct(bound: float) -> float:
    """The floor: the same peers and sources, the SDP handed over in memory."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    caller, callee = RTCPeerConnection(), RTCPeerConnection()

    @callee.on("track")
    def _track(track: MediaStreamTrack) -> None:
        if track.kind == "video":
            _watch(track, done)

    try:
        start = time.perf_counter()
        for track in (TestPatternTrack(), ToneTrack()):
            caller.addTrack(track)
        caller.createDataChannel("data")
        await caller.setLocalDescription(await caller.createOffer())
        await callee.setRemoteDescription(caller.localDescription)
        for track in (TestPatternTrack(), ToneTrack()):
            callee.addTrack(track)
        await callee.setLocalDescription(await callee.createAnswer())
        await caller.setRemoteDescription(callee.localDescription)
        end = await asyncio.wait_for(done, bound)
    finally:
        await caller.close()
        await callee.close()
    return end - start


# --- 2. rooms one process holds --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def capacity_step(
    url: str, pid: int, pool: list[dict[str, Any]], n: int, window: float
) -> dict[str, Any]:
    clients: list[SignalingClient] = []
    try:
        for room in pool[:n]:
            for role in ("clinician", "patient"):
                client = SignalingClient(url, room[role], ping_seconds=10.0)
                await client.connect()
                clients.append(client)
        await asyncio.sleep(3)  # joins settled, the first heartbeats done
        cpu0, wall0 = _cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(window)
        cpu = (_cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) * 100
        alive = sum(1 for c in clients if c.close_code is None)
        return {"rooms": n, "connections": len(clients), "alive": alive, "cpu_pct": round(cpu, 2)}
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await asyncio.sleep(1)


async def main_async(args: argparse.Namespace) -> int:
    info = print_machine("bench telehealth: join to first frame vs direct aiortc; rooms under 10% CPU")
    steps = sorted({int(s) for s in args.steps.split(",")})
    with tempfile.TemporaryDirectory(prefix="hh-bench-tele-") as tmp:
        workdir = Path(tmp)
        template = await migrated_template(workdir)
        path = fresh_copy(template, workdir / "tele.db")
        settings = bench_settings(path)
        from app.db import Database

        db = Database.from_settings(settings)
        pool = await rooms(db, settings, max(max(steps), args.rounds + 1))
        await db.dispose()

        # 1. join to first frame, through signaling served in this process.
        import uvicorn

        from signaling.main import create_app

        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), port=port, log_level="warning", lifespan="on")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        url = f"ws://127.0.0.1:{port}/ws/signaling"
        ours: list[float] = []
        floor: list[float] = []
        try:
            await direct(args.call_timeout)  # warm-up: codecs, imports
            for i in range(args.rounds):
                floor.append(await direct(args.call_timeout))
                ours.append(await through_signaling(url, pool[i], args.call_timeout))
                print(
                    f"round {i + 1}: signaling {ours[-1] * 1000:7.1f} ms   direct {floor[-1] * 1000:7.1f} ms"
                )
        finally:
            server.should_exit = True
            await serving
        ratio = median(ours) / median(floor) if floor else 0.0
        paired = sorted(o / f for o, f in zip(ours, floor, strict=True))
        print(
            f"join to first decoded frame: signaling median {median(ours) * 1000:.1f} ms "
            f"(spread {spread_pct(ours):.0f}%), direct {median(floor) * 1000:.1f} ms "
            f"(spread {spread_pct(floor):.0f}%): ratio {ratio:.2f} (per round median {median(paired):.2f}, "
            f"range {paired[0]:.2f} .. {paired[-1]:.2f})"
        )

        # 2. capacity: a standalone signaling process on the same database.
        port = _free_port()
        env = {
            **os.environ,
            "HOSPITAL_ENV": "test",
            "HOSPITAL_DATABASE_URL": settings.database_url,
            "HOSPITAL_SECRET_KEY": settings.secret_key,
        }
        env.pop("HOSPITAL_REDIS_URL", None)
        proc = await asyncio.create_subprocess_exec(
            *[
                sys.executable,
                "-m",
                "uvicorn",
                "signaling.main:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        results: list[dict[str, Any]] = []
        try:
            url = f"ws://127.0.0.1:{port}/ws/signaling"
            for _ in range(100):
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                await asyncio.sleep(0.1)
            for n in steps:
                step = await capacity_step(url, proc.pid, pool, n, args.window)
                results.append(step)
                print(
                    f"{n:5d} rooms ({step['connections']} sockets, {step['alive']} alive): "
                    f"{step['cpu_pct']:.2f}% CPU"
                )
                if step["cpu_pct"] >= CPU_LIMIT_PCT:
                    break
        finally:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        under = [
            r["rooms"] for r in results if r["cpu_pct"] < CPU_LIMIT_PCT and r["alive"] == r["connections"]
        ]
        held = max(under) if under else 0
        capped = bool(results) and results[-1]["cpu_pct"] < CPU_LIMIT_PCT
        print(
            f"rooms under {CPU_LIMIT_PCT:.0f}% CPU: {held}"
            + (" (the largest step tried: raise --steps to find the limit)" if capped else "")
        )
    valid = (
        len(ours) == args.rounds and bool(results) and all(r["alive"] == r["connections"] for r in results)
    )
    summary = {
        "bench": "telehealth",
        "valid": valid,
        "ratio": round(ratio, 3),
        "ratio_paired_median": round(median(paired), 3),
        "join_to_frame_ms": round(median(ours) * 1000, 1),
        "direct_ms": round(median(floor) * 1000, 1),
        "rooms_under_10pct_cpu": held,
        "rooms_limit_reached": not capped,
        "capacity": results,
        "rounds": args.rounds,
        "machine": info,
    }
    return finish("telehealth", summary, {"signaling_s": ours, "direct_s": floor}, save=not args.no_save)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench telehealth", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", default="25,50,100,200,400,800")
    parser.add_argument("--window", type=float, default=15.0, help="seconds of CPU measurement per step")
    parser.add_argument("--call-timeout", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--no-save", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run_bounded(lambda: main_async(args), args.timeout)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
