"""The patient's .ics are iTIP messages (RFC 5546): REQUEST and CANCEL name the ORGANIZER (the
facility's notification sender) and the patient as ATTENDEE, with a stable UID and a rising
SEQUENCE, so calendar clients apply updates and cancellations instead of ignoring them. Feeds
(PUBLISH) carry no attendees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar

from app.kit import ical
from app.notifications.models import NotificationMessage
from tests.appointments.helpers import booking, clinic, make_patient, messages, next_local, settings_of


def _calendar(message: NotificationMessage) -> tuple[icalendar.Calendar, icalendar.Event]:
    (attachment,) = message.attachments
    cal = icalendar.Calendar.from_ical(attachment.content)
    (event,) = cal.walk("VEVENT")
    return cal, event


def _party(value: object) -> tuple[str, str | None]:
    """(address, CN) of an ORGANIZER or ATTENDEE property."""
    assert isinstance(value, icalendar.vCalAddress), value
    cn = value.params.get("CN")
    return str(value), str(cn) if cn is not None else None


async def test_the_patients_invitation_update_and_cancellation_name_organizer_and_attendee(client, db):
    c = await clinic(client, db)
    _patient, me = await make_patient(client, db, c.reception, email="Zoe@Example.org")
    made = await client.post("/api/appointments", json=booking(c, None, next_local(4, "10:00")), headers=me)
    assert made.status_code == 201, made.text
    a = made.json()
    moved = await client.post(
        f"/api/appointments/{a['id']}/reschedule",
        json={"start": next_local(5, "11:00").isoformat()},
        headers=me,
    )
    assert moved.status_code == 200, moved.text
    cancelled = await client.post(f"/api/appointments/{a['id']}/cancel", headers=me)
    assert cancelled.status_code == 200, cancelled.text

    sent = [m for m in await messages(db, a["id"]) if m.to_email.lower() == "zoe@example.org"]
    itip = [m for m in sent if m.attachments]
    assert [m.kind for m in itip] == [
        "appointment.confirmation",
        "appointment.confirmation",
        "appointment.cancellation",
    ]
    organizer = ("mailto:no-reply@hospital-hub.local", "Hospital Hub")
    assert settings_of(client).notifications_from == "Hospital Hub <no-reply@hospital-hub.local>"
    for message, method, sequence, status in zip(
        itip,
        ("REQUEST", "REQUEST", "CANCEL"),
        (0, 1, 2),
        ("CONFIRMED", "CONFIRMED", "CANCELLED"),
        strict=True,
    ):
        cal, event = _calendar(message)
        assert str(cal["method"]) == method
        assert f"method={method}" in message.attachments[0].content_type
        assert str(event["uid"]) == f"appointment-{a['id']}@hospital-hub"
        assert int(event["sequence"]) == sequence and str(event["status"]) == status
        assert _party(event["organizer"]) == organizer
        attendee = event["attendee"]
        assert not isinstance(attendee, list), "one attendee: the patient"
        assert _party(attendee) == ("mailto:Zoe@Example.org", "Jane Martín")
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert attendee.params["RSVP"] == "FALSE"
        assert attendee.params["PARTSTAT"] == "ACCEPTED"
    # The cancellation is for the time it was moved to.
    _cal, last = _calendar(itip[-1])
    assert last.decoded("dtstart") == next_local(5, "11:00")

    # The clinician's feed (a subscribed calendar) names nobody: no organizer, no attendees.
    again = await client.post("/api/appointments", json=booking(c, None, next_local(6, "10:00")), headers=me)
    assert again.status_code == 201, again.text
    feed = await client.post(f"/api/staff/{c.staff_id}/calendar-feed", headers=c.admin)
    assert feed.status_code == 201, feed.text
    text = (await client.get(feed.json()["path"])).text
    assert f"appointment-{again.json()['id']}@hospital-hub" in text
    assert "ATTENDEE" not in text and "ORGANIZER" not in text and "example.org" not in text.lower()


def test_organizer_and_attendees_render_and_parse_back():
    start = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    tricky = 'O\'Brien, "Siobhán"; Dr: ünïcode'
    event = ical.CalendarEvent(
        uid="appointment-x",
        start=start,
        end=start + timedelta(minutes=20),
        summary="Visit",
        organizer=ical.Party("no-reply@hospital-hub.local", "Hospital Hub"),
        attendees=(ical.Party("siobhan@example.org", tricky), ical.Party("plain@example.org")),
    )
    cal = icalendar.Calendar.from_ical(ical.calendar_bytes([event], method="REQUEST"))
    (vevent,) = cal.walk("VEVENT")
    assert _party(vevent["organizer"]) == ("mailto:no-reply@hospital-hub.local", "Hospital Hub")
    first, second = vevent["attendee"]
    address, cn = _party(first)
    assert address == "mailto:siobhan@example.org"
    assert cn is not None and "Siobhán" in cn and "O'Brien" in cn and '"' not in cn
    assert _party(second) == ("mailto:plain@example.org", None)
    # A feed entry stays without them.
    plain = ical.CalendarEvent(uid="shift-1", start=start, end=start + timedelta(hours=8), summary="Early")
    text = ical.calendar_bytes([plain])
    assert b"ORGANIZER" not in text and b"ATTENDEE" not in text and b"METHOD" not in text
    # A party needs a mail address.
    for bad in ("", "not an address", "a@b\r\nX-INJECT:1"):
        try:
            ical.Party(bad, "x")
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_the_organizer_comes_from_the_notification_sender():
    assert ical.Party.from_header("Hospital Hub <no-reply@hospital-hub.local>") == ical.Party(
        "no-reply@hospital-hub.local", "Hospital Hub"
    )
    assert ical.Party.from_header("desk@clinic.example") == ical.Party("desk@clinic.example", None)
