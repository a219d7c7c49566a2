"""The consultation recorder: one process per recording (``python -m media.recorder``).

Started by the API (or the media service) once every participant consented, with a join token
for the room's ``media`` participant in ``HOSPITAL_MEDIA_JOIN_TOKEN``. It joins through
signaling like anyone else, offers to every participant in the call to receive their audio and
video, and writes all of it into one Matroska file (H.264 + AAC, one stream per track). It
reports through ``app.telehealth.service`` on the API's database: ``recording`` once media
flows, ``completed`` (with the size) when the file is closed, ``failed`` otherwise; and tells
the room (a ``recording`` frame). It stops on a ``recording-stop`` frame (the stop endpoint),
when the consultation ends, when everyone left, or on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from app.config import Settings
from app.db import Database
from app.telehealth import service as telehealth
from app.telehealth.models import REC_COMPLETED, REC_FAILED, REC_RECORDING
from media.client import Frame, SignalingClient
from media.peer import CallPeer
from signaling.main import unit_of_work

log = logging.getLogger("media.recorder")


class MatroskaWriter:
    """Writes tracks into one Matroska file: H.264 (x264, veryfast) and AAC, a stream per track.

    Unlike aiortc's MediaRecorder it waits for the first frame of every track before it writes
    the file's header, so each stream is declared with its real picture size and its encoder's
    parameters (a header written on the first audio packet would leave the video unplayable),
    and it starts every stream's clock at zero.
    """

    def __init__(self, path: Path, tracks: list[MediaStreamTrack]) -> None:
        self.path = path
        self.tracks = tracks
        self.container: av.container.OutputContainer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, first_frame_timeout: float = 20.0) -> None:
        firsts: list[Any] = list(
            await asyncio.wait_for(asyncio.gather(*(t.recv() for t in self.tracks)), first_frame_timeout)
        )
        container = av.open(str(self.path), mode="w", format="matroska")
        self.container = container
        streams: list[Any] = []
        for first in firsts:
            stream: Any
            if isinstance(first, VideoFrame):
                stream = container.add_stream("libx264", rate=30)
                stream.width, stream.height = first.width, first.height
                stream.pix_fmt = "yuv420p"
                stream.codec_context.options = {"preset": "veryfast", "tune": "zerolatency"}
            else:
                stream = container.add_stream("aac", rate=first.sample_rate)
            streams.append(stream)
        origins = [f.pts or 0 for f in firsts]
        packets: list[Any] = []
        for stream, first, origin in zip(streams, firsts, origins, strict=True):
            first.pts = (first.pts or 0) - origin
            packets += stream.encode(first)  # opens every encoder before the header is written
        for packet in packets:
            container.mux(packet)
        self._tasks = [
            asyncio.create_task(self._pump(track, stream, origin))
            for track, stream, origin in zip(self.tracks, streams, origins, strict=True)
        ]
        self._streams = streams

    async def _pump(self, track: MediaStreamTrack, stream: Any, origin: int) -> None:
        assert self.container is not None
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, AudioFrame | VideoFrame):
                continue
            frame.pts = (frame.pts or 0) - origin
            if frame.pts < 0:
                continue
            for packet in stream.encode(frame):
                self.container.mux(packet)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.container is not None:
            for stream in self._streams:
                for packet in stream.encode(None):  # flush the encoders' delayed frames
                    self.container.mux(packet)
            self.container.close()
            self.container = None


class Recorder:
    def __init__(
        self,
        client: SignalingClient,
        output: Path,
        *,
        settle_seconds: float = 3.0,
        max_seconds: float = 4 * 3600,
    ) -> None:
        self.client = client
        self.output = output
        self.settle_seconds = settle_seconds
        self.max_seconds = max_seconds
        self.tracks: list[tuple[str, MediaStreamTrack]] = []
        self.stop = asyncio.Event()
        self.first_track = asyncio.Event()
        self.peer = CallPeer(
            client,
            local_tracks=None,
            receive_only=True,
            data_channel=None,
            on_track=self._on_track,
            on_frame=self._on_frame,
        )

    def _on_track(self, remote: str, track: MediaStreamTrack) -> None:
        self.tracks.append((remote, track))
        self.first_track.set()

    def _on_frame(self, frame: Frame) -> None:
        kind = frame.get("type")
        if kind in ("recording-stop", "ended") or (kind == "peer-left" and not self.peer.connections):
            self.stop.set()

    async def run(self) -> int:
        """Record until told to stop; the file's size in bytes (0: nothing was recorded)."""
        runner = asyncio.create_task(self.peer.run())
        recorder: MatroskaWriter | None = None
        try:
            waiting = asyncio.create_task(self.first_track.wait())
            stopping = asyncio.create_task(self.stop.wait())
            await asyncio.wait({waiting, stopping, runner}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if not self.first_track.is_set():
                return 0
            # Tracks of one answer arrive together; give the others a moment to arrive too.
            await asyncio.sleep(self.settle_seconds)
            recorder = MatroskaWriter(self.output, [track for _, track in self.tracks])
            await recorder.start()
            await self.client.send({"type": "recording", "status": "recording"})
            await self.on_recording()
            await asyncio.wait(
                {stopping, runner}, timeout=self.max_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            stopping.cancel()
        finally:
            if recorder is not None:
                await recorder.stop()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        return self.output.stat().st_size if self.output.exists() else 0

    async def on_recording(self) -> None:
        """Hook: media is being written (the process reports it to the database)."""


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m media.recorder", description=__doc__)
    parser.add_argument("--signaling", required=True, help="ws(s)://host/ws/signaling")
    parser.add_argument("--recording-id", required=True, type=uuid.UUID)
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args(argv)
    token = os.environ.get("HOSPITAL_MEDIA_JOIN_TOKEN", "")
    settings = Settings()
    db = Database.from_settings(settings)
    recording_id: uuid.UUID = args.recording_id

    async def report(status: str, size: int | None = None, error: str | None = None) -> None:
        await unit_of_work(
            db,
            lambda s: telehealth.recording_progress(
                s, recording_id, status=status, size_bytes=size, error=error
            ),
        )

    loop = asyncio.get_running_loop()
    status, size, error = REC_FAILED, 0, None
    try:
        async with SignalingClient(args.signaling, token) as client:
            recorder = Recorder(client, args.output)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, recorder.stop.set)

            async def recording() -> None:
                await report(REC_RECORDING)

            recorder.on_recording = recording  # type: ignore[method-assign]
            size = await recorder.run()
            status = REC_COMPLETED if size > 0 else REC_FAILED
            error = None if size > 0 else "no media was received"
            with contextlib.suppress(Exception):
                await client.send({"type": "recording", "status": status})
                await client.send({"type": "leave"})
    except Exception as exc:
        log.exception("recording %s failed", recording_id)
        error = f"{type(exc).__name__}: {exc}"
    finally:
        try:
            await report(status, size, error)
        finally:
            await db.dispose()
    return 0 if status == REC_COMPLETED else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.exit(asyncio.run(main()))
