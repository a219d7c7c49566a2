"""Ids of the high-volume monitoring rows, made here rather than by the database.

``(milliseconds since 2020 << 11) | sequence``: strictly increasing within a process, in time
order across processes (to the millisecond), below 2**53 for 139 years so browsers' JSON keeps
them exact. Made before the INSERT, so a batch of a thousand rows is one plain executemany
(no RETURNING, which SQLite can only order row by row), and the feed's replay order (``id >
since``) is the order the writer committed them in.
"""

from __future__ import annotations

import threading
import time

_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
_SEQ_BITS = 11
_lock = threading.Lock()
_last = 0


def next_ids(count: int) -> range:
    """``count`` fresh, consecutive ids."""
    global _last
    with _lock:
        now = (int(time.time() * 1000) - _EPOCH_MS) << _SEQ_BITS
        start = max(now, _last + 1)
        _last = start + count - 1
        return range(start, start + count)


def next_id() -> int:
    return next_ids(1)[0]


def back(event_id: int, seconds: float) -> int:
    """The id made ``seconds`` before ``event_id`` was (0 at the least)."""
    return max(0, event_id - (int(seconds * 1000) << _SEQ_BITS))
