"""Pure ASGI middleware: request context (id, origin), body size ceiling and security headers.

Pure ASGI rather than BaseHTTPMiddleware: no extra task per request, and streaming bodies
are counted as they arrive.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.context import RequestContext, set_context
from app.errors import error_body

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class _BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, max_body_bytes: int, limits_by_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.limits_by_path = limits_by_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming_id = headers.get("x-request-id", "")
        ctx = RequestContext(
            client_address=scope["client"][0] if scope.get("client") else None,
            user_agent=headers.get("user-agent"),
        )
        if _REQUEST_ID.match(incoming_id):
            ctx.request_id = incoming_id
        set_context(ctx)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        path: str = scope["path"]
        limit = self.limits_by_path.get(path.rstrip("/") or "/", self.max_body_bytes)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(send, ctx.request_id, limit)
            return

        received = 0
        started = False
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if too_large:
                # The framework caught our exception while parsing the body and answered with
                # a generic 400; the client must learn the real reason instead.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._too_large(send, ctx.request_id, limit)
                return
            if message["type"] == "http.response.start":
                started = True
                h = MutableHeaders(scope=message)
                h["X-Request-ID"] = ctx.request_id
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("Referrer-Policy", "no-referrer")
                h.setdefault("X-Frame-Options", "DENY")
                h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                h.setdefault("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
                h.setdefault("Content-Security-Policy", _CSP)
                if path.startswith(("/api", "/fhir")):
                    # Patient data must not linger in shared or browser caches.
                    h.setdefault("Cache-Control", "no-store")
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            if started:
                raise
            await self._too_large(send, ctx.request_id, limit)

    async def _too_large(self, send: Send, request_id: str, limit: int) -> None:
        body = json.dumps(
            error_body(
                "payload_too_large",
                f"The request body exceeds the limit of {limit} bytes",
                {"limit": limit},
            )
        ).encode()
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-store"),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
