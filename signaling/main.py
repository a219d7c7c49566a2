"""WebSocket signaling: the skeleton that video-visit signaling grows from.

One JSON object per text frame, ``type`` saying what it is (see README.md for the protocol).
Each connection authenticates with ``?token=<access token>``, gets a random ``peer_id``, is
present in the ``lobby`` presence room (TTL refreshed by a heartbeat, removed on disconnect), and
owns one broker subscription, its inbox ``signaling:peer:<peer_id>``, whose messages it relays
to the client verbatim; an inbox that overflows closes the socket (1013) rather than stall.

The routes read ``app.state.settings`` and ``app.state.broker``, so the same ``build_routes()``
serves inside the API (embedded default) and in the standalone ``app`` below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.auth.tokens import AccessClaims, decode_access_token
from app.broker import (
    DEFAULT_PREFIX,
    Broker,
    BrokerError,
    SlowConsumerError,
    Subscription,
    cancel_and_wait,
    create_broker,
)
from app.config import Settings, get_settings
from app.errors import Unauthorized

log = logging.getLogger("signaling")

LOBBY: Final = "lobby"
# 4000-4999 are application codes; 4401 mirrors HTTP 401 so clients know to refresh the token.
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_GOING_AWAY: Final = 1001
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN_LATER: Final = 1013


@dataclass(frozen=True, slots=True)
class SignalingOptions:
    presence_ttl_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    max_message_bytes: int = 64 * 1024
    inbox_max_queue: int = 256


def peer_channel(peer_id: str) -> str:
    """The broker channel whose messages are relayed to that peer's socket."""
    return f"signaling:peer:{peer_id}"


def error_frame(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def build_routes(options: SignalingOptions | None = None) -> list[BaseRoute]:
    opts = options or SignalingOptions()

    async def signaling(websocket: WebSocket) -> None:
        await _Peer(websocket, opts).run()

    return [
        Route("/signaling/health", health, methods=["GET"]),
        WebSocketRoute("/ws/signaling", signaling),
    ]


async def health(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


class _Peer:
    """One signaling connection: a receive loop, an inbox relay and a presence heartbeat."""

    def __init__(self, websocket: WebSocket, options: SignalingOptions) -> None:
        self.websocket = websocket
        self.options = options
        self.peer_id = secrets.token_urlsafe(12)
        self.settings: Settings = websocket.app.state.settings
        self.broker: Broker = websocket.app.state.broker
        # The receive loop (pong, errors) and the inbox relay both send.
        self._send_lock = asyncio.Lock()
        self._stopping = False

    async def send(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        async with self._send_lock:
            await self.websocket.send_text(text)

    async def run(self) -> None:
        # Accept before refusing: a close before the handshake reaches browsers as an opaque
        # 1006, while 4401 after an error frame tells the client to refresh its token.
        await self.websocket.accept()
        try:
            claims = decode_access_token(self.settings, self.websocket.query_params.get("token", ""))
        except Unauthorized as exc:
            await self.send(error_frame(exc.code, exc.message))
            await self.websocket.close(CLOSE_UNAUTHORIZED, exc.code)
            return
        try:
            code, reason = await self._serve(claims)
        except WebSocketDisconnect:
            return  # the client left while we were sending to it
        except BrokerError as exc:
            log.warning("signaling peer %s lost the broker: %r", self.peer_id, exc)
            code, reason = CLOSE_INTERNAL_ERROR, "broker unavailable"
            with contextlib.suppress(WebSocketDisconnect):
                await self.send(error_frame("service_unavailable", "Signaling is temporarily unavailable"))
        if code is not None:
            with contextlib.suppress(WebSocketDisconnect):
                await self.websocket.close(code, reason)

    async def _serve(self, claims: AccessClaims) -> tuple[int | None, str]:
        """Run until the client leaves (returns ``None``) or the server must close (a close code)."""
        info = {"user_id": str(claims.user_id), "roles": list(claims.roles)}
        ttl = self.options.presence_ttl_seconds
        async with self.broker.subscribe(
            peer_channel(self.peer_id), max_queue=self.options.inbox_max_queue
        ) as inbox:
            await self.broker.presence_join(LOBBY, self.peer_id, info, ttl)
            try:
                await self.send({"type": "welcome", "peer_id": self.peer_id, **info})
                tasks = [
                    asyncio.create_task(self._receive()),
                    asyncio.create_task(self._relay(inbox)),
                    asyncio.create_task(self._heartbeat(info)),
                ]
                try:
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    # Bounded even if a task shrugs off its cancellation: a connection's end must
                    # not wait on it, nor the server's shutdown on the connection.
                    self._stopping = True
                    await cancel_and_wait(tasks)
                finished = [task for task in tasks if task in done]
                for task in finished[1:]:
                    task.exception()  # retrieved, so asyncio does not log it as forgotten
                return finished[0].result()
            finally:
                try:
                    await self.broker.presence_leave(LOBBY, self.peer_id)
                except BrokerError as exc:
                    # The TTL removes the entry anyway; don't mask how the connection ended.
                    log.warning("signaling peer %s could not leave presence: %r", self.peer_id, exc)

    async def _receive(self) -> tuple[int | None, str]:
        while True:
            event = await self.websocket.receive()
            if event["type"] == "websocket.disconnect":
                return None, ""
            reply = self._handle(event.get("text"))
            if reply is not None:
                await self.send(reply)

    def _handle(self, text: str | None) -> dict[str, Any] | None:
        limit = self.options.max_message_bytes
        if text is None:
            return error_frame("unsupported_frame", "Send JSON objects as text frames")
        if len(text) > limit or len(text.encode()) > limit:
            return error_frame("message_too_large", f"A message may be at most {limit} bytes")
        try:
            message = json.loads(text)
        except ValueError:
            return error_frame("malformed_json", "The message is not valid JSON")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return error_frame("invalid_message", 'A message is a JSON object with a string "type"')
        kind: str = message["type"]
        if kind == "ping":
            return {"type": "pong"}
        return error_frame("unknown_type", f"Unknown message type {kind[:64]!r}")

    async def _relay(self, inbox: Subscription) -> tuple[int | None, str]:
        try:
            async for message in inbox:
                await self.send(message.data)
        except SlowConsumerError:
            return CLOSE_TRY_AGAIN_LATER, "too slow to keep up"
        # The iteration ends only when the broker closes, i.e. the server is shutting down.
        return CLOSE_GOING_AWAY, "server shutting down"

    async def _heartbeat(self, info: dict[str, Any]) -> tuple[int | None, str]:
        ttl = self.options.presence_ttl_seconds
        # Not ``while True``: a beat that missed its cancellation must not outlive the connection.
        while not self._stopping:
            await asyncio.sleep(self.options.heartbeat_seconds)
            try:
                if not await self.broker.presence_heartbeat(LOBBY, self.peer_id, ttl):
                    # Expired meanwhile (a stalled loop, a flushed Redis): be present again.
                    await self.broker.presence_join(LOBBY, self.peer_id, info, ttl)
            except BrokerError as exc:
                # A broker blip must not end a call; the next beat tries again.
                log.warning("signaling peer %s presence heartbeat failed: %r", self.peer_id, exc)
        return None, ""


def create_app(
    settings: Settings | None = None,
    *,
    broker_prefix: str = DEFAULT_PREFIX,
    options: SignalingOptions | None = None,
) -> Starlette:
    """The standalone signaling service; settings default to ``get_settings()`` at startup."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        resolved = settings or get_settings()
        broker = create_broker(resolved.redis_url, prefix=broker_prefix)
        await broker.start()
        app.state.settings = resolved
        app.state.broker = broker
        try:
            yield
        finally:
            await broker.close()

    return Starlette(routes=build_routes(options), lifespan=lifespan)


app = create_app()
