"""Waiting helpers: bounded by generous timeouts, never by a fixed sleep that has to be right."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from app.broker import Message, Subscription

# Two noisy cores: every wait gets far more time than it should ever need.
TIMEOUT = 15.0


async def receive(subscription: Subscription) -> Message:
    return await asyncio.wait_for(anext(subscription), TIMEOUT)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it is true; fail after ``TIMEOUT`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"still false after {TIMEOUT}s: {what}")
        await asyncio.sleep(0.02)
