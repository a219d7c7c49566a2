"""The waitlist: a freed slot is held for the first matching waiting patient; accept, decline,
expiry hand it on."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

import pytest

from app.appointments import service
from app.auth.permissions import permissions_for
from app.deps import Principal
from app.errors import Conflict
from tests.appointments.helpers import (
    add_hours,
    booking,
    clinic,
    free_slots,
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


async def _wait(client, headers, c, patient_id=None, **extra):
    body = {
        "type_id": c.consult["id"],
        "earliest": str(next_local(1, "12:00").date()),
        "latest": str(next_local(10, "12:00").date()),
        **extra,
    }
    if patient_id is not None:
        body["patient_id"] = patient_id
    r = await client.post("/api/appointments/waitlist", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _entry(client, headers, entry_id):
    r = await client.get("/api/appointments/waitlist", params={"limit": 200}, headers=headers)
    assert r.status_code == 200, r.text
    return next(x for x in r.json()["items"] if x["id"] == entry_id)


async def test_a_freed_slot_goes_to_the_first_in_line_then_the_next(client, db):
    c = await clinic(client, db)
    _holder, holder_h = await make_patient(client, db, c.reception, email="holder@example.org")
    first, first_h = await make_patient(client, db, c.reception, email="first@example.org", family="First")
    second, second_h = await make_patient(
        client, db, c.reception, email="second@example.org", family="Second"
    )
    picky, _ = await make_patient(client, db, c.reception, email="picky@example.org", family="Picky")
    elsewhere = await make_clinician(db, family="Elsewhere", email="e@hospital.test")
    slot = next_local(4, "10:00")
    held = await client.post("/api/appointments", json=booking(c, None, slot), headers=holder_h)
    assert held.status_code == 201
    # The picky patient joined first, but only wants another clinician.
    e_picky = await _wait(client, c.reception, c, picky["id"], staff_id=str(elsewhere))
    e_first = await _wait(client, first_h, c)  # a patient adds themselves
    e_second = await _wait(client, c.reception, c, second["id"])
    assert e_first["patient_id"] == first["id"] and e_first["status"] == "waiting"

    cancelled = await client.post(f"/api/appointments/{held.json()['id']}/cancel", headers=holder_h)
    assert cancelled.status_code == 200, cancelled.text
    offer_entry = await _entry(client, c.reception, e_first["id"])
    assert offer_entry["status"] == "offered" and offer_entry["offered_appointment_id"]
    assert (await _entry(client, c.reception, e_picky["id"]))["status"] == "waiting"
    offer_id = offer_entry["offered_appointment_id"]
    offer = (await client.get(f"/api/appointments/{offer_id}", headers=first_h)).json()
    assert (
        offer["status"] == "offered"
        and at(offer["start"]) == slot
        and set(offer["actions"]) == {"accept", "decline"}
    )
    minutes = (at(offer["offer_expires_at"]) - at(offer["created_at"])).total_seconds() / 60
    assert abs(minutes - settings_of(client).waitlist_offer_minutes) < 1
    assert len(await lock_rows(db, offer_id)) == 12  # the slot is held
    assert slot not in [
        at(x["start"]) for x in await free_slots(client, c.doctor, c.consult, staff_id=c.staff_id, limit=200)
    ]
    (note,) = [m for m in await messages(db, offer_id) if m.kind == "appointment.waitlist_offer"]
    assert note.to_email == "first@example.org"
    # They had no appointment on this wish: it is "an appointment", not "an earlier" one.
    assert note.subject.startswith("An appointment is free: "), note.subject
    assert "that you are on the waitlist for" in note.body and "earlier" not in note.body
    # Someone else cannot see or take the offer; the first in line declines it.
    assert_error(
        await client.post(f"/api/appointments/{offer_id}/accept", headers=second_h),
        404,
        "appointment_not_found",
    )
    declined = await client.post(f"/api/appointments/{offer_id}/decline", headers=first_h)
    assert declined.status_code == 200 and declined.json()["status"] == "cancelled"
    assert await lock_rows(db, offer_id) == []
    assert (await _entry(client, c.reception, e_first["id"]))["status"] == "declined"
    next_entry = await _entry(client, c.reception, e_second["id"])
    assert next_entry["status"] == "offered"
    accepted = await client.post(
        f"/api/appointments/{next_entry['offered_appointment_id']}/accept", headers=second_h
    )
    assert accepted.status_code == 200, accepted.text
    a = accepted.json()
    assert a["status"] == "booked" and a["patient"]["id"] == second["id"] and a["offer_expires_at"] is None
    assert (await _entry(client, c.reception, e_second["id"]))["status"] == "booked"
    kinds = [m.kind for m in await messages(db, a["id"])]
    assert kinds.count("appointment.waitlist_offer") == 1 and "appointment.confirmation" in kinds
    assert_error(
        await client.post(f"/api/appointments/{a['id']}/accept", headers=second_h), 409, "invalid_transition"
    )
    offers = await audit_events(db, action="appointment.offer")
    assert [e.patient_id for e in offers] == [uuid.UUID(first["id"]), uuid.UUID(second["id"])]


async def test_an_expired_offer_passes_to_the_next_in_line(client, db):
    c = await clinic(client, db)
    _holder, holder_h = await make_patient(client, db, c.reception, email="holder@example.org")
    first, first_h = await make_patient(client, db, c.reception, email="first@example.org", family="First")
    second, _ = await make_patient(client, db, c.reception, email="second@example.org", family="Second")
    slot = next_local(4, "10:00")
    held = (await client.post("/api/appointments", json=booking(c, None, slot), headers=holder_h)).json()
    e_first = await _wait(client, c.reception, c, first["id"])
    e_second = await _wait(client, c.reception, c, second["id"])
    await client.post(f"/api/appointments/{held['id']}/cancel", headers=holder_h)
    offer_id = uuid.UUID((await _entry(client, c.reception, e_first["id"]))["offered_appointment_id"])
    settings = settings_of(client)
    patient_principal = Principal(
        user_id=uuid.uuid4(),
        username="p",
        full_name="P",
        email=None,
        roles=("patient",),
        permissions=permissions_for(["patient"]),
        patient_id=uuid.UUID(first["id"]),
        session_id=uuid.uuid4(),
    )
    async with db.sessionmaker() as session:
        offer = await service.get_appointment(session, patient_principal, offer_id)
        late = offer.offer_expires_at + timedelta(minutes=1)
        with pytest.raises(Conflict) as refused:
            await service.accept(session, patient_principal, offer_id, settings=settings, now=late)
        assert refused.value.code == "offer_expired"
        await session.rollback()
    # The lazy path: the next slot search touching that time processes the expiry.
    async with db.sessionmaker() as session:
        page = await service.search_slots(
            session,
            patient_principal,
            type_id=uuid.UUID(c.consult["id"]),
            staff_id=c.staff_id,
            start=slot - timedelta(hours=1),
            end=slot + timedelta(hours=1),
            settings=settings,
            now=late,
        )
        await session.commit()
    assert slot not in [x.start for x in page.items]  # handed on, still held
    assert (await _entry(client, c.reception, e_first["id"]))["status"] == "expired"
    following = await _entry(client, c.reception, e_second["id"])
    assert following["status"] == "offered"
    expired = (await client.get(f"/api/appointments/{offer_id}", headers=first_h)).json()
    assert expired["status"] == "cancelled" and expired["cancel_reason"] == "offer expired"
    assert await lock_rows(db, offer_id) == []
    # The worker's path, with nobody left waiting: the slot simply becomes free.
    async with db.sessionmaker() as session:
        second_offer = await service.get_appointment(
            session,
            dataclasses.replace(patient_principal, patient_id=uuid.UUID(second["id"])),
            uuid.UUID(following["offered_appointment_id"]),
        )
        assert (
            await service.expire_offers(
                session, settings, now=second_offer.offer_expires_at + timedelta(seconds=1)
            )
            == 1
        )
        await session.commit()
    assert (await _entry(client, c.reception, e_second["id"]))["status"] == "expired"
    assert slot in [
        at(x["start"]) for x in await free_slots(client, c.doctor, c.consult, staff_id=c.staff_id, limit=200)
    ]


async def test_waitlist_entries_belong_to_their_patient(client, db):
    c = await clinic(client, db)
    mine, me = await make_patient(client, db, c.reception)
    other, other_h = await make_patient(client, db, c.reception, email="o@example.org", family="Other")
    entry = await _wait(client, me, c)
    assert_error(
        await client.post(
            "/api/appointments/waitlist",
            json={
                "type_id": c.consult["id"],
                "patient_id": other["id"],
                "earliest": "2027-01-01",
                "latest": "2027-01-31",
            },
            headers=me,
        ),
        404,
        "patient_not_found",
    )
    for bad, status, code in (
        ({"earliest": "2027-01-31", "latest": "2027-01-01"}, 422, "validation_error"),
        ({"earliest": "2020-01-01", "latest": "2020-01-31"}, 400, "in_past"),
        (
            {"earliest": "2027-01-01", "latest": "2027-01-31", "type_id": str(uuid.uuid4())},
            404,
            "type_not_found",
        ),
        (
            {"earliest": "2027-01-01", "latest": "2027-01-31", "department_id": str(uuid.uuid4())},
            404,
            "department_not_found",
        ),
    ):
        r = await client.post(
            "/api/appointments/waitlist", json={"type_id": c.consult["id"], **bad}, headers=me
        )
        assert_error(r, status, code)
    own = await client.get("/api/appointments/waitlist", headers=me)
    assert [x["id"] for x in own.json()["items"]] == [entry["id"]]
    assert (await client.get("/api/appointments/waitlist", headers=other_h)).json()["items"] == []
    assert_error(
        await client.delete(f"/api/appointments/waitlist/{entry['id']}", headers=other_h),
        404,
        "waitlist_entry_not_found",
    )
    gone = await client.delete(f"/api/appointments/waitlist/{entry['id']}", headers=me)
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled"
    assert_error(
        await client.delete(f"/api/appointments/waitlist/{entry['id']}", headers=me),
        409,
        "invalid_transition",
    )
    assert [e.patient_id for e in await audit_events(db, action="appointment.waitlist_add")][-1] == uuid.UUID(
        mine["id"]
    )


async def test_a_waiting_patient_busy_at_that_time_is_skipped(client, db):
    c = await clinic(client, db)
    second_clinician = await make_clinician(db, family="Two", email="two@hospital.test")
    await add_hours(client, c.reception, second_clinician)
    _holder, holder_h = await make_patient(client, db, c.reception, email="h@example.org")
    _busy, busy_h = await make_patient(client, db, c.reception, email="b@example.org", family="Busy")
    free, _ = await make_patient(client, db, c.reception, email="f@example.org", family="Free")
    slot = next_local(4, "10:00")
    held = (await client.post("/api/appointments", json=booking(c, None, slot), headers=holder_h)).json()
    elsewhere = await client.post(
        "/api/appointments", json=booking(c, None, slot, staff_id=second_clinician), headers=busy_h
    )
    assert elsewhere.status_code == 201
    e_busy = await _wait(client, busy_h, c)
    e_free = await _wait(client, c.reception, c, free["id"])
    await client.post(f"/api/appointments/{held['id']}/cancel", headers=holder_h)
    assert (await _entry(client, c.reception, e_busy["id"]))["status"] == "waiting"
    assert (await _entry(client, c.reception, e_free["id"]))["status"] == "offered"


async def test_the_background_sweep_hands_on_offers_nobody_looked_at(client, db):
    from sqlalchemy import update

    from app.appointments.models import Appointment
    from app.appointments.worker import OfferSweeper

    c = await clinic(client, db)
    _holder, holder_h = await make_patient(client, db, c.reception, email="h@example.org")
    waiting, _ = await make_patient(client, db, c.reception, email="w@example.org", family="Waiting")
    held = (
        await client.post(
            "/api/appointments", json=booking(c, None, next_local(4, "10:00")), headers=holder_h
        )
    ).json()
    entry = await _wait(client, c.reception, c, waiting["id"])
    await client.post(f"/api/appointments/{held['id']}/cancel", headers=holder_h)
    offer_id = uuid.UUID((await _entry(client, c.reception, entry["id"]))["offered_appointment_id"])
    sweeper = OfferSweeper(db, settings_of(client))
    assert await sweeper.sweep() == 0  # still within its hold
    async with db.sessionmaker() as session:
        past = datetime.now().astimezone() - timedelta(minutes=1)
        await session.execute(
            update(Appointment).where(Appointment.id == offer_id).values(offer_expires_at=past)
        )
        await session.commit()
    assert await sweeper.sweep() == 1
    assert (await _entry(client, c.reception, entry["id"]))["status"] == "expired"
    assert await lock_rows(db, offer_id) == []


async def test_one_live_entry_per_patient_and_criteria(client, db):
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    first = await _wait(client, me, c)
    body = {
        "type_id": c.consult["id"],
        "earliest": first["earliest"],
        "latest": first["latest"],
    }
    # The same criteria again, by the patient or for them by reception: refused, nothing written.
    for headers, extra in ((me, {}), (c.reception, {"patient_id": patient["id"]})):
        again = await client.post("/api/appointments/waitlist", json={**body, **extra}, headers=headers)
        err = assert_error(again, 409, "already_waiting")
        assert err["details"]["waitlist_entry_id"] == first["id"]
    # An earliest date already past is stored as today, so asking from today is the same wish.
    since = {
        **body,
        "earliest": str(next_local(-3, "12:00").date()),
        "latest": str(next_local(11, "12:00").date()),
    }
    stored = await client.post("/api/appointments/waitlist", json=since, headers=me)
    assert stored.status_code == 201, stored.text
    assert stored.json()["earliest"] == str(next_local(0, "12:00").date())
    today = {**since, "earliest": stored.json()["earliest"]}
    assert_error(
        await client.post("/api/appointments/waitlist", json=today, headers=me), 409, "already_waiting"
    )
    # Other criteria are another wish.
    other = await client.post(
        "/api/appointments/waitlist", json={**body, "latest": str(next_local(12, "12:00").date())}, headers=me
    )
    assert other.status_code == 201, other.text
    listed = await client.get("/api/appointments/waitlist", params={"status": "waiting"}, headers=me)
    assert listed.json()["total"] == 3
    # Once the first is left, the same criteria may be joined again.
    gone = await client.delete(f"/api/appointments/waitlist/{first['id']}", headers=me)
    assert gone.status_code == 200, gone.text
    back = await client.post("/api/appointments/waitlist", json=body, headers=me)
    assert back.status_code == 201, back.text


async def test_simultaneous_identical_joins_make_one_entry(fresh_database_url, broker):
    import asyncio

    from app.appointments.models import WaitlistEntry
    from tests.appointments.helpers import count
    from tests.patients.helpers import fresh_app

    async with fresh_app(fresh_database_url, broker) as (client, db):
        c = await clinic(client, db)
        _patient, me = await make_patient(client, db, c.reception)
        body = {
            "type_id": c.consult["id"],
            "earliest": str(next_local(1, "12:00").date()),
            "latest": str(next_local(9, "12:00").date()),
        }
        answers = await asyncio.gather(
            *(client.post("/api/appointments/waitlist", json=body, headers=me) for _ in range(20))
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201] + [409] * 19, [r.text for r in answers]
        assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"already_waiting"}
        assert await count(db, WaitlistEntry) == 1


async def test_accepting_an_earlier_slot_cancels_the_appointment_it_replaces(client, db):
    c = await clinic(client, db)
    _holder, holder_h = await make_patient(client, db, c.reception, email="holder@example.org")
    me_rec, me = await make_patient(client, db, c.reception, email="me@example.org", family="Mine")
    next_rec, next_h = await make_patient(client, db, c.reception, email="next@example.org", family="Next")
    early, late = next_local(4, "10:00"), next_local(8, "10:00")
    held = (await client.post("/api/appointments", json=booking(c, None, early), headers=holder_h)).json()
    mine = (await client.post("/api/appointments", json=booking(c, None, late), headers=me)).json()
    assert mine["status"] == "booked"
    entry = await _wait(client, me, c, replaces_appointment_id=mine["id"])
    assert entry["replaces_appointment_id"] == mine["id"]
    later_entry = await _wait(client, next_h, c)  # someone else, also waiting

    # A slot later than the one to replace is no earlier slot: not offered to this entry.
    after = next_local(9, "10:00")
    other_h = (await make_patient(client, db, c.reception, email="o@example.org", family="Other"))[1]
    later_held = (
        await client.post("/api/appointments", json=booking(c, None, after), headers=other_h)
    ).json()
    await client.post(f"/api/appointments/{later_held['id']}/cancel", headers=other_h)
    assert (await _entry(client, c.reception, entry["id"]))["status"] == "waiting"
    assert (await _entry(client, c.reception, later_entry["id"]))["status"] == "offered"
    to_next = (await _entry(client, c.reception, later_entry["id"]))["offered_appointment_id"]
    assert (await client.post(f"/api/appointments/{to_next}/decline", json={"keep_waiting": True},
                              headers=next_h)).status_code == 200  # fmt: skip

    # The earlier slot frees up: offered to this entry first.
    await client.post(f"/api/appointments/{held['id']}/cancel", headers=holder_h)
    offered = await _entry(client, c.reception, entry["id"])
    assert offered["status"] == "offered"
    offer_id = offered["offered_appointment_id"]
    (note,) = [m for m in await messages(db, offer_id) if m.kind == "appointment.waitlist_offer"]
    assert note.subject.startswith("An earlier appointment is free: "), note.subject
    assert "earlier than the one you have booked" in note.body
    accepted = await client.post(f"/api/appointments/{offer_id}/accept", headers=me)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "booked" and at(accepted.json()["start"]) == early

    # In the same transaction: the later appointment is cancelled, its locks released, the
    # patient told (with an iTIP CANCEL for it), its reminder withdrawn.
    old = (await client.get(f"/api/appointments/{mine['id']}", headers=me)).json()
    assert old["status"] == "cancelled" and old["sequence"] == 1
    assert "replaced" in old["cancel_reason"]
    assert await lock_rows(db, mine["id"]) == []
    old_messages = {m.kind: m for m in await messages(db, mine["id"])}
    assert old_messages["appointment.cancellation"].to_email == "me@example.org"
    assert old_messages["appointment.reminder"].status == "cancelled"
    (ics,) = old_messages["appointment.cancellation"].attachments
    assert b"METHOD:CANCEL" in ics.content and f"appointment-{mine['id']}".encode() in ics.content
    # The entry is booked and still says which appointment it became.
    done = await _entry(client, me, entry["id"])
    assert done["status"] == "booked" and done["offered_appointment_id"] == offer_id
    assert done["replaces_appointment_id"] == mine["id"]
    # The freed later time goes on to the next person waiting.
    nxt = await _entry(client, c.reception, later_entry["id"])
    assert nxt["status"] == "offered"
    handed = (await client.get(f"/api/appointments/{nxt['offered_appointment_id']}", headers=next_h)).json()
    assert at(handed["start"]) == late and handed["patient"]["id"] == next_rec["id"]
    cancel_audit = await audit_events(db, action="appointment.cancel", resource_id=mine["id"])
    assert [e.patient_id for e in cancel_audit] == [uuid.UUID(me_rec["id"])]


async def test_the_appointment_to_replace_must_be_the_patients_own_booked_one_of_the_type(client, db):
    c = await clinic(client, db)
    _p, me = await make_patient(client, db, c.reception)
    other, other_h = await make_patient(client, db, c.reception, email="o@example.org", family="Other")
    mine = (
        await client.post("/api/appointments", json=booking(c, None, next_local(6, "10:00")), headers=me)
    ).json()
    video = (
        await client.post(
            "/api/appointments", json=booking(c, None, next_local(6, "12:00"), kind=c.video), headers=me
        )
    ).json()
    theirs = (
        await client.post("/api/appointments", json=booking(c, None, next_local(6, "11:00")), headers=other_h)
    ).json()
    gone = (
        await client.post("/api/appointments", json=booking(c, None, next_local(7, "10:00")), headers=me)
    ).json()
    assert (await client.post(f"/api/appointments/{gone['id']}/cancel", headers=me)).status_code == 200
    body = {
        "type_id": c.consult["id"],
        "earliest": str(next_local(1, "12:00").date()),
        "latest": str(next_local(10, "12:00").date()),
    }
    for replaces, headers, status, code in (
        (theirs["id"], me, 404, "appointment_not_found"),
        (str(uuid.uuid4()), me, 404, "appointment_not_found"),
        (video["id"], me, 400, "replacement_type_mismatch"),
        (gone["id"], me, 409, "replacement_not_booked"),
        (mine["id"], c.reception, 400, "replacement_patient_mismatch"),  # for another patient
    ):
        extra = {"patient_id": other["id"]} if headers is c.reception else {}
        r = await client.post(
            "/api/appointments/waitlist",
            json={**body, **extra, "replaces_appointment_id": replaces},
            headers=headers,
        )
        assert_error(r, status, code)
    assert (await client.get("/api/appointments/waitlist", headers=me)).json()["total"] == 0


async def test_an_accepted_offer_keeps_its_appointment_id(client, db):
    c = await clinic(client, db)
    _holder, holder_h = await make_patient(client, db, c.reception, email="h@example.org")
    _w, waiting_h = await make_patient(client, db, c.reception, email="w@example.org", family="Waiting")
    held = (
        await client.post(
            "/api/appointments", json=booking(c, None, next_local(4, "10:00")), headers=holder_h
        )
    ).json()
    entry = await _wait(client, waiting_h, c)
    await client.post(f"/api/appointments/{held['id']}/cancel", headers=holder_h)
    offer_id = (await _entry(client, waiting_h, entry["id"]))["offered_appointment_id"]
    assert offer_id
    assert (await client.post(f"/api/appointments/{offer_id}/accept", headers=waiting_h)).status_code == 200
    for headers in (waiting_h, c.reception):
        after = await _entry(client, headers, entry["id"])
        assert after["status"] == "booked" and after["offered_appointment_id"] == offer_id
