"""Per-request context (request id, client address, actor) carried in contextvars so audit
entries can say "from where" without every service passing it along."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class RequestContext:
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client_address: str | None = None
    user_agent: str | None = None
    actor_id: uuid.UUID | None = None
    actor_username: str | None = None
    actor_roles: tuple[str, ...] = ()


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def current_context() -> RequestContext:
    ctx = _current.get()
    if ctx is None:
        # Outside a request (CLI, background job): a fresh context the caller may fill in.
        ctx = RequestContext()
        _current.set(ctx)
    return ctx


def set_context(ctx: RequestContext) -> None:
    _current.set(ctx)
