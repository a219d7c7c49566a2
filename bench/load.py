"""Load generator: N keep-alive HTTP/1.1 connections on loopback, one request in flight on each.

Run as its own process (`python -m bench.load ...`) so that it never shares an event loop, nor
the GIL, with the server it measures. It prints one JSON object on stdout.

Built on asyncio protocols (uvloop when installed) and a minimal response parser: the request is
pre-encoded once, a response is complete when its Content-Length (or the last chunk) has arrived.
That is several times cheaper per request than an HTTP client library, which matters: the
generator must be faster than the fastest server it measures, or the ceiling would be its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar, cast

LOOPBACK = ("127.0.0.1", "::1", "localhost")
T = TypeVar("T")


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    requests_per_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    stopped_by: str = "count"
    connections: int = 0


class _Phase:
    """One batch of requests shared by all connections: warm-up, then the measured one."""

    def __init__(self, total: int, deadline: float, measure: bool) -> None:
        self.remaining = total
        self.deadline = deadline
        self.measure = measure
        self.in_flight = 0
        self.completed = 0
        self.errors = 0
        self.statuses: Counter[int] = Counter()
        self.latencies_ns: list[int] = []
        self.started = time.perf_counter()
        self.finished = self.started
        self.stopped_by = "count"
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def claim(self) -> bool:
        if self.remaining <= 0:
            return False
        if time.perf_counter() >= self.deadline:
            self.remaining = 0
            self.stopped_by = "time"
            return False
        self.remaining -= 1
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self.remaining <= 0 and not self.done.done():
            self.finished = time.perf_counter()
            self.done.set_result(None)


class _Connection(asyncio.Protocol):
    def __init__(self, request: bytes) -> None:
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.phase: _Phase | None = None
        self.buffer = b""
        self.body_end = -1
        self.chunked = False
        self.status = 0
        self.sent_at = 0
        self.busy = False
        self.lost = False

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.busy and self.phase is not None:
            self.busy = False
            self.phase.errors += 1
            self.phase.release()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while True:
            if self.body_end < 0:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                self.status = int(buffer[9:12])
                head = buffer[: head_end + 2].lower()
                at = head.find(b"\r\ncontent-length:")
                if at >= 0:
                    length = int(head[at + 17 : head.find(b"\r\n", at + 2)])
                    self.body_end = head_end + 4 + length
                    self.chunked = False
                elif b"\r\ntransfer-encoding: chunked" in head:
                    self.body_end = head_end + 4
                    self.chunked = True
                else:  # no body framing: not something the servers measured here send
                    self.body_end = head_end + 4
                    self.chunked = False
            if self.chunked:
                # Small JSON bodies: the response ends with the zero-length chunk.
                end = buffer.find(b"\r\n0\r\n\r\n", self.body_end - 2)
                if end < 0:
                    break
                self.body_end = end + 7
                self.chunked = False
            if len(buffer) < self.body_end:
                break
            buffer = buffer[self.body_end :]
            self.body_end = -1
            self._completed(self.status)
        self.buffer = buffer

    # request cycle

    def start(self, phase: _Phase) -> None:
        self.phase = phase
        self._send_next()

    def _send_next(self) -> None:
        phase = self.phase
        if phase is None or self.lost or self.transport is None or not phase.claim():
            return
        self.busy = True
        self.sent_at = time.perf_counter_ns()
        self.transport.write(self.request)

    def _completed(self, status: int) -> None:
        phase = self.phase
        if phase is None or not self.busy:
            return
        self.busy = False
        phase.completed += 1
        phase.statuses[status] += 1
        if status != 200:
            phase.errors += 1
        if phase.measure:
            phase.latencies_ns.append(time.perf_counter_ns() - self.sent_at)
        self._send_next()
        if not self.busy:
            phase.release()
        else:
            phase.in_flight -= 1  # the claim in _send_next counted this connection again


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index] / 1e6


def build_request(host: str, port: int, path: str, headers: list[str]) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Accept: application/json",
        "User-Agent: hospital-bench",
    ]
    lines += headers
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _run_phase(connections: list[_Connection], total: int, seconds: float, measure: bool) -> _Phase:
    phase = _Phase(total, time.perf_counter() + seconds, measure)
    if total <= 0:
        phase.done.set_result(None)
        return phase
    for connection in connections:
        connection.start(phase)
    if phase.in_flight == 0 and not phase.done.done():
        phase.done.set_result(None)
    try:
        # The deadline stops new requests; this bound also ends a run whose server stopped answering.
        await asyncio.wait_for(asyncio.shield(phase.done), timeout=seconds + 5.0)
    except TimeoutError:
        phase.errors += phase.in_flight
        phase.stopped_by = "timeout"
        phase.finished = time.perf_counter()
        for connection in connections:
            if connection.transport is not None:
                connection.transport.abort()
    return phase


async def run_load(
    host: str,
    port: int,
    path: str,
    headers: list[str],
    connections: int,
    requests: int,
    warmup: int,
    seconds: float,
    warmup_seconds: float = 1.0,
) -> LoadResult:
    if host not in LOOPBACK:
        raise ValueError(f"loopback only, not {host!r}")
    loop = asyncio.get_running_loop()
    request = build_request(host, port, path, headers)
    opened = await asyncio.gather(
        *(loop.create_connection(lambda: _Connection(request), host, port) for _ in range(connections))
    )
    protocols = [protocol for _, protocol in opened]
    if any(protocol.transport is None for protocol in protocols):
        raise RuntimeError("a connection was opened without its transport")
    try:
        warm = await _run_phase(protocols, warmup, warmup_seconds, measure=False)
        if warm.stopped_by == "timeout":
            raise RuntimeError("the server stopped answering during warm-up")
        measured = await _run_phase(protocols, requests, seconds, measure=True)
    finally:
        for transport, _ in opened:
            transport.close()
    if measured.stopped_by == "count" and measured.completed + measured.errors < requests:
        measured.errors = requests - measured.completed  # requests that never got an answer
    elapsed = max(measured.finished - measured.started, 1e-9)
    latencies = sorted(measured.latencies_ns)
    return LoadResult(
        requests=measured.completed,
        errors=measured.errors,
        elapsed_s=round(elapsed, 4),
        requests_per_s=round(measured.completed / elapsed, 1),
        statuses={str(k): v for k, v in sorted(measured.statuses.items())},
        latency_ms={
            "p50": round(_percentile(latencies, 0.50), 3),
            "p90": round(_percentile(latencies, 0.90), 3),
            "p99": round(_percentile(latencies, 0.99), 3),
            "max": round(latencies[-1] / 1e6 if latencies else 0.0, 3),
        },
        stopped_by=measured.stopped_by,
        connections=connections,
    )


def run_fast(main: Coroutine[Any, Any, T]) -> tuple[T, str]:
    """Run on uvloop when installed (uvicorn[standard] brings it), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(main), "asyncio"
    return uvloop.run(main), "uvloop"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--requests", type=int, default=10_000, help="measured requests (upper bound)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time bound of the measured phase")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests first (upper bound)")
    parser.add_argument("--warmup-seconds", type=float, default=1.0, help="time bound of the warm-up")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result, loop_name = run_fast(
        run_load(
            args.host,
            args.port,
            args.path,
            args.header,
            args.connections,
            args.requests,
            args.warmup,
            args.seconds,
            args.warmup_seconds,
        )
    )
    out: dict[str, Any] = asdict(result)
    out["loop"] = loop_name
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
