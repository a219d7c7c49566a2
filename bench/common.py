"""What the in-process benchmarks (import, search, chart) share: temp databases migrated by the real
migrations, the app's own engine on them, an acting principal, timing statistics, the report.

These benchmarks call the services directly (no HTTP): what they compare is the data layer's cost
at two sizes, or against a bare bulk insert, in the same process and the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import sqlite3
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from app.auth.permissions import permissions_for
from app.config import Settings
from app.db import Database
from app.deps import Principal
from bench.run import RESULTS, machine_info, spread_pct

T = TypeVar("T")

__all__ = ["RESULTS", "machine_info", "spread_pct"]


class BenchError(RuntimeError):
    pass


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def bench_settings(path: Path) -> Settings:
    # Explicit values: a developer's .env must not point the bench at a real database.
    return Settings(
        env="test",
        database_url=sqlite_url(path),
        secret_key=secrets.token_hex(32),
        redis_url=None,
    )


def database(path: Path) -> Database:
    return Database.from_settings(bench_settings(path))


async def migrated_template(workdir: Path) -> Path:
    """An empty database at head, by the real migrations; copy it for each fresh database."""
    from app.migrate import upgrade

    path = workdir / "template.db"
    await asyncio.to_thread(upgrade, sqlite_url(path))  # it runs its own event loop
    checkpoint(path)
    return path


def checkpoint(path: Path) -> None:
    """Fold the WAL into the main file, so that copying the file alone copies the database."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def fresh_copy(template: Path, path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    return path


def doctor_principal() -> Principal:
    """A doctor (patients:read, clinical:read, ...) as the API would build it from a token."""
    return Principal(
        user_id=uuid.uuid4(),
        username="bench",
        full_name="Bench Doctor",
        email=None,
        roles=("doctor",),
        permissions=permissions_for(["doctor"]),
        patient_id=None,
        session_id=uuid.uuid4(),
    )


async def timed(work: Callable[[], Awaitable[T]], bound: float) -> tuple[float, T]:
    """Seconds one call took (perf_counter), bounded by ``bound`` seconds."""
    start = time.perf_counter()
    result = await asyncio.wait_for(work(), timeout=bound)
    return time.perf_counter() - start, result


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def geomean(values: Sequence[float]) -> float:
    values = [v for v in values if v > 0]
    return float(statistics.geometric_mean(values)) if values else 0.0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f}"


def print_machine(title: str) -> dict[str, Any]:
    info = machine_info()
    print(title)
    print(
        f"machine: {info['cores']} cores ({info['usable_cores']} usable) {info['cpu']}; {info['os']}; "
        f"Python {info['python']}; SQLite {sqlite3.sqlite_version}; loadavg {info['loadavg']}"
    )
    info["sqlite"] = sqlite3.sqlite_version
    return info


def finish(name: str, summary: dict[str, Any], detail: dict[str, Any], *, save: bool) -> int:
    """Save the summary (with detail) under bench/results and print it as the last line."""
    summary = {**summary, "when": datetime.now(UTC).isoformat(timespec="seconds")}
    if save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        with contextlib.suppress(OSError):
            (RESULTS / f"{name}-{stamp}.json").write_text(
                json.dumps({**summary, "detail": detail}, indent=2, default=str)
            )
    print(json.dumps(summary, separators=(",", ":"), default=str), flush=True)
    return 0 if summary.get("valid") else 1


def run_bounded(main: Callable[[], Awaitable[int]], timeout: float) -> int:
    """Run an async bench with an overall time bound; a bench that overruns fails, it never hangs."""

    async def bounded() -> int:
        try:
            return await asyncio.wait_for(main(), timeout=timeout)
        except TimeoutError as exc:
            raise BenchError(f"did not finish within {timeout:.0f} s (--timeout)") from exc

    return asyncio.run(bounded())
