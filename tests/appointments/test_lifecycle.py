"""Reschedule, cancel (with the facility's cut-off), check-in, completion, no-show."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import icalendar

from app.appointments import service
from app.auth.permissions import permissions_for
from app.deps import Principal
from app.errors import Conflict
from tests.appointments.helpers import (
    add_hours,
    booking,
    clinic,
    free_slots,
    iso,
    lock_rows,
    make_clinician,
    make_patient,
    messages,
    next_local,
    settings_of,
)
from tests.patients.helpers import assert_error, audit_events


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def reception_principal() -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username="desk",
        full_name="Desk",
        email=None,
        roles=("receptionist",),
        permissions=permissions_for(["receptionist"]),
        patient_id=None,
        session_id=uuid.uuid4(),
    )


def ics_of(message):
    (attachment,) = message.attachments
    cal = icalendar.Calendar.from_ical(attachment.content)
    (event,) = cal.walk("VEVENT")
    return attachment.content_type, cal, event


async def test_rescheduling_swaps_the_locks_and_tells_the_patient(client, db):
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    first, later = next_local(4, "10:00"), next_local(5, "11:00")
    made = await client.post("/api/appointments", json=booking(c, None, first), headers=me)
    assert made.status_code == 201, made.text
    a = made.json()
    moved = await client.post(
        f"/api/appointments/{a['id']}/reschedule", json={"start": iso(later)}, headers=me
    )
    assert moved.status_code == 200, moved.text
    m = moved.json()
    assert m["id"] == a["id"] and at(m["start"]) == later and m["sequence"] == 1 and m["status"] == "booked"
    locks = await lock_rows(db, a["id"])
    assert len(locks) == 12 and min(x.granule_start for x in locks) == later
    # The old time is free again; the new one is not.
    starts = [at(x["start"]) for x in await free_slots(client, me, c.consult, staff_id=c.staff_id, limit=200)]
    assert first in starts and later not in starts
    sent = await messages(db, a["id"])
    reminders = [x for x in sent if x.kind == "appointment.reminder"]
    assert sorted(x.status for x in reminders) == ["cancelled", "pending"]
    assert [x.next_attempt_at for x in reminders if x.status == "pending"] == [later - timedelta(hours=24)]
    confirmations = [x for x in sent if x.kind == "appointment.confirmation"]
    assert len(confirmations) == 2
    _, cal, event = ics_of(confirmations[-1])
    assert (
        str(cal["method"]) == "REQUEST" and int(event["sequence"]) == 1 and event.decoded("dtstart") == later
    )
    # Onto a taken slot: refused, nothing changes.
    other, _ = await make_patient(client, db, c.reception, email="o@example.org")
    blocker = await client.post("/api/appointments", json=booking(c, other["id"], first), headers=c.reception)
    assert blocker.status_code == 201
    assert_error(
        await client.post(f"/api/appointments/{a['id']}/reschedule", json={"start": iso(first)}, headers=me),
        409,
        "slot_taken",
    )
    assert at((await client.get(f"/api/appointments/{a['id']}", headers=me)).json()["start"]) == later
    assert len(await lock_rows(db, a["id"])) == 12
    for body, status, code in (
        ({"start": iso(next_local(-1, "10:00"))}, 400, "in_past"),
        ({"start": iso(next_local(6, "07:00"))}, 400, "outside_hours"),
        ({"start": iso(next_local(6, "10:00")), "staff_id": str(uuid.uuid4())}, 404, "staff_not_found"),
    ):
        assert_error(
            await client.post(f"/api/appointments/{a['id']}/reschedule", json=body, headers=me), status, code
        )
    # To another clinician, by reception, retried with the same key.
    second = await make_clinician(db, family="Second", email="second@hospital.test")
    await add_hours(client, c.reception, second)
    key = {**c.reception, "Idempotency-Key": "move-1"}
    body = {"start": iso(next_local(6, "09:30")), "staff_id": str(second)}
    once = await client.post(f"/api/appointments/{a['id']}/reschedule", json=body, headers=key)
    twice = await client.post(f"/api/appointments/{a['id']}/reschedule", json=body, headers=key)
    assert once.status_code == twice.status_code == 200, once.text
    assert twice.headers.get("idempotent-replayed") == "true" and twice.json() == once.json()
    assert once.json()["staff"]["id"] == str(second) and once.json()["sequence"] == 2
    events = await audit_events(db, action="appointment.reschedule", resource_id=a["id"])
    assert len(events) == 2 and all(e.patient_id == uuid.UUID(patient["id"]) for e in events)


async def test_cancelling_honours_the_cut_off_for_patients_and_a_reason_for_staff(client, db):
    c = await clinic(client, db)
    _patient, me = await make_patient(client, db, c.reception)
    far = await client.post("/api/appointments", json=booking(c, None, next_local(4, "10:00")), headers=me)
    soon_slot = (
        await client.get(
            "/api/appointments/slots",
            params={"type_id": c.consult["id"], "staff_id": str(c.staff_id)},
            headers=me,
        )
    ).json()["items"][0]
    assert at(soon_slot["start"]) - datetime.now(UTC) < timedelta(hours=24)
    soon = await client.post("/api/appointments", json=booking(c, None, at(soon_slot["start"])), headers=me)
    assert far.status_code == soon.status_code == 201
    far_id, soon_id = far.json()["id"], soon.json()["id"]
    assert "cancel" not in soon.json()["actions"] and "cancel" in far.json()["actions"]

    assert_error(
        await client.post(f"/api/appointments/{soon_id}/cancel", headers=me), 409, "cancellation_cutoff"
    )
    assert_error(
        await client.post(
            f"/api/appointments/{soon_id}/reschedule", json={"start": iso(next_local(6, "10:00"))}, headers=me
        ),
        409,
        "cancellation_cutoff",
    )
    assert_error(
        await client.post(f"/api/appointments/{soon_id}/cancel", headers=c.reception), 400, "reason_required"
    )
    staff_cancel = await client.post(
        f"/api/appointments/{soon_id}/cancel", json={"reason": "Clinician unwell"}, headers=c.reception
    )
    assert staff_cancel.status_code == 200 and staff_cancel.json()["cancel_reason"] == "Clinician unwell"
    (event,) = await audit_events(db, action="appointment.cancel", resource_id=soon_id)
    assert json.loads(event.details)["cutoff_overridden"] is True

    key = {**me, "Idempotency-Key": "cancel-far"}
    done = await client.post(f"/api/appointments/{far_id}/cancel", headers=key)
    again = await client.post(f"/api/appointments/{far_id}/cancel", headers=key)
    assert done.status_code == again.status_code == 200, done.text
    assert again.headers.get("idempotent-replayed") == "true"
    d = done.json()
    assert d["status"] == "cancelled" and d["cancelled_at"] and d["sequence"] == 1 and d["actions"] == []
    assert await lock_rows(db, far_id) == []
    assert_error(
        await client.post(f"/api/appointments/{far_id}/cancel", headers=me), 409, "invalid_transition"
    )
    sent = {x.kind: x for x in await messages(db, far_id)}
    assert sent["appointment.reminder"].status == "cancelled"
    content_type, cal, vevent = ics_of(sent["appointment.cancellation"])
    assert "method=CANCEL" in content_type and str(cal["method"]) == "CANCEL"
    assert str(vevent["status"]) == "CANCELLED" and int(vevent["sequence"]) == 1
    assert str(vevent["uid"]) == f"appointment-{far_id}@hospital-hub"
    # The freed slot can be booked by someone else.
    other, _ = await make_patient(client, db, c.reception, email="o@example.org")
    rebook = await client.post(
        "/api/appointments", json=booking(c, other["id"], next_local(4, "10:00")), headers=c.reception
    )
    assert rebook.status_code == 201, rebook.text
    # Listing by status.
    cancelled = await client.get("/api/appointments", params={"status": "cancelled"}, headers=me)
    assert {x["id"] for x in cancelled.json()["items"]} == {far_id, soon_id}


async def test_the_visit_state_machine(client, db):
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    one = (
        await client.post("/api/appointments", json=booking(c, None, next_local(4, "10:00")), headers=me)
    ).json()
    two = (
        await client.post("/api/appointments", json=booking(c, None, next_local(4, "11:00")), headers=me)
    ).json()
    base = "/api/appointments"
    assert_error(await client.post(f"{base}/{one['id']}/check-in", headers=me), 403, "forbidden")
    assert_error(await client.post(f"{base}/{one['id']}/check-in", headers=c.reception), 409, "too_early")
    assert_error(await client.post(f"{base}/{one['id']}/no-show", headers=c.reception), 409, "not_started")
    assert_error(
        await client.post(f"{base}/{one['id']}/complete", headers=c.reception), 409, "invalid_transition"
    )
    assert_error(
        await client.post(f"{base}/{uuid.uuid4()}/check-in", headers=c.reception),
        404,
        "appointment_not_found",
    )

    settings = settings_of(client)
    desk = reception_principal()
    start = at(one["start"])
    async with db.sessionmaker() as session:
        row = await service.check_in(
            session, desk, uuid.UUID(one["id"]), settings=settings, now=start - timedelta(minutes=10)
        )
        assert row.status == "checked_in" and row.checked_in_at == start - timedelta(minutes=10)
        row = await service.complete(session, desk, uuid.UUID(one["id"]), settings=settings, now=start)
        assert row.status == "completed" and row.completed_at == start
        later = at(two["start"]) + timedelta(minutes=5)
        row = await service.no_show(session, desk, uuid.UUID(two["id"]), settings=settings, now=later)
        assert row.status == "no_show"
        await session.commit()
    for path, appointment, code in (
        ("complete", one, "invalid_transition"),
        ("check-in", one, "invalid_transition"),
        ("cancel", one, "invalid_transition"),
        ("check-in", two, "invalid_transition"),
        ("reschedule", two, "invalid_transition"),
        ("accept", two, "invalid_transition"),
    ):
        body = {"start": iso(next_local(6, "10:00"))} if path == "reschedule" else None
        r = await client.post(f"{base}/{appointment['id']}/{path}", json=body, headers=c.reception)
        assert_error(r, 409, code)
    # Completed and no-show keep their time on the calendar (the locks stay).
    assert len(await lock_rows(db, one["id"])) == 12 and len(await lock_rows(db, two["id"])) == 12
    reminders = [x for x in await messages(db, two["id"]) if x.kind == "appointment.reminder"]
    assert [x.status for x in reminders] == ["cancelled"]
    states = await client.get(base, params={"patient_id": patient["id"]}, headers=c.doctor)
    assert [x["status"] for x in states.json()["items"]] == ["completed", "no_show"]
    assert all(x["actions"] == [] for x in states.json()["items"])
    assert [e.patient_id for e in await audit_events(db, action="appointment.checked_in")] == [
        uuid.UUID(patient["id"])
    ]


async def test_a_visit_is_completed_only_from_its_start(client, db):
    """Checked in early, the patient is still waiting: completing (or a no-show) before the
    start is 409 ``not_started`` and changes nothing; from the start on it goes through."""
    c = await clinic(client, db)
    _, me = await make_patient(client, db, c.reception)
    made = await client.post("/api/appointments", json=booking(c, None, next_local(4, "10:00")), headers=me)
    assert made.status_code == 201, made.text
    one = made.json()
    settings = settings_of(client)
    desk = reception_principal()
    start = at(one["start"])
    async with db.sessionmaker() as session:
        await service.check_in(
            session, desk, uuid.UUID(one["id"]), settings=settings, now=start - timedelta(minutes=22)
        )
        await session.commit()
    async with db.sessionmaker() as session:
        row = await service.get_appointment(session, desk, uuid.UUID(one["id"]))
        (early,) = await service.present(
            session, desk, [row], settings=settings, now=start - timedelta(seconds=1)
        )
        assert early.actions == []  # nothing to do but wait: not "complete" yet
        (due,) = await service.present(session, desk, [row], settings=settings, now=start)
        assert due.actions == ["complete"]
    async with db.sessionmaker() as session:
        try:
            await service.complete(
                session, desk, uuid.UUID(one["id"]), settings=settings, now=start - timedelta(seconds=1)
            )
        except Conflict as exc:
            assert exc.code == "not_started"
            assert exc.details == {"start": start.isoformat()}
        else:
            raise AssertionError("completed before the start")
    # Through the API, now (days before the start): the same refusal, and nothing changed.
    r = await client.post(f"/api/appointments/{one['id']}/complete", headers=c.doctor)
    assert_error(r, 409, "not_started")
    assert "has not started yet" in r.json()["error"]["message"]
    again = (await client.get(f"/api/appointments/{one['id']}", headers=c.doctor)).json()
    assert again["status"] == "checked_in" and again["completed_at"] is None
    async with db.sessionmaker() as session:
        row = await service.complete(
            session, desk, uuid.UUID(one["id"]), settings=settings, now=start + timedelta(minutes=1)
        )
        assert row.status == "completed" and row.completed_at == start + timedelta(minutes=1)
        await session.commit()


def patient_principal(user_id: str, patient_id: str) -> Principal:
    return Principal(
        user_id=uuid.UUID(user_id),
        username="portal",
        full_name="Portal",
        email=None,
        roles=("patient",),
        permissions=permissions_for(["patient"]),
        patient_id=uuid.UUID(patient_id),
        session_id=uuid.uuid4(),
    )


async def test_a_booking_inside_the_cutoff_says_it_cannot_be_changed_online(client, db):
    """Slots and appointments carry ``change_deadline`` (start minus the cut-off), so the portal
    can warn before a patient books a visit they could no longer change online; the booking's
    answer and its confirmation say so too."""
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    settings = settings_of(client)
    cutoff = timedelta(hours=settings.cancellation_cutoff_hours)
    slots = await client.get(
        "/api/appointments/slots",
        params={"type_id": c.consult["id"], "start": iso(next_local(3, "00:00")), "limit": 3},
        headers=me,
    )
    assert slots.status_code == 200, slots.text
    for slot in slots.json()["items"]:
        assert at(slot["change_deadline"]) == at(slot["start"]) - cutoff

    # Booked (as the portal would) two hours before the start: inside the 24-hour cut-off.
    start = next_local(3, "10:00")
    now = start - timedelta(hours=2)
    async with db.sessionmaker() as session:
        portal = patient_principal((await client.get("/api/auth/me", headers=me)).json()["id"], patient["id"])
        row = await service.book(
            session,
            portal,
            service.s.AppointmentCreate(type_id=c.consult["id"], staff_id=c.staff_id, start=start),
            settings=settings,
            now=now,
        )
        (read,) = await service.present(session, portal, [row], settings=settings, now=now)
        await session.commit()
    assert read.change_deadline == start - cutoff < now
    assert read.actions == []  # no reschedule, no cancel online
    (confirmation,) = [m for m in await messages(db, read.id) if m.kind == "appointment.confirmation"]
    assert "less than 24 hours away, so it can no longer be changed or cancelled online" in confirmation.body
    assert "please call reception" in confirmation.body and "patient portal until" not in confirmation.body

    # Booked in good time: the confirmation names the deadline for online changes.
    made = await client.post("/api/appointments", json=booking(c, None, next_local(5, "10:00")), headers=me)
    assert made.status_code == 201, made.text
    early = made.json()
    assert at(early["change_deadline"]) == at(early["start"]) - cutoff
    assert {"reschedule", "cancel"} <= set(early["actions"])
    (confirmation,) = [m for m in await messages(db, early["id"]) if m.kind == "appointment.confirmation"]
    assert "To change or cancel it, use the patient portal until " in confirmation.body
    assert "no longer" not in confirmation.body
