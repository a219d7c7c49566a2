"""Two aiortc peers (media.peer.CallPeer) join one consultation through the real signaling
server, the clinician admits the patient, and both sides receive decoded video frames, audio
frames and a data-channel message. On Redis the two peers are on different signaling instances."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import MediaStreamTrack, RTCDataChannel
from av import AudioFrame, VideoFrame

from media.client import SignalingClient
from media.peer import CallPeer
from media.sources import TestPatternTrack, ToneTrack
from tests.signaling.conftest import Stack
from tests.telehealth.helpers import join, video_visit

WANT_VIDEO = 5
WANT_AUDIO = 10
TIMEOUT = 60.0


class Received:
    def __init__(self) -> None:
        self.video = 0
        self.audio = 0
        self.size: tuple[int, int] | None = None
        self.messages: list[str] = []
        self.done = asyncio.Event()
        self.channel_open = asyncio.Event()

    def check(self) -> None:
        if self.video >= WANT_VIDEO and self.audio >= WANT_AUDIO and self.messages:
            self.done.set()

    async def on_track(self, _: str, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            if isinstance(frame, VideoFrame):
                self.video += 1
                self.size = (frame.width, frame.height)
            elif isinstance(frame, AudioFrame):
                self.audio += 1
            self.check()

    def on_datachannel(self, _: str, channel: RTCDataChannel) -> None:
        @channel.on("message")
        def _message(message: Any) -> None:
            self.messages.append(str(message))
            self.check()

        @channel.on("open")
        def _open() -> None:
            self.channel_open.set()

        if channel.readyState == "open":
            self.channel_open.set()


async def test_two_aiortc_peers_exchange_video_audio_and_data_through_signaling(stack: Stack):
    visit = await video_visit(stack.client, stack.db)
    patient_join = await join(stack.client, visit, visit.patient_headers)
    clinician_join = await join(stack.client, visit, visit.clinician)
    at_doctor, at_patient = Received(), Received()

    async with (
        SignalingClient(stack.ws(stack.last), clinician_join["token"]) as doctor_link,
        SignalingClient(stack.ws(0), patient_join["token"]) as patient_link,
    ):
        doctor = CallPeer(
            doctor_link,
            local_tracks=lambda: [TestPatternTrack(), ToneTrack(330)],
            ice_servers=clinician_join["ice_servers"],
            on_track=at_doctor.on_track,
            on_datachannel=at_doctor.on_datachannel,
            auto_admit=True,
        )
        patient = CallPeer(
            patient_link,
            local_tracks=lambda: [TestPatternTrack(width=256, height=192), ToneTrack(440)],
            ice_servers=patient_join["ice_servers"],
            on_track=at_patient.on_track,
            on_datachannel=at_patient.on_datachannel,
        )
        runs = [asyncio.create_task(doctor.run()), asyncio.create_task(patient.run())]
        try:
            # The patient, admitted into the call, offers and opens the data channel.
            await asyncio.wait_for(at_patient.channel_open.wait(), TIMEOUT)
            await asyncio.wait_for(at_doctor.channel_open.wait(), TIMEOUT)
            patient.channels[doctor.peer_id].send("hello from the patient")
            doctor.channels[patient.peer_id].send("hello from the clinician")
            await asyncio.wait_for(asyncio.gather(at_doctor.done.wait(), at_patient.done.wait()), TIMEOUT)
        finally:
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
            await doctor.close()
            await patient.close()

    assert at_doctor.messages == ["hello from the patient"]
    assert at_patient.messages == ["hello from the clinician"]
    # Each side decoded the other's picture (its own size) and sound.
    assert at_doctor.size == (256, 192) and at_patient.size == (320, 240)
    assert at_doctor.video >= WANT_VIDEO and at_patient.audio >= WANT_AUDIO
