"""What only the Redis broker can show: several instances ("servers") on one Redis, namespacing,
one shared pub/sub connection, and failing loudly when that connection is lost."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from app.broker import (
    Broker,
    BrokerUnavailableError,
    MemoryBroker,
    Message,
    RedisBroker,
    SlowConsumerError,
    create_broker,
)

from .conftest import REDIS_URL, MakeBroker
from .helpers import TIMEOUT, eventually, receive

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set HOSPITAL_TEST_REDIS_URL to run the Redis tests")


@pytest.fixture
def kind() -> str:
    return "redis"


async def _numsub(raw: Redis, key: str) -> int:
    [(_, count)] = await raw.pubsub_numsub(key)
    return int(count)


def test_create_broker_picks_the_implementation() -> None:
    assert isinstance(create_broker(None), MemoryBroker)
    redis_broker = create_broker("redis://127.0.0.1:6379/0", prefix="hh-x:")
    assert isinstance(redis_broker, RedisBroker)
    assert redis_broker.prefix == "hh-x:"


async def test_an_unreachable_redis_fails_start() -> None:
    broker = RedisBroker("redis://127.0.0.1:1/0", connect_timeout=2)
    with pytest.raises(BrokerUnavailableError):
        await broker.start()


@needs_redis
async def test_two_servers_see_each_others_publishes(make_broker: MakeBroker) -> None:
    one, two = await make_broker(), await make_broker()
    async with one.subscribe("visit:7") as on_one, two.subscribe("visit:7") as on_two:
        assert await one.publish("visit:7", {"from": "one"}) == 2
        assert await two.publish("visit:7", {"from": "two"}) == 2
        for sub in (on_one, on_two):
            assert await receive(sub) == Message("visit:7", {"from": "one"})
            assert await receive(sub) == Message("visit:7", {"from": "two"})


@needs_redis
async def test_two_servers_share_presence(make_broker: MakeBroker) -> None:
    one, two = await make_broker(), await make_broker()
    await one.presence_join("lobby", "peer-a", {"user_id": "a"}, 30)
    await two.presence_join("lobby", "peer-b", {"user_id": "b"}, 30)
    expected = {"peer-a": {"user_id": "a"}, "peer-b": {"user_id": "b"}}
    assert await one.presence_list("lobby") == expected
    assert await two.presence_list("lobby") == expected
    assert await two.presence_heartbeat("lobby", "peer-a", 30) is True
    await two.presence_leave("lobby", "peer-a")
    assert await one.presence_list("lobby") == {"peer-b": {"user_id": "b"}}

    await one.presence_join("lobby", "short", {}, 0.3)

    async def expired_everywhere() -> bool:
        return "short" not in await two.presence_list("lobby")

    await eventually(expired_everywhere, what="the member to expire for the other server")


@needs_redis
async def test_prefixes_keep_deployments_apart(make_broker: MakeBroker) -> None:
    ours = await make_broker()
    theirs = await make_broker(prefix=f"hh-test:{uuid.uuid4().hex[:12]}:")
    try:
        async with theirs.subscribe("x") as sub:
            assert await ours.publish("x", {"from": "ours"}) == 0
            await theirs.publish("x", {"from": "theirs"})
            assert await receive(sub) == Message("x", {"from": "theirs"})
        await ours.presence_join("lobby", "p", {}, 30)
        assert await theirs.presence_list("lobby") == {}
    finally:
        await theirs.presence_leave("lobby", "p")


@needs_redis
async def test_keys_are_namespaced_and_expire_with_their_room(
    make_broker: MakeBroker, prefix: str, redis_raw: Redis
) -> None:
    broker = await make_broker()
    await broker.presence_join("lobby", "p", {}, 30)
    keys = sorted([key async for key in redis_raw.scan_iter(match=f"{prefix}*")])
    assert keys == [f"{prefix}presence:{{lobby}}:info", f"{prefix}presence:{{lobby}}:members"]
    for key in keys:
        assert 0 < await redis_raw.pttl(key) <= 31_000  # an abandoned room cleans itself up


@needs_redis
async def test_all_subscriptions_share_one_pubsub_connection(
    make_broker: MakeBroker, redis_raw: Redis
) -> None:
    name = f"hh-test-{uuid.uuid4().hex[:12]}"
    broker = await make_broker(client_name=name)
    subs = [broker.subscribe(f"c{i}", "common") for i in range(20)]
    for sub in subs:
        await sub.__aenter__()
    try:
        clients = [c for c in await redis_raw.client_list() if c.get("name") == f"{name}:pubsub"]
        assert len(clients) == 1
        assert int(clients[0]["sub"]) == 21  # c0..c19 and "common", each subscribed once
    finally:
        for sub in subs:
            await sub.aclose()


@needs_redis
async def test_unsubscribing_releases_the_redis_subscription(
    make_broker: MakeBroker, prefix: str, redis_raw: Redis
) -> None:
    broker = await make_broker()
    key = f"{prefix}ch:gone"
    async with broker.subscribe("gone"), broker.subscribe("gone"):
        assert await _numsub(redis_raw, key) == 1
    assert broker.local_subscribers("gone") == 0

    async def released() -> bool:
        return await _numsub(redis_raw, key) == 0

    await eventually(released, what="UNSUBSCRIBE to reach Redis")


@needs_redis
async def test_a_dropped_subscriber_is_unsubscribed_on_redis(
    make_broker: MakeBroker, prefix: str, redis_raw: Redis
) -> None:
    broker = await make_broker()
    key = f"{prefix}ch:slow"
    async with broker.subscribe("slow", max_queue=2) as slow:
        for i in range(5):
            await broker.publish("slow", {"i": i})

        async def released() -> bool:
            return await _numsub(redis_raw, key) == 0

        # Released although its owner has not closed it yet.
        await eventually(released, what="the dropped subscription to be unsubscribed")
        with pytest.raises(SlowConsumerError):
            await anext(slow)


@needs_redis
async def test_foreign_non_json_messages_are_skipped(
    make_broker: MakeBroker, prefix: str, redis_raw: Redis
) -> None:
    broker = await make_broker()
    async with broker.subscribe("mixed") as sub:
        await redis_raw.publish(f"{prefix}ch:mixed", "not json")
        await redis_raw.publish(f"{prefix}ch:mixed", "[1, 2]")
        await broker.publish("mixed", {"ok": True})
        assert await receive(sub) == Message("mixed", {"ok": True})


@needs_redis
async def test_a_lost_pubsub_connection_fails_subscriptions_loudly(
    make_broker: MakeBroker, redis_raw: Redis
) -> None:
    name = f"hh-test-{uuid.uuid4().hex[:12]}"
    broker: Broker = await make_broker(client_name=name)
    async with broker.subscribe("fragile") as sub:
        [client] = [c for c in await redis_raw.client_list() if c.get("name") == f"{name}:pubsub"]
        await redis_raw.client_kill_filter(_id=client["id"])
        # Not a silent reconnect that would skip whatever was published meanwhile.
        with pytest.raises(BrokerUnavailableError):
            await receive(sub)
        assert sub.closed
    # The next subscription opens a fresh connection and works.
    async with broker.subscribe("fragile") as again:
        await broker.publish("fragile", {"n": 1})
        assert await receive(again) == Message("fragile", {"n": 1})


@needs_redis
async def test_a_cancelled_command_is_cancelled_whenever_the_cancellation_lands(
    make_broker: MakeBroker,
) -> None:
    """On Python 3.11, redis-py's socket write (an ``asyncio.wait_for``) swallowed a cancellation
    landing as the write completed: the command then finished as if never cancelled, and a signaling
    peer's heartbeat loop outlived its connection and blocked the server's shutdown for good."""
    broker = await make_broker()
    await broker.presence_join("lobby", "p", {}, 30)
    operations: dict[str, Callable[[], Awaitable[Any]]] = {
        "ping": broker.ping,
        "publish": lambda: broker.publish("c", {"n": 1}),
        "join": lambda: broker.presence_join("lobby", "q", {}, 30),
        "heartbeat": lambda: broker.presence_heartbeat("lobby", "p", 30),
        "leave": lambda: broker.presence_leave("lobby", "q"),
        "list": lambda: broker.presence_list("lobby"),
    }
    for name, operation in operations.items():
        landed = 0
        # Cancel after 0, 1, 2, ... trips round the event loop: every stage of the command.
        for trips in range(12):
            task = asyncio.ensure_future(operation())
            for _ in range(trips):
                await asyncio.sleep(0)
            if not task.cancel():
                continue  # it had already finished
            landed += 1
            with pytest.raises(asyncio.CancelledError):
                await task
            assert task.cancelled(), f"{name} returned normally after cancel() ({trips} trips)"
        assert landed >= 3, name
    # The connections interrupted meanwhile were dropped, not lent out again with a stray reply.
    assert await broker.presence_heartbeat("lobby", "p", 30) is True
    assert await broker.presence_list("lobby") == {"p": {}}


@contextlib.asynccontextmanager
async def _hung_redis() -> AsyncIterator[str]:
    """A Redis that answers the handshake and PING, then never answers anything else (a stalled
    server, a full network buffer); yields its URL."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                args = []
                for _ in range(int(line[1:])):
                    size = int((await reader.readline())[1:])
                    args.append((await reader.readexactly(size + 2))[:-2].upper())
                if args[0] == b"PING":
                    writer.write(b"+PONG\r\n")
                elif args[0] in (b"CLIENT", b"SELECT", b"AUTH", b"HELLO"):
                    writer.write(b"+OK\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        yield f"redis://{host}:{port}/0"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_hung_redis_fails_each_command_within_the_command_timeout() -> None:
    async with _hung_redis() as url:
        broker = RedisBroker(url, command_timeout=0.5)
        await broker.start()
        try:
            # Within command_timeout in all, not command_timeout per retried attempt.
            with pytest.raises(BrokerUnavailableError, match=r"no answer within 0\.5 s"):
                await broker.presence_heartbeat("lobby", "p", 30)
            with pytest.raises(BrokerUnavailableError, match=r"no answer within 0\.5 s"):
                await broker.publish("c", {"n": 1})
        finally:
            await asyncio.wait_for(broker.close(), TIMEOUT)


async def test_a_command_stuck_on_a_hung_redis_is_cancelled_on_the_spot() -> None:
    async with _hung_redis() as url:
        broker = RedisBroker(url, command_timeout=600)
        await broker.start()
        try:
            task = asyncio.ensure_future(broker.presence_leave("lobby", "p"))
            await asyncio.sleep(0.05)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=TIMEOUT)
            assert done and task.cancelled()
        finally:
            await asyncio.wait_for(broker.close(), TIMEOUT)
