"""The WebRTC data-channel vitals ingest: a device already in a WebRTC session (a patient's
home hub, a cart with a camera) sends the same messages as on ``/ws/devices`` over a data
channel labelled ``vitals``.

Signaling is one HTTP exchange, as in aiortc's ``examples/server.py``: the device POSTs its SDP
offer to ``/api/monitoring/devices/webrtc/offer`` with its device token as the bearer token and
gets the server peer's answer. The server-side ``RTCPeerConnection`` accepts the ``vitals``
channel; every text message (a FHIR Observation or Bundle) goes into the monitoring pipeline
and is answered on the channel, in order, like the WebSocket: ``ack`` (``seq``, ``ref``,
``stored``, ``duplicates``) or ``error``. Media tracks are refused; other channels are closed.

The peer runs on the API's event loop: a data-only peer costs little (DTLS and SCTP are
asyncio), and the heavy part, storing, already happens in the pipeline's writer task; a media
process of its own is the choice once recording and video relay land here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Annotated, Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from app.deps import oauth2_scheme
from app.errors import AppError, BadRequest, Unauthorized
from app.monitoring import ingest

log = logging.getLogger("media.vitals")

CHANNEL_LABEL = "vitals"
MAX_PEERS = 200
MAX_MESSAGE_BYTES = 256 * 1024

router = APIRouter(prefix="/api/monitoring/devices/webrtc", tags=["monitoring"])


class Offer(BaseModel):
    sdp: str = Field(min_length=10, max_length=20_000)
    type: str = Field(pattern="^offer$")


class Answer(BaseModel):
    sdp: str
    type: str


class VitalsPeers:
    """The server-side peers of this process (closed on shutdown)."""

    def __init__(self) -> None:
        self.peers: set[RTCPeerConnection] = set()

    async def close(self) -> None:
        peers, self.peers = self.peers, set()
        await asyncio.gather(*(pc.close() for pc in peers), return_exceptions=True)


def peers_of(request: Request) -> VitalsPeers:
    peers: VitalsPeers | None = getattr(request.app.state, "vitals_peers", None)
    if peers is None:
        peers = request.app.state.vitals_peers = VitalsPeers()
    return peers


@router.post("/offer", summary="WebRTC offer/answer for a device's 'vitals' data channel (device token)")
async def offer(
    request: Request, body: Offer, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Answer:
    # The bearer scheme (declared for the clients) carries a device token here, not a user's.
    if not ingest.is_device_token(token):
        raise Unauthorized("A device token is required", code="invalid_token")
    assert token is not None
    device = await ingest.authenticate_device(request.app.state.db, token)
    pipeline = ingest.pipeline_of(request.app.state)
    registry = peers_of(request)
    if len(registry.peers) >= MAX_PEERS:
        raise AppError("Too many data-channel sessions", code="too_many_sessions")
    pc = RTCPeerConnection()
    registry.peers.add(pc)

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState in ("failed", "closed"):
            registry.peers.discard(pc)
            await pc.close()

    @pc.on("track")
    def on_track(track: Any) -> None:
        track.stop()  # data only

    @pc.on("datachannel")
    def on_datachannel(channel: Any) -> None:
        if channel.label != CHANNEL_LABEL:
            channel.close()
            return
        _serve_channel(channel, pipeline, device)

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body.sdp, type=body.type))
        await pc.setLocalDescription(await pc.createAnswer())
    except (ValueError, TypeError) as exc:
        registry.peers.discard(pc)
        await pc.close()
        raise BadRequest(f"The offer is not a valid SDP offer: {exc}", code="invalid_offer") from exc
    local = pc.localDescription
    return Answer(sdp=local.sdp, type=local.type)


def _serve_channel(channel: Any, pipeline: Any, device: ingest.DeviceAuth) -> None:
    """Answer each message in arrival order, storing several at once (like the WebSocket)."""
    queue: asyncio.Queue[tuple[int, Any, asyncio.Future[Any]]] = asyncio.Queue()
    seq = 0

    def send(frame: dict[str, Any]) -> None:
        if channel.readyState == "open":
            channel.send(json.dumps(frame, separators=(",", ":")))

    async def answer() -> None:
        while True:
            n, ref, future = await queue.get()
            try:
                results = await future
            except Unauthorized as exc:
                send({"type": "error", "seq": n, "ref": ref, "code": exc.code, "message": exc.message})
                channel.close()
                return
            except AppError as exc:
                send({"type": "error", "seq": n, "ref": ref, "code": exc.code, "message": exc.message})
                continue
            except Exception as exc:
                log.warning("data-channel message %s not stored: %r", n, exc)
                send(
                    {"type": "error", "seq": n, "ref": ref, "code": "not_stored", "message": "Send it again"}
                )
                continue
            send({"type": "ack", "seq": n, "ref": ref, **ingest.summary(results)})

    task = asyncio.ensure_future(answer())

    def on_close() -> None:
        task.cancel()

    def on_message(message: Any) -> None:
        nonlocal seq
        seq += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        ref = None
        if not isinstance(message, str) or len(message) > MAX_MESSAGE_BYTES:
            future.set_exception(AppError("Send JSON text of at most 256 KiB", code="invalid_message"))
        else:
            try:
                body = json.loads(message)
            except ValueError:
                future.set_exception(AppError("The message is not valid JSON", code="malformed_json"))
            else:
                ref = body.get("id") if isinstance(body, dict) else None
                future = asyncio.ensure_future(ingest.ingest_message(pipeline, device, body))
        queue.put_nowait((seq, ref, future))

    channel.on("close", on_close)
    channel.on("message", on_message)


async def close_all(state: Any) -> None:
    peers: VitalsPeers | None = getattr(state, "vitals_peers", None)
    if peers is not None:
        with contextlib.suppress(Exception):
            await peers.close()
