"""Publish/subscribe and presence: the one contract both brokers implement.

Delivery is at-most-once, like Redis pub/sub itself: a subscription sees the messages published
after it became active (``async with`` entered), in publish order per channel and publisher,
and nothing published before or while it was away. Anything that must not be lost belongs in
the database; the broker carries "something happened, look" and signaling chatter.

Slow consumers. Each subscription owns a bounded queue (``max_queue`` messages) that publishers
fill with put-nowait work only. When a message finds the queue full, the subscription is
dropped on the spot: its buffer is discarded, it is detached from the channel, the broker
unsubscribes it, and its iterator raises ``SlowConsumerError`` on the very next ``__anext__``
(immediately, *not* after yielding what it had buffered), and again on every later call.
Immediately, because a consumer that fell ``max_queue`` messages behind has already lost its
place and must resynchronise from the source of truth (a WebSocket client reconnects and
re-reads state); replaying its stale backlog first would only delay that while pinning memory.
The publisher never waits for, retries or slows down for a full queue.

Payloads are JSON objects. ``publish`` serialises once (so a payload that Redis could not carry
fails the same way on the memory broker) and every local subscriber of one message receives the
same decoded ``dict``: treat ``Message.data`` as read-only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar

DEFAULT_PREFIX: Final = "hh:"
DEFAULT_MAX_QUEUE: Final = 1000
MAX_NAME_LENGTH: Final = 256

_T = TypeVar("_T")
_log = logging.getLogger("app.broker")


class BrokerError(Exception):
    """Base class of everything the broker raises on purpose."""


class BrokerUnavailableError(BrokerError):
    """The backing service (Redis) cannot be reached, or a subscription lost its connection."""


class BrokerClosedError(BrokerError):
    """The broker has been closed."""


class SlowConsumerError(BrokerError):
    """The subscription's queue overflowed; it has been dropped and unsubscribed."""


@dataclass(frozen=True, slots=True)
class Message:
    channel: str
    data: dict[str, Any]


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{kind} is longer than {MAX_NAME_LENGTH} characters")
    return name


def check_ttl(ttl_seconds: float) -> int:
    """Return the TTL in whole milliseconds (Redis' resolution, so both brokers agree)."""
    ttl_ms = round(ttl_seconds * 1000)
    if ttl_ms < 1:
        raise ValueError("ttl_seconds must be at least 0.001")
    return ttl_ms


def encode_json(payload: dict[str, Any]) -> str:
    """Serialise a JSON object; raise TypeError or ValueError for what JSON cannot carry.

    ``allow_nan=False`` because browsers' ``JSON.parse`` rejects ``NaN``/``Infinity``.
    """
    if not isinstance(payload, dict):
        raise TypeError(f"broker payloads are JSON objects (dict), not {type(payload).__name__}")
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode_json(text: str | bytes) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


async def honour_cancellation(awaitable: Awaitable[_T]) -> _T:
    """Await ``awaitable``; raise ``CancelledError`` if it swallowed a cancellation of this task.

    Python 3.11's ``asyncio.wait_for`` returns the result instead of raising when the task is
    cancelled just as the awaited thing completes (python/cpython#86296, fixed in 3.12), and
    redis-py wraps every command's socket write in one. Unguarded, a task cancelled during that
    window carries on as if nothing happened: a ``while True`` loop around a command (a presence
    heartbeat) then never ends, and whoever awaits the cancelled task waits forever.
    """
    task = asyncio.current_task()
    requested = task.cancelling() if task is not None else 0
    result = await awaitable
    if task is not None and task.cancelling() > requested:
        raise asyncio.CancelledError
    return result


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], *, give_up_after: float = 10.0) -> None:
    """Cancel ``tasks`` and wait until they are done, re-cancelling any that ignored it.

    Bounded: a task still running after ``give_up_after`` seconds is logged and left behind,
    so one misbehaving task cannot hold up a shutdown forever.
    """
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            _log.error("gave up waiting for %d cancelled task(s): %r", len(pending), pending)
            return
        _, pending = await asyncio.wait(pending, timeout=min(0.5, remaining))


class Subscription:
    """A bounded mailbox on one or more channels; made by ``Broker.subscribe``.

    Use it as ``async with broker.subscribe("a", "b") as sub: async for message in sub: ...``.
    The subscription is active once ``__aenter__`` returns; leaving the block (or ``aclose()``)
    unsubscribes and releases everything. Iteration ends (``StopAsyncIteration``) after
    ``aclose()`` or when the broker closes; it raises ``SlowConsumerError`` after an overflow
    and ``BrokerUnavailableError`` if the broker lost its connection. One task iterates.
    """

    def __init__(self, broker: Broker, channels: tuple[str, ...], max_queue: int) -> None:
        if not channels:
            raise ValueError("subscribe() needs at least one channel")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.channels: tuple[str, ...] = tuple(dict.fromkeys(check_name("channel", c) for c in channels))
        self.max_queue = max_queue
        self._broker = broker
        self._buffer: deque[Message] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._state: Literal["new", "open", "closed"] = "new"
        self._error: BrokerError | None = None

    def __repr__(self) -> str:
        return f"<Subscription {self.channels!r} {self._state}{' failed' if self._error else ''}>"

    @property
    def closed(self) -> bool:
        """True once the subscription receives nothing more (closed, dropped or failed)."""
        return self._state == "closed" or self._error is not None

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError("a Subscription can be entered only once")
        self._state = "open"
        try:
            await self._broker._attach(self)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Unsubscribe and release the queue; idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        self._buffer.clear()
        self._wake()
        await self._broker._release(self)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        while True:
            if self._error is not None:
                # A fresh traceback each time: re-raising one instance would keep growing it.
                raise self._error.with_traceback(None)
            if self._buffer:
                return self._buffer.popleft()
            if self._state == "closed":
                raise StopAsyncIteration
            if self._state == "new":
                raise RuntimeError("enter the Subscription (async with) before iterating it")
            if self._waiter is not None:
                raise RuntimeError("a Subscription is iterated by one task at a time")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    # The methods below are called by brokers only; none of them blocks or awaits.

    def _deliver(self, message: Message) -> bool:
        """Queue ``message``; False when this subscription takes nothing more (the broker detaches it)."""
        if self._state != "open" or self._error is not None:
            return False
        if len(self._buffer) >= self.max_queue:
            self._fail(
                SlowConsumerError(
                    f"subscription to {', '.join(self.channels)} fell {self.max_queue} messages behind"
                    " and was dropped"
                )
            )
            return False
        self._buffer.append(message)
        self._wake()
        return True

    def _fail(self, error: BrokerError) -> None:
        if self._state == "closed" or self._error is not None:
            return
        self._error = error
        self._buffer.clear()
        self._wake()

    def _end(self) -> None:
        """The broker is closing: let the consumer drain what it has, then stop iteration."""
        if self._state == "open":
            self._state = "closed"
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Broker(ABC):
    """Publish/subscribe plus TTL presence. Call ``start()`` before use and ``close()`` after.

    Channel, room and member names are the caller's logical names; implementations namespace
    them under ``prefix`` (default ``hh:``) so tests and tenants sharing one Redis stay apart.
    """

    def __init__(self, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self._lifecycle: Literal["new", "running", "closed"] = "new"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _check_running(self) -> None:
        if self._lifecycle == "closed":
            raise BrokerClosedError("the broker is closed")
        if self._lifecycle == "new":
            raise RuntimeError("call Broker.start() before using the broker")

    @abstractmethod
    async def start(self) -> None:
        """Connect; raise ``BrokerUnavailableError`` when the backing service is unreachable."""

    @abstractmethod
    async def close(self) -> None:
        """Release every resource; open subscriptions end their iteration. Idempotent."""

    @abstractmethod
    async def ping(self) -> None:
        """Return when the broker works; raise ``BrokerUnavailableError`` (or closed) otherwise."""

    @abstractmethod
    async def publish(self, channel: str, message: dict[str, Any]) -> int:
        """Send ``message`` to every current subscriber of ``channel``; never waits for them.

        Returns how many receivers took it: local subscriptions for the memory broker, subscribed
        broker connections (instances, not subscriptions) for Redis.
        """

    async def publish_many(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Publish several messages in order (each as ``publish`` would); brokers that can
        send them in one round trip (Redis: a pipeline) override this."""
        for channel, message in messages:
            await self.publish(channel, message)

    def subscribe(self, *channels: str, max_queue: int = DEFAULT_MAX_QUEUE) -> Subscription:
        """A subscription to ``channels``; it becomes active when entered with ``async with``."""
        return Subscription(self, channels, max_queue)

    @abstractmethod
    def local_subscribers(self, channel: str) -> int:
        """Live subscriptions to ``channel`` held by this broker instance (for metrics and tests)."""

    @abstractmethod
    async def _attach(self, subscription: Subscription) -> None:
        """Start delivering to ``subscription``; return once it is active."""

    @abstractmethod
    async def _release(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription`` and free what it held; idempotent."""

    @abstractmethod
    async def presence_join(self, room: str, member: str, info: dict[str, Any], ttl_seconds: float) -> None:
        """Add or replace ``member`` of ``room``; it disappears ``ttl_seconds`` from now unless refreshed."""

    @abstractmethod
    async def presence_heartbeat(self, room: str, member: str, ttl_seconds: float) -> bool:
        """Push the member's expiry to ``ttl_seconds`` from now; False if it is unknown or expired."""

    @abstractmethod
    async def presence_leave(self, room: str, member: str) -> None:
        """Remove ``member`` from ``room``; a no-op when it is not there."""

    @abstractmethod
    async def presence_list(self, room: str) -> dict[str, dict[str, Any]]:
        """Members whose TTL has not expired, each with the info it joined with."""
