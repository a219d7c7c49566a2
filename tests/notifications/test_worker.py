"""The API process's background dispatcher, and the `hospital notifications` commands."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.broker import Broker
from app.db import Database
from app.main import create_app
from app.notifications.worker import NotificationWorker
from tests.conftest import make_settings, run_cli
from tests.notifications.helpers import enqueue_committed, load


async def wait_for(predicate: object, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_worker_runs_with_the_app_wakes_after_an_enqueue_and_stops_cleanly(
    fresh_database_url: str, broker: Broker, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    # A long poll: only the wake-up after the commit can deliver within the test's patience.
    settings = make_settings(
        fresh_database_url,
        notifications_worker=True,
        notifications_poll_seconds=600,
        notifications_dir=outbox,
    )
    app = create_app(settings, broker=broker)
    other_process = Database.from_settings(settings)
    try:
        async with app.router.lifespan_context(app):
            worker = app.state.notifications_worker
            assert isinstance(worker, NotificationWorker)
            await wait_for(lambda: worker.rounds >= 1)  # the first round found nothing

            message_id = await enqueue_committed(other_process)

            await wait_for(lambda: (outbox / f"{message_id}.eml").is_file())
            task = worker._task
            assert task is not None and not task.done()
        # A graceful stop: the delivery in flight was recorded, not cut off by a cancellation.
        assert task.done() and not task.cancelled() and task.exception() is None
        assert app.state.notifications_worker._task is None
        assert (await load(other_process, message_id)).status == "sent"
    finally:
        await other_process.dispose()


async def test_the_worker_survives_failing_rounds(tmp_path: Path) -> None:
    # A database that cannot be opened (gone for a while): every round fails, the worker lives on.
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db",
        notifications_poll_seconds=0.05,
        notifications_dir=tmp_path / "outbox",
    )
    broken = Database.from_settings(settings)
    worker = NotificationWorker(broken, settings)
    worker.start()
    try:
        await asyncio.sleep(0.3)
        assert worker._task is not None and not worker._task.done()
        assert worker.rounds == 0
    finally:
        await worker.stop()
        await broken.dispose()
    assert worker._task is None


async def test_the_test_app_has_no_worker(app: FastAPI) -> None:
    assert app.state.notifications_worker is None


async def test_cli_dispatch_and_list(
    fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("HOSPITAL_NOTIFICATIONS_DIR", str(outbox))
    db = Database.from_settings(make_settings(fresh_database_url))
    try:
        message_id = await enqueue_committed(db)
        done = await run_cli(fresh_database_url, "notifications", "list", "--status", "pending")
        assert done.returncode == 0, done.stderr
        assert str(message_id) in done.stdout and "1 of 1 notification(s)" in done.stdout

        done = await run_cli(fresh_database_url, "notifications", "dispatch")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("1 sent, 0 to retry, 0 failed"), done.stdout
        assert (outbox / f"{message_id}.eml").is_file()
        assert (await load(db, message_id)).status == "sent"

        done = await run_cli(fresh_database_url, "notifications", "list", "--status", "sent")
        assert str(message_id) in done.stdout and "1 of 1 notification(s)" in done.stdout

        done = await run_cli(fresh_database_url, "notifications", "list", "--status", "lost")
        assert done.returncode == 2 and "--status must be one of" in done.stderr
    finally:
        await db.dispose()
