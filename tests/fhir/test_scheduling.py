"""FHIR Schedule, Slot and Appointment over the appointment book: computed slots with stable ids,
booking a free Slot with POST /fhir/Appointment (the native service's atomicity, access rules and
refusals, as OperationOutcomes), and every emitted resource valid against R4B."""

from __future__ import annotations

import asyncio
import base64
import struct
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from app.appointments import schemas as aps
from app.appointments.models import Appointment
from app.db import Database
from app.fhir.mappers import scheduling as sm
from tests.appointments.helpers import (
    Clinic,
    add_hours,
    appointment_rows,
    clinic,
    count,
    iso,
    make_clinician,
    make_patient,
    next_local,
)
from tests.appointments.test_concurrency import _patients
from tests.fhir.helpers import assert_outcome, assert_valid, error_code
from tests.patients.helpers import audit_events, fresh_app, headers_for

FHIR = {"Content-Type": "application/fhir+json"}


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def day_window(days_ahead: int) -> str:
    """start=ge..&start=lt.. covering one facility-local day ``days_ahead`` from today."""
    low = next_local(days_ahead, "00:00")
    high = next_local(days_ahead + 1, "00:00")
    return urlencode([("start", f"ge{iso(low)}"), ("start", f"lt{iso(high)}")])


async def slots(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, *, status: int = 200
) -> dict[str, Any]:
    resp = await client.get(f"/fhir/Slot?{query}", headers=headers)
    assert resp.status_code == status, resp.text
    bundle: dict[str, Any] = resp.json()
    assert_valid(bundle)
    return bundle


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", [])]


def appointment_body(slot_id: str, patient_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "participant": [],
        **extra,
    }
    if patient_id is not None:
        body["participant"].append({"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"})
    return body


async def post(client: httpx.AsyncClient, headers: dict[str, str], body: Any, **kw: Any) -> httpx.Response:
    return await client.post("/fhir/Appointment", json=body, headers={**headers, **FHIR, **kw})


def schedule_query(c: Clinic, kind: dict[str, Any] | None = None, days_ahead: int = 3) -> str:
    query = f"schedule=Schedule/{c.staff_id}&status=free&{day_window(days_ahead)}"
    if kind is not None:
        query += f"&service-type={kind['code']}"
    return query


# --- CapabilityStatement -----------------------------------------------------------------------


async def test_capability_statement_lists_the_scheduling_resources(client: httpx.AsyncClient) -> None:
    cs = (await client.get("/fhir/metadata")).json()
    assert_valid(cs)
    found = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert {p["name"] for p in found["Slot"]["searchParam"]} == {
        "schedule",
        "service-type",
        "start",
        "status",
    }
    assert {p["name"] for p in found["Schedule"]["searchParam"]} == {"_id", "actor", "service-type", "active"}
    assert {p["name"] for p in found["Appointment"]["searchParam"]} == {
        "patient", "practitioner", "actor", "date", "status",
    }  # fmt: skip
    assert {i["code"] for i in found["Appointment"]["interaction"]} == {"read", "search-type", "create"}
    assert {i["code"] for i in found["Slot"]["interaction"]} == {"read", "search-type"}
    assert "busy ones are omitted" in found["Slot"]["documentation"]
    assert "slot_taken" in found["Appointment"]["documentation"]


# --- Schedule and Slot -------------------------------------------------------------------------


async def test_schedule_per_clinician_and_free_slots_match_the_native_search(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    _patient, me = await make_patient(client, db, c.reception)
    for headers in (c.reception, me):  # staff, and a patient about to book online
        bundle = (await client.get(f"/fhir/Schedule?actor=Practitioner/{c.staff_id}", headers=headers)).json()
        assert_valid(bundle)
        assert bundle["total"] == 1
        (schedule,) = resources(bundle)
        assert_valid(schedule)
        assert schedule["id"] == str(c.staff_id) and schedule["active"] is True
        assert schedule["actor"] == [
            {"reference": f"Practitioner/{c.staff_id}", "display": "Dr. Grace Okafor"}
        ]
        codes = {x["coding"][0]["code"] for x in schedule["serviceType"]}
        assert {c.consult["code"], c.video["code"]} <= codes
        assert all(x["coding"][0]["system"] == sm.TYPE_SYSTEM for x in schedule["serviceType"])
    read = await client.get(f"/fhir/Schedule/{c.staff_id}", headers=me)
    assert read.status_code == 200 and read.json() == schedule
    by_type = (await client.get(f"/fhir/Schedule?service-type={c.video['code']}", headers=c.reception)).json()
    assert str(c.staff_id) in [s["id"] for s in resources(by_type)]

    bundle = await slots(client, me, schedule_query(c, c.consult) + "&_count=200")
    free = resources(bundle)
    assert bundle["total"] == len(free) == 16  # 09:00-17:00 in 30-minute slots
    for slot in free:
        assert_valid(slot)
        assert slot["status"] == "free" and slot["schedule"] == {"reference": f"Schedule/{c.staff_id}"}
        assert slot["serviceType"][0]["coding"][0]["code"] == c.consult["code"]
        assert at(slot["end"]) - at(slot["start"]) == timedelta(minutes=30)
        assert slot["appointmentType"]["coding"][0] == {
            "system": sm.MODE_SYSTEM, "code": "in_person", "display": "In person",
        }  # fmt: skip
    assert [s["start"] for s in free] == sorted(s["start"] for s in free)
    assert at(free[0]["start"]) == next_local(3, "09:00") and at(free[-1]["end"]) == next_local(3, "17:00")
    # The same slots as the native search, and the same ids however often they are computed.
    native = await client.get(
        "/api/appointments/slots",
        params={"type_id": c.consult["id"], "staff_id": str(c.staff_id), "start": iso(next_local(3, "00:00")),
                "end": iso(next_local(4, "00:00")), "limit": 200},
        headers=me,
    )  # fmt: skip
    assert [at(s["start"]) for s in free] == [at(x["start"]) for x in native.json()["items"]]
    again = resources(await slots(client, c.reception, schedule_query(c, c.consult) + "&_count=200"))
    assert [s["id"] for s in again] == [s["id"] for s in free]
    # Without service-type: every type the schedule offers, ordered by start.
    both = resources(await slots(client, me, schedule_query(c) + "&_count=200"))
    assert {s["serviceType"][0]["coding"][0]["code"] for s in both} == {c.consult["code"], c.video["code"]}
    assert len(both) == 16 + 24  # 20-minute video slots: 24 in eight hours
    assert [s["start"] for s in both] == sorted(s["start"] for s in both)
    # A slot reads back by its id.
    read = await client.get(f"/fhir/Slot/{free[0]['id']}", headers=me)
    assert read.status_code == 200 and read.json() == free[0]


async def test_slot_paging_follows_next_links_without_a_total_until_the_last_page(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    everything = resources(await slots(client, c.reception, schedule_query(c, c.consult) + "&_count=200"))
    url: str | None = f"/fhir/Slot?{schedule_query(c, c.consult)}&_count=5"
    pages: list[dict[str, Any]] = []
    while url:
        resp = await client.get(url, headers=c.reception)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        assert_valid(page)
        pages.append(page)
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert [len(resources(p)) for p in pages] == [5, 5, 5, 1]
    assert ["total" in p for p in pages] == [False, False, False, True] and pages[-1]["total"] == 16
    assert [s["id"] for p in pages for s in resources(p)] == [s["id"] for s in everything]
    assert any(link["relation"] == "previous" for link in pages[1]["link"])


async def test_a_lower_bound_alone_searches_the_native_default_window(
    client: httpx.AsyncClient, db: Database
) -> None:
    """The issue's own example: GET /fhir/Slot?schedule=...&status=free&start=ge..."""
    c = await clinic(client, db)
    low = next_local(3, "00:00")
    for bound, first_day in ((f"ge{iso(low)}", low), (f"gt{next_local(3, '12:00').date()!s}", None)):
        query = f"schedule=Schedule/{c.staff_id}&status=free&service-type={c.consult['code']}&start={bound}"
        url: str | None = f"/fhir/Slot?{query}&_count=200"
        found: list[dict[str, Any]] = []
        while url:
            page = await client.get(url, headers=c.reception)
            assert page.status_code == 200, page.text
            assert_valid(page.json())
            found += resources(page.json())
            url = next((x["url"] for x in page.json()["link"] if x["relation"] == "next"), None)
            assert url is None or "start=" in url
        starts = [at(x["start"]) for x in found]
        native_start = first_day or datetime.combine(next_local(4, "12:00").date(), datetime.min.time(), UTC)
        params = {"type_id": c.consult["id"], "staff_id": str(c.staff_id), "start": iso(native_start)}
        native: list[datetime] = []
        cursor: str | None = None
        while True:
            resp = await client.get(
                "/api/appointments/slots",
                params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})},
                headers=c.reception,
            )
            assert resp.status_code == 200, resp.text
            window = resp.json()
            assert at(window["window_end"]) - at(window["window_start"]) == timedelta(days=14)
            native += [at(x["start"]) for x in window["items"]]
            cursor = window["next_cursor"]
            if cursor is None:
                break
        assert starts == native, bound
        assert len(starts) == 14 * 16 and min(starts) >= native_start
        assert max(starts) < native_start + timedelta(days=14)
    # An upper bound alone is still refused (no lower bound to default from).
    lone = f"schedule=Schedule/{c.staff_id}&start=lt{iso(next_local(5, '00:00'))}"
    outcome = assert_outcome(await client.get(f"/fhir/Slot?{lone}", headers=c.reception), 400, "invalid")
    assert error_code(outcome) == "unbounded_search"
    cs = (await client.get("/fhir/metadata")).json()
    (slot,) = [r for r in cs["rest"][0]["resource"] if r["type"] == "Slot"]
    (start,) = [p for p in slot["searchParam"] if p["name"] == "start"]
    assert "14 days" in start["documentation"] and "14 days" in slot["documentation"]


async def test_service_type_search_spans_clinicians(client: httpx.AsyncClient, db: Database) -> None:
    c = await clinic(client, db)
    other = await make_clinician(db, family="Osei", email="osei@hospital.test")
    await add_hours(client, c.reception, other, start="10:00", end="11:00", type_ids=[c.consult["id"]])
    query = f"service-type={sm.TYPE_SYSTEM}|{c.consult['code']}&{day_window(3)}&_count=200"
    found = resources(await slots(client, c.doctor, query))
    by_schedule: dict[str, int] = {}
    for slot in found:
        by_schedule[slot["schedule"]["reference"]] = by_schedule.get(slot["schedule"]["reference"], 0) + 1
    assert by_schedule == {f"Schedule/{c.staff_id}": 16, f"Schedule/{other}": 2}
    # Another system's code, or a code nobody offers: no slots.
    assert (
        resources(
            await slots(client, c.doctor, f"service-type=urn:other|{c.consult['code']}&{day_window(3)}")
        )
        == []
    )
    assert (await slots(client, c.doctor, f"service-type=NOPE&{day_window(3)}"))["total"] == 0


# --- booking -----------------------------------------------------------------------------------


async def test_a_patient_books_a_free_slot_and_it_leaves_the_free_list(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    other, _ = await make_patient(client, db, c.reception, email="other@example.org", family="Other")
    free = resources(await slots(client, me, schedule_query(c, c.video)))
    slot = free[2]
    body = appointment_body(
        slot["id"],
        patient["id"],
        start=slot["start"],
        end=slot["end"],
        reasonCode=[{"text": "Persistent cough"}],
    )
    body["participant"].append({"actor": {"reference": f"Practitioner/{c.staff_id}"}, "status": "accepted"})
    resp = await post(client, me, body)
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"].startswith("application/fhir+json")
    booked = resp.json()
    assert_valid(booked)
    assert resp.headers["location"] == f"http://testserver/fhir/Appointment/{booked['id']}"
    assert booked["status"] == "booked" and booked["slot"] == [{"reference": f"Slot/{slot['id']}"}]
    assert (booked["start"], booked["end"], booked["minutesDuration"]) == (slot["start"], slot["end"], 20)
    assert (
        booked["serviceType"] == slot["serviceType"]
        and booked["appointmentType"]["coding"][0]["code"] == "video"
    )
    assert booked["reasonCode"] == [{"text": "Persistent cough"}]
    actors = {p["actor"]["reference"]: p for p in booked["participant"]}
    assert set(actors) == {f"Patient/{patient['id']}", f"Practitioner/{c.staff_id}"}
    assert all(p["status"] == "accepted" and p["required"] == "required" for p in actors.values())

    # The native API sees the same booking, made online by the patient; audited with the patient.
    native = (await client.get(f"/api/appointments/{booked['id']}", headers=c.reception)).json()
    assert (
        native["status"] == "booked"
        and native["booked_online"] is True
        and native["reason"] == "Persistent cough"
    )
    assert (
        native["patient"]["id"] == patient["id"] and native["start"].replace("+00:00", "Z") == slot["start"]
    )
    events = await audit_events(db, action="appointment.book", resource_id=booked["id"])
    assert len(events) == 1 and events[0].patient_id == uuid.UUID(patient["id"])

    # The slot has left the free list and reads as busy.
    after = resources(await slots(client, me, schedule_query(c, c.video)))
    assert slot["id"] not in [s["id"] for s in after] and len(after) == len(free) - 1
    busy = (await client.get(f"/fhir/Slot/{slot['id']}", headers=me)).json()
    assert_valid(busy)
    assert busy["status"] == "busy"

    # A second booking of that slot: 409 OperationOutcome, nothing written.
    rows = await appointment_rows(db)
    taken = await post(client, c.reception, appointment_body(slot["id"], other["id"]))
    assert error_code(assert_outcome(taken, 409, "conflict")) == "slot_taken"
    assert await appointment_rows(db) == rows

    # Read and search it back.
    read = await client.get(f"/fhir/Appointment/{booked['id']}", headers=me)
    assert read.status_code == 200 and read.json() == booked
    mine = (await client.get("/fhir/Appointment", headers=me)).json()  # defaults to their record
    assert_valid(mine)
    assert mine["total"] == 1 and resources(mine)[0]["id"] == booked["id"]
    for query in (
        f"patient=Patient/{patient['id']}",
        f"actor=Practitioner/{c.staff_id}&status=booked",
        f"practitioner={c.staff_id}&date=ge{slot['start'][:10]}&date=le{slot['start'][:10]}",
    ):
        found = (await client.get(f"/fhir/Appointment?{query}", headers=c.reception)).json()
        assert_valid(found)
        assert [a["id"] for a in resources(found)] == [booked["id"]], query
    none = (await client.get(f"/fhir/Appointment?patient=Patient/{other['id']}", headers=c.reception)).json()
    assert none["total"] == 0
    assert (
        await client.get(f"/fhir/Appointment?status=fulfilled&patient={patient['id']}", headers=me)
    ).json()["total"] == 0


async def test_a_patient_token_cannot_book_or_see_for_another_patient(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    _mine, me = await make_patient(client, db, c.reception)
    theirs, them = await make_patient(client, db, c.reception, email="them@example.org", family="Other")
    free = resources(await slots(client, me, schedule_query(c, c.consult)))
    refused = await post(client, me, appointment_body(free[0]["id"], theirs["id"]))
    assert error_code(assert_outcome(refused, 404, "not-found")) == "patient_not_found"
    assert await appointment_rows(db) == 0
    denied = await audit_events(db, action="appointment.access_denied", patient_id=uuid.UUID(theirs["id"]))
    assert len(denied) == 1  # written in a transaction of its own, the booking rolled back
    # Their own booking is theirs alone.
    resp = await post(client, them, appointment_body(free[0]["id"]))  # no participant: their own record
    assert resp.status_code == 201, resp.text
    theirs_booked = resp.json()
    assert f"Patient/{theirs['id']}" in [p["actor"]["reference"] for p in theirs_booked["participant"]]
    assert_outcome(await client.get(f"/fhir/Appointment/{theirs_booked['id']}", headers=me), 404, "not-found")
    peek = (await client.get(f"/fhir/Appointment?patient=Patient/{theirs['id']}", headers=me)).json()
    assert peek["total"] == 0 and resources(peek) == []
    # Staff without appointments:write cannot book; without appointments:read cannot even search.
    billing = await headers_for(client, db, "billing")
    assert_outcome(
        await post(client, billing, appointment_body(free[1]["id"], theirs["id"])), 403, "forbidden"
    )
    pharmacist = await headers_for(client, db, "pharmacist")
    assert_outcome(await client.get(f"/fhir/Slot?{schedule_query(c)}", headers=pharmacist), 403, "forbidden")
    assert_outcome(await client.get(f"/fhir/Schedule/{c.staff_id}", headers=pharmacist), 403, "forbidden")
    for query in ("", f"?patient=Patient/{theirs['id']}", "?patient=Patient/nope", "?status=proposed"):
        assert_outcome(await client.get(f"/fhir/Appointment{query}", headers=pharmacist), 403, "forbidden")
    nowhere = "/fhir/Slot?schedule=Schedule/nope&start=eq2027-01-04"
    assert_outcome(await client.get(nowhere, headers=pharmacist), 403)
    assert_outcome(
        await client.get("/fhir/Slot?schedule=x&start=ge2026", headers=httpx.Headers()), 401, "login"
    )
    assert await appointment_rows(db) == 1


async def test_reception_books_for_anyone_and_retries_are_safe(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    patient, _ = await make_patient(client, db, c.reception)
    slot = resources(await slots(client, c.reception, schedule_query(c, c.consult)))[0]
    body = appointment_body(slot["id"], patient["id"], status="proposed", comment="Follow-up")
    key = {"Idempotency-Key": f"fhir-{uuid.uuid4()}"}
    first = await post(client, c.reception, body, **key)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "booked" and first.json()["reasonCode"] == [{"text": "Follow-up"}]
    again = await post(client, c.reception, body, **key)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert await appointment_rows(db) == 1
    native = (await client.get(f"/api/appointments/{first.json()['id']}", headers=c.reception)).json()
    assert native["booked_online"] is False
    # Staff must name the patient.
    outcome = assert_outcome(await post(client, c.reception, appointment_body(slot["id"])), 400)
    assert error_code(outcome) == "patient_required"


async def test_bad_ids_dates_and_bodies_are_operation_outcomes_and_write_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    slot = resources(await slots(client, me, schedule_query(c, c.consult)))[0]
    staff = c.reception

    # Reads of ids that are not ours: 404.
    tampered = slot["id"][:-1] + ("a" if slot["id"][-1] != "a" else "b")
    bad_ids = (
        "Slot/not-a-slot", f"Slot/{slot['id'].upper()}", f"Slot/{tampered}", f"Slot/{slot['id']}x",
        f"Slot/{sm.slot_id(c.staff_id, uuid.uuid4(), at(slot['start']))}",  # no such type
        f"Slot/{sm.slot_id(uuid.uuid4(), uuid.UUID(c.consult['id']), at(slot['start']))}",  # nobody
        f"Slot/{sm.slot_id(c.staff_id, uuid.UUID(c.consult['id']), next_local(3, '03:00'))}",  # outside hours
        f"Slot/{sm.slot_id(c.staff_id, uuid.UUID(c.consult['id']), next_local(3, '09:10'))}",  # off the grid
        "Schedule/not-a-uuid", f"Schedule/{uuid.uuid4()}", "Appointment/nope", f"Appointment/{uuid.uuid4()}",
    )  # fmt: skip
    for url in bad_ids:
        outcome = assert_outcome(await client.get(f"/fhir/{url}", headers=staff), 404, "not-found")
        assert error_code(outcome) == f"{url.split('/')[0].lower()}_not_found", url

    # Searches that are unscoped, unbounded or malformed: 400 with a reason.
    week = f"start=ge{iso(next_local(1, '00:00'))}&start=lt{iso(next_local(8, '00:00'))}"
    refusals = {
        f"schedule=Schedule/{c.staff_id}": "unbounded_search",
        f"schedule=Schedule/{c.staff_id}&start=lt2027-01-01": "unbounded_search",
        week: "slot_scope_required",
        f"schedule=Schedule/{c.staff_id}&start=geyesterday&start=lt2027-01-01": "invalid_search",
        f"schedule=Schedule/{c.staff_id}&start=ge2027-02-01&start=lt2027-01-01": "invalid_window",
        f"schedule=Schedule/{c.staff_id}&start=ge2027-01-01&start=lt2027-06-01": "window_too_long",
        f"schedule=Schedule/{c.staff_id}&status=busy&{week}": "unsupported_slot_status",
        f"schedule=Schedule/{c.staff_id}&{week}&_offset=990&_count=50": "paging_too_deep",
        f"schedule=Schedule/{c.staff_id}&{week}&date=2027": "unsupported_search_parameter",
        # Instants are between 1900 and 2200 (the end of the calendar is not a 500).
        f"schedule=Schedule/{c.staff_id}&start=ge0001-01-01&start=lt9999-12-31": "date_out_of_range",
        f"schedule=Schedule/{c.staff_id}&start=ge9999-12-30&start=lt9999-12-31": "date_out_of_range",
        f"schedule=Schedule/{c.staff_id}&start=ge9999-12-31": "date_out_of_range",
        f"schedule=Schedule/{c.staff_id}&start=gt9999-12-31T23:59:59Z": "date_out_of_range",
        f"schedule=Schedule/{c.staff_id}&start=eq9999": "date_out_of_range",
        f"schedule=Schedule/{c.staff_id}&start=ge1899-12-31&start=lt1900-01-05": "date_out_of_range",
        f"schedule=Schedule/{c.staff_id}&start=ge0001-01-01T00:00:00%2B01:00": "date_out_of_range",
    }
    for query, code in refusals.items():
        outcome = assert_outcome(await client.get(f"/fhir/Slot?{query}", headers=staff), 400, "invalid")
        assert error_code(outcome) == code, query
    unbounded = assert_outcome(await client.get(f"/fhir/Slot?schedule={c.staff_id}", headers=staff), 400)
    assert "bounded start range" in unbounded["issue"][0]["diagnostics"]
    for query in ("date=soon", "status=maybe", "actor=Location/1", "patient=Patient/1&patient=Patient/2"):
        assert_outcome(await client.get(f"/fhir/Appointment?{query}", headers=staff), 400, "invalid")
    for query in ("date=lt0001-01-01", "date=9999-12-31", "date=ge1800", "date=gt9999-12-31T23:59:59Z"):
        outcome = assert_outcome(
            await client.get(f"/fhir/Appointment?{query}", headers=staff), 400, "invalid"
        )
        assert error_code(outcome) == "date_out_of_range", query
    # A slot id packing a start past the year 9999 (or past 2200) is no slot of ours.
    for minutes in (
        2**32 - 1,
        int((datetime(2200, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() // 60),
    ):
        raw = struct.pack(">B16s16sI", 1, c.staff_id.bytes, uuid.UUID(c.consult["id"]).bytes, minutes)
        far = base64.b32encode(raw).decode().rstrip("=").lower()
        assert_outcome(await client.get(f"/fhir/Slot/{far}", headers=staff), 404, "not-found")
        outcome = assert_outcome(
            await post(client, staff, appointment_body(far, patient["id"])), 400, "invalid"
        )
        assert error_code(outcome) == "invalid_resource"
    assert_outcome(await client.get("/fhir/Schedule?active=perhaps", headers=staff), 400, "invalid")
    # A schedule reference that cannot be ours matches nothing.
    assert (await slots(client, staff, f"schedule=Schedule/nope&{week}"))["total"] == 0

    # Bodies: 400 naming the element (or the native refusal), 415 for another media type.
    sid = slot["id"]
    past = sm.slot_id(c.staff_id, uuid.UUID(c.consult["id"]), next_local(-2, "10:00"))
    off_hours = sm.slot_id(c.staff_id, uuid.UUID(c.consult["id"]), next_local(3, "03:00"))
    ghost = sm.slot_id(c.staff_id, uuid.uuid4(), at(slot["start"]))
    participant = "Appointment.participant[0]"
    bodies: list[tuple[Any, str, str | None]] = [
        ({**appointment_body(sid, patient["id"]), "slot": []}, "invalid_resource", "Appointment.slot"),
        (appointment_body("nope", patient["id"]), "invalid_resource", "Appointment.slot[0].reference"),
        (appointment_body(tampered, patient["id"]), "invalid_resource", "Appointment.slot[0].reference"),
        ({**appointment_body(sid, patient["id"]), "slot": [{"reference": f"Schedule/{c.staff_id}"}]},
         "invalid_resource", "Appointment.slot[0].reference"),
        (appointment_body(ghost, patient["id"]), "invalid_resource", "Appointment.slot[0].reference"),
        (appointment_body(sid, patient["id"], status="cancelled"), "invalid_resource", "Appointment.status"),
        (appointment_body(sid, "not-a-uuid"), "invalid_resource", f"{participant}.actor.reference"),
        (appointment_body(sid, patient["id"], start=iso(at(slot["start"]) + timedelta(minutes=5))),
         "invalid_resource", "Appointment.start"),
        (appointment_body(sid, patient["id"], end=iso(at(slot["start"]) + timedelta(minutes=20))),
         "invalid_resource", "Appointment.end"),
        (appointment_body(sid, patient["id"], start="tomorrow"), "invalid_resource", "Appointment.start"),
        ({**appointment_body(sid, patient["id"]),
          "participant": [{"actor": {"reference": f"Practitioner/{uuid.uuid4()}"}}]},
         "invalid_resource", "Appointment.participant[0].actor.reference"),
        ({**appointment_body(sid, patient["id"]), "participant": [{"actor": {"reference": "Location/1"}}]},
         "invalid_resource", "Appointment.participant[0].actor.reference"),
        (appointment_body(sid, patient["id"], reasonCode=[{"text": "x" * 501}]), "invalid_resource", None),
        ({"resourceType": "Patient"}, "invalid_resource", "resourceType"),
        ([], "invalid_resource", None),
        (appointment_body(past, patient["id"]), "in_past", None),
        (appointment_body(off_hours, patient["id"]), "outside_hours", None),
    ]  # fmt: skip
    for body, code, path in bodies:
        outcome = assert_outcome(await post(client, staff, body), 400, "invalid")
        assert error_code(outcome) == code, (body, outcome)
        if path is not None:
            assert outcome["issue"][0].get("expression") == [path], (body, outcome)
    raw = await client.post("/fhir/Appointment", content=b"{nope", headers={**staff, **FHIR})
    assert error_code(assert_outcome(raw, 400)) == "malformed_json"
    xml = await client.post(
        "/fhir/Appointment", content=b"<Appointment/>", headers={**staff, "Content-Type": "application/xml"}
    )
    assert_outcome(xml, 415)
    assert await appointment_rows(db) == 0


async def test_refusals_from_the_clinicians_record_keep_their_native_status(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    patient, _ = await make_patient(client, db, c.reception)
    lapsed = await make_clinician(
        db,
        family="Lapsed",
        email="lapsed@hospital.test",
        licences=[{"kind": "licence", "code": {"code": "GMC"}, "number": "L-1", "valid_from": "2020-01-01",
                   "valid_to": str(next_local(1, "12:00").date())}],
    )  # fmt: skip
    await add_hours(client, c.reception, lapsed, type_ids=[c.consult["id"]])
    # Free-slot search already leaves the days without a licence out...
    assert (await slots(client, c.reception, f"schedule=Schedule/{lapsed}&{day_window(3)}"))["total"] == 0
    sid = sm.slot_id(lapsed, uuid.UUID(c.consult["id"]), next_local(3, "10:00"))
    unavailable = (await client.get(f"/fhir/Slot/{sid}", headers=c.reception)).json()
    assert_valid(unavailable)
    assert unavailable["status"] == "busy-unavailable"
    # ...and booking such a slot anyway is the native refusal.
    refused = await post(client, c.reception, appointment_body(sid, patient["id"]))
    assert error_code(assert_outcome(refused, 409, "conflict")) == "licence_expired"
    assert await appointment_rows(db) == 0


async def test_status_changes_and_waitlist_offers_map_to_fhir_statuses(
    client: httpx.AsyncClient, db: Database
) -> None:
    c = await clinic(client, db)
    holder, holder_h = await make_patient(client, db, c.reception)
    waiting, waiting_h = await make_patient(client, db, c.reception, email="wait@example.org", family="Waits")
    slot = resources(await slots(client, holder_h, schedule_query(c, c.consult, days_ahead=4)))[0]
    booked = (await post(client, holder_h, appointment_body(slot["id"]))).json()
    r = await client.post(
        "/api/appointments/waitlist",
        json={"type_id": c.consult["id"], "earliest": str(next_local(1, "12:00").date()),
              "latest": str(next_local(10, "12:00").date())},
        headers=waiting_h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    cancel = await client.post(
        f"/api/appointments/{booked['id']}/cancel", json={"reason": "Feeling better"}, headers=holder_h
    )
    assert cancel.status_code == 200, cancel.text
    cancelled = (await client.get(f"/fhir/Appointment/{booked['id']}", headers=holder_h)).json()
    assert_valid(cancelled)
    assert cancelled["status"] == "cancelled" and cancelled["cancelationReason"] == {"text": "Feeling better"}
    # The freed slot is held for the waiting patient: a pending appointment awaiting them.
    offers = (await client.get("/fhir/Appointment?status=pending", headers=waiting_h)).json()
    assert_valid(offers)
    (offer,) = resources(offers)
    assert offer["slot"] == booked["slot"] and offer["start"] == booked["start"]
    patient_part = next(p for p in offer["participant"] if p["actor"]["reference"].startswith("Patient/"))
    assert patient_part == {
        "actor": {"reference": f"Patient/{waiting['id']}", "display": patient_part["actor"]["display"]},
        "required": "required",
        "status": "needs-action",
    }
    held = (await client.get(f"/fhir/Slot/{slot['id']}", headers=c.reception)).json()
    assert held["status"] == "busy-tentative"
    assert holder["id"] != waiting["id"]


@pytest.mark.parametrize(
    ("ours", "fhir"),
    [("offered", "pending"), ("booked", "booked"), ("checked_in", "arrived"), ("completed", "fulfilled"),
     ("no_show", "noshow"), ("cancelled", "cancelled")],
)  # fmt: skip
def test_every_status_maps_to_a_valid_appointment(ours: str, fhir: str) -> None:
    start = datetime(2027, 3, 28, 0, 30, tzinfo=UTC)
    now = datetime(2027, 3, 1, tzinfo=UTC)
    read = aps.AppointmentRead(
        id=uuid.uuid4(), status=ours, start=start, end=start + timedelta(minutes=45), local_start="x",
        local_end="x", timezone="Europe/London", mode="in_person",
        type=aps.TypeBrief(id=uuid.uuid4(), code="GP45", name="Long consultation", duration_minutes=45,
                           mode="in_person"),
        staff=aps.PersonBrief(id=uuid.uuid4(), display_name="Dr. Grace Okafor"),
        patient=aps.PersonBrief(id=uuid.uuid4(), display_name=""), reason=None, room_id=None,
        booked_online=False, offer_expires_at=None, waitlist_entry_id=None, checked_in_at=None,
        completed_at=None, cancelled_at=None, cancel_reason="Clinic closed", sequence=0, created_at=now,
        updated_at=now, change_deadline=start - timedelta(hours=24), actions=[],
    )  # fmt: skip
    resource = sm.appointment_to_fhir(read)
    assert_valid(resource)
    assert resource["status"] == fhir and resource["minutesDuration"] == 45
    assert ("cancelationReason" in resource) == (ours == "cancelled")
    assert resource["participant"][0]["actor"] == {"reference": f"Patient/{read.patient.id}"}
    assert sm.parse_slot_id(resource["slot"][0]["reference"].split("/")[1]) == sm.SlotKey(
        read.staff.id, read.type.id, start
    )


def test_slot_ids_are_stable_canonical_and_fit_fhir() -> None:
    staff, kind = uuid.uuid4(), uuid.uuid4()
    start = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    sid = sm.slot_id(staff, kind, start)
    assert sid == sm.slot_id(staff, kind, start.astimezone(datetime.now().astimezone().tzinfo))
    assert len(sid) == 60 and sid.isalnum() and sid == sid.lower()
    assert sm.parse_slot_id(sid) == sm.SlotKey(staff, kind, start)
    for bad in ("", sid[:-1], sid + "a", sid.upper(), sid[:-1] + "1", sid[:-1] + "8", "é" * 60, "=" * 60):
        assert sm.parse_slot_id(bad) is None, bad


# --- the same atomicity as the native booking, under real concurrency ---------------------------


async def test_simultaneous_fhir_bookings_of_one_slot_give_one_appointment(
    fresh_database_url: str, broker: Any
) -> None:
    contenders = 40
    async with fresh_app(fresh_database_url, broker) as (fresh, database):
        c = await clinic(fresh, database)
        patients = await _patients(fresh, c.reception, contenders)
        slot = resources(await slots(fresh, c.reception, schedule_query(c, c.consult, days_ahead=4)))[3]
        responses = await asyncio.gather(
            *(post(fresh, c.reception, appointment_body(slot["id"], pid)) for pid in patients)
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * (contenders - 1), [
            r.text for r in responses if r.status_code not in (201, 409)
        ]
        for r in responses:
            if r.status_code == 409:
                assert error_code(assert_outcome(r, 409, "conflict")) == "slot_taken"
        assert await count(database, Appointment) == 1
        assert slot["id"] not in [
            s["id"]
            for s in resources(await slots(fresh, c.reception, schedule_query(c, c.consult, days_ahead=4)))
        ]
