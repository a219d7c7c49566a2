"""Leave and licence changes over booked appointments: refused with the appointments listed
(409 appointments_during_leave / appointments_without_licence) unless acknowledged, then saved
with the appointments under a warning; the audit keeps what was acknowledged and the old and
new licence dates."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.db import Database
from app.staff import service as staff_service
from app.staff.models import Leave, StaffQualification
from tests.appointments.helpers import LONDON, booking, clinic, make_patient, next_local
from tests.patients.helpers import assert_error, audit_events
from tests.staff.helpers import count_rows


async def _details(db: Database, action: str, resource_id: object) -> list[dict[str, Any]]:
    events = await audit_events(db, action=action, resource_id=str(resource_id))
    return [json.loads(e.details or "{}") for e in events]


def _day(at: datetime, offset: int = 0) -> str:
    return (at.astimezone(LONDON).date() + timedelta(days=offset)).isoformat()


async def _book(client: httpx.AsyncClient, c: Any, patient: dict[str, Any], at: datetime) -> dict[str, Any]:
    r = await client.post("/api/appointments", json=booking(c, patient["id"], at), headers=c.reception)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_leave_over_booked_appointments_needs_an_acknowledgement(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    patient, _ = await make_patient(client, db, c.reception)
    first = await _book(client, c, patient, next_local(5, "10:00"))
    second = await _book(client, c, patient, next_local(6, "11:00"))
    gone = await _book(client, c, patient, next_local(6, "14:00"))
    r = await client.post(f"/api/appointments/{gone['id']}/cancel", json={}, headers=c.reception)
    assert r.status_code == 200, r.text
    leave = {"staff_id": str(c.staff_id), "kind": "sick", "start_date": _day(next_local(5, "10:00"))}
    leave["end_date"] = _day(next_local(6, "10:00"))
    before = await count_rows(db, Leave)

    err = assert_error(
        await client.post("/api/staff/leave", json=leave, headers=c.reception),
        409,
        "appointments_during_leave",
    )
    assert "2 booked appointment(s)" in err["message"]
    got = err["details"]
    assert got["staff_id"] == str(c.staff_id) and got["total"] == 2 and got["truncated"] is False
    assert [a["id"] for a in got["appointments"]] == [first["id"], second["id"]]  # not the cancelled one
    listed = got["appointments"][0]
    assert set(listed) == {"id", "start", "end", "local_start", "type", "mode", "status"}
    assert listed["start"] == first["start"] and listed["end"] == first["end"]
    assert listed["type"] == "GP consultation" and listed["status"] == "booked"
    assert listed["local_start"] == first["local_start"]
    assert patient["id"] not in str(got)  # no patient data
    assert await count_rows(db, Leave) == before

    r = await client.post(
        "/api/staff/leave", json={**leave, "acknowledge_appointments": True}, headers=c.reception
    )
    assert r.status_code == 201, r.text
    body = r.json()
    (warning,) = body["warnings"]
    assert warning["code"] == "appointments_during_leave" and warning["total"] == 2
    assert [a["id"] for a in warning["appointments"]] == [first["id"], second["id"]]
    assert await count_rows(db, Leave) == before + 1
    (event,) = await _details(db, "leave.create", body["leave"]["id"])
    assert event["acknowledged_appointments"] == [first["id"], second["id"]]
    # The appointments stay booked: reception reschedules them.
    r = await client.get(f"/api/appointments/{first['id']}", headers=c.reception)
    assert r.json()["status"] == "booked"


async def test_leave_elsewhere_or_changed_only_in_its_note_says_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    patient, _ = await make_patient(client, db, c.reception)
    at = next_local(5, "10:00")
    booked = await _book(client, c, patient, at)
    # Leave the day before: nothing booked in it.
    leave = {
        "staff_id": str(c.staff_id),
        "kind": "annual",
        "start_date": _day(at, -1),
        "end_date": _day(at, -1),
    }
    r = await client.post("/api/staff/leave", json=leave, headers=c.reception)
    assert r.status_code == 201, r.text
    assert r.json()["warnings"] == []
    leave_id = r.json()["leave"]["id"]
    r = await client.patch(f"/api/staff/leave/{leave_id}", json={"note": "ok"}, headers=c.reception)
    assert r.status_code == 200 and r.json()["warnings"] == []
    # Stretching it over the booked day is refused, then acknowledged.
    stretch = {"start_date": _day(at, -1), "end_date": _day(at)}
    err = assert_error(
        await client.patch(f"/api/staff/leave/{leave_id}", json=stretch, headers=c.reception),
        409,
        "appointments_during_leave",
    )
    assert [a["id"] for a in err["details"]["appointments"]] == [booked["id"]]
    r = await client.get(
        f"/api/staff/leave?staff_id={c.staff_id}&start={_day(at, -1)}&end={_day(at)}", headers=c.reception
    )
    assert [x["end_date"] for x in r.json()] == [_day(at, -1)]  # unchanged
    r = await client.patch(
        f"/api/staff/leave/{leave_id}",
        json={**stretch, "acknowledge_appointments": True},
        headers=c.reception,
    )
    assert r.status_code == 200, r.text
    assert [a["id"] for a in r.json()["warnings"][0]["appointments"]] == [booked["id"]]
    # Already covered (and acknowledged): another change of the same leave does not ask again.
    r = await client.patch(
        f"/api/staff/leave/{leave_id}",
        json={"start_date": _day(at), "end_date": _day(at)},
        headers=c.reception,
    )
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == []


async def test_the_registry_asks_only_for_what_is_still_to_come(db: Database) -> None:
    asked: list[tuple[datetime, datetime]] = []
    sid = uuid.uuid4()
    later = datetime.now(UTC) + timedelta(days=2)

    async def source(session: Any, staff_id: uuid.UUID, start: datetime, end: datetime) -> list[Any]:
        asked.append((start, end))
        a = staff_service.BookedAppointment(
            uuid.uuid4(), later, later + timedelta(minutes=30), "X", "video", "booked"
        )
        return [a, a] if staff_id == sid else []

    staff_service.register_appointment_source(source)
    staff_service.register_appointment_source(source)  # idempotent
    try:
        async with db.sessionmaker() as session:
            week_ago = datetime.now(UTC) - timedelta(days=7)
            got = await staff_service.booked_appointments(session, sid, week_ago, later + timedelta(days=1))
            assert len(got) == 1  # the same appointment from twice over is one
            assert len(asked) == 1 and asked[0][0] > week_ago + timedelta(days=6)  # from now on
            # A window that is over already asks nobody.
            assert (
                await staff_service.booked_appointments(session, sid, week_ago, week_ago + timedelta(days=1))
                == []
            )
            assert len(asked) == 1
    finally:
        staff_service.unregister_appointment_source(source)
    assert source not in staff_service._appointment_sources


async def test_shortening_or_deleting_a_licence_over_booked_appointments(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    patient, _ = await make_patient(client, db, c.reception)
    at = next_local(10, "10:00")
    booked = await _book(client, c, patient, at)
    staff = (await client.get(f"/api/staff/{c.staff_id}", headers=c.admin)).json()
    (lic,) = staff["qualifications"]
    url = f"/api/staff/{c.staff_id}/licences/{lic['id']}"
    before = await count_rows(db, StaffQualification)

    # Ending the licence the day before the appointment: refused, listing it.
    err = assert_error(
        await client.patch(url, json={"valid_to": _day(at, -1)}, headers=c.admin),
        409,
        "appointments_without_licence",
    )
    assert [a["id"] for a in err["details"]["appointments"]] == [booked["id"]]
    assert (await client.get(f"/api/staff/{c.staff_id}", headers=c.admin)).json()["qualifications"][0][
        "valid_to"
    ] == lic["valid_to"]
    # Ending it on the appointment's day is fine (the day is still licensed), and says nothing.
    r = await client.patch(url, json={"valid_to": _day(at)}, headers=c.admin)
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == [] and r.json()["valid_to"] == _day(at)
    (event,) = await _details(db, "staff.licence.update", c.staff_id)
    assert event["changes"] == {"valid_to": {"old": lic["valid_to"], "new": _day(at)}}
    assert event["fields"] == ["valid_to"]
    # Acknowledged: saved, with the appointment under a warning, and audited.
    r = await client.patch(
        url, json={"valid_to": _day(at, -1), "acknowledge_appointments": True}, headers=c.admin
    )
    assert r.status_code == 200, r.text
    (warning,) = r.json()["warnings"]
    assert warning["code"] == "appointments_without_licence"
    assert [a["id"] for a in warning["appointments"]] == [booked["id"]]
    events = await _details(db, "staff.licence.update", c.staff_id)
    assert events[-1]["changes"] == {"valid_to": {"old": _day(at), "new": _day(at, -1)}}
    assert events[-1]["acknowledged_appointments"] == [booked["id"]]
    assert "acknowledge_appointments" not in events[-1]["fields"]

    # Put it back, then a second licence covers the day: deleting the first one is fine.
    r = await client.patch(url, json={"valid_to": "2035-12-31"}, headers=c.admin)
    assert r.status_code == 200 and r.json()["warnings"] == []
    other = {
        "kind": "licence",
        "number": "NMC-2",
        "valid_from": "2020-01-01",
        "valid_to": "2040-01-01",
    }
    second = await client.post(f"/api/staff/{c.staff_id}/licences", json=other, headers=c.admin)
    assert second.status_code == 201, second.text
    r = await client.delete(url, headers=c.admin)
    assert r.status_code == 204, r.text
    # The last licence: deleting it strands the appointment.
    last = f"/api/staff/{c.staff_id}/licences/{second.json()['id']}"
    err = assert_error(await client.delete(last, headers=c.admin), 409, "appointments_without_licence")
    assert err["details"]["total"] == 1
    assert await count_rows(db, StaffQualification) == before
    r = await client.delete(last + "?acknowledge_appointments=true", headers=c.admin)
    assert r.status_code == 204, r.text
    assert await count_rows(db, StaffQualification) == before - 1
    deleted = await _details(db, "staff.licence.delete", c.staff_id)
    assert deleted[-1]["valid_to"] == "2040-01-01" and deleted[-1]["kind"] == "licence"
    assert deleted[-1]["acknowledged_appointments"] == [booked["id"]]


async def test_turning_a_licence_into_a_qualification_counts_as_ending_it(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    patient, _ = await make_patient(client, db, c.reception)
    await _book(client, c, patient, next_local(4, "09:30"))
    (lic,) = (await client.get(f"/api/staff/{c.staff_id}", headers=c.admin)).json()["qualifications"]
    url = f"/api/staff/{c.staff_id}/licences/{lic['id']}"
    err = assert_error(
        await client.patch(url, json={"kind": "qualification"}, headers=c.admin),
        409,
        "appointments_without_licence",
    )
    assert err["details"]["total"] == 1
    # Changing only its number changes no dates: nothing to acknowledge.
    r = await client.patch(url, json={"number": "GMC-NEW"}, headers=c.admin)
    assert r.status_code == 200 and r.json()["warnings"] == []
