"""A test and demo participant: ``python -m media.bot``.

It signs in to the API as a user (``--username``/``--password``), asks to join a consultation
(``--consultation`` id, or ``--appointment`` id of a video appointment) and takes part through
signaling like a browser would: it sends a moving test pattern and a tone, counts the video and
audio frames it decodes from the others, answers data-channel messages with ``echo: ...`` and,
with ``--admit``, lets everyone in the waiting room in (a clinician bot). It prints one JSON line
of what it received when it stops: after ``--seconds``, when the call ends, or on Ctrl-C.

    python -m media.bot --api http://127.0.0.1:8000 --username doctor --password hospital-demo \
        --appointment <id> --admit --seconds 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from aiortc import MediaStreamTrack, RTCDataChannel
from av import AudioFrame, VideoFrame

from media.client import SignalingClient
from media.peer import CallPeer
from media.sources import TestPatternTrack, ToneTrack


@dataclass
class Stats:
    video_frames: int = 0
    audio_frames: int = 0
    messages: list[str] = field(default_factory=list)
    peers: set[str] = field(default_factory=set)
    first_video_after_s: float | None = None


class Bot:
    def __init__(
        self, client: SignalingClient, ice_servers: list[dict[str, Any]] | None, *, admit: bool
    ) -> None:
        self.stats = Stats()
        self.started = time.monotonic()
        self.first_video = asyncio.Event()
        self.peer = CallPeer(
            client,
            local_tracks=lambda: [TestPatternTrack(), ToneTrack()],
            ice_servers=ice_servers,
            on_track=self._on_track,
            on_datachannel=self._on_channel,
            auto_admit=admit,
        )

    async def _on_track(self, remote: str, track: MediaStreamTrack) -> None:
        self.stats.peers.add(remote)
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            if isinstance(frame, VideoFrame):
                self.stats.video_frames += 1
                if self.stats.first_video_after_s is None:
                    self.stats.first_video_after_s = round(time.monotonic() - self.started, 3)
                    self.first_video.set()
            elif isinstance(frame, AudioFrame):
                self.stats.audio_frames += 1

    def _on_channel(self, _: str, channel: RTCDataChannel) -> None:
        @channel.on("message")
        def _message(message: Any) -> None:
            self.stats.messages.append(str(message))
            if channel.readyState == "open" and not str(message).startswith("echo: "):
                channel.send(f"echo: {message}")

    def summary(self) -> dict[str, Any]:
        data = asdict(self.stats)
        data["peers"] = sorted(self.stats.peers)
        return data


async def join_as_user(
    api: str, username: str, password: str, consultation: str | None, appointment: str | None
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api, timeout=15) as http:
        r = await http.post("/api/auth/token", data={"username": username, "password": password})
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        if consultation is None:
            r = await http.get(f"/api/telehealth/appointments/{appointment}/consultation", headers=headers)
            r.raise_for_status()
            consultation = str(r.json()["id"])
        r = await http.post(f"/api/telehealth/consultations/{consultation}/join", headers=headers)
        if r.status_code != 200:
            raise SystemExit(f"join refused: {r.status_code} {r.text}")
        joined: dict[str, Any] = r.json()
        url = joined["signaling_url"]
        if url.startswith("/"):
            url = api.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + url
        joined["signaling_url"] = url
        return joined


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m media.bot", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--username")
    parser.add_argument("--password")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--consultation")
    target.add_argument("--appointment")
    parser.add_argument("--token", help="a join token (instead of signing in)")
    parser.add_argument("--signaling", help="with --token: the signaling URL")
    parser.add_argument("--admit", action="store_true", help="admit everyone who waits (clinician)")
    parser.add_argument("--seconds", type=float, default=60.0, help="stay this long at most")
    parser.add_argument("--until-video", action="store_true", help="stop once a video frame was decoded")
    args = parser.parse_args(argv)
    if args.token:
        if not args.signaling:
            parser.error("--token needs --signaling")
        joined: dict[str, Any] = {"token": args.token, "signaling_url": args.signaling, "ice_servers": []}
    else:
        if not (args.username and args.password and (args.consultation or args.appointment)):
            parser.error("give --username, --password and --consultation or --appointment (or --token)")
        joined = await join_as_user(
            args.api, args.username, args.password, args.consultation, args.appointment
        )

    async with SignalingClient(joined["signaling_url"], joined["token"]) as client:
        bot = Bot(client, joined.get("ice_servers"), admit=args.admit)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runner = asyncio.create_task(bot.peer.run())
        waits = {runner, asyncio.create_task(stop.wait())}
        if args.until_video:
            waits.add(asyncio.create_task(bot.first_video.wait()))
        await asyncio.wait(waits, timeout=args.seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        with contextlib.suppress(Exception):
            await client.send({"type": "leave"})
        await bot.peer.close()
    print(json.dumps(bot.summary()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
