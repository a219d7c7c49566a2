"""A client of the signaling protocol (docs/signaling.md) for server-side peers and tests.

It knows nothing about WebRTC: it connects with a join token, keeps the connection alive with
``ping`` frames, and hands frames out in order. :class:`media.peer.CallPeer` builds calls on it;
anything else that speaks the protocol (a monitoring ingest peer, a load generator) can too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

Frame = dict[str, Any]


class SignalingError(Exception):
    """The server refused (an ``error`` frame before ``welcome``) or closed the connection."""

    def __init__(self, code: str, message: str, close_code: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.close_code = close_code


def signaling_url(base: str, token: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}token={quote(token, safe='')}"


class SignalingClient:
    """``async with SignalingClient(url, token) as client: welcome = client.welcome ...``"""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        ping_seconds: float = 10.0,
        open_timeout: float = 15.0,
    ) -> None:
        self.url = url
        self.token = token
        self.ping_seconds = ping_seconds
        self.open_timeout = open_timeout
        self.ws: ClientConnection | None = None
        self.welcome: Frame = {}
        self.close_code: int | None = None
        self._frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._pending: list[Frame] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def peer_id(self) -> str:
        return str(self.welcome.get("peer_id", ""))

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> Frame:
        self.ws = await connect(
            signaling_url(self.url, self.token),
            open_timeout=self.open_timeout,
            close_timeout=5,
            max_size=2**20,
        )
        try:
            first: Frame = json.loads(await asyncio.wait_for(self.ws.recv(), self.open_timeout))
        except ConnectionClosed as exc:
            raise SignalingError(
                "closed", "the server closed the connection", exc.rcvd.code if exc.rcvd else None
            ) from exc
        if first.get("type") != "welcome":
            code = None
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                await asyncio.wait_for(self.ws.recv(), 5)
            if self.ws.close_code is not None:
                code = self.ws.close_code
            await self.ws.close()
            raise SignalingError(str(first.get("code", "unexpected")), str(first.get("message", first)), code)
        self.welcome = first
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._ping())]
        return first

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                if isinstance(raw, str):
                    frame = json.loads(raw)
                    if frame.get("type") != "pong":
                        await self._frames.put(frame)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            await self._frames.put(None)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.ping_seconds)
            with contextlib.suppress(ConnectionClosed):
                await self.send({"type": "ping"})

    async def send(self, frame: Frame) -> None:
        assert self.ws is not None, "connect() first"
        await self.ws.send(json.dumps(frame, separators=(",", ":")))

    async def recv(self, timeout: float | None = None) -> Frame | None:  # noqa: ASYNC109
        """The next frame (``pong`` excluded); None once the connection closed."""
        if self._pending:
            return self._pending.pop(0)
        return await asyncio.wait_for(self._frames.get(), timeout)

    async def wait_for(
        self,
        kind: str,
        predicate: Callable[[Frame], bool] | None = None,
        *,
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> Frame:
        """The first frame of ``kind`` (matching ``predicate``); others seen meanwhile stay queued."""
        skipped: list[Frame] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                frame = await asyncio.wait_for(self._next_raw(), max(0.0, deadline - loop.time()))
                if frame is None:
                    raise SignalingError("closed", f"closed while waiting for {kind}", self.close_code)
                if frame.get("type") == kind and (predicate is None or predicate(frame)):
                    return frame
                skipped.append(frame)
        finally:
            self._pending = skipped + self._pending

    async def _next_raw(self) -> Frame | None:
        if self._pending:
            return self._pending.pop(0)
        frame = await self._frames.get()
        if frame is None:
            await self._frames.put(None)  # stays closed for every later reader
        return frame

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
