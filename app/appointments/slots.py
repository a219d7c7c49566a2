"""Free slots computed on the fly from weekly hours: pure functions, no database.

Weekly hours are wall-clock times in the facility's zone. Each rule is expanded per local day:
the day's session runs from ``start_time`` to ``end_time`` *on that day's clock* (so a 09:00
clinic starts at 09:00 local in summer and in winter, 08:00 or 09:00 UTC), and its slots are cut
from the session's real elapsed time, one after the other, each ``duration`` long.

Daylight saving, e.g. Europe/London:
- spring forward (01:00 -> 02:00): a wall time that does not exist is read as the instant it
  would have been (01:30 -> 02:30 BST), so a session 00:30-02:30 lasts one real hour and offers
  00:30 GMT and 02:00 BST; no slot starts at a time that does not exist;
- fall back (02:00 -> 01:00): an ambiguous wall time means its first occurrence, so a session
  00:30-02:30 lasts three real hours and offers 00:30, 01:00, 01:30 BST, then 01:00, 01:30,
  02:00 GMT: six distinct instants (the clinician is there for all three hours); never one
  instant twice.
Slots are identified by their instant (UTC start) and staff member, so two rules covering the
same time never offer it twice.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.appointments.models import GRANULE_MINUTES


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    staff_id: uuid.UUID
    weekday: int  # 0 Monday .. 6 Sunday
    start_time: time
    end_time: time
    valid_from: date
    valid_to: date | None
    admits: bool  # whether these hours are for the appointment type being searched

    def applies_on(self, day: date) -> bool:
        return (
            day.weekday() == self.weekday
            and self.valid_from <= day
            and (self.valid_to is None or day <= self.valid_to)
        )


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    start: datetime  # aware UTC
    staff_id: uuid.UUID
    end: datetime


def wall_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The instant of wall time ``at`` on ``day``: ambiguous times resolve to their first
    occurrence, nonexistent ones to the instant they would have been (shifted forward)."""
    return datetime.combine(day, at, tzinfo=tz).replace(fold=0).astimezone(UTC)


def session_bounds(hours: WeeklyHours, day: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    start = wall_to_utc(day, hours.start_time, tz)
    end = wall_to_utc(day, hours.end_time, tz)
    return (start, end) if end > start else None


def local_days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """The facility-local dates touched by [start, end)."""
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def candidate_slots(
    hours: Iterable[WeeklyHours], days: Sequence[date], duration: timedelta, tz: ZoneInfo
) -> Iterator[Slot]:
    """Every slot the hours offer on ``days`` (before bookings, leave or the clock are applied)."""
    for rule in hours:
        if not rule.admits:
            continue
        for day in days:
            if not rule.applies_on(day):
                continue
            bounds = session_bounds(rule, day, tz)
            if bounds is None:
                continue
            at, session_end = bounds
            while at + duration <= session_end:
                yield Slot(start=at, staff_id=rule.staff_id, end=at + duration)
                at += duration


class Busy:
    """Busy intervals per staff member, for overlap checks by bisection."""

    def __init__(self, intervals: dict[uuid.UUID, list[tuple[datetime, datetime]]]) -> None:
        self._starts: dict[uuid.UUID, list[datetime]] = {}
        self._ends: dict[uuid.UUID, list[datetime]] = {}
        for staff_id, items in intervals.items():
            merged = merge(items)
            self._starts[staff_id] = [s for s, _ in merged]
            self._ends[staff_id] = [e for _, e in merged]

    def overlaps(self, staff_id: uuid.UUID, start: datetime, end: datetime) -> bool:
        starts = self._starts.get(staff_id)
        if not starts:
            return False
        # The last busy interval starting before ``end`` is the only one that can overlap
        # (they are merged, so disjoint and sorted).
        i = bisect.bisect_left(starts, end) - 1
        return i >= 0 and self._ends[staff_id][i] > start


def merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def free_slots(
    candidates: Iterable[Slot],
    *,
    busy: Busy,
    not_before: datetime,
    window_start: datetime,
    window_end: datetime,
    bookable: Callable[[uuid.UUID, date], bool],
    tz: ZoneInfo,
) -> list[Slot]:
    """The candidates that start in the window, not in the past, on a day the clinician may be
    booked, clear of every busy interval; sorted by (start, staff), each instant once."""
    seen: set[tuple[datetime, uuid.UUID]] = set()
    out = []
    for slot in candidates:
        if slot.start < window_start or slot.start >= window_end or slot.start < not_before:
            continue
        key = (slot.start, slot.staff_id)
        if key in seen:
            continue
        seen.add(key)
        if not aligned(slot.start):
            continue
        if not bookable(slot.staff_id, slot.start.astimezone(tz).date()):
            continue
        if busy.overlaps(slot.staff_id, slot.start, slot.end):
            continue
        out.append(slot)
    out.sort()
    return out


def aligned(at: datetime) -> bool:
    """Whether ``at`` starts a granule (every booking does: the locks are cut in granules)."""
    return at.second == 0 and at.microsecond == 0 and at.minute % GRANULE_MINUTES == 0


def granules(start: datetime, end: datetime) -> list[datetime]:
    """The granule starts covering [start, end)."""
    step = timedelta(minutes=GRANULE_MINUTES)
    at = start.astimezone(UTC).replace(second=0, microsecond=0)
    at -= timedelta(minutes=at.minute % GRANULE_MINUTES)
    out = []
    while at < end:
        out.append(at)
        at += step
    return out


# --- cursors ---------------------------------------------------------------------------------

# A cursor is the last slot of a page (its start in whole seconds since the epoch, its staff id)
# and a MAC over that and the search it came from, base64url: only a cursor this server issued
# for this search decodes, so a forged or altered one is refused instead of read.
_CURSOR = struct.Struct(">q16s")
_MAC_BYTES = 16
_CURSOR_LENGTH = len(base64.urlsafe_b64encode(bytes(_CURSOR.size + _MAC_BYTES)).rstrip(b"="))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _mac(key: bytes, scope: str, payload: bytes) -> bytes:
    return hmac.new(key, b"slot-cursor|" + scope.encode() + b"|" + payload, hashlib.sha256).digest()[
        :_MAC_BYTES
    ]


def encode_cursor(slot: Slot, *, key: bytes, scope: str) -> str:
    """The cursor after ``slot`` for the search ``scope`` (what it searched: type, clinicians)."""
    seconds = int((slot.start.astimezone(UTC) - _EPOCH).total_seconds())
    payload = _CURSOR.pack(seconds, slot.staff_id.bytes)
    return base64.urlsafe_b64encode(payload + _mac(key, scope, payload)).decode().rstrip("=")


def decode_cursor(cursor: str, *, key: bytes, scope: str) -> tuple[datetime, uuid.UUID]:
    """(start, staff id) of the last slot of the previous page; ValueError unless ``cursor`` is
    one :func:`encode_cursor` made with this key for this scope."""
    if len(cursor) != _CURSOR_LENGTH or not cursor.isascii():
        raise ValueError("malformed cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error) as exc:
        raise ValueError("malformed cursor") from exc
    payload, mac = raw[: _CURSOR.size], raw[_CURSOR.size :]
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(key, scope, payload)):
        raise ValueError("not a cursor of this search")
    seconds, staff = _CURSOR.unpack(payload)
    try:
        start = _EPOCH + timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ValueError("malformed cursor") from exc
    return start, uuid.UUID(bytes=staff)


def after_cursor(slot: Slot, cursor: tuple[datetime, uuid.UUID] | None) -> bool:
    return cursor is None or (slot.start, slot.staff_id) > cursor
