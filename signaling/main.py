"""WebSocket signaling for video consultations: rooms, a waiting room, presence and relay.

One JSON object per text frame, ``type`` saying what it is; the protocol is written down in
docs/signaling.md. Each connection authenticates with ``?token=<join token>`` (minted by
``POST /api/telehealth/consultations/{id}/join``: one participant of one consultation in one
role) and then owns two broker subscriptions: its inbox ``signaling:peer:<peer_id>`` (offers,
answers and candidates addressed to it, relayed verbatim) and the room channel
``signaling:room:<room>`` (joins, leaves, admissions, chat, consent, end), which it turns into
protocol frames for its client. Presence of the room lives in the broker too, so with Redis any
number of signaling instances serve one room: nothing about a room is kept in one process.

What must outlive a socket (admission, chat, consent, join and leave times, the end) is written
through ``app.telehealth.service`` (in-process, on this process's database) before it is
announced; a reconnect with the same token (or a new one for the same participant) finds its
place from there.

The routes read ``app.state.settings``, ``app.state.broker`` and ``app.state.db``, so the same
``build_routes()`` serves inside the API (embedded default) and in the standalone ``app`` below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.audit import service as audit
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
from app.context import current_context
from app.db import Database
from app.errors import AppError, Unauthorized
from app.telehealth import service as telehealth
from app.telehealth.channels import peer_channel, presence_room, room_channel
from app.telehealth.models import CLINICIAN
from app.telehealth.tokens import JoinClaims, decode_join_token

log = logging.getLogger("signaling")

__all__ = ["SignalingOptions", "build_routes", "create_app", "peer_channel", "presence_room", "room_channel"]

# 4000-4999 are application codes; 4401 mirrors HTTP 401 so clients know to get a new token.
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN_LATER: Final = 1013
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_HEARTBEAT_TIMEOUT: Final = 4408
CLOSE_SUPERSEDED: Final = 4409
CLOSE_ENDED: Final = 4410

RELAYED: Final = {"offer": "sdp", "answer": "sdp", "candidate": "candidate"}
WAITING: Final = "waiting"
ADMITTED: Final = "admitted"

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class SignalingOptions:
    presence_ttl_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    # A client that sends nothing (not even a ping) for this long is taken for dead.
    idle_timeout_seconds: float = 45.0
    max_message_bytes: int = 64 * 1024
    inbox_max_queue: int = 256


def error_frame(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


class _Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


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


async def unit_of_work(db: Database, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
    """Run ``work`` in its own committed transaction, as a request's unit of work would:
    a refused change is rolled back and its audit events kept with the failure outcome."""
    async with db.sessionmaker() as session:
        try:
            result = await work(session)
            await session.commit()
            return result
        except BaseException as exc:
            pending = audit.take_pending(session)
            await session.rollback()
            if pending and isinstance(exc, Exception):
                status = exc.status_code if isinstance(exc, AppError) else 500
                outcome = "denied" if status in (401, 403) else "failure"
                code = exc.code if isinstance(exc, AppError) else type(exc).__name__
                with contextlib.suppress(Exception):
                    await audit.write_failed(db.sessionmaker, pending, outcome, code)
            raise


class _Peer:
    """One participant's connection: a receive loop, the inbox and room relays, a heartbeat."""

    def __init__(self, websocket: WebSocket, options: SignalingOptions) -> None:
        self.websocket = websocket
        self.options = options
        self.settings: Settings = websocket.app.state.settings
        self.broker: Broker = websocket.app.state.broker
        self.db: Database = websocket.app.state.db
        self.connection_id = secrets.token_hex(8)
        self._send_lock = asyncio.Lock()
        self._stopping = False
        self._superseded = False
        self.claims: JoinClaims
        self.state = WAITING
        # The room as this connection knows it: peer id -> presence info. Kept current by the
        # room channel; re-read from presence when a message names a peer it does not know.
        self.members: dict[str, dict[str, Any]] = {}

    # --- plumbing ----------------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        async with self._send_lock:
            await self.websocket.send_text(text)

    @property
    def peer_id(self) -> str:
        return self.claims.peer_id

    @property
    def room(self) -> str:
        return self.claims.room

    @property
    def is_clinician(self) -> bool:
        return self.claims.role == CLINICIAN

    def info(self) -> dict[str, Any]:
        return {
            "peer_id": self.peer_id,
            "role": self.claims.role,
            "display_name": self.claims.display_name,
            "state": self.state,
        }

    async def publish_room(self, event: dict[str, Any]) -> None:
        await self.broker.publish(room_channel(self.room), {**event, "origin": self.connection_id})

    async def run(self) -> None:
        # Accept before refusing: a close before the handshake reaches browsers as an opaque
        # 1006, while 4401 after an error frame tells the client to get a new token.
        await self.websocket.accept()
        ctx = current_context()
        ctx.client_address = self.websocket.client.host if self.websocket.client else None
        try:
            self.claims = decode_join_token(self.settings, self.websocket.query_params.get("token", ""))
        except Unauthorized as exc:
            await self._refuse(exc.code, exc.message, CLOSE_UNAUTHORIZED)
            return
        ctx.actor_id = self.claims.user_id
        try:
            entry = await unit_of_work(
                self.db, lambda s: telehealth.room_connect(s, self.settings, self.claims)
            )
        except AppError as exc:
            closing = (
                CLOSE_ENDED if exc.code in ("consultation_ended", "consultation_missed") else CLOSE_FORBIDDEN
            )
            await self._refuse(exc.code, exc.message, closing)
            return
        self.state = entry.state
        try:
            code, reason = await self._serve()
        except WebSocketDisconnect:
            code, reason = None, ""
        except BrokerError as exc:
            log.warning("signaling peer %s lost the broker: %r", self.peer_id, exc)
            code, reason = CLOSE_INTERNAL_ERROR, "broker unavailable"
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.send(error_frame("service_unavailable", "Signaling is temporarily unavailable"))
        if code is not None:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.websocket.close(code, reason)

    async def _refuse(self, code: str, message: str, close: int) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.send(error_frame(code, message))
            await self.websocket.close(close, code)

    async def _serve(self) -> tuple[int | None, str]:
        """Run until the client leaves (returns ``None``) or the server must close (a close code)."""
        ttl = self.options.presence_ttl_seconds
        async with (
            self.broker.subscribe(
                peer_channel(self.peer_id), max_queue=self.options.inbox_max_queue
            ) as inbox,
            self.broker.subscribe(room_channel(self.room), max_queue=self.options.inbox_max_queue) as events,
        ):
            # An older socket of this participant (a drop not noticed yet, another tab) gives way.
            await self.broker.publish(
                peer_channel(self.peer_id), {"_control": "superseded", "connection": self.connection_id}
            )
            await self.broker.presence_join(presence_room(self.room), self.peer_id, self.info(), ttl)
            try:
                self.members = await self.broker.presence_list(presence_room(self.room))
                await self.send(
                    {
                        "type": "welcome",
                        **self.info(),
                        "consultation_id": str(self.claims.consultation_id),
                    }
                )
                await self._send_peers()
                await self.publish_room({"event": "joined", "peer": self.info()})
                tasks = [
                    asyncio.create_task(self._receive()),
                    asyncio.create_task(self._relay_inbox(inbox)),
                    asyncio.create_task(self._relay_room(events)),
                    asyncio.create_task(self._heartbeat()),
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
                if not self._superseded:
                    # Written before it is announced: whoever hears "peer-left" finds the leave time.
                    try:
                        await unit_of_work(self.db, lambda s: telehealth.room_disconnect(s, self.claims))
                    except Exception as exc:
                        log.warning("signaling peer %s: leave not recorded: %r", self.peer_id, exc)
                    try:
                        await self.broker.presence_leave(presence_room(self.room), self.peer_id)
                        await self.publish_room({"event": "left", "peer_id": self.peer_id})
                    except BrokerError as exc:
                        # The TTL removes the entry anyway; don't mask how the connection ended.
                        log.warning("signaling peer %s could not leave: %r", self.peer_id, exc)

    def _visible(self) -> list[dict[str, Any]]:
        """The other peers this connection may know of: admitted ones; for the clinician, the
        waiting room too."""
        return [
            {k: info.get(k) for k in ("peer_id", "role", "display_name", "state")}
            for peer, info in self.members.items()
            if peer != self.peer_id and (info.get("state") == ADMITTED or self.is_clinician)
        ]

    async def _send_peers(self) -> None:
        await self.send({"type": "peers", "peers": self._visible() if self.state == ADMITTED else []})

    # --- from the client -----------------------------------------------------------------------

    async def _receive(self) -> tuple[int | None, str]:
        while True:
            try:
                async with asyncio.timeout(self.options.idle_timeout_seconds):
                    event = await self.websocket.receive()
            except TimeoutError:
                return CLOSE_HEARTBEAT_TIMEOUT, "no heartbeat"
            if event["type"] == "websocket.disconnect":
                return None, ""
            try:
                reply = await self._handle(event.get("text"))
            except _Close as close:
                return close.code, close.reason
            except AppError as exc:
                reply = error_frame(exc.code, exc.message)
            except (BrokerError, WebSocketDisconnect):
                raise
            except Exception:  # one bad message must never end the room
                log.exception("signaling peer %s: message failed", self.peer_id)
                reply = error_frame("internal_error", "The message could not be handled")
            if reply is not None:
                await self.send(reply)

    def _parse(self, text: str | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(message, None) or (None, the error frame to answer with)."""
        limit = self.options.max_message_bytes
        if text is None:
            return None, error_frame("unsupported_frame", "Send JSON objects as text frames")
        if len(text) > limit or len(text.encode()) > limit:
            return None, error_frame("message_too_large", f"A message may be at most {limit} bytes")
        try:
            message = json.loads(text)
        except ValueError:
            return None, error_frame("malformed_json", "The message is not valid JSON")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return None, error_frame("invalid_message", 'A message is a JSON object with a string "type"')
        return message, None

    async def _handle(self, text: str | None) -> dict[str, Any] | None:
        message, error = self._parse(text)
        if message is None:
            return error
        kind: str = message["type"]
        if kind == "ping":
            return {"type": "pong"}
        if kind == "leave":
            raise _Close(CLOSE_NORMAL, "left")
        if kind in RELAYED:
            return await self._relay_to_peer(kind, message)
        if kind == "admit":
            return await self._admit(message)
        if kind == "chat":
            return await self._chat(message)
        if kind == "consent":
            return await self._consent(message)
        if kind == "end":
            return await self._end()
        if kind == "recording":
            return await self._recording(message)
        return error_frame("unknown_type", f"Unknown message type {kind[:64]!r}")

    async def _member(self, peer_id: str) -> dict[str, Any] | None:
        if peer_id not in self.members:
            self.members = await self.broker.presence_list(presence_room(self.room))
        return self.members.get(peer_id)

    async def _relay_to_peer(self, kind: str, message: dict[str, Any]) -> dict[str, Any] | None:
        field = RELAYED[kind]
        target = message.get("to")
        if not isinstance(target, str) or not target or len(target) > 64:
            return error_frame("invalid_message", f'"{kind}" needs "to": the peer_id of a peer in the room')
        payload = message.get(field)
        if kind == "candidate":
            if payload is not None and not isinstance(payload, dict | str):
                return error_frame("invalid_message", '"candidate" is an ICE candidate object (or null)')
        elif not isinstance(payload, str) or not payload:
            return error_frame("invalid_message", f'"{kind}" needs "sdp" (a string)')
        if self.state != ADMITTED:
            return error_frame("not_admitted", "Wait until the clinician lets you in")
        peer = await self._member(target)
        if peer is None or target == self.peer_id:
            return error_frame("unknown_peer", "No such peer in this room")
        if peer.get("state") != ADMITTED:
            return error_frame("not_admitted", "That peer is still in the waiting room")
        frame: dict[str, Any] = {"type": kind, "from": self.peer_id, field: payload}
        if kind == "offer" and isinstance(message.get("restart"), bool):
            frame["restart"] = message["restart"]
        await self.broker.publish(peer_channel(target), frame)
        return None

    async def _admit(self, message: dict[str, Any]) -> dict[str, Any] | None:
        target = message.get("peer_id")
        if not self.is_clinician:
            return error_frame("not_the_clinician", "Only the clinician admits participants")
        if not isinstance(target, str) or not target or len(target) > 64:
            return error_frame("invalid_message", '"admit" needs "peer_id"')
        peer = await self._member(target)
        if peer is None:
            return error_frame("unknown_peer", "No such peer in the waiting room")
        admitted = await unit_of_work(self.db, lambda s: telehealth.room_admit(s, self.claims, target))
        info = {
            "peer_id": admitted.peer_id,
            "role": admitted.role,
            "display_name": admitted.display_name,
            "state": ADMITTED,
        }
        await self.publish_room({"event": "admitted", "peer": info})
        return None

    async def _chat(self, message: dict[str, Any]) -> dict[str, Any] | None:
        text = message.get("text")
        if not isinstance(text, str):
            return error_frame("invalid_message", '"chat" needs "text" (a string)')
        if self.state != ADMITTED:
            return error_frame("not_admitted", "Chat opens once you are admitted")
        stored = await unit_of_work(self.db, lambda s: telehealth.room_chat(s, self.claims, text))
        await self.publish_room(
            {
                "event": "chat",
                "message": {
                    "id": str(stored.id),
                    "from": self.peer_id,
                    "display_name": stored.sender_display,
                    "text": stored.text,
                    "sent_at": stored.sent_at.isoformat(),
                },
            }
        )
        return None

    async def _consent(self, message: dict[str, Any]) -> dict[str, Any] | None:
        given = message.get("given")
        if not isinstance(given, bool):
            return error_frame("invalid_message", '"consent" needs "given": true or false')
        everyone = await unit_of_work(self.db, lambda s: telehealth.room_consent(s, self.claims, given))
        await self.publish_room(
            {"event": "consent", "peer_id": self.peer_id, "given": given, "all_consented": everyone}
        )
        return None

    async def _end(self) -> dict[str, Any] | None:
        if not self.is_clinician:
            return error_frame("not_the_clinician", "Only the clinician ends the consultation")
        await unit_of_work(self.db, lambda s: telehealth.room_end(s, self.claims))
        await self.publish_room({"event": "ended"})
        return None

    async def _recording(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """The media recorder announces its state (recording, completed, failed) to the room."""
        if self.claims.role != "media":
            return error_frame("forbidden", "Only the recorder announces recordings")
        status = message.get("status")
        if status not in ("recording", "completed", "failed"):
            return error_frame("invalid_message", '"recording" needs "status"')
        await self.publish_room(
            {
                "event": "recording",
                "status": status,
                "recording_id": str(message.get("recording_id", ""))[:64],
            }
        )
        return None

    # --- to the client -----------------------------------------------------------------------

    async def _relay_inbox(self, inbox: Subscription) -> tuple[int | None, str]:
        try:
            async for message in inbox:
                data = message.data
                if "_control" in data:
                    if data.get("_control") == "superseded" and data.get("connection") != self.connection_id:
                        self._superseded = True
                        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                            await self.send(
                                error_frame("superseded", "You joined again from another connection")
                            )
                        return CLOSE_SUPERSEDED, "superseded"
                    continue
                await self.send(data)
        except SlowConsumerError:
            return CLOSE_TRY_AGAIN_LATER, "too slow to keep up"
        # The iteration ends only when the broker closes, i.e. the server is shutting down.
        return CLOSE_GOING_AWAY, "server shutting down"

    async def _relay_room(self, events: Subscription) -> tuple[int | None, str]:
        try:
            async for message in events:
                closing = await self._on_room_event(message.data)
                if closing is not None:
                    return closing
        except SlowConsumerError:
            return CLOSE_TRY_AGAIN_LATER, "too slow to keep up"
        return CLOSE_GOING_AWAY, "server shutting down"

    async def _on_room_event(self, event: dict[str, Any]) -> tuple[int, str] | None:
        kind = event.get("event")
        if kind == "ended":
            await self.send({"type": "ended"})
            return CLOSE_ENDED, "consultation ended"
        if kind == "joined":
            peer = event["peer"]
            if peer["peer_id"] == self.peer_id:
                return None
            self.members[peer["peer_id"]] = peer
            if self.state == ADMITTED and (peer["state"] == ADMITTED or self.is_clinician):
                await self.send({"type": "peer-joined", **peer})
        elif kind == "left":
            peer_id = event["peer_id"]
            if peer_id == self.peer_id:
                return None
            known = self.members.pop(peer_id, None)
            if (
                self.state == ADMITTED
                and known is not None
                and (known.get("state") == ADMITTED or self.is_clinician)
            ):
                await self.send({"type": "peer-left", "peer_id": peer_id})
        elif kind == "admitted":
            peer = event["peer"]
            self.members[peer["peer_id"]] = peer
            if peer["peer_id"] == self.peer_id:
                if self.state != ADMITTED:
                    self.state = ADMITTED
                    await self.broker.presence_join(
                        presence_room(self.room), self.peer_id, self.info(), self.options.presence_ttl_seconds
                    )
                    await self.send({"type": "admitted", "peer_id": self.peer_id})
                    self.members = await self.broker.presence_list(presence_room(self.room))
                    self.members[self.peer_id] = self.info()
                    await self._send_peers()
            elif self.state == ADMITTED:
                await self.send({"type": "admitted", **peer})
        elif kind == "chat" and self.state == ADMITTED:
            await self.send({"type": "chat", **event["message"]})
        elif kind == "consent" and self.state == ADMITTED:
            await self.send(
                {
                    "type": "consent",
                    "peer_id": event["peer_id"],
                    "given": event["given"],
                    "all_consented": event["all_consented"],
                }
            )
        elif kind == "recording" and self.state == ADMITTED:
            await self.send(
                {
                    "type": "recording",
                    "status": event.get("status"),
                    "recording_id": event.get("recording_id"),
                }
            )
        return None

    async def _heartbeat(self) -> tuple[int | None, str]:
        ttl = self.options.presence_ttl_seconds
        room = presence_room(self.room)
        # Not ``while True``: a beat that missed its cancellation must not outlive the connection.
        while not self._stopping:
            await asyncio.sleep(self.options.heartbeat_seconds)
            try:
                if not await self.broker.presence_heartbeat(room, self.peer_id, ttl):
                    # Expired meanwhile (a stalled loop, a flushed Redis): be present again.
                    await self.broker.presence_join(room, self.peer_id, self.info(), ttl)
            except BrokerError as exc:
                # A broker blip must not end a call; the next beat tries again.
                log.warning("signaling peer %s presence heartbeat failed: %r", self.peer_id, exc)
        return None, ""


def create_app(
    settings: Settings | None = None,
    *,
    broker_prefix: str = DEFAULT_PREFIX,
    options: SignalingOptions | None = None,
    database: Database | None = None,
) -> Starlette:
    """The standalone signaling service; settings default to ``get_settings()`` at startup. It
    opens its own connection pool on the API's database (``HOSPITAL_DATABASE_URL``) for the
    telehealth service calls."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        resolved = settings or get_settings()
        broker = create_broker(resolved.redis_url, prefix=broker_prefix)
        await broker.start()
        db = database or Database.from_settings(resolved)
        app.state.settings = resolved
        app.state.broker = broker
        app.state.db = db
        try:
            yield
        finally:
            await broker.close()
            if database is None:
                await db.dispose()

    return Starlette(routes=build_routes(options), lifespan=lifespan)


app = create_app()
