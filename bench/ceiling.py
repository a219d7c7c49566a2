"""The ceilings the benchmarks are read against.

`app` is the smallest correct ASGI application answering a small JSON body: served by uvicorn
with the same settings as the real app, its requests/s is what the server stack itself costs,
the most any endpoint could reach on this machine in this run.

`python -m bench.ceiling --port N` is a different thing: a canned-response HTTP server written
directly on asyncio protocols, with no ASGI and no HTTP parser. It is much faster than any ASGI
server, so the load generator against it shows the generator's own limit; the harness uses that
to warn when the uvicorn ceiling comes close to what the generator can produce.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from bench.load import run_fast

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = b'{"status":"ok","service":"ceiling"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


RAW_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class _RawHTTP(asyncio.Protocol):
    """Answers every request head (GET, no body) with the same bytes; keep-alive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        count = buffer.count(b"\r\n\r\n")
        if count and self.transport is not None:
            self.transport.write(RAW_RESPONSE * count)
            buffer = buffer[buffer.rfind(b"\r\n\r\n") + 4 :]
        self.buffer = buffer


async def serve_raw(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_RawHTTP, host, port, reuse_address=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description="raw canned-response server")
    parser.add_argument("--host", default="127.0.0.1", choices=("127.0.0.1", "::1"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        run_fast(serve_raw(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
