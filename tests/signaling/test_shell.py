"""The signaling shell over real WebSockets: the standalone app served by uvicorn on a free
loopback port, driven by the ``websockets`` client. Memory broker always; Redis too when
HOSPITAL_TEST_REDIS_URL is set (an unreachable Redis then fails the app's startup, so the tests
fail rather than skip)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.auth.tokens import issue_access_token
from app.broker import Broker, MemoryBroker
from app.config import Settings, get_settings
from signaling import main as signaling_main
from signaling.main import LOBBY, SignalingOptions, create_app, peer_channel

REDIS_URL = os.environ.get("HOSPITAL_TEST_REDIS_URL")
SECRET = "signaling-test-secret-key-0123456789abcdef"
TIMEOUT = 15.0  # two noisy cores: generous on purpose


@dataclass
class Served:
    app: Starlette
    settings: Settings
    host: str

    @property
    def broker(self) -> Broker:
        broker: Broker = self.app.state.broker
        return broker

    def token(self, roles: list[str] | None = None, now: datetime | None = None) -> tuple[str, uuid.UUID]:
        user_id = uuid.uuid4()
        roles = ["doctor"] if roles is None else roles
        token, _ = issue_access_token(self.settings, user_id, uuid.uuid4(), roles, now or datetime.now(UTC))
        return token, user_id

    def connect(self, query: str) -> connect:
        return connect(f"ws://{self.host}/ws/signaling{query}", open_timeout=TIMEOUT, close_timeout=TIMEOUT)


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on a free loopback port in this event loop; yield host:port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("the signaling app failed to start (is the broker reachable?)")
            assert asyncio.get_running_loop().time() < deadline, "the signaling app did not start in time"
            await asyncio.sleep(0.01)
        yield f"{host}:{port}"
    finally:
        server.should_exit = True
        done, _ = await asyncio.wait({task}, timeout=TIMEOUT)
        sock.close()
        if not done:
            # Say what is holding the shutdown up: the one thing a flaky hang leaves to go on.
            stacks = io.StringIO()
            for other in asyncio.all_tasks():
                if other is not asyncio.current_task():
                    other.print_stack(limit=8, file=stacks)
            task.cancel()
            raise AssertionError(f"the signaling app did not shut down in time; tasks:\n{stacks.getvalue()}")
        task.result()


StartServer = Callable[..., AbstractAsyncContextManager[Served]]


@pytest.fixture(params=["memory", "redis"] if REDIS_URL else ["memory"])
async def start_server(request: pytest.FixtureRequest) -> AsyncIterator[StartServer]:
    redis_url = REDIS_URL if request.param == "redis" else None
    prefix = f"hh-test:{uuid.uuid4().hex[:12]}:"

    @contextlib.asynccontextmanager
    async def start(options: SignalingOptions | None = None) -> AsyncIterator[Served]:
        settings = Settings(env="test", secret_key=SECRET, redis_url=redis_url)
        app = create_app(settings, broker_prefix=prefix, options=options)
        async with serve(app) as host:
            yield Served(app, settings, host)

    yield start
    if redis_url:
        client = Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def served(start_server: StartServer) -> AsyncIterator[Served]:
    async with start_server() as s:
        yield s


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
    message: dict[str, Any] = json.loads(frame)
    return message


async def ping(ws: ClientConnection) -> None:
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv_json(ws) == {"type": "pong"}


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_health(served: Served) -> None:
    async with httpx.AsyncClient(base_url=f"http://{served.host}", timeout=TIMEOUT) as client:
        response = await client.get("/signaling/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_a_good_token_is_welcomed_and_ping_gets_pong(served: Served) -> None:
    token, user_id = served.token(roles=["doctor", "admin"])
    async with served.connect(f"?token={token}") as ws:
        welcome = await recv_json(ws)
        assert welcome["type"] == "welcome"
        assert isinstance(welcome["peer_id"], str) and len(welcome["peer_id"]) >= 16
        assert welcome["user_id"] == str(user_id)
        assert welcome["roles"] == ["doctor", "admin"]
        await ping(ws)
        await ping(ws)


async def test_every_connection_gets_its_own_peer_id(served: Served) -> None:
    token, _ = served.token()
    async with served.connect(f"?token={token}") as one, served.connect(f"?token={token}") as two:
        assert (await recv_json(one))["peer_id"] != (await recv_json(two))["peer_id"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?token=not-a-jwt", "invalid_token"),
        ("", "invalid_token"),
        ("?token=", "invalid_token"),
        ("expired", "token_expired"),
        ("foreign", "invalid_token"),
    ],
)
async def test_a_bad_token_gets_an_error_then_close_4401(served: Served, query: str, code: str) -> None:
    if query == "expired":
        token, _ = served.token(now=datetime.now(UTC) - timedelta(hours=2))
        query = f"?token={token}"
    elif query == "foreign":
        other = Settings(env="test", secret_key="another-secret-key-0123456789abcdefghij")
        token, _ = issue_access_token(other, uuid.uuid4(), uuid.uuid4(), ["doctor"], datetime.now(UTC))
        query = f"?token={token}"
    async with served.connect(query) as ws:
        error = await recv_json(ws)
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401
    assert await served.broker.presence_list(LOBBY) == {}


async def test_bad_messages_get_errors_and_the_socket_stays_usable(served: Served) -> None:
    limit = SignalingOptions().max_message_bytes
    token, _ = served.token()
    cases: list[tuple[str | bytes, str]] = [
        ("{not json", "malformed_json"),
        ("[1, 2]", "invalid_message"),
        ('{"type": 5}', "invalid_message"),
        ('{"no": "type"}', "invalid_message"),
        ('{"type": "dance"}', "unknown_type"),
        (b"\x00\x01", "unsupported_frame"),
        (json.dumps({"type": "ping", "pad": "x" * limit}), "message_too_large"),
        # Fewer characters than the limit, more bytes: the limit is in bytes.
        (json.dumps({"type": "ping", "pad": "é" * (limit // 2)}, ensure_ascii=False), "message_too_large"),
    ]
    async with served.connect(f"?token={token}") as ws:
        assert (await recv_json(ws))["type"] == "welcome"
        for frame, code in cases:
            await ws.send(frame)
            reply = await recv_json(ws)
            assert (reply["type"], reply["code"]) == ("error", code), frame[:40]
            assert reply["message"]
            await ping(ws)
        # Exactly at the limit is still fine.
        at_limit = json.dumps({"type": "ping", "pad": ""})
        at_limit = json.dumps({"type": "ping", "pad": "x" * (limit - len(at_limit))})
        assert len(at_limit.encode()) == limit
        await ws.send(at_limit)
        assert await recv_json(ws) == {"type": "pong"}


async def test_presence_while_connected_and_gone_after(served: Served) -> None:
    token_a, user_a = served.token(roles=["patient"])
    token_b, user_b = served.token(roles=["nurse"])
    async with served.connect(f"?token={token_a}") as a:
        peer_a = (await recv_json(a))["peer_id"]
        async with served.connect(f"?token={token_b}") as b:
            peer_b = (await recv_json(b))["peer_id"]
            # Present by the time the welcome arrives.
            assert await served.broker.presence_list(LOBBY) == {
                peer_a: {"user_id": str(user_a), "roles": ["patient"]},
                peer_b: {"user_id": str(user_b), "roles": ["nurse"]},
            }

        async def b_left() -> bool:
            return peer_b not in await served.broker.presence_list(LOBBY)

        await eventually(b_left, "the closed peer to leave presence")
        assert list(await served.broker.presence_list(LOBBY)) == [peer_a]
        await ping(a)

    async def all_left() -> bool:
        return await served.broker.presence_list(LOBBY) == {}

    await eventually(all_left, "every peer to leave presence")


async def test_the_heartbeat_keeps_a_peer_present_past_its_ttl(start_server: StartServer) -> None:
    async with start_server(SignalingOptions(presence_ttl_seconds=1.0, heartbeat_seconds=0.1)) as served:
        token, _ = served.token()
        async with served.connect(f"?token={token}") as ws:
            peer = (await recv_json(ws))["peer_id"]
            # Joined after the peer with the same TTL: once it has expired, so would have the peer.
            await served.broker.presence_join(LOBBY, "clock", {}, 1.0)

            async def clock_expired() -> bool:
                return "clock" not in await served.broker.presence_list(LOBBY)

            await eventually(clock_expired, "the clock member to expire")
            assert peer in await served.broker.presence_list(LOBBY)
            await ping(ws)


async def test_messages_on_the_peer_channel_are_relayed(served: Served) -> None:
    token, _ = served.token()
    async with served.connect(f"?token={token}") as ws:
        peer = (await recv_json(ws))["peer_id"]
        offer = {"type": "offer", "from": "someone", "sdp": "v=0 ✓"}
        assert await served.broker.publish(peer_channel(peer), offer) == 1
        assert await recv_json(ws) == offer
        await ping(ws)


async def test_the_module_level_app_runs_standalone() -> None:
    settings = get_settings()
    async with serve(signaling_main.app) as host:
        token, _ = issue_access_token(settings, uuid.uuid4(), uuid.uuid4(), ["doctor"], datetime.now(UTC))
        async with connect(f"ws://{host}/ws/signaling?token={token}", open_timeout=TIMEOUT) as ws:
            assert (await recv_json(ws))["type"] == "welcome"
            await ping(ws)
        async with httpx.AsyncClient(base_url=f"http://{host}", timeout=TIMEOUT) as client:
            assert (await client.get("/signaling/health")).json() == {"status": "ok"}


async def test_a_peer_whose_inbox_overflows_is_closed_1013() -> None:
    # Memory broker: back-to-back publishes run without yielding, so the relay cannot drain
    # the one-message inbox in between and the overflow is deterministic.
    settings = Settings(env="test", secret_key=SECRET, redis_url=None)
    app = create_app(settings, options=SignalingOptions(inbox_max_queue=1))
    async with serve(app) as host:
        served = Served(app, settings, host)
        token, _ = served.token()
        async with served.connect(f"?token={token}") as ws:
            peer = (await recv_json(ws))["peer_id"]
            await served.broker.publish(peer_channel(peer), {"n": 1})
            await served.broker.publish(peer_channel(peer), {"n": 2})
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await recv_json(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013

        async def left() -> bool:
            return await served.broker.presence_list(LOBBY) == {}

        await eventually(left, "the dropped peer to leave presence")


class _StuckHeartbeatBroker(MemoryBroker):
    """A heartbeat that hangs (a slow Redis) and then shrugs off its cancellation, as redis-py's
    commands could on Python 3.11, where ``asyncio.wait_for`` swallows a cancellation that lands
    as what it waits for completes."""

    def __init__(self) -> None:
        super().__init__(prefix="hh-test:")
        self.beating = asyncio.Event()

    async def presence_heartbeat(self, room: str, member: str, ttl_seconds: float) -> bool:
        if not self.beating.is_set():  # once: the bug swallowed one cancellation, not all
            self.beating.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        return await super().presence_heartbeat(room, member, ttl_seconds)


async def test_a_heartbeat_that_ignores_its_cancellation_does_not_hold_up_the_peer_or_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = _StuckHeartbeatBroker()
    monkeypatch.setattr(signaling_main, "create_broker", lambda *_, **__: broker)
    settings = Settings(env="test", secret_key=SECRET, redis_url=None)
    app = create_app(settings, options=SignalingOptions(heartbeat_seconds=0.01))
    async with serve(app) as host:  # whose teardown fails if the app does not shut down
        served = Served(app, settings, host)
        token, _ = served.token()
        async with served.connect(f"?token={token}") as ws:
            assert (await recv_json(ws))["type"] == "welcome"
            await asyncio.wait_for(broker.beating.wait(), TIMEOUT)

        async def left() -> bool:
            return await broker.presence_list(LOBBY) == {}

        # The connection's end cancelled the stuck beat and went on to leave presence.
        await eventually(left, "the peer to leave presence")
