"""The Redis broker: shared by every API and signaling process pointed at one Redis.

Connections. Commands (PUBLISH, presence scripts, PING) go through one small blocking pool
(``max_connections``) with short retries. All subscriptions of a broker share ONE pub/sub
connection, read by ONE listener task that dispatches into the subscriptions' queues, and
SUBSCRIBE/UNSUBSCRIBE are reference-counted per channel. Why shared: a process holding a
thousand WebSockets then costs Redis one connection and the process one task, instead of a
thousand of each, and Redis' per-client output buffers never see our slow consumers (the
listener drains the socket at network speed and only does put-nowait work, so one slow
subscription never holds up the others or the publishers).

Failure. The pub/sub connection is deliberately never retried or silently reconnected: a
reconnect would skip whatever was published in between, unnoticed. When it breaks, or stops
answering the listener's idle PING, every subscription fails with ``BrokerUnavailableError``
(WebSocket clients reconnect and resynchronise) and the next ``subscribe`` opens a new one.

Presence. Per room, a sorted set member -> expiry (milliseconds, on the Redis server's clock,
so instances with skewed clocks agree) and a hash member -> info JSON, changed only by Lua
scripts so every operation is atomic. Expired members are purged on each access; both keys get
a PEXPIREAT just after their latest member's expiry, so an abandoned room vanishes by itself.
The two keys share a ``{room}`` hash tag to stay in one slot should Redis Cluster ever be used.

Time and cancellation. Every command (retries included) fails with ``BrokerUnavailableError``
within ``command_timeout``, so a slow or hung Redis delays a caller, a WebSocket's teardown or a
shutdown by a bounded time. Every redis-py call is awaited through ``honour_cancellation``: on
Python 3.11 redis-py's socket write can swallow a cancellation (see there), which once left a
signaling peer's heartbeat beating forever after its connection closed, and its server unable to
shut down. A command cancelled mid-flight is safe to abandon: redis-py closes a connection whose
read or write was interrupted, and the pool re-checks a connection before lending it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import RedisError

from app.broker.base import (
    DEFAULT_PREFIX,
    Broker,
    BrokerClosedError,
    BrokerError,
    BrokerUnavailableError,
    Message,
    Subscription,
    cancel_and_wait,
    check_name,
    check_ttl,
    decode_json,
    encode_json,
    honour_cancellation,
)

log = logging.getLogger("app.broker.redis")

_T = TypeVar("_T")

_LUA_HELPERS: Final = """
local function int(n) return string.format('%d', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function purge(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now))
  -- unpack() is limited by the Lua C stack, hence chunks.
  for i = 1, #expired, 1000 do
    local chunk = {unpack(expired, i, math.min(i + 999, #expired))}
    redis.call('ZREM', KEYS[1], unpack(chunk))
    redis.call('HDEL', KEYS[2], unpack(chunk))
  end
end
local function expire_room()
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if last[2] then
    local at = int(tonumber(last[2]) + 1000)
    redis.call('PEXPIREAT', KEYS[1], at)
    redis.call('PEXPIREAT', KEYS[2], at)
  end
end
"""

# KEYS: members zset, info hash. ARGV: member, ttl ms, info JSON.
_JOIN: Final = (
    _LUA_HELPERS
    + """
local now = now_ms()
purge(now)
redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[2])), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
expire_room()
return 1
"""
)

# KEYS: members zset, info hash. ARGV: member, ttl ms. Returns 1 if refreshed, 0 if gone.
_HEARTBEAT: Final = (
    _LUA_HELPERS
    + """
local now = now_ms()
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) <= now then
  purge(now)
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', int(now + tonumber(ARGV[2])), ARGV[1])
expire_room()
return 1
"""
)

# KEYS: members zset, info hash. Returns the live members' infos as a flat [member, info, ...].
_LIST: Final = (
    _LUA_HELPERS
    + """
purge(now_ms())
return redis.call('HGETALL', KEYS[2])
"""
)


@dataclass(slots=True)
class _Channel:
    # Resolved when Redis confirms the SUBSCRIBE that made this channel live on our connection.
    ready: asyncio.Future[None]
    subscribers: dict[Subscription, None] = field(default_factory=dict)


class RedisBroker(Broker):
    """Broker over one Redis (``redis://`` or ``rediss://`` URL).

    ``prefix`` namespaces every channel and key; ``client_name`` labels our connections in
    ``CLIENT LIST`` (the pub/sub one gets ``:pubsub`` appended). ``command_timeout`` bounds each
    command, retries included; ``subscribe_timeout`` bounds the wait for Redis to confirm a
    SUBSCRIBE; ``idle_ping_seconds`` is how long the pub/sub connection may stay silent before it
    is pinged, and how long the PING may go unanswered.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_connections: int = 16,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        subscribe_timeout: float = 10.0,
        idle_ping_seconds: float = 5.0,
        client_name: str | None = None,
    ) -> None:
        super().__init__(prefix=prefix)
        self._url = url
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._subscribe_timeout = subscribe_timeout
        self._idle_ping_seconds = idle_ping_seconds
        self._client_name = client_name
        self._redis: Redis | None = None
        self._sub_redis: Redis | None = None
        self._scripts: dict[str, Any] = {}
        # Guards the pub/sub connection and the channel table against interleaved
        # SUBSCRIBE/UNSUBSCRIBE; never held while waiting for Redis to answer a subscription.
        self._control = asyncio.Lock()
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._channels: dict[str, _Channel] = {}
        # Redis confirms SUBSCRIBEs in the order they were sent, so per channel key the oldest
        # waiting future belongs to the next confirmation.
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<RedisBroker prefix={self.prefix!r} {self._lifecycle}>"

    # Lifecycle

    async def start(self) -> None:
        if self._lifecycle != "new":
            raise RuntimeError("a RedisBroker can be started once")
        common: dict[str, Any] = {
            "socket_connect_timeout": self._connect_timeout,
            "socket_timeout": self._command_timeout,
            "socket_keepalive": True,
        }
        named = {"client_name": self._client_name} if self._client_name else {}
        sub_named = {"client_name": f"{self._client_name}:pubsub"} if self._client_name else {}
        pool = BlockingConnectionPool.from_url(
            self._url,
            max_connections=self._max_connections,
            timeout=self._command_timeout,
            decode_responses=True,
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 2),
            **common,
            **named,
        )
        # Bytes on the pub/sub connection: redis-py mis-parses a decoded bare "PONG" reply.
        sub_pool = ConnectionPool.from_url(self._url, retry=Retry(NoBackoff(), 0), **common, **sub_named)
        self._redis = Redis(connection_pool=pool)
        self._sub_redis = Redis(connection_pool=sub_pool)
        self._scripts = {
            "join": self._redis.register_script(_JOIN),
            "heartbeat": self._redis.register_script(_HEARTBEAT),
            "list": self._redis.register_script(_LIST),
        }
        self._lifecycle = "running"
        try:
            await self.ping()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._lifecycle == "closed":
            return
        self._lifecycle = "closed"
        async with self._control:
            listener, pubsub = self._listener, self._pubsub
            self._teardown_listener(None)
        if listener is not None:
            await cancel_and_wait([listener])
        if pubsub is not None:
            await self._discard(pubsub)
        await cancel_and_wait(list(self._tasks))
        for client in (self._redis, self._sub_redis):
            if client is not None:
                await client.aclose(close_connection_pool=True)

    async def ping(self) -> None:
        client = self._client()
        await self._command("Redis is unreachable", client.ping)

    async def _command(self, failure: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run one redis-py call, retries included, within ``command_timeout`` and cancellable.

        ``failure`` starts the ``BrokerUnavailableError`` message should the call fail.
        """
        try:
            async with asyncio.timeout(self._command_timeout):
                return await honour_cancellation(call())
        except TimeoutError as exc:  # ours; redis-py's own TimeoutError is a RedisError
            raise BrokerUnavailableError(f"{failure}: no answer within {self._command_timeout:g} s") from exc
        except RedisError as exc:
            raise BrokerUnavailableError(f"{failure}: {exc}") from exc

    def _client(self) -> Redis:
        self._check_running()
        assert self._redis is not None
        return self._redis

    def _channel_key(self, channel: str) -> str:
        return f"{self.prefix}ch:{channel}"

    def _room_keys(self, room: str) -> list[str]:
        base = f"{self.prefix}presence:{{{check_name('room', room)}}}"
        return [f"{base}:members", f"{base}:info"]

    # Publish / subscribe

    async def publish(self, channel: str, message: dict[str, Any]) -> int:
        client = self._client()
        key = self._channel_key(check_name("channel", channel))
        payload = encode_json(message)
        receivers = await self._command("could not publish to Redis", lambda: client.publish(key, payload))
        return int(receivers)

    async def publish_many(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """One pipelined round trip (not a transaction): order is kept, nothing waits per message."""
        if not messages:
            return
        client = self._client()
        encoded = [(self._channel_key(check_name("channel", c)), encode_json(m)) for c, m in messages]

        async def send() -> None:
            async with client.pipeline(transaction=False) as pipe:
                for key, payload in encoded:
                    pipe.publish(key, payload)
                await pipe.execute()

        await self._command("could not publish to Redis", send)

    def local_subscribers(self, channel: str) -> int:
        state = self._channels.get(channel)
        return len(state.subscribers) if state is not None else 0

    async def _attach(self, subscription: Subscription) -> None:
        self._check_running()
        waits: list[asyncio.Future[None]] = []
        async with self._control:
            self._check_running()
            pubsub = await self._ensure_listener()
            fresh: list[str] = []
            for channel in subscription.channels:
                state = self._channels.get(channel)
                if state is None:
                    state = _Channel(asyncio.get_running_loop().create_future())
                    self._channels[channel] = state
                    key = self._channel_key(channel)
                    self._confirmations.setdefault(key, deque()).append(state.ready)
                    fresh.append(key)
                state.subscribers[subscription] = None
                waits.append(state.ready)
            if fresh:
                try:
                    await self._pubsub_command(pubsub, pubsub.subscribe(*fresh))
                except (RedisError, OSError) as exc:
                    await self._fail_listener(pubsub, exc)
                    raise BrokerUnavailableError(f"could not subscribe on Redis: {exc}") from exc
        # Shielded: the futures are shared with other subscriptions of the same channels.
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
        confirmed = asyncio.gather(*(asyncio.shield(w) for w in waits))
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await confirmed
        except TimeoutError as exc:
            raise BrokerUnavailableError("Redis did not confirm the subscription in time") from exc

    async def _release(self, subscription: Subscription) -> None:
        self._detach(subscription)
        if self._lifecycle == "running":
            await self._unsubscribe_idle(subscription.channels)

    def _detach(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            state = self._channels.get(channel)
            if state is not None:
                state.subscribers.pop(subscription, None)

    async def _unsubscribe_idle(self, channels: tuple[str, ...]) -> None:
        async with self._control:
            idle = [c for c in channels if (s := self._channels.get(c)) is not None and not s.subscribers]
            for channel in idle:
                del self._channels[channel]
            pubsub = self._pubsub
            if not idle or pubsub is None:
                return
            try:
                await self._pubsub_command(pubsub, pubsub.unsubscribe(*(self._channel_key(c) for c in idle)))
            except (RedisError, OSError) as exc:
                await self._fail_listener(pubsub, exc)

    async def _pubsub_command(self, pubsub: PubSub, command: Awaitable[Any]) -> None:
        """Send a command on the shared pub/sub connection; call with ``_control`` held.

        Bounded already: redis-py only writes here (the listener reads the reply), with the
        socket timeout and no retries. Interrupted mid-write, redis-py drops the connection, and
        its next read would silently reconnect and resubscribe, skipping whatever was published
        meanwhile: fail the subscriptions loudly instead, as for any other loss of the connection.
        """
        try:
            await honour_cancellation(command)
        except asyncio.CancelledError as exc:
            connection = pubsub.connection
            if connection is None or not connection.is_connected:
                await self._fail_listener(pubsub, exc)
            raise

    async def _ensure_listener(self) -> PubSub:
        """The shared pub/sub connection, opened on first use; call with ``_control`` held."""
        if self._pubsub is not None:
            return self._pubsub
        assert self._sub_redis is not None
        pubsub = self._sub_redis.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        except (RedisError, OSError) as exc:
            await self._discard(pubsub)
            raise BrokerUnavailableError(f"could not open a Redis pub/sub connection: {exc}") from exc
        self._pubsub = pubsub
        self._listener = asyncio.create_task(self._listen(pubsub), name=f"{self!r} listener")
        return pubsub

    async def _listen(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        ping_sent: float | None = None
        try:
            # Not ``while True``: should a cancellation ever be lost, a replaced listener stops.
            while self._pubsub is pubsub:
                # A bounded wait, so a silently dead connection is noticed by the PING below.
                raw = await pubsub.get_message(timeout=1.0)
                now = loop.time()
                if raw is not None:
                    last_heard, ping_sent = now, None
                    self._dispatch(raw)
                elif ping_sent is not None:
                    if now - ping_sent > self._idle_ping_seconds:
                        raise BrokerUnavailableError("Redis stopped answering on the pub/sub connection")
                elif now - last_heard >= self._idle_ping_seconds:
                    await honour_cancellation(pubsub.ping())
                    ping_sent = now
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("Redis pub/sub connection lost: %r", exc)
            async with self._control:
                await self._fail_listener(pubsub, exc)

    def _dispatch(self, raw: dict[str, Any]) -> None:
        kind = raw.get("type")
        if kind == "message":
            key = _text(raw["channel"])
            channel = key.removeprefix(f"{self.prefix}ch:")
            state = self._channels.get(channel)
            if state is None or not state.subscribers or channel == key:
                return
            try:
                data = decode_json(raw["data"])
            except ValueError:
                log.warning("dropped a message that is not a JSON object on %s", key)
                return
            message = Message(channel, data)
            refused = [s for s in state.subscribers if not s._deliver(message)]
            for subscription in refused:
                self._detach(subscription)
                # Unsubscribe now, not when its owner gets round to closing it.
                self._spawn(self._unsubscribe_idle(subscription.channels))
        elif kind == "subscribe":
            key = _text(raw["channel"])
            waiters = self._confirmations.get(key)
            if waiters:
                future = waiters.popleft()
                if not waiters:
                    del self._confirmations[key]
                if not future.done():
                    future.set_result(None)

    async def _fail_listener(self, pubsub: PubSub, cause: BaseException) -> None:
        """Fail every subscription and drop the connection; call with ``_control`` held."""
        if self._pubsub is not pubsub:
            return
        error = BrokerUnavailableError(f"lost the Redis pub/sub connection: {cause}")
        error.__cause__ = cause
        self._teardown_listener(error)
        await self._discard(pubsub)

    def _teardown_listener(self, error: BrokerError | None) -> None:
        """Detach everything from the current pub/sub connection; ``None`` means a clean close."""
        subscriptions = {s: None for state in self._channels.values() for s in state.subscribers}
        for subscription in subscriptions:
            if error is None:
                subscription._end()
            else:
                subscription._fail(error)
        failure = error or BrokerClosedError("the broker is closed")
        for waiters in self._confirmations.values():
            for future in waiters:
                if not future.done():
                    future.set_exception(type(failure)(*failure.args))
                    # Mark it retrieved: its waiter may already have given up.
                    future.exception()
        self._channels.clear()
        self._confirmations.clear()
        self._pubsub = None
        listener, self._listener = self._listener, None
        if listener is not None and listener is not asyncio.current_task():
            listener.cancel()

    async def _discard(self, pubsub: PubSub) -> None:
        try:
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        except (RedisError, OSError) as exc:
            log.debug("ignored an error while closing a pub/sub connection: %r", exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Presence

    async def presence_join(self, room: str, member: str, info: dict[str, Any], ttl_seconds: float) -> None:
        await self._script(
            "join",
            self._room_keys(room),
            [check_name("member", member), check_ttl(ttl_seconds), encode_json(info)],
        )

    async def presence_heartbeat(self, room: str, member: str, ttl_seconds: float) -> bool:
        refreshed = await self._script(
            "heartbeat", self._room_keys(room), [check_name("member", member), check_ttl(ttl_seconds)]
        )
        return bool(refreshed)

    async def presence_leave(self, room: str, member: str) -> None:
        client = self._client()
        members_key, info_key = self._room_keys(room)
        check_name("member", member)

        async def leave() -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.zrem(members_key, member)
                pipe.hdel(info_key, member)
                await pipe.execute()

        await self._command("could not leave presence on Redis", leave)

    async def presence_list(self, room: str) -> dict[str, dict[str, Any]]:
        flat = await self._script("list", self._room_keys(room), [])
        pairs = iter(flat)
        return {member: decode_json(info) for member, info in zip(pairs, pairs, strict=True)}

    async def _script(self, name: str, keys: list[str], args: list[str | int]) -> Any:
        self._client()
        script = self._scripts[name]
        return await self._command(f"Redis presence {name} failed", lambda: script(keys=keys, args=args))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
