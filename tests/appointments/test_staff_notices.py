"""The clinician's notices of online bookings: an iTIP REQUEST .ics that invites the clinician
(ORGANIZER the facility's sender, the clinician the one ATTENDEE) with the patient's UID and no
patient named; an online move updates it (REQUEST, SEQUENCE raised) or, to another clinician,
withdraws it from the first (CANCEL, naming the same parties); an online cancellation withdraws it
(CANCEL), but only from a clinician whom a notice of that appointment reached."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import icalendar

from app.notifications.models import NotificationMessage
from tests.appointments.helpers import (
    add_hours,
    booking,
    clinic,
    iso,
    make_clinician,
    make_patient,
    messages,
    next_local,
)
from tests.patients.helpers import audit_events

NOTICE = "appointment.staff_notice"
WITHDRAWN = "appointment.staff_cancellation"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def calendar_of(message: NotificationMessage) -> tuple[str, icalendar.Calendar, icalendar.Event]:
    (attachment,) = message.attachments
    assert attachment.filename == "appointment.ics"
    cal = icalendar.Calendar.from_ical(attachment.content)
    (event,) = cal.walk("VEVENT")
    return attachment.content_type, cal, event


ORGANIZER = ("mailto:no-reply@hospital-hub.local", "Hospital Hub")


def invites(event: icalendar.Event, email: str, name: str) -> None:
    """An iTIP message to the clinician (RFC 5546): the facility's sender organizes, the
    clinician is the one attendee, accepted, and no reply is asked for."""
    organizer = event.get("organizer")
    assert isinstance(organizer, icalendar.vCalAddress), event.to_ical()
    assert (str(organizer), str(organizer.params.get("CN"))) == ORGANIZER
    attendee = event.get("attendee")
    assert isinstance(attendee, icalendar.vCalAddress), "one attendee: the clinician"
    assert (str(attendee), str(attendee.params.get("CN"))) == (f"mailto:{email}", name)
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["PARTSTAT"] == "ACCEPTED" and attendee.params["RSVP"] == "FALSE"


def without_patient(message: NotificationMessage, patient: dict[str, str], *names: str) -> None:
    (attachment,) = message.attachments
    text = message.subject + message.body + attachment.content.decode()
    for secret in (*names, patient["id"], patient["mrn"]):
        assert secret not in text


def of_kind(rows: list[NotificationMessage], kind: str) -> list[NotificationMessage]:
    return [m for m in rows if m.kind == kind]


async def test_online_booking_moves_and_cancellation_keep_the_clinicians_calendar_in_step(client, db):
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    first = next_local(4, "10:00")
    made = await client.post("/api/appointments", json=booking(c, None, first, kind=c.video), headers=me)
    assert made.status_code == 201, made.text
    a = made.json()
    uid = f"appointment-{a['id']}@hospital-hub"

    # Booked online: the clinician's notice invites to the same event as the patient's confirmation.
    sent = await messages(db, a["id"])
    (notice,) = of_kind(sent, NOTICE)
    (confirmation,) = of_kind(sent, "appointment.confirmation")
    assert notice.to_email == "clinician@hospital.test"
    content_type, cal, event = calendar_of(notice)
    assert "method=REQUEST" in content_type and str(cal["method"]) == "REQUEST"
    assert str(event["uid"]) == uid == str(calendar_of(confirmation)[2]["uid"])
    assert event.decoded("dtstart") == first and event.decoded("dtend") == first + timedelta(minutes=20)
    assert str(event["summary"]) == "Patient visit: Video consultation"
    assert str(event["location"]) == "Video consultation" and int(event["sequence"]) == 0
    invites(event, "clinician@hospital.test", "Dr. Grace Okafor")
    without_patient(notice, patient, "Martín", "Jane", "zoe@example.org")
    assert of_kind(sent, WITHDRAWN) == []

    # Moved online with the same clinician: a REQUEST with a higher SEQUENCE updates the event.
    later = next_local(5, "11:00")
    moved = await client.post(
        f"/api/appointments/{a['id']}/reschedule", json={"start": iso(later)}, headers=me
    )
    assert moved.status_code == 200, moved.text
    sent = await messages(db, a["id"])
    notices = of_kind(sent, NOTICE)
    assert len(notices) == 2 and of_kind(sent, WITHDRAWN) == []
    _, cal, event = calendar_of(notices[-1])
    assert str(cal["method"]) == "REQUEST" and str(event["uid"]) == uid
    assert event.decoded("dtstart") == later and int(event["sequence"]) == 1
    invites(event, "clinician@hospital.test", "Dr. Grace Okafor")
    assert notices[-1].subject.startswith("Online booking moved: Video consultation")

    # Moved online to another clinician: the first gets a CANCEL for the old time, the second a REQUEST.
    second = await make_clinician(db, family="Second", email="second@hospital.test")
    await add_hours(client, c.reception, second)
    third = next_local(6, "09:40")
    moved = await client.post(
        f"/api/appointments/{a['id']}/reschedule",
        json={"start": iso(third), "staff_id": str(second)},
        headers=me,
    )
    assert moved.status_code == 200, moved.text
    sent = await messages(db, a["id"])
    (withdrawn,) = of_kind(sent, WITHDRAWN)
    assert withdrawn.to_email == "clinician@hospital.test"
    content_type, cal, event = calendar_of(withdrawn)
    assert "method=CANCEL" in content_type and str(cal["method"]) == "CANCEL"
    assert str(event["uid"]) == uid and str(event["status"]) == "CANCELLED" and int(event["sequence"]) == 2
    assert event.decoded("dtstart") == later  # the time it held in that calendar
    invites(event, "clinician@hospital.test", "Dr. Grace Okafor")  # a CANCEL names them too
    assert "to another clinician" in withdrawn.body
    without_patient(withdrawn, patient, "Martín", "Jane", "zoe@example.org")
    newest = of_kind(sent, NOTICE)[-1]
    assert newest.to_email == "second@hospital.test"
    _, cal, event = calendar_of(newest)
    assert (
        str(cal["method"]) == "REQUEST" and event.decoded("dtstart") == third and int(event["sequence"]) == 2
    )
    invites(event, "second@hospital.test", "Dr. Grace Second")

    # Cancelled online: the clinician holding the invitation gets its CANCEL.
    done = await client.post(f"/api/appointments/{a['id']}/cancel", headers=me)
    assert done.status_code == 200, done.text
    sent = await messages(db, a["id"])
    withdrawals = of_kind(sent, WITHDRAWN)
    assert [m.to_email for m in withdrawals] == ["clinician@hospital.test", "second@hospital.test"]
    content_type, cal, event = calendar_of(withdrawals[-1])
    assert "method=CANCEL" in content_type and str(cal["method"]) == "CANCEL"
    assert str(event["uid"]) == uid and str(event["status"]) == "CANCELLED" and int(event["sequence"]) == 3
    assert event.decoded("dtstart") == third and withdrawals[-1].subject.startswith(
        "Online booking cancelled:"
    )
    invites(event, "second@hospital.test", "Dr. Grace Second")
    (audited,) = await audit_events(db, action="appointment.cancel", resource_id=a["id"])
    assert json.loads(audited.details)["staff_cancellation"] == "queued"


async def test_no_cancel_goes_to_a_clinician_who_never_had_the_invitation(client, db):
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    # Booked by reception: no notice to the clinician, so nothing to withdraw either.
    made = await client.post(
        "/api/appointments", json=booking(c, patient["id"], next_local(4, "10:00")), headers=c.reception
    )
    assert made.status_code == 201, made.text
    a = made.json()
    done = await client.post(f"/api/appointments/{a['id']}/cancel", headers=me)
    assert done.status_code == 200, done.text
    kinds = [m.kind for m in await messages(db, a["id"])]
    assert NOTICE not in kinds and WITHDRAWN not in kinds and "appointment.cancellation" in kinds
    (audited,) = await audit_events(db, action="appointment.cancel", resource_id=a["id"])
    assert json.loads(audited.details)["staff_cancellation"] == "skipped"

    # A clinician without an e-mail address gets neither.
    quiet = await make_clinician(db, family="Quiet", email=None)
    await add_hours(client, c.reception, quiet)
    online = await client.post(
        "/api/appointments", json=booking(c, None, next_local(5, "10:00"), staff_id=quiet), headers=me
    )
    assert online.status_code == 201, online.text
    b = online.json()
    assert (await client.post(f"/api/appointments/{b['id']}/cancel", headers=me)).status_code == 200
    kinds = [m.kind for m in await messages(db, b["id"])]
    assert NOTICE not in kinds and WITHDRAWN not in kinds
    (booked,) = await audit_events(db, action="appointment.book", resource_id=b["id"])
    assert json.loads(booked.details)["staff_notice"] == "skipped"
