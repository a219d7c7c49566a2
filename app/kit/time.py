"""Timezone-aware time helpers. Storage is always UTC; naive datetimes are a bug.

The bounds every module applies to instants it is handed: nothing before ``EARLIEST_INSTANT``
(1900) or from ``LATEST_INSTANT`` (2200) on, which is far enough either way for any real record
or calendar and far from the ends of Python's and the databases' date ranges (arithmetic on the
year 1 or 9999 overflows). Things that have already happened (a measurement, a diagnosis, a
death) may also not lie in the future, beyond ``CLOCK_SKEW`` for a client whose clock runs ahead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)
EARLIEST_DATE = EARLIEST_INSTANT.date()
CLOCK_SKEW = timedelta(minutes=5)
# A calendar date is "today" somewhere on Earth for this long after it is today in UTC (UTC+14).
LATEST_OFFSET = timedelta(hours=14)


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: a timezone is required")
    return value.astimezone(UTC)


def as_utc(value: datetime) -> datetime | None:
    """``value`` in UTC; None when it has no UTC equivalent (the year 1 or 9999 in another zone
    lies before or after every instant Python can represent) or is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def within_bounds(value: datetime) -> datetime | None:
    """``value`` in UTC when it lies in [EARLIEST_INSTANT, LATEST_INSTANT), else None."""
    utc = as_utc(value)
    return utc if utc is not None and EARLIEST_INSTANT <= utc < LATEST_INSTANT else None


def is_future(value: datetime, *, now: datetime | None = None) -> bool:
    """Whether an aware ``value`` lies after now plus the allowed clock skew."""
    utc = as_utc(value)
    if utc is None:  # unrepresentable in UTC: the year 9999 is in the future, the year 1 is not
        return value.year > 1
    return utc > (now or utcnow()) + CLOCK_SKEW


def latest_today(now: datetime | None = None) -> date:
    """The latest calendar date that is today anywhere on Earth (a date recorded in the
    facility's or the patient's zone, e.g. a birth date, may be up to this)."""
    return ((now or utcnow()) + LATEST_OFFSET).date()
