"""The two helpers that keep cancellation working where Python 3.11's ``asyncio.wait_for``
(inside redis-py) can swallow it: see ``app.broker.base``."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from app.broker import cancel_and_wait, honour_cancellation


async def _swallows_a_cancellation() -> str:
    # What asyncio.wait_for does on 3.11 when the awaited thing has just finished.
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(60)
    return "finished anyway"


async def test_honour_cancellation_raises_a_cancellation_the_call_swallowed() -> None:
    task = asyncio.ensure_future(honour_cancellation(_swallows_a_cancellation()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_honour_cancellation_passes_results_and_errors_through() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    assert await honour_cancellation(asyncio.sleep(0, "result")) == "result"
    with pytest.raises(ValueError, match="boom"):
        await honour_cancellation(fails())


async def test_honour_cancellation_inside_a_timeout_raises_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await honour_cancellation(_swallows_a_cancellation())


async def test_cancel_and_wait_cancels_again_until_the_task_is_done() -> None:
    async def shrugs_once() -> None:
        await _swallows_a_cancellation()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(shrugs_once())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task]), 15)
    assert task.cancelled()


async def test_cancel_and_wait_gives_up_on_a_task_that_never_stops(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()

    async def stubborn() -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await stop.wait()

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="app.broker"):
        await asyncio.wait_for(cancel_and_wait([task], give_up_after=0.2), 15)
    assert not task.done()
    assert "gave up waiting for 1 cancelled task" in caplog.text
    stop.set()
    await asyncio.wait_for(task, 15)
