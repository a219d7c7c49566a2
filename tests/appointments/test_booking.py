"""Booking: patients online for themselves, reception for anyone; refusals with specific codes
that write nothing; video rooms; confirmations with .ics; reading and its audit trail."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import icalendar

from app.appointments.models import Appointment, AppointmentLock
from app.notifications.models import NotificationMessage
from tests.appointments.helpers import (
    add_hours,
    appointment_rows,
    booking,
    clinic,
    count,
    free_slots,
    iso,
    licence,
    lock_rows,
    make_clinician,
    make_patient,
    messages,
    next_local,
)
from tests.patients.helpers import assert_error, audit_events, headers_for


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_patient_books_a_video_visit_online(client, db):
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    slot = (await free_slots(client, me, c.video, staff_id=c.staff_id))[0]
    body = {"type_id": c.video["id"], "staff_id": str(c.staff_id), "start": slot["start"], "reason": "Cough"}
    r = await client.post("/api/appointments", json=body, headers=me)  # no patient_id: their own
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["status"] == "booked" and a["patient"]["id"] == patient["id"] and a["booked_online"] is True
    assert a["mode"] == "video" and a["type"]["id"] == c.video["id"] and a["reason"] == "Cough"
    assert at(a["end"]) - at(a["start"]) == timedelta(minutes=20) and a["start"] == slot["start"]
    assert a["staff"] == {"id": str(c.staff_id), "display_name": "Dr. Grace Okafor"}
    assert a["local_start"] == slot["local_start"] and a["timezone"] == "Europe/London"
    assert set(a["actions"]) == {"reschedule", "cancel"}
    # The consultation room: long, random, and says nothing about the patient.
    room = a["room_id"]
    assert room and len(room) >= 32 and patient["id"] not in room and patient["mrn"] not in room
    second = await client.post(
        "/api/appointments",
        json={**body, "start": (await free_slots(client, me, c.video))[0]["start"]},
        headers=me,
    )
    assert second.status_code == 201, second.text
    assert second.json()["room_id"] not in (None, room)
    # The slot has left the search.
    assert slot["start"] not in [
        x["start"] for x in await free_slots(client, me, c.video, staff_id=c.staff_id)
    ]

    # Confirmation with an iTIP REQUEST .ics, a reminder 24 h before, a notice to the clinician.
    sent = {m.kind: m for m in await messages(db, a["id"])}
    assert set(sent) == {"appointment.confirmation", "appointment.reminder", "appointment.staff_notice"}
    confirmation = sent["appointment.confirmation"]
    assert confirmation.to_email == "zoe@example.org" and confirmation.patient_id == uuid.UUID(patient["id"])
    (ics,) = confirmation.attachments
    assert ics.content_type.startswith("text/calendar") and "method=REQUEST" in ics.content_type
    cal = icalendar.Calendar.from_ical(ics.content)
    assert str(cal["method"]) == "REQUEST"
    (event,) = cal.walk("VEVENT")
    assert str(event["uid"]) == f"appointment-{a['id']}@hospital-hub"
    assert event.decoded("dtstart") == at(a["start"]) and event.decoded("dtend") == at(a["end"])
    reminder = sent["appointment.reminder"]
    assert reminder.next_attempt_at == at(a["start"]) - timedelta(hours=24)
    notice = sent["appointment.staff_notice"]
    assert notice.to_email == "clinician@hospital.test"
    assert "Martín" not in notice.subject + notice.body and "Jane" not in notice.body

    # Audited with the patient id; readable by the patient and the clinician's calendar.
    booked = await audit_events(db, action="appointment.book", resource_id=a["id"])
    assert [e.patient_id for e in booked] == [uuid.UUID(patient["id"])]
    assert json.loads(booked[0].details)["notification"] == "queued"
    mine = await client.get("/api/appointments", headers=me)
    assert mine.status_code == 200 and mine.json()["total"] == 2
    day = {
        "start": iso(at(a["start"]).replace(hour=0, minute=0)),
        "end": iso(at(a["start"]) + timedelta(days=1)),
    }
    calendar = await client.get(
        "/api/appointments", params={"staff_id": str(c.staff_id), **day}, headers=c.doctor
    )
    assert a["id"] in [x["id"] for x in calendar.json()["items"]]
    listed = await audit_events(db, action="appointment.list", patient_id=uuid.UUID(patient["id"]))
    assert len(listed) == 2
    one = await client.get(f"/api/appointments/{a['id']}", headers=me)
    assert one.status_code == 200 and one.json()["room_id"] == room
    assert (await audit_events(db, action="appointment.read", resource_id=a["id"]))[
        0
    ].patient_id == uuid.UUID(patient["id"])


async def test_reception_books_for_anyone_without_a_staff_notice(client, db):
    c = await clinic(client, db)
    patient, _ = await make_patient(client, db, c.reception)
    slot = (await free_slots(client, c.reception, c.consult))[0]
    r = await client.post(
        "/api/appointments", json=booking(c, patient["id"], at(slot["start"])), headers=c.reception
    )
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["booked_online"] is False and a["room_id"] is None
    assert set(a["actions"]) >= {"reschedule", "cancel"}
    assert {m.kind for m in await messages(db, a["id"])} == {
        "appointment.confirmation",
        "appointment.reminder",
    }
    # Locks: one row per 5 minutes for the clinician and for the patient.
    locks = await lock_rows(db, a["id"])
    assert sorted({(x.kind, str(x.resource_id)) for x in locks}) == [
        ("patient", patient["id"]),
        ("staff", str(c.staff_id)),
    ]
    assert len(locks) == 2 * 6


async def test_a_patient_without_an_e_mail_address_is_booked_and_the_skip_audited(client, db):
    c = await clinic(client, db)
    patient, _ = await make_patient(client, db, c.reception, email=None)
    slot = (await free_slots(client, c.reception, c.consult))[0]
    r = await client.post(
        "/api/appointments", json=booking(c, patient["id"], at(slot["start"])), headers=c.reception
    )
    assert r.status_code == 201, r.text
    assert await messages(db, r.json()["id"]) == []
    (event,) = await audit_events(db, action="appointment.book", resource_id=r.json()["id"])
    details = json.loads(event.details)
    assert details["notification"] == "skipped" and "e-mail" in details["notification_reason"]


async def _nothing_written(db, before: tuple[int, int, int]) -> None:
    after = (
        await count(db, Appointment),
        await count(db, AppointmentLock),
        await count(db, NotificationMessage),
    )
    assert after == before, "a refused booking wrote something"


async def test_refusals_have_specific_codes_and_write_nothing(client, db):
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    other, _ = await make_patient(client, db, c.reception, email="other@example.org", family="Other")
    second_clinician = await make_clinician(db, family="Second", email="second@hospital.test")
    await add_hours(client, c.reception, second_clinician)
    expired = await make_clinician(db, family="Lapsed", licences=[licence(valid_to="2026-01-01")])
    await add_hours(client, c.reception, expired)
    ten = next_local(4, "10:00")
    taken = await client.post("/api/appointments", json=booking(c, patient["id"], ten), headers=c.reception)
    assert taken.status_code == 201
    leave = await client.post(
        "/api/staff/leave",
        json={
            "staff_id": str(c.staff_id),
            "kind": "annual",
            "start_date": str(next_local(5, "12:00").date()),
            "end_date": str(next_local(5, "12:00").date()),
        },
        headers=c.reception,
    )
    assert leave.status_code == 201, leave.text
    pharmacist = await headers_for(client, db, "pharmacist")

    before = (
        await count(db, Appointment),
        await count(db, AppointmentLock),
        await count(db, NotificationMessage),
    )
    cases = [
        (me, booking(c, None, next_local(-1, "10:00")), 400, "in_past"),
        (c.reception, booking(c, other["id"], next_local(4, "08:00")), 400, "outside_hours"),
        (c.reception, booking(c, other["id"], next_local(4, "17:00")), 400, "outside_hours"),
        (
            c.reception,
            booking(c, other["id"], next_local(4, "10:10")),
            400,
            "not_a_slot",
        ),  # in the hours, not on the type's grid
        (
            c.reception,
            booking(c, other["id"], next_local(4, "10:00") + timedelta(seconds=1)),
            400,
            "not_a_slot",
        ),
        (c.reception, booking(c, other["id"], ten, staff_id=expired), 409, "licence_expired"),
        (c.reception, booking(c, other["id"], next_local(5, "10:00")), 409, "staff_on_leave"),
        (c.reception, booking(c, other["id"], ten), 409, "slot_taken"),
        (me, booking(c, None, ten, staff_id=second_clinician), 409, "patient_busy"),
        (me, booking(c, other["id"], next_local(4, "11:00")), 404, "patient_not_found"),  # another patient
        (c.reception, booking(c, str(uuid.uuid4()), next_local(4, "11:00")), 404, "patient_not_found"),
        (
            c.reception,
            booking(c, other["id"], next_local(4, "11:00"), staff_id=uuid.uuid4()),
            404,
            "staff_not_found",
        ),
        (c.reception, {**booking(c, other["id"], ten), "type_id": str(uuid.uuid4())}, 404, "type_not_found"),
        (c.reception, booking(c, None, next_local(4, "11:00")), 400, "patient_required"),
        (pharmacist, booking(c, other["id"], next_local(4, "11:00")), 403, "forbidden"),
        (
            c.reception,
            {**booking(c, other["id"], ten), "start": "2030-01-01T10:00:00"},
            422,
            "validation_error",
        ),
        (c.reception, {**booking(c, other["id"], ten), "surprise": 1}, 422, "validation_error"),
    ]
    for headers, body, status, code in cases:
        assert_error(await client.post("/api/appointments", json=body, headers=headers), status, code)
        await _nothing_written(db, before)
    # A patient asking for another patient's appointment or list gets the same 404 as nothing.
    assert_error(
        await client.get(
            f"/api/appointments/{taken.json()['id']}",
            headers=(await make_patient(client, db, c.reception, email="third@example.org"))[1],
        ),
        404,
        "appointment_not_found",
    )
    assert_error(
        await client.get("/api/appointments", params={"patient_id": other["id"]}, headers=me),
        404,
        "patient_not_found",
    )
    assert_error(await client.get("/api/appointments", headers=pharmacist), 403, "forbidden")
    denied = await audit_events(db, action="appointment.access_denied")
    assert uuid.UUID(other["id"]) in {e.patient_id for e in denied}
    # The lapsed clinician and the day of leave offer no slots at all.
    assert (
        await client.get(
            "/api/appointments/slots",
            params={
                "type_id": c.consult["id"],
                "staff_id": str(expired),
                "start": iso(next_local(3, "00:00")),
            },
            headers=me,
        )
    ).json()["items"] == []
    day_of_leave = await client.get(
        "/api/appointments/slots",
        params={
            "type_id": c.consult["id"],
            "staff_id": str(c.staff_id),
            "start": iso(next_local(5, "00:00")),
            "end": iso(next_local(6, "00:00")),
        },
        headers=me,
    )
    assert day_of_leave.json()["items"] == []
    assert await appointment_rows(db) == 1


async def test_idempotent_booking_replays_and_never_applies_twice(client, db):
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    slot = (await free_slots(client, me, c.consult))[0]
    key = {**me, "Idempotency-Key": "book-" + uuid.uuid4().hex}
    body = {"type_id": c.consult["id"], "staff_id": str(c.staff_id), "start": slot["start"]}
    first = await client.post("/api/appointments", json=body, headers=key)
    second = await client.post("/api/appointments", json=body, headers=key)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers.get("idempotent-replayed") == "true"
    assert await appointment_rows(db) == 1
    assert_error(
        await client.post("/api/appointments", json={**body, "reason": "other"}, headers=key),
        409,
        "idempotency_key_reused",
    )
    # With a key, a patient booking for another patient gets the same 404 as without one.
    other, _ = await make_patient(client, db, c.reception, email="other@example.org", family="Other")
    assert_error(
        await client.post(
            "/api/appointments",
            json={**body, "patient_id": other["id"]},
            headers={**me, "Idempotency-Key": "x"},
        ),
        404,
        "patient_not_found",
    )
    replays = await audit_events(db, action="appointment.book_replayed")
    assert [e.patient_id for e in replays] == [uuid.UUID(patient["id"])]
    # A refused attempt leaves no key behind: the same key works for a bookable slot later.
    k2 = {**me, "Idempotency-Key": "book-2"}
    assert_error(await client.post("/api/appointments", json=body, headers=k2), 409, "slot_taken")
    free = (await free_slots(client, me, c.consult))[0]
    ok = await client.post("/api/appointments", json={**body, "start": free["start"]}, headers=k2)
    assert ok.status_code == 201, ok.text


async def test_types_and_hours_are_managed_by_their_permissions(client, db):
    c = await clinic(client, db)
    _, me = await make_patient(client, db, c.reception)
    types = await client.get("/api/appointments/types", headers=me)
    assert types.status_code == 200 and {c.consult["id"], c.video["id"]} <= {t["id"] for t in types.json()}
    body = {"code": "X1", "name": "X", "duration_minutes": 15, "mode": "video"}
    assert_error(
        await client.post("/api/appointments/types", json=body, headers=c.reception), 403, "forbidden"
    )
    assert_error(await client.post("/api/appointments/types", json=body, headers=me), 403, "forbidden")
    for bad in (
        {**body, "duration_minutes": 7},
        {**body, "duration_minutes": 0},
        {**body, "mode": "phone"},
        {**body, "code": "has space"},
    ):
        assert_error(
            await client.post("/api/appointments/types", json=bad, headers=c.admin), 422, "validation_error"
        )
    dup = {**body, "code": c.consult["code"]}
    assert_error(
        await client.post("/api/appointments/types", json=dup, headers=c.admin), 409, "duplicate_code"
    )
    assert_error(
        await client.post(
            "/api/appointments/types", json={**body, "department_id": str(uuid.uuid4())}, headers=c.admin
        ),
        404,
        "department_not_found",
    )
    patched = await client.patch(
        f"/api/appointments/types/{c.video['id']}", json={"duration_minutes": 25}, headers=c.admin
    )
    assert patched.status_code == 200 and patched.json()["duration_minutes"] == 25

    hours = {
        "staff_id": str(c.staff_id),
        "weekday": 0,
        "start_time": "08:00",
        "end_time": "09:00",
        "valid_from": "2027-01-01",
    }
    assert_error(await client.post("/api/appointments/hours", json=hours, headers=c.doctor), 403, "forbidden")
    for bad in (
        {**hours, "start_time": "08:02"},
        {**hours, "end_time": "07:00"},
        {**hours, "weekday": 7},
        {**hours, "valid_to": "2026-01-01"},
        {**hours, "start_time": "08:00:00+01:00"},
    ):
        assert_error(
            await client.post("/api/appointments/hours", json=bad, headers=c.reception),
            422,
            "validation_error",
        )
    assert_error(
        await client.post(
            "/api/appointments/hours", json={**hours, "staff_id": str(uuid.uuid4())}, headers=c.reception
        ),
        404,
        "staff_not_found",
    )
    assert_error(
        await client.post(
            "/api/appointments/hours", json={**hours, "type_ids": [str(uuid.uuid4())]}, headers=c.reception
        ),
        404,
        "type_not_found",
    )
    made = await client.post(
        "/api/appointments/hours", json={**hours, "type_ids": [c.video["id"]]}, headers=c.reception
    )
    assert made.status_code == 201 and made.json()["type_ids"] == [c.video["id"]]
    listed = await client.get(
        "/api/appointments/hours", params={"staff_id": str(c.staff_id)}, headers=c.doctor
    )
    assert made.json()["id"] in [h["id"] for h in listed.json()]
    assert_error(
        await client.patch(
            f"/api/appointments/hours/{made.json()['id']}", json={"end_time": "07:30"}, headers=c.reception
        ),
        400,
        "invalid_hours",
    )
    gone = await client.delete(f"/api/appointments/hours/{made.json()['id']}", headers=c.reception)
    assert gone.status_code == 204
    assert_error(
        await client.delete(f"/api/appointments/hours/{made.json()['id']}", headers=c.reception),
        404,
        "hours_not_found",
    )


async def test_hours_for_some_types_offer_only_those(client, db):
    c = await clinic(client, db, weekdays=[])  # no hours yet
    await add_hours(client, c.reception, c.staff_id, type_ids=[c.video["id"]])
    assert await free_slots(client, c.doctor, c.video, staff_id=c.staff_id)
    r = await client.get(
        "/api/appointments/slots",
        params={
            "type_id": c.consult["id"],
            "staff_id": str(c.staff_id),
            "start": iso(next_local(3, "00:00")),
        },
        headers=c.doctor,
    )
    assert r.json()["items"] == []
    patient, _ = await make_patient(client, db, c.reception)
    assert_error(
        await client.post(
            "/api/appointments", json=booking(c, patient["id"], next_local(4, "10:00")), headers=c.reception
        ),
        400,
        "outside_hours",
    )


async def test_the_clinician_feed_shows_bookings_without_patient_names(client, db):
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    slot = (await free_slots(client, me, c.video))[0]
    booked = await client.post(
        "/api/appointments",
        json={"type_id": c.video["id"], "staff_id": str(c.staff_id), "start": slot["start"]},
        headers=me,
    )
    assert booked.status_code == 201
    feed = await client.post(f"/api/staff/{c.staff_id}/calendar-feed", headers=c.admin)
    assert feed.status_code == 201, feed.text
    ics = await client.get(feed.json()["path"])
    assert ics.status_code == 200, ics.text
    text = ics.text
    assert f"appointment-{booked.json()['id']}@hospital-hub" in text and "Video consultation" in text
    assert "Martín" not in text and patient["id"] not in text and patient["mrn"] not in text
