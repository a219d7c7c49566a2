"""Synthetic media for the demo bot and the tests: a moving test pattern and a steady tone.

Both pace themselves in real time (like a camera and a microphone would) and cost little CPU:
the pattern's frames are drawn once and cycled, the tone's 20 ms chunks computed once.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import struct
import time

from aiortc import MediaStreamTrack
from av import AudioFrame, VideoFrame

VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_PTIME = 0.020


class _Paced(MediaStreamTrack):
    """Hands out timestamps at a fixed rate, sleeping until each one is due."""

    rate: int
    interval: float

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._count = 0

    async def _tick(self) -> int:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._count += 1
            due = self._start + self._count * self.interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return round(self._count * self.interval * self.rate)


class TestPatternTrack(_Paced):
    """Colour bars with a bright block that sweeps across, ``fps`` frames a second (YUV 4:2:0)."""

    kind = "video"
    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, width: int = 320, height: int = 240, fps: int = 15, variants: int = 16) -> None:
        super().__init__()
        self.rate = VIDEO_CLOCK
        self.interval = 1 / fps
        self.width, self.height = width, height
        self._frames = [self._draw(i, variants) for i in range(variants)]

    def _draw(self, index: int, variants: int) -> bytes:
        w, h = self.width, self.height
        bars = (235, 210, 170, 145, 106, 81, 41, 16)
        row = bytearray(bars[min(x * len(bars) // w, len(bars) - 1)] for x in range(w))
        block_x = index * (w - w // 8) // max(variants - 1, 1)
        for x in range(block_x, min(block_x + w // 8, w)):
            row[x] = 255
        y_plane = bytes(row) * h
        chroma = (w // 2) * (h // 2)
        u_plane = bytes([90 + 10 * (index % 4)]) * chroma
        v_plane = bytes([160 - 10 * (index % 4)]) * chroma
        return y_plane + u_plane + v_plane

    async def recv(self) -> VideoFrame:
        pts = await self._tick()
        frame = VideoFrame(width=self.width, height=self.height, format="yuv420p")
        data = self._frames[self._count % len(self._frames)]
        offset = 0
        for plane in frame.planes:  # unpadded: 320x240 planes have no row alignment to add
            plane.update(data[offset : offset + plane.buffer_size])
            offset += plane.buffer_size
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


class ToneTrack(_Paced):
    """A sine tone (default 440 Hz) at 48 kHz mono, in 20 ms frames."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.2) -> None:
        super().__init__()
        self.rate = AUDIO_RATE
        self.interval = AUDIO_PTIME
        self.samples = int(AUDIO_RATE * AUDIO_PTIME)
        period = AUDIO_RATE / math.gcd(int(frequency), AUDIO_RATE)
        chunks = max(1, round(period / self.samples)) if period % self.samples == 0 else 50
        self._chunks = []
        for c in range(chunks):
            start = c * self.samples
            values = (
                int(amplitude * 32767 * math.sin(2 * math.pi * frequency * (start + i) / AUDIO_RATE))
                for i in range(self.samples)
            )
            self._chunks.append(struct.pack(f"<{self.samples}h", *values))

    async def recv(self) -> AudioFrame:
        pts = await self._tick()
        frame = AudioFrame(format="s16", layout="mono", samples=self.samples)
        frame.planes[0].update(self._chunks[self._count % len(self._chunks)])
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame
