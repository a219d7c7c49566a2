"""The two monitoring WebSockets.

``/ws/devices?token=<device token>``: one FHIR Observation or Bundle per text frame; each is
answered, in order, once committed: ``{"type":"ack","seq":n,"ref":...,"stored":k,
"duplicates":d,"results":[...]}`` or ``{"type":"error","seq":n,"ref":...,"code","message"}``.
``seq`` counts the connection's messages from 1; ``ref`` echoes the resource's ``id`` (or its
first identifier). A device keeps what is not acknowledged and sends it again after a
reconnect: duplicates (same device and identifier) are acknowledged as such, never stored twice.
Up to ``MAX_IN_FLIGHT`` messages may be outstanding; beyond that the socket stops reading.

``/ws/monitoring?token=<access token>`` (monitoring:read): send
``{"type":"subscribe","patients":[...]|"ward":"...","since":<last id seen>,"ecg":false}``;
the server answers ``subscribed``, replays every feed event after ``since`` from the database
(and those of the few seconds before it, since ids are made before their commit: a client that
reconnects may get again an event it has; dedupe by ``id``; ``replayed`` marks the end), then
relays live events (``reading``, ``alarm``, ``news2``; ``ecg``
if asked, live only). Every feed event carries its ``id``; keep the last one for the next
reconnect. A dashboard that cannot keep up gets ``{"type":"overflow","last_id":n}`` and close
1013 (reconnect with ``since``). When the broker fails the server says ``degraded`` and serves the
feed from the database every second until the broker is back (``live``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from typing import Any, Final

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.audit import service as audit
from app.auth.permissions import Perm
from app.broker import Broker, BrokerError, SlowConsumerError, cancel_and_wait
from app.config import Settings
from app.context import RequestContext, set_context
from app.db import Database
from app.errors import AppError, Unauthorized
from app.monitoring import ids as feed_ids
from app.monitoring import ingest
from app.monitoring import service as svc
from app.monitoring.pipeline import Pipeline, ecg_channel, patient_channel
from app.patients import service as patients

log = logging.getLogger("app.monitoring")

CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_TRY_AGAIN_LATER: Final = 1013
CLOSE_GOING_AWAY: Final = 1001
MAX_MESSAGE_BYTES: Final = 512 * 1024
MAX_IN_FLIGHT: Final = 64
RESEND_WINDOW: Final = MAX_IN_FLIGHT  # what can have been in flight when the last connection broke
DASHBOARD_QUEUE: Final = 2000
SEND_TIMEOUT_SECONDS: Final = 10.0
POLL_SECONDS: Final = 1.0
# Feed ids are made before their transaction commits: replay reaches this far back.
REPLAY_GRACE_SECONDS: Final = 5.0
MAX_PATIENTS: Final = 500


class _Sent:
    """The ids a connection sent lately (bounded): replay and live overlap, and ids arrive out
    of order by up to the replay grace."""

    def __init__(self, limit: int = 50_000) -> None:
        self._order: deque[int] = deque()
        self._ids: set[int] = set()
        self._limit = limit

    def seen(self, event_id: int) -> bool:
        return event_id in self._ids

    def add(self, event_id: int) -> None:
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._limit:
            self._ids.discard(self._order.popleft())


def build_routes() -> list[BaseRoute]:
    return [WebSocketRoute("/ws/devices", devices_ws), WebSocketRoute("/ws/monitoring", monitoring_ws)]


def _frame(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _ref(body: Any) -> Any:
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("id"), str):
        return body["id"]
    for ident in body.get("identifier") or []:
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            return ident["value"]
    return None


# --- devices -------------------------------------------------------------------------------


async def devices_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    set_context(RequestContext(client_address=websocket.client.host if websocket.client else None))
    database: Database = websocket.app.state.db
    try:
        device = await ingest.authenticate_device(database, websocket.query_params.get("token", ""))
    except Unauthorized as exc:
        await websocket.send_text(_frame({"type": "error", "code": exc.code, "message": exc.message}))
        await websocket.close(CLOSE_UNAUTHORIZED, exc.code)
        return
    pipeline = ingest.pipeline_of(websocket.app.state)
    await websocket.send_text(
        _frame({"type": "welcome", "device_id": str(device.device_id), "patient_id": str(device.patient_id)})
    )
    outstanding: asyncio.Queue[tuple[int, Any, asyncio.Future[Any]]] = asyncio.Queue(MAX_IN_FLIGHT)
    sender = asyncio.create_task(_acknowledge(websocket, outstanding))
    seq = 0
    try:
        while not sender.done():
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                break
            seq += 1
            text = event.get("text")
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            body: Any = None
            if text is None:
                future.set_exception(AppError("Send JSON as text frames", code="unsupported_frame"))
            elif len(text) > MAX_MESSAGE_BYTES:
                future.set_exception(AppError("The message is too large", code="message_too_large"))
            else:
                try:
                    body = json.loads(text)
                except ValueError:
                    future.set_exception(AppError("The message is not valid JSON", code="malformed_json"))
                else:
                    if isinstance(body, dict) and body.get("type") == "ping":
                        future.set_result("pong")
                    else:
                        # The first messages of a connection may be resends of what was not
                        # acknowledged before; later ones are the live stream.
                        future = asyncio.ensure_future(
                            ingest.ingest_message(pipeline, device, body, fresh=seq > RESEND_WINDOW)
                        )
            await outstanding.put((seq, _ref(body), future))
    except WebSocketDisconnect:
        pass
    finally:
        await cancel_and_wait([sender])


async def _acknowledge(
    websocket: WebSocket, outstanding: asyncio.Queue[tuple[int, Any, asyncio.Future[Any]]]
) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            seq, ref, future = await outstanding.get()
            try:
                result = await future
            except Unauthorized as exc:
                await websocket.send_text(
                    _frame(
                        {"type": "error", "seq": seq, "ref": ref, "code": exc.code, "message": exc.message}
                    )
                )
                await websocket.close(CLOSE_UNAUTHORIZED, exc.code)
                return
            except AppError as exc:
                await websocket.send_text(
                    _frame(
                        {
                            "type": "error",
                            "seq": seq,
                            "ref": ref,
                            "code": exc.code,
                            "message": exc.message,
                            "details": exc.details,
                        }
                    )
                )
                continue
            except Exception as exc:  # storage failed: not acknowledged, the device resends
                log.warning("device message %s not stored: %r", seq, exc)
                await websocket.send_text(
                    _frame(
                        {
                            "type": "error",
                            "seq": seq,
                            "ref": ref,
                            "code": "not_stored",
                            "message": "The message was not stored; send it again",
                        }
                    )
                )
                continue
            if result == "pong":
                await websocket.send_text(_frame({"type": "pong", "seq": seq}))
            else:
                await websocket.send_text(
                    _frame({"type": "ack", "seq": seq, "ref": ref, **ingest.summary(result)})
                )


# --- dashboards ----------------------------------------------------------------------------


async def monitoring_ws(websocket: WebSocket) -> None:
    await _Dashboard(websocket).run()


class _Dashboard:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.settings: Settings = websocket.app.state.settings
        self.database: Database = websocket.app.state.db
        self.broker: Broker = websocket.app.state.broker
        self.pipeline: Pipeline = ingest.pipeline_of(websocket.app.state)
        self._lock = asyncio.Lock()
        self._relay: asyncio.Task[None] | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await self.websocket.send_text(_frame(frame))

    async def run(self) -> None:
        await self.websocket.accept()
        ctx = RequestContext(client_address=self.websocket.client.host if self.websocket.client else None)
        set_context(ctx)
        from app.auth import service as auth_service

        try:
            async with self.database.sessionmaker() as session:
                principal = await auth_service.authenticate_access_token(
                    session, self.settings, self.websocket.query_params.get("token", "")
                )
                await session.commit()
        except Unauthorized as exc:
            await self.send({"type": "error", "code": exc.code, "message": exc.message})
            await self.websocket.close(CLOSE_UNAUTHORIZED, exc.code)
            return
        ctx.actor_id, ctx.actor_username, ctx.actor_roles = (
            principal.user_id,
            principal.username,
            principal.roles,
        )
        if not principal.has(Perm.MONITORING_READ):
            await self.send({"type": "error", "code": "forbidden", "message": "monitoring:read is required"})
            await self.websocket.close(CLOSE_FORBIDDEN, "forbidden")
            return
        async with self.database.sessionmaker() as session:
            last = await svc.last_event_id(session)
        await self.send({"type": "welcome", "last_id": last})
        try:
            while True:
                event = await self.websocket.receive()
                if event["type"] == "websocket.disconnect":
                    return
                await self._handle(principal, event.get("text"))
        except (WebSocketDisconnect, TimeoutError, RuntimeError):
            return
        finally:
            if self._relay is not None:
                await cancel_and_wait([self._relay])

    async def _handle(self, principal: Any, text: str | None) -> None:
        try:
            message = json.loads(text or "")
        except ValueError:
            await self.send({"type": "error", "code": "malformed_json", "message": "Send JSON objects"})
            return
        if not isinstance(message, dict):
            await self.send({"type": "error", "code": "invalid_message", "message": "Send JSON objects"})
            return
        kind = message.get("type")
        if kind == "ping":
            await self.send({"type": "pong"})
            return
        if kind != "subscribe":
            await self.send(
                {"type": "error", "code": "unknown_type", "message": f"Unknown type {str(kind)[:40]!r}"}
            )
            return
        since = message.get("since", None)
        ward = message.get("ward")
        raw_ids = message.get("patients") or []
        if (since is not None and (not isinstance(since, int) or since < 0)) or not isinstance(raw_ids, list):
            await self.send(
                {
                    "type": "error",
                    "code": "invalid_message",
                    "message": "since is a non-negative integer; patients a list of ids",
                }
            )
            return
        try:
            ids = [uuid.UUID(str(p)) for p in raw_ids][:MAX_PATIENTS]
        except ValueError:
            await self.send(
                {"type": "error", "code": "invalid_message", "message": "patients holds patient ids"}
            )
            return
        async with self.database.sessionmaker() as session:
            if isinstance(ward, str) and ward:
                ids = list(dict.fromkeys([*ids, *await svc.ward_patients(session, ward)]))[:MAX_PATIENTS]
            known = await patients.contact_summaries(session, ids)
            ids = [p for p in ids if p in known]
            for pid in ids:
                audit.record(
                    session,
                    action="monitoring.live_subscribe",
                    resource_type="Patient",
                    resource_id=pid,
                    patient_id=pid,
                )
            current = await svc.last_event_id(session)
            await session.commit()
        if self._relay is not None:
            await cancel_and_wait([self._relay])
        start = current if since is None else since
        await self.send({"type": "subscribed", "patients": [str(p) for p in ids], "since": start})
        self._relay = asyncio.create_task(self._run_relay(ids, start, bool(message.get("ecg"))))

    async def _replay(self, ids: list[uuid.UUID], last: int, sent: _Sent) -> int:
        """Send what the database has after ``last``, and what was committed in the few seconds
        before it but after it was made (a request's alarm change can commit after the writer's
        later batch): ids that this connection already sent are skipped."""
        cursor = feed_ids.back(last, REPLAY_GRACE_SECONDS)
        while True:
            async with self.database.sessionmaker() as session:
                events = await svc.events_since(session, ids, cursor)
            for event in events:
                cursor = event["id"]
                if sent.seen(cursor):
                    continue
                await self.send(event)
                sent.add(cursor)
                last = max(last, cursor)
            if len(events) < svc.REPLAY_LIMIT:
                return last

    async def _run_relay(self, ids: list[uuid.UUID], last: int, ecg: bool) -> None:
        try:
            await self._relay_loop(ids, last, ecg)
        except (WebSocketDisconnect, TimeoutError, RuntimeError):
            with contextlib.suppress(Exception):
                await self.websocket.close(CLOSE_TRY_AGAIN_LATER, "too slow")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("monitoring dashboard relay failed")
            with contextlib.suppress(Exception):
                await self.websocket.close(1011, "internal error")

    async def _relay_loop(self, ids: list[uuid.UUID], last: int, ecg: bool) -> None:
        if not ids:
            await self.send({"type": "replayed", "last_id": last})
            return
        channels = [patient_channel(p) for p in ids] + ([ecg_channel(p) for p in ids] if ecg else [])
        degraded = False
        first = True
        sent = _Sent()
        while True:
            try:
                async with self.broker.subscribe(*channels, max_queue=DASHBOARD_QUEUE) as sub:
                    # Subscribed first, then replayed: nothing committed in between is missed;
                    # live events already replayed are skipped by id.
                    last = await self._replay(ids, last, sent)
                    if first:
                        await self.send({"type": "replayed", "last_id": last})
                        first = False
                    if degraded:
                        await self.send({"type": "live", "last_id": last})
                        degraded = False
                    async for message in sub:
                        event_id = message.data.get("id")
                        if isinstance(event_id, int):
                            # Not "<= last": ids are made before their commit, so one can
                            # arrive after a higher one (see _replay); skip only what was sent.
                            if sent.seen(event_id):
                                continue
                            sent.add(event_id)
                            last = max(last, event_id)
                        await self.send(message.data)
                await self.websocket.close(CLOSE_GOING_AWAY, "server shutting down")
                return
            except SlowConsumerError:
                await self.send(
                    {
                        "type": "overflow",
                        "last_id": last,
                        "message": "This dashboard fell behind; reconnect with since=last_id",
                    }
                )
                await self.websocket.close(CLOSE_TRY_AGAIN_LATER, "too slow")
                return
            except BrokerError as exc:
                if not degraded:
                    log.warning("monitoring dashboard: broker unavailable, polling the database: %r", exc)
                    await self.send(
                        {
                            "type": "degraded",
                            "last_id": last,
                            "message": "Live feed interrupted; updates come from the database",
                        }
                    )
                    degraded = True
                last = await self._replay(ids, last, sent)
                if first:
                    await self.send({"type": "replayed", "last_id": last})
                    first = False
                await asyncio.sleep(POLL_SECONDS)
