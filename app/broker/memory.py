"""The embedded broker: one process, no network, the same contract as Redis.

Everything runs on the event loop's thread without awaiting inside a critical section, so no
locks are needed. Two ``MemoryBroker`` instances never see each other: run one per process and
use Redis as soon as there is more than one API or signaling process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from app.broker.base import (
    DEFAULT_PREFIX,
    Broker,
    Message,
    Subscription,
    check_name,
    check_ttl,
    decode_json,
    encode_json,
)


@dataclass(slots=True)
class _Presence:
    expires_at: float
    info_json: str


class MemoryBroker(Broker):
    def __init__(self, *, prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__(prefix=prefix)
        # Insertion-ordered dicts (not sets) so fan-out order is subscription order.
        self._channels: dict[str, dict[Subscription, None]] = {}
        self._rooms: dict[str, dict[str, _Presence]] = {}

    async def start(self) -> None:
        if self._lifecycle == "closed":
            raise RuntimeError("a closed broker cannot be restarted")
        self._lifecycle = "running"

    async def close(self) -> None:
        if self._lifecycle == "closed":
            return
        self._lifecycle = "closed"
        for subscribers in self._channels.values():
            for subscription in subscribers:
                subscription._end()
        self._channels.clear()
        self._rooms.clear()

    async def ping(self) -> None:
        self._check_running()

    async def publish(self, channel: str, message: dict[str, Any]) -> int:
        self._check_running()
        check_name("channel", channel)
        # Through JSON and back, so payloads behave exactly as they would through Redis.
        data = decode_json(encode_json(message))
        subscribers = self._channels.get(channel)
        if not subscribers:
            return 0
        envelope = Message(channel, data)
        delivered = 0
        refused: list[Subscription] = []
        for subscription in subscribers:
            if subscription._deliver(envelope):
                delivered += 1
            else:
                refused.append(subscription)
        for subscription in refused:
            self._detach(subscription)
        return delivered

    def local_subscribers(self, channel: str) -> int:
        return len(self._channels.get(channel, ()))

    async def _attach(self, subscription: Subscription) -> None:
        self._check_running()
        for channel in subscription.channels:
            self._channels.setdefault(channel, {})[subscription] = None

    async def _release(self, subscription: Subscription) -> None:
        self._detach(subscription)

    def _detach(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.pop(subscription, None)
                if not subscribers:
                    del self._channels[channel]

    # Presence: a dict per room of member -> monotonic expiry; expired members are purged on access.

    async def presence_join(self, room: str, member: str, info: dict[str, Any], ttl_seconds: float) -> None:
        self._check_running()
        check_name("room", room)
        check_name("member", member)
        ttl_ms = check_ttl(ttl_seconds)
        self._rooms.setdefault(room, {})[member] = _Presence(
            time.monotonic() + ttl_ms / 1000, encode_json(info)
        )

    async def presence_heartbeat(self, room: str, member: str, ttl_seconds: float) -> bool:
        self._check_running()
        check_name("member", member)
        ttl_ms = check_ttl(ttl_seconds)
        members = self._live_members(room)
        entry = members.get(member) if members is not None else None
        if entry is None:
            return False
        entry.expires_at = time.monotonic() + ttl_ms / 1000
        return True

    async def presence_leave(self, room: str, member: str) -> None:
        self._check_running()
        check_name("member", member)
        members = self._rooms.get(check_name("room", room))
        if members is not None:
            members.pop(member, None)
            if not members:
                del self._rooms[room]

    async def presence_list(self, room: str) -> dict[str, dict[str, Any]]:
        self._check_running()
        members = self._live_members(room)
        if members is None:
            return {}
        return {member: decode_json(entry.info_json) for member, entry in members.items()}

    def _live_members(self, room: str) -> dict[str, _Presence] | None:
        members = self._rooms.get(check_name("room", room))
        if members is None:
            return None
        now = time.monotonic()
        for member in [m for m, entry in members.items() if entry.expires_at <= now]:
            del members[member]
        if not members:
            del self._rooms[room]
            return None
        return members
