"""Brokers for the contract suite: memory always, Redis when HOSPITAL_TEST_REDIS_URL is set.

With the variable set, an unreachable Redis makes every Redis test error out in setup (start()
raises BrokerUnavailableError): a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from app.broker import Broker, MemoryBroker, RedisBroker

REDIS_URL = os.environ.get("HOSPITAL_TEST_REDIS_URL")
KINDS = ["memory", "redis"] if REDIS_URL else ["memory"]

MakeBroker = Callable[..., Awaitable[Broker]]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def prefix() -> str:
    """A key/channel namespace of this test's own, so tests never see each other."""
    return f"hh-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis_raw() -> AsyncIterator[Redis]:
    """A plain client to look at Redis from outside the broker."""
    assert REDIS_URL is not None
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def make_broker(kind: str, prefix: str) -> AsyncIterator[MakeBroker]:
    """Start brokers of this test's kind sharing its prefix (two Redis ones act as two servers)."""
    started: list[Broker] = []

    async def make(**options: Any) -> Broker:
        broker: Broker
        if kind == "memory":
            broker = MemoryBroker(prefix=options.pop("prefix", prefix))
        else:
            assert REDIS_URL is not None
            options.setdefault("prefix", prefix)
            broker = RedisBroker(REDIS_URL, **options)
        started.append(broker)
        await broker.start()
        return broker

    try:
        yield make
    finally:
        for broker in started:
            await broker.close()
        if kind == "redis":
            assert REDIS_URL is not None
            client = Redis.from_url(REDIS_URL, decode_responses=True)
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


@pytest.fixture
async def broker(make_broker: MakeBroker) -> Broker:
    return await make_broker()
