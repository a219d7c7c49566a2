"""The broker contract, run against every implementation (see conftest: memory, and Redis when set)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import pytest

from app.broker import (
    Broker,
    BrokerClosedError,
    MemoryBroker,
    Message,
    SlowConsumerError,
    Subscription,
)

from .conftest import MakeBroker
from .helpers import TIMEOUT, eventually, receive

# Publish / subscribe


async def test_publish_fans_out_to_every_subscriber(broker: Broker, kind: str) -> None:
    assert await broker.publish("room:1", {"n": 0}) == 0
    async with contextlib.AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(broker.subscribe("room:1")) for _ in range(3)]
        assert broker.local_subscribers("room:1") == 3
        receivers = await broker.publish("room:1", {"n": 1})
        for sub in subs:
            assert await receive(sub) == Message("room:1", {"n": 1})
    # Redis counts subscribed connections, and one broker shares one among its subscriptions.
    assert receivers == (3 if kind == "memory" else 1)
    assert broker.local_subscribers("room:1") == 0


async def test_channels_are_isolated(broker: Broker) -> None:
    async with broker.subscribe("a") as a, broker.subscribe("b") as b:
        await broker.publish("b", {"to": "b"})
        await broker.publish("a", {"to": "a"})
        # Had "b" leaked into "a", it would arrive first: delivery keeps publish order.
        assert await receive(a) == Message("a", {"to": "a"})
        assert await receive(b) == Message("b", {"to": "b"})
        await broker.publish("b", {"to": "b", "n": 2})
        assert await receive(b) == Message("b", {"to": "b", "n": 2})


async def test_one_subscription_on_several_channels(broker: Broker) -> None:
    async with broker.subscribe("x", "y", "x") as sub:
        assert sub.channels == ("x", "y")
        await broker.publish("x", {"n": 1})
        await broker.publish("elsewhere", {"n": 2})
        await broker.publish("y", {"n": 3})
        await broker.publish("x", {"n": 4})
        got = [await receive(sub) for _ in range(3)]
    assert got == [Message("x", {"n": 1}), Message("y", {"n": 3}), Message("x", {"n": 4})]


async def test_unsubscribe_stops_delivery_and_discards_the_buffer(broker: Broker) -> None:
    async with broker.subscribe("c") as keep:
        gone = broker.subscribe("c")
        async with gone:
            await broker.publish("c", {"n": 1})
            assert await receive(keep) == Message("c", {"n": 1})  # so "gone" has it buffered too
        assert gone.closed
        with pytest.raises(StopAsyncIteration):
            await anext(gone)
        assert broker.local_subscribers("c") == 1
        await broker.publish("c", {"n": 2})
        assert await receive(keep) == Message("c", {"n": 2})
        with pytest.raises(StopAsyncIteration):
            await anext(gone)
    assert broker.local_subscribers("c") == 0


async def test_resubscribing_right_after_the_last_unsubscribe(broker: Broker) -> None:
    # On Redis this races an UNSUBSCRIBE against the next SUBSCRIBE of the same channel.
    for i in range(5):
        async with broker.subscribe("again") as sub:
            await broker.publish("again", {"i": i})
            assert await receive(sub) == Message("again", {"i": i})


async def test_concurrent_subscriptions_to_one_channel_are_all_active(broker: Broker) -> None:
    subs = [broker.subscribe("busy") for _ in range(10)]
    await asyncio.gather(*(sub.__aenter__() for sub in subs))
    try:
        await broker.publish("busy", {"hello": True})
        for sub in subs:
            assert await receive(sub) == Message("busy", {"hello": True})
    finally:
        await asyncio.gather(*(sub.aclose() for sub in subs))
    assert broker.local_subscribers("busy") == 0


async def test_json_round_trip(broker: Broker) -> None:
    payload: dict[str, Any] = {
        "text": "Zoë Ñúñez — 患者 🩺",
        "clé 🙂": "value",
        "escapes": 'quote" backslash\\ newline\n tab\t nul\u0000',
        "numbers": [0, -1, 2**63 + 1, 2.5, -1e-9],
        "flags": [True, False, None],
        "nested": {"empty": {}, "list": [], "deep": {"a": [{"b": "c"}]}},
    }
    async with broker.subscribe("json") as sub:
        await broker.publish("json", payload)
        message = await receive(sub)
    assert message.data == payload
    assert message.data is not payload


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"when": datetime(2025, 1, 1, tzinfo=UTC)}, TypeError),
        ({"x": float("nan")}, ValueError),
        ({"x": float("inf")}, ValueError),
        (["not", "an", "object"], TypeError),
    ],
)
async def test_payloads_json_cannot_carry_are_refused(
    broker: Broker, payload: Any, error: type[Exception]
) -> None:
    async with broker.subscribe("json") as sub:
        with pytest.raises(error):
            await broker.publish("json", payload)
        await broker.publish("json", {"ok": True})
        assert await receive(sub) == Message("json", {"ok": True})


async def test_order_is_kept_per_channel(broker: Broker) -> None:
    n = 300
    async with broker.subscribe("ordered") as sub:
        for i in range(n):
            await broker.publish("ordered", {"i": i})
        got = [(await receive(sub)).data["i"] for _ in range(n)]
    assert got == list(range(n))


# Slow consumers


async def test_slow_subscriber_is_dropped_and_told_without_slowing_the_rest(broker: Broker) -> None:
    n = 50
    async with broker.subscribe("s", max_queue=5) as slow, broker.subscribe("s") as fast:

        async def publish_all() -> None:
            for i in range(n):
                await broker.publish("s", {"i": i})

        # The slow one never reads, yet every publish completes...
        await asyncio.wait_for(publish_all(), TIMEOUT)
        # ...and the other subscriber of the same channel gets everything, in order.
        assert [(await receive(fast)).data["i"] for _ in range(n)] == list(range(n))
        # Everything has been dispatched now, so the overflow has happened.
        assert slow.closed
        assert broker.local_subscribers("s") == 1
        # Told at once, not after its 5 stale buffered messages; and told again if it asks again.
        with pytest.raises(SlowConsumerError):
            await anext(slow)
        with pytest.raises(SlowConsumerError):
            await anext(slow)


async def test_publisher_never_waits_for_a_blocked_consumer(broker: Broker) -> None:
    n = 2000
    first = asyncio.Event()
    gate = asyncio.Event()

    async def consume(sub: Subscription) -> None:
        await receive(sub)
        first.set()
        await gate.wait()  # stuck, as if its WebSocket stopped draining
        async for _ in sub:
            pass

    async with broker.subscribe("b", max_queue=10) as slow, broker.subscribe("b", max_queue=n + 1) as marker:
        consumer = asyncio.create_task(consume(slow))
        try:
            await broker.publish("b", {"i": 0})
            await asyncio.wait_for(first.wait(), TIMEOUT)

            async def publish_rest() -> None:
                for i in range(1, n + 1):
                    await broker.publish("b", {"i": i})

            await asyncio.wait_for(publish_rest(), TIMEOUT)
            assert not consumer.done()  # all published while the consumer was still blocked
            for i in range(n + 1):
                assert (await receive(marker)).data["i"] == i
            gate.set()
            with pytest.raises(SlowConsumerError):
                await asyncio.wait_for(consumer, TIMEOUT)
        finally:
            consumer.cancel()
            with contextlib.suppress(BaseException):
                await consumer


async def test_a_dropped_subscriber_is_unsubscribed_by_itself(broker: Broker) -> None:
    async with broker.subscribe("alone", max_queue=3) as slow:
        for i in range(10):
            await broker.publish("alone", {"i": i})

        async def dropped() -> bool:
            return slow.closed

        await eventually(dropped, what="the slow subscription to be dropped")
        assert broker.local_subscribers("alone") == 0
        with pytest.raises(SlowConsumerError):
            await anext(slow)


async def test_memory_publish_counts_only_subscribers_that_took_it() -> None:
    broker = MemoryBroker()
    await broker.start()
    try:
        async with broker.subscribe("m", max_queue=2) as slow:
            assert [await broker.publish("m", {"i": i}) for i in range(4)] == [1, 1, 0, 0]
            assert slow.closed
            assert broker.local_subscribers("m") == 0
    finally:
        await broker.close()


# Lifecycle and misuse


async def test_closing_the_broker_ends_subscriptions(make_broker: MakeBroker) -> None:
    broker = await make_broker()
    sub = broker.subscribe("z")
    await sub.__aenter__()

    async def drain() -> list[Message]:
        return [message async for message in sub]

    reader = asyncio.create_task(drain())
    await asyncio.sleep(0)  # let it block on the empty queue
    await broker.close()
    assert await asyncio.wait_for(reader, TIMEOUT) == []
    await sub.aclose()
    with pytest.raises(BrokerClosedError):
        await broker.publish("z", {})
    with pytest.raises(BrokerClosedError):
        await broker.ping()
    with pytest.raises(BrokerClosedError):
        async with broker.subscribe("z"):
            pass
    with pytest.raises(BrokerClosedError):
        await broker.presence_list("room")
    await broker.close()  # idempotent


async def test_ping_works_while_running(broker: Broker) -> None:
    await broker.ping()


async def test_subscription_misuse_is_refused(broker: Broker) -> None:
    with pytest.raises(ValueError, match="at least one channel"):
        broker.subscribe()
    with pytest.raises(ValueError, match="max_queue"):
        broker.subscribe("q", max_queue=0)
    with pytest.raises(ValueError, match="channel"):
        broker.subscribe("")
    with pytest.raises(ValueError, match="channel"):
        await broker.publish("", {})
    sub = broker.subscribe("q")
    with pytest.raises(RuntimeError, match="before iterating"):
        await anext(sub)
    async with sub:
        with pytest.raises(RuntimeError, match="only once"):
            await sub.__aenter__()
    assert broker.local_subscribers("q") == 0


async def test_a_broker_must_be_started() -> None:
    with pytest.raises(RuntimeError, match="start"):
        await MemoryBroker().publish("c", {})


# Presence


async def test_presence_join_list_leave(broker: Broker) -> None:
    await broker.presence_join("lobby", "p1", {"user_id": "u1", "roles": ["doctor"]}, 30)
    await broker.presence_join("lobby", "p2", {"user_id": "u2", "name": "Zoë 🩺"}, 30)
    await broker.presence_join("ward", "p3", {}, 30)
    assert await broker.presence_list("lobby") == {
        "p1": {"user_id": "u1", "roles": ["doctor"]},
        "p2": {"user_id": "u2", "name": "Zoë 🩺"},
    }
    await broker.presence_leave("lobby", "p1")
    await broker.presence_leave("lobby", "nobody")
    assert await broker.presence_list("lobby") == {"p2": {"user_id": "u2", "name": "Zoë 🩺"}}
    await broker.presence_leave("lobby", "p2")
    assert await broker.presence_list("lobby") == {}
    assert await broker.presence_list("ward") == {"p3": {}}
    assert await broker.presence_list("empty") == {}


async def test_presence_join_again_replaces_the_info(broker: Broker) -> None:
    await broker.presence_join("lobby", "p1", {"v": 1}, 30)
    await broker.presence_join("lobby", "p1", {"v": 2}, 30)
    assert await broker.presence_list("lobby") == {"p1": {"v": 2}}


async def test_presence_heartbeat_extends_the_ttl(broker: Broker) -> None:
    await broker.presence_join("room", "stay", {"who": "stay"}, 1.5)
    assert await broker.presence_heartbeat("room", "stay", 60) is True
    # A member joined after "stay", with its original TTL, is the clock: once it is gone,
    # "stay" would be gone too had the heartbeat not pushed its expiry.
    await broker.presence_join("room", "clock", {}, 1.5)

    async def clock_expired() -> bool:
        return "clock" not in await broker.presence_list("room")

    await eventually(clock_expired, what="the clock member to expire")
    assert await broker.presence_list("room") == {"stay": {"who": "stay"}}
    assert await broker.presence_heartbeat("room", "stay", 60) is True


async def test_presence_expires_after_the_ttl(broker: Broker) -> None:
    await broker.presence_join("room", "short", {"a": 1}, 0.3)
    await broker.presence_join("room", "long", {"b": 2}, 60)

    async def short_expired() -> bool:
        return await broker.presence_list("room") == {"long": {"b": 2}}

    await eventually(short_expired, what="the short-lived member to expire")
    # An expired member cannot be revived by a heartbeat; it must join again.
    assert await broker.presence_heartbeat("room", "short", 60) is False
    assert await broker.presence_list("room") == {"long": {"b": 2}}
    await broker.presence_leave("room", "short")


async def test_presence_heartbeat_of_an_unknown_member_is_false(broker: Broker) -> None:
    assert await broker.presence_heartbeat("room", "ghost", 30) is False
    await broker.presence_join("room", "p", {}, 30)
    assert await broker.presence_heartbeat("room", "ghost", 30) is False
    assert await broker.presence_list("room") == {"p": {}}


async def test_presence_arguments_are_checked(broker: Broker) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await broker.presence_join("room", "p", {}, 0)
    with pytest.raises(ValueError, match="room"):
        await broker.presence_join("", "p", {}, 1)
    with pytest.raises(ValueError, match="member"):
        await broker.presence_heartbeat("room", "", 1)
    with pytest.raises(TypeError):
        await broker.presence_join("room", "p", {"when": datetime.now(UTC)}, 1)


async def test_an_expired_member_cannot_heartbeat_before_anyone_looked(broker: Broker) -> None:
    await broker.presence_join("room", "short", {}, 0.3)
    # The clock lives in another room so nothing reads (and so purges) "room" before the heartbeat.
    await broker.presence_join("clock-room", "clock", {}, 0.3)

    async def clock_expired() -> bool:
        return await broker.presence_list("clock-room") == {}

    await eventually(clock_expired, what="the clock member to expire")
    assert await broker.presence_heartbeat("room", "short", 60) is False
    assert await broker.presence_list("room") == {}


async def test_publish_many_delivers_in_order(broker: Broker) -> None:
    async with broker.subscribe("a", "b") as sub:
        await broker.publish_many([("a", {"n": 1}), ("b", {"n": 2}), ("a", {"n": 3})])
        got = [await asyncio.wait_for(sub.__anext__(), 5) for _ in range(3)]
    assert [(m.channel, m.data["n"]) for m in got] == [("a", 1), ("b", 2), ("a", 3)]
    await broker.publish_many([])
