"""Publish/subscribe and presence for real-time features: in-process memory or Redis.

The API and signaling processes each build one broker at startup (``create_broker``), ``start()``
it in their lifespan and ``close()`` it on shutdown. See ``app.broker.base`` for the contract.
"""

from __future__ import annotations

from app.broker.base import (
    DEFAULT_MAX_QUEUE,
    DEFAULT_PREFIX,
    Broker,
    BrokerClosedError,
    BrokerError,
    BrokerUnavailableError,
    Message,
    SlowConsumerError,
    Subscription,
    cancel_and_wait,
    honour_cancellation,
)
from app.broker.memory import MemoryBroker
from app.broker.redis import RedisBroker

__all__ = [
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_PREFIX",
    "Broker",
    "BrokerClosedError",
    "BrokerError",
    "BrokerUnavailableError",
    "MemoryBroker",
    "Message",
    "RedisBroker",
    "SlowConsumerError",
    "Subscription",
    "cancel_and_wait",
    "create_broker",
    "honour_cancellation",
]


def create_broker(redis_url: str | None, *, prefix: str = DEFAULT_PREFIX) -> Broker:
    """The embedded memory broker when ``redis_url`` is None, otherwise Redis; not started yet."""
    if redis_url is None:
        return MemoryBroker(prefix=prefix)
    return RedisBroker(redis_url, prefix=prefix)
