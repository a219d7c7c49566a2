"""An aiortc participant of a consultation room, speaking the signaling protocol.

One :class:`CallPeer` holds one ``RTCPeerConnection`` per other participant it talks to. The
rule that keeps two sides from offering at once is the protocol's: whoever is admitted into
a call offers to every admitted peer in the ``peers`` frame it gets then; those already there
answer. Callbacks say what arrived (``on_track``, ``on_datachannel``); ``local_tracks`` makes the
tracks to send to each new connection (``None``: receive only, as the recorder does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from media.client import Frame, SignalingClient

log = logging.getLogger("media.peer")

TrackHandler = Callable[[str, MediaStreamTrack], Awaitable[None] | None]
ChannelHandler = Callable[[str, RTCDataChannel], Awaitable[None] | None]
FrameHandler = Callable[[Frame], Awaitable[None] | None]


def ice_configuration(servers: list[dict[str, Any]] | None) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in servers or []
        ]
    )


@dataclass
class CallPeer:
    client: SignalingClient
    local_tracks: Callable[[], list[MediaStreamTrack]] | None = None
    ice_servers: list[dict[str, Any]] | None = None
    data_channel: str | None = "data"  # label of the channel the offerer opens; None: none
    receive_only: bool = False  # offer to receive audio and video even without local tracks
    on_track: TrackHandler | None = None
    on_datachannel: ChannelHandler | None = None
    on_frame: FrameHandler | None = None  # every other frame (chat, consent, peer-joined, ...)
    auto_admit: bool = False  # a clinician bot lets everyone in the waiting room in
    connections: dict[str, RTCPeerConnection] = field(default_factory=dict)
    channels: dict[str, RTCDataChannel] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _background: set[asyncio.Future[Any]] = field(default_factory=set)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def peer_id(self) -> str:
        return self.client.peer_id

    async def _call(self, handler: Callable[..., Awaitable[None] | None] | None, *args: Any) -> None:
        if handler is None:
            return
        result = handler(*args)
        if result is not None:
            await result

    def _connection(self, remote: str) -> RTCPeerConnection:
        old = self.connections.pop(remote, None)
        if old is not None:
            self._spawn(old.close())
        pc = RTCPeerConnection(ice_configuration(self.ice_servers))
        self.connections[remote] = pc

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            self._spawn(self._call(self.on_track, remote, track))

        @pc.on("datachannel")
        def _channel(channel: RTCDataChannel) -> None:
            self.channels[remote] = channel
            self._spawn(self._call(self.on_datachannel, remote, channel))

        @pc.on("connectionstatechange")
        async def _state() -> None:
            log.debug("%s -> %s: %s", self.peer_id, remote, pc.connectionState)

        return pc

    def _add_local(self, pc: RTCPeerConnection) -> None:
        if self.local_tracks is not None:
            for track in self.local_tracks():
                pc.addTrack(track)

    async def offer(self, remote: str) -> None:
        pc = self._connection(remote)
        self._add_local(pc)
        if self.receive_only or self.local_tracks is None:
            kinds = {t.sender.track.kind for t in pc.getTransceivers() if t.sender.track is not None}
            for kind in ("audio", "video"):
                if kind not in kinds:
                    pc.addTransceiver(kind, direction="recvonly")
        if self.data_channel:
            channel = pc.createDataChannel(self.data_channel)
            self.channels[remote] = channel
            await self._call(self.on_datachannel, remote, channel)
        await pc.setLocalDescription(await pc.createOffer())
        # aiortc gathers every candidate before the description is set: no trickle to send.
        await self.client.send({"type": "offer", "to": remote, "sdp": pc.localDescription.sdp})

    async def _answer(self, remote: str, sdp: str) -> None:
        pc = self._connection(remote)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self._add_local(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        await self.client.send({"type": "answer", "to": remote, "sdp": pc.localDescription.sdp})

    async def _candidate(self, remote: str, candidate: Any) -> None:
        pc = self.connections.get(remote)
        if pc is None or not isinstance(candidate, dict) or not candidate.get("candidate"):
            return
        text = str(candidate["candidate"])
        parsed = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        with contextlib.suppress(Exception):  # a candidate for a closed or unknown m-line
            await pc.addIceCandidate(parsed)

    async def handle(self, frame: Frame) -> None:
        kind = frame.get("type")
        if kind == "peers":
            for peer in frame.get("peers", []):
                if peer.get("state") == "admitted" and peer["peer_id"] not in self.connections:
                    await self.offer(peer["peer_id"])
                elif peer.get("state") == "waiting" and self.auto_admit:
                    await self.client.send({"type": "admit", "peer_id": peer["peer_id"]})
        elif kind == "peer-joined" and frame.get("state") == "waiting" and self.auto_admit:
            await self.client.send({"type": "admit", "peer_id": frame["peer_id"]})
        elif kind == "offer":
            await self._answer(str(frame["from"]), str(frame["sdp"]))
        elif kind == "answer":
            pc = self.connections.get(str(frame["from"]))
            if pc is not None and pc.signalingState == "have-local-offer":
                await pc.setRemoteDescription(RTCSessionDescription(sdp=str(frame["sdp"]), type="answer"))
        elif kind == "candidate":
            await self._candidate(str(frame["from"]), frame.get("candidate"))
        elif kind == "peer-left":
            pc = self.connections.pop(str(frame["peer_id"]), None)
            self.channels.pop(str(frame["peer_id"]), None)
            if pc is not None:
                await pc.close()
        elif kind == "ended":
            self.ended.set()
        await self._call(self.on_frame, frame)

    async def run(self) -> None:
        """Handle frames until the consultation ends or the connection closes."""
        try:
            if self.client.welcome.get("state") == "admitted":
                pass  # the `peers` frame that follows the welcome says whom to offer to
            while not self.ended.is_set():
                frame = await self.client.recv()
                if frame is None:
                    break
                try:
                    await self.handle(frame)
                except Exception:  # one bad exchange must not end the peer
                    log.exception("peer %s could not handle %s", self.peer_id, frame.get("type"))
        finally:
            self.ended.set()

    async def close(self) -> None:
        for pc in list(self.connections.values()):
            await pc.close()
        self.connections.clear()
        await self.client.close()
