"""Rota rules and facility-local time, free of the database so they can be tested alone.

Local wall-clock times become UTC instants through ``zoneinfo``: a shift is "07:00 to 15:00 on
29 March" in the facility's zone, and its length follows from the two instants, so the night
the clocks go forward is an hour shorter and the night they go back an hour longer, and no shift
moves or doubles. A time that does not exist (inside the spring-forward gap) is read with the
offset in force before the gap, i.e. it lands just after the gap; an ambiguous time (inside the
autumn repeat) is its first occurrence.
"""

from __future__ import annotations

import uuid
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


def shift_bounds(day: date, start: time, end: time, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A shift starting on local ``day``; an end at or before the start is on the next day."""
    end_day = day + timedelta(days=1) if end <= start else day
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


def check_shift(
    candidate: Interval,
    *,
    clinical_shift: bool,
    person: PersonFacts,
    others: Sequence[Interval],
    leave: Sequence[Interval],
    min_rest: timedelta,
    tz: ZoneInfo,
) -> list[Violation]:
    """Every rule ``candidate`` breaks against the person's other shifts and leave (``others``
    must not contain the candidate itself)."""
    out: list[Violation] = []
    if not person.active:
        out.append(Violation("staff_inactive", f"{person.display_name} is not an active staff member"))
    if candidate.end <= candidate.start:
        out.append(Violation("invalid_shift", "The shift ends before it starts"))
        return out
    clashes = [o for o in others if overlaps(o.start, o.end, candidate.start, candidate.end)]
    if clashes:
        out.append(
            Violation(
                "shift_overlap",
                f"{person.display_name} already works a shift at that time",
                [c.describe() for c in sorted(clashes, key=lambda c: c.start)],
            )
        )
    if min_rest > timedelta(0):
        too_close = [
            o
            for o in others
            if o not in clashes
            and (
                timedelta(0) <= candidate.start - o.end < min_rest
                or timedelta(0) <= o.start - candidate.end < min_rest
            )
        ]
        if too_close:
            hours = min_rest.total_seconds() / 3600
            out.append(
                Violation(
                    "insufficient_rest",
                    f"{person.display_name} needs at least {hours:g} hours of rest between shifts",
                    [c.describe() for c in sorted(too_close, key=lambda c: c.start)],
                    {"min_rest_hours": hours},
                )
            )
    away = [lv for lv in leave if overlaps(lv.start, lv.end, candidate.start, candidate.end)]
    if away:
        out.append(
            Violation(
                "on_leave",
                f"{person.display_name} is on leave or unavailable at that time",
                [a.describe() for a in sorted(away, key=lambda a: a.start)],
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
