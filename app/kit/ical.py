"""iCalendar (RFC 5545) building blocks shared by staff feeds and appointment confirmations.

Times go out in UTC (``DTSTART:20261207T090000Z``): every client renders them in its own zone,
and no VTIMEZONE block can drift from the IANA rules. UIDs are stable per event, and SEQUENCE
rises with each change, so calendar clients update an event instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from icalendar import Calendar, Event

from app.kit.time import ensure_aware, utcnow

PRODID = "-//Hospital Hub//Hospital Hub//EN"
UID_DOMAIN = "hospital-hub"


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    uid: str  # unique and stable for the thing it shows, e.g. "appointment-<uuid>"
    start: datetime
    end: datetime
    summary: str
    description: str | None = None
    location: str | None = None
    status: Literal["CONFIRMED", "TENTATIVE", "CANCELLED"] = "CONFIRMED"
    sequence: int = 0
    updated: datetime | None = None


def _utc(value: datetime) -> datetime:
    return ensure_aware(value).astimezone(UTC)


def to_vevent(item: CalendarEvent, *, stamp: datetime | None = None) -> Event:
    ev = Event()
    ev.add("uid", f"{item.uid}@{UID_DOMAIN}")
    ev.add("dtstamp", _utc(stamp or item.updated or utcnow()))
    ev.add("dtstart", _utc(item.start))
    ev.add("dtend", _utc(item.end))
    ev.add("summary", item.summary)
    if item.description:
        ev.add("description", item.description)
    if item.location:
        ev.add("location", item.location)
    ev.add("status", item.status)
    ev.add("sequence", item.sequence)
    return ev


def calendar_bytes(
    events: Iterable[CalendarEvent],
    *,
    name: str | None = None,
    method: Literal["PUBLISH", "REQUEST", "CANCEL"] | None = None,
) -> bytes:
    """A VCALENDAR holding ``events``. ``method`` is for iTIP messages (an e-mailed invitation
    uses REQUEST, a cancellation CANCEL); subscribed feeds leave it out."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
    stamp = utcnow()
    for item in events:
        cal.add_component(to_vevent(item, stamp=stamp))
    return bytes(cal.to_ical())
