"""iCalendar (RFC 5545) building blocks shared by staff feeds and appointment confirmations.

Times go out in UTC (``DTSTART:20261207T090000Z``): every client renders them in its own zone,
and no VTIMEZONE block can drift from the IANA rules. UIDs are stable per event, and SEQUENCE
rises with each change, so calendar clients update an event instead of adding a second one.

An e-mailed invitation or cancellation (iTIP, RFC 5546: ``METHOD:REQUEST`` / ``CANCEL``) must name
its ORGANIZER and ATTENDEEs, or clients treat it as a stray copy and ignore a cancellation; give
those events an ``organizer`` and ``attendees``. Subscribed feeds (no METHOD, or PUBLISH) name
nobody.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Literal

from icalendar import Calendar, Event, vCalAddress, vText

from app.kit.time import ensure_aware, utcnow

PRODID = "-//Hospital Hub//Hospital Hub//EN"
UID_DOMAIN = "hospital-hub"

# A bare mail address: one "@", nothing that could end a property or a parameter (no spaces,
# control characters, quotes, brackets, commas, semicolons or colons).
_ADDRESS = re.compile(r"[^@\s\x00-\x1f\x7f<>\"(),;:\\\[\]]+@[^@\s\x00-\x1f\x7f<>\"(),;:\\\[\]]+")
_NOT_IN_CN = re.compile(r"[\x00-\x1f\x7f\"]+")


@dataclass(frozen=True, slots=True)
class Party:
    """An iTIP ORGANIZER or ATTENDEE: a mail address and, optionally, a name (the CN)."""

    email: str
    name: str | None = None

    def __post_init__(self) -> None:
        if not _ADDRESS.fullmatch(self.email):
            raise ValueError(f"not a mail address: {self.email!r}")

    @classmethod
    def from_header(cls, value: str) -> Party:
        """From an address header such as ``Hospital Hub <no-reply@hospital-hub.local>``."""
        name, address = parseaddr(value)
        return cls(address or value.strip(), name.strip() or None)

    def to_ical(self, **params: str) -> vCalAddress:
        address = vCalAddress(f"mailto:{self.email}")
        # A parameter value cannot hold a double quote or a line break; the rest is quoted.
        cn = " ".join(_NOT_IN_CN.sub(" ", self.name).split()) if self.name else ""
        if cn:
            address.params["CN"] = vText(cn)
        for key, value in params.items():
            address.params[key] = value
        return address


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
    # iTIP messages only (see the module's docstring).
    organizer: Party | None = None
    attendees: tuple[Party, ...] = ()


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
    if item.organizer is not None:
        ev.add("organizer", item.organizer.to_ical())
    for attendee in item.attendees:
        # The attendee is the patient the visit is for, or the clinician it is with: the booking
        # stands already (accepted), and no reply is expected (the organizer's address does not
        # read mail).
        ev.add(
            "attendee",
            attendee.to_ical(CUTYPE="INDIVIDUAL", ROLE="REQ-PARTICIPANT", PARTSTAT="ACCEPTED", RSVP="FALSE"),
        )
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
