"""Rota rules and facility-local time, free of the database so they can be tested alone.

Local wall-clock times become UTC instants through ``zoneinfo``: a shift is "07:00 to 15:00 on
29 March" in the facility's zone, and its length follows from the two instants, so the night
the clocks go forward is an hour shorter and the night they go back an hour longer, and no shift
moves or doubles. A shift time that does not exist (inside the spring-forward gap, e.g. 01:30 on
the last Sunday of March in London) is refused (``nonexistent_local_time``); an ambiguous time
(inside the autumn repeat, e.g. 01:30 on the last Sunday of October) is its first occurrence, on
summer time. ``local_instant`` itself, used for day bounds too, reads a time in the gap with the
offset in force before the gap, i.e. it lands just after the gap.

The overlap and rest checks look a candidate up in a ``Timeline`` of the person's intervals
(sorted once, then binary searches), so a week of n shifts is checked in O(n log n), and a
violation lists at most ``MAX_LISTED`` of the items it clashes with, with their total.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import BadRequest


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadRequest(f"Unknown time zone {name!r}", code="invalid_timezone") from exc


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``tz``."""
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz).astimezone(UTC)


def exists_locally(day: date, at: time, tz: ZoneInfo) -> bool:
    """Whether wall-clock ``at`` happens on ``day`` in ``tz`` (not inside a spring-forward gap)."""
    wall = datetime.combine(day, at.replace(tzinfo=None))
    return wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


class NonexistentLocalTime(BadRequest):
    code = "nonexistent_local_time"

    def __init__(self, day: date, at: time, tz: ZoneInfo) -> None:
        clock = at.strftime("%H:%M")
        super().__init__(
            f"{clock} does not exist on {day.isoformat()} in {tz.key}: the clocks go forward that "
            "night; choose a time outside the gap",
            details={"date": day.isoformat(), "time": clock, "timezone": tz.key},
        )


def shift_bounds(
    day: date, start: time, end: time, tz: ZoneInfo, *, strict: bool = False
) -> tuple[datetime, datetime]:
    """A shift starting on local ``day``; an end at or before the start is on the next day.
    ``strict``: a wall-clock time that does not exist that day raises ``NonexistentLocalTime``
    (an ambiguous one is always its first occurrence)."""
    end_day = day + timedelta(days=1) if end <= start else day
    if strict:
        for d, t in ((day, start), (end_day, end)):
            if not exists_locally(d, t, tz):
                raise NonexistentLocalTime(d, t, tz)
    return local_instant(day, start, tz), local_instant(end_day, end, tz)


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def local_days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """The local days an interval touches (its end instant excluded: a shift ending at midnight
    does not need a licence for the next day)."""
    first = local_day(start, tz)
    last = local_day(end - timedelta(microseconds=1), tz) if end > start else first
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def week_start(day: date) -> date:
    """Monday of the ISO week holding ``day``."""
    return day - timedelta(days=day.weekday())


def day_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC instants of local midnight at the start of ``first`` and at the end of ``last``."""
    return local_instant(first, time(0), tz), local_instant(last + timedelta(days=1), time(0), tz)


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def clip_intervals(
    intervals: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of ``intervals`` inside [start, end), sorted, overlapping ones merged."""
    parts = sorted((max(s, start), min(e, end)) for s, e in intervals if overlaps(s, e, start, end))
    merged: list[tuple[datetime, datetime]] = []
    for s, e in parts:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


LicencePeriod = tuple[date | None, date | None]


def period_covers(period: LicencePeriod, day: date) -> bool:
    valid_from, valid_to = period
    return (valid_from is None or valid_from <= day) and (valid_to is None or day <= valid_to)


def licensed_on(periods: Sequence[LicencePeriod], day: date) -> bool:
    return any(period_covers(p, day) for p in periods)


# --- rule checking -------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A shift or a leave period of one person, for the rule checks."""

    id: uuid.UUID | None  # None for a candidate not stored yet
    staff_id: uuid.UUID
    start: datetime
    end: datetime
    kind: str = "shift"  # shift | annual | sick | training | unavailable
    label: str | None = None  # e.g. the shift definition's name
    ref: int | None = None  # a bulk candidate's position in the request

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }
        if self.id is not None:
            out["id"] = str(self.id)
        if self.label:
            out["label"] = self.label
        if self.ref is not None:
            out["index"] = self.ref
        return out


@dataclass
class Violation:
    code: str  # shift_overlap | insufficient_rest | on_leave | licence_expired | staff_inactive
    message: str
    conflicts_with: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "conflicts_with": self.conflicts_with,
            **self.extra,
        }


@dataclass(frozen=True)
class PersonFacts:
    staff_id: uuid.UUID
    display_name: str
    active: bool
    clinical: bool
    licence_periods: tuple[LicencePeriod, ...]


MAX_LISTED = 5  # items listed per violation; ``conflicts_total`` gives how many there are
_NEVER = datetime.min.replace(tzinfo=UTC)


class _MaxTree:
    """A segment tree of maxima: the first index in a range whose value exceeds x, in O(log n)."""

    def __init__(self, values: Sequence[datetime]) -> None:
        size = 1
        while size < len(values):
            size *= 2
        self._size = size
        self._tree = [_NEVER] * (2 * size)
        self._tree[size : size + len(values)] = values
        for i in range(size - 1, 0, -1):
            self._tree[i] = max(self._tree[2 * i], self._tree[2 * i + 1])

    def first_above(self, lo: int, hi: int, x: datetime) -> int | None:
        return self._first(1, 0, self._size, lo, hi, x)

    def _first(self, node: int, left: int, right: int, lo: int, hi: int, x: datetime) -> int | None:
        if right <= lo or hi <= left or self._tree[node] <= x:
            return None
        if right - left == 1:
            return left
        mid = (left + right) // 2
        found = self._first(2 * node, left, mid, lo, hi, x)
        return found if found is not None else self._first(2 * node + 1, mid, right, lo, hi, x)


class Timeline:
    """One person's shifts (or leave), sorted once, for the rule checks: which of them overlap an
    interval, and which end or start too close to it, each answered with binary searches (the
    total by counting, the first ``limit`` listed in start order). Empty or inverted intervals
    are left out: they clash with nothing."""

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self._items = sorted((i for i in intervals if i.end > i.start), key=lambda i: (i.start, i.end))
        self._members = set(self._items)
        self._starts = [i.start for i in self._items]
        self._by_end = sorted(self._items, key=lambda i: (i.end, i.start))
        self._ends = [i.end for i in self._by_end]
        self._tree = _MaxTree([i.end for i in self._items])

    def __len__(self) -> int:
        return len(self._items)

    def overlapping(
        self, start: datetime, end: datetime, *, skip: Interval | None = None, limit: int = MAX_LISTED
    ) -> tuple[list[Interval], int]:
        """The first ``limit`` intervals overlapping [start, end) by start time, and how many
        overlap in all; ``skip`` (the candidate itself, when it is on the timeline) excluded."""
        if end <= start:
            return [], 0
        before_end = bisect_left(self._starts, end)  # start < end
        ended = bisect_right(self._ends, start)  # end <= start (so start < end too)
        total = before_end - ended
        if skip is not None and skip in self._members:
            total -= 1
        listed: list[Interval] = []
        i = 0
        while len(listed) < limit:
            j = self._tree.first_above(i, before_end, start)
            if j is None:
                break
            if self._items[j] != skip:
                listed.append(self._items[j])
            i = j + 1
        return listed, total

    def too_close(
        self, start: datetime, end: datetime, rest: timedelta, *, limit: int = MAX_LISTED
    ) -> tuple[list[Interval], int]:
        """Intervals ending less than ``rest`` before ``start`` or starting less than ``rest``
        after ``end`` (without overlapping it): the nearest ``limit`` on each side, sorted by
        start, and how many in all."""
        lo, hi = bisect_right(self._ends, start - rest), bisect_right(self._ends, start)
        before = self._by_end[max(lo, hi - limit) : hi]
        lo2, hi2 = bisect_left(self._starts, end), bisect_left(self._starts, end + rest)
        after = self._items[lo2 : min(hi2, lo2 + limit)]
        gaps = [(start - i.end, i) for i in before] + [(i.start - end, i) for i in after]
        nearest = [i for _, i in sorted(gaps, key=lambda g: g[0])[:limit]]
        return sorted(nearest, key=lambda i: (i.start, i.end)), (hi - lo) + (hi2 - lo2)


def _as_timeline(items: Timeline | Sequence[Interval]) -> Timeline:
    return items if isinstance(items, Timeline) else Timeline(items)


def _clash(code: str, message: str, listed: list[Interval], total: int, **extra: Any) -> Violation:
    return Violation(code, message, [c.describe() for c in listed], {"conflicts_total": total, **extra})


def check_shift(
    candidate: Interval,
    *,
    clinical_shift: bool,
    person: PersonFacts,
    others: Timeline | Sequence[Interval],
    leave: Timeline | Sequence[Interval],
    min_rest: timedelta,
    tz: ZoneInfo,
) -> list[Violation]:
    """Every rule ``candidate`` breaks against the person's other shifts and leave. ``others``
    may hold the candidate itself (a ``Timeline`` of a whole week): it is skipped."""
    out: list[Violation] = []
    if not person.active:
        out.append(Violation("staff_inactive", f"{person.display_name} is not an active staff member"))
    if candidate.end <= candidate.start:
        out.append(Violation("invalid_shift", "The shift ends before it starts"))
        return out
    shifts = _as_timeline(others)
    listed, total = shifts.overlapping(candidate.start, candidate.end, skip=candidate)
    if total:
        out.append(
            _clash(
                "shift_overlap",
                f"{person.display_name} already works a shift at that time"
                + (f" ({total} overlapping shifts)" if total > 1 else ""),
                listed,
                total,
            )
        )
    if min_rest > timedelta(0):
        listed, total = shifts.too_close(candidate.start, candidate.end, min_rest)
        if total:
            hours = min_rest.total_seconds() / 3600
            out.append(
                _clash(
                    "insufficient_rest",
                    f"{person.display_name} needs at least {hours:g} hours of rest between shifts",
                    listed,
                    total,
                    min_rest_hours=hours,
                )
            )
    listed, total = _as_timeline(leave).overlapping(candidate.start, candidate.end)
    if total:
        out.append(
            _clash(
                "on_leave", f"{person.display_name} is on leave or unavailable at that time", listed, total
            )
        )
    if clinical_shift and person.clinical:
        missing = [
            d
            for d in local_days(candidate.start, candidate.end, tz)
            if not licensed_on(person.licence_periods, d)
        ]
        if missing:
            out.append(
                Violation(
                    "licence_expired",
                    f"{person.display_name} has no valid licence on {missing[0].isoformat()}",
                    extra={"days": [d.isoformat() for d in missing]},
                )
            )
    return out


def weekly_hours(shifts: Iterable[Interval], tz: ZoneInfo) -> dict[tuple[uuid.UUID, date], float]:
    """Hours per (person, ISO week), each shift counted in the week of its local start day."""
    totals: dict[tuple[uuid.UUID, date], float] = {}
    for s in shifts:
        key = (s.staff_id, week_start(local_day(s.start, tz)))
        totals[key] = totals.get(key, 0.0) + (s.end - s.start).total_seconds() / 3600
    return totals
