"""Absurd instants, forged cursors and starts off a type's grid: a clear 4xx with a specific code,
never a 500, and nothing written."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

from app.appointments.models import Appointment, AppointmentLock, WaitlistEntry
from app.notifications.models import NotificationMessage
from tests.appointments.helpers import booking, clinic, count, iso, make_patient, next_local
from tests.patients.helpers import assert_error

SLOTS = "/api/appointments/slots"


async def _written(db) -> tuple[int, ...]:
    return (
        await count(db, Appointment),
        await count(db, AppointmentLock),
        await count(db, NotificationMessage),
        await count(db, WaitlistEntry),
    )


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def test_instants_out_of_range_are_refused_with_a_code(client, db):
    c = await clinic(client, db)
    patient, me = await make_patient(client, db, c.reception)
    made = await client.post(
        "/api/appointments", json=booking(c, patient["id"], next_local(4, "10:00")), headers=c.reception
    )
    assert made.status_code == 201, made.text
    before = await _written(db)

    # Bookings: instants between 1900 and 2200 at all, then at most two years ahead.
    for start, code in (
        ("9999-12-31T23:59:00Z", "date_out_of_range"),
        ("9999-12-31T23:59:00-14:00", "date_out_of_range"),
        ("0001-01-01T00:00:00Z", "date_out_of_range"),
        ("0001-01-01T00:00:00+01:00", "date_out_of_range"),  # before year 1 in UTC
        ("2200-01-01T00:00:00Z", "date_out_of_range"),
        (iso(next_local(800, "10:00")), "too_far_ahead"),
        (iso(next_local(-1, "10:00")), "in_past"),
    ):
        body = {**booking(c, patient["id"], next_local(4, "11:00")), "start": start}
        assert_error(await client.post("/api/appointments", json=body, headers=c.reception), 400, code)
        assert_error(
            await client.post(
                f"/api/appointments/{made.json()['id']}/reschedule", json={"start": start}, headers=me
            ),
            400,
            code,
        )
        assert await _written(db) == before, start

    # Searches: instants between 1900 and 2200 only.
    type_id = c.consult["id"]
    for params in (
        {"start": "0001-01-01T00:00:00Z", "end": "0001-01-05T00:00:00Z"},
        {"start": "0001-01-01T00:00:00+01:00", "end": "0001-01-05T00:00:00Z"},
        {"start": "9999-12-30T00:00:00Z", "end": "9999-12-31T00:00:00Z"},
        {"start": "9999-12-31T23:00:00Z"},
        {"start": "1899-12-31T23:59:59Z", "end": "1900-01-02T00:00:00Z"},
        {"start": "2199-12-30T00:00:00Z", "end": "2200-01-01T00:00:01Z"},
    ):
        for headers in (me, c.reception):
            resp = await client.get(SLOTS, params={"type_id": type_id, **params}, headers=headers)
            err = assert_error(resp, 400, "date_out_of_range")
            assert "1900" in err["message"] and "2200" in err["message"], err
    for params in (
        {"start": "0001-01-01T00:00:00Z"},
        {"start": "0001-01-01T00:00:00+01:00"},
        {"end": "9999-12-31T23:59:59Z"},
    ):
        assert_error(
            await client.get("/api/appointments", params=params, headers=c.doctor), 400, "date_out_of_range"
        )
    # Within the range but past the booking horizon: a search, so nothing found (not an error).
    later = await client.get(
        SLOTS, params={"type_id": type_id, "start": iso(next_local(740, "00:00"))}, headers=me
    )
    assert later.status_code == 200, later.text
    assert later.json()["items"] == [] and later.json()["next_cursor"] is None
    # ... and the horizon's last days are still offered.
    edge = await client.get(
        SLOTS, params={"type_id": type_id, "start": iso(next_local(725, "00:00"))}, headers=me
    )
    assert edge.status_code == 200 and edge.json()["items"], edge.text

    # The waitlist: its dates no further ahead than a booking could be.
    wait = {
        "type_id": type_id,
        "earliest": str(next_local(1, "12:00").date()),
        "latest": "9999-12-31",
    }
    resp = await client.post("/api/appointments/waitlist", json=wait, headers=me)
    assert_error(resp, 400, "too_far_ahead")
    assert await _written(db) == before


async def test_cursors_are_only_those_a_search_returned(client, db):
    c = await clinic(client, db)
    _patient, me = await make_patient(client, db, c.reception)
    base = {"type_id": c.consult["id"], "start": iso(next_local(2, "00:00")), "limit": 3}
    first = await client.get(SLOTS, params=base, headers=me)
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor
    second = await client.get(SLOTS, params={**base, "cursor": cursor}, headers=me)
    assert second.status_code == 200, second.text
    assert second.json()["items"][0]["start"] > first.json()["items"][-1]["start"]

    staff = str(c.staff_id)
    forged = [
        _b64(f"9999-12-31T23:59:00+00:00|{staff}"),  # the old format, pointing past the end of time
        _b64(f"{second.json()['items'][0]['start']}|{staff}"),  # the old format, plausible
        cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB"),  # tampered
        cursor + "x",
        "",
        ".",
        "a" * 200,
    ]
    for bad in forged:
        resp = await client.get(SLOTS, params={**base, "cursor": bad}, headers=me)
        assert_error(resp, 400, "invalid_cursor")
    # A cursor belongs to its search: another type or clinician is refused, not misread.
    for other in ({"type_id": c.video["id"]}, {"staff_id": str(uuid.uuid4())}):
        resp = await client.get(SLOTS, params={**base, **other, "cursor": cursor}, headers=me)
        assert resp.status_code in (400, 404), resp.text
        if resp.status_code == 400:
            assert resp.json()["error"]["code"] == "invalid_cursor"
    # A cursor past the end of a narrower window just ends the search.
    narrow = {**base, "end": iso(next_local(2, "09:05")), "cursor": cursor}
    resp = await client.get(SLOTS, params=narrow, headers=me)
    assert resp.status_code == 200, resp.text
    assert resp.json()["items"] == [] and resp.json()["next_cursor"] is None


async def test_a_start_off_the_types_grid_is_not_a_slot(client, db):
    c = await clinic(client, db)  # 09:00-17:00 every day; video visits last 20 minutes
    patient, _ = await make_patient(client, db, c.reception)
    before = await _written(db)
    for local, nearest in (
        ("10:30", ["10:20", "10:40"]),
        ("09:05", ["09:00", "09:20"]),
        ("16:50", ["16:40"]),  # would end after the hours: the last start is 16:40
    ):
        body = booking(c, patient["id"], next_local(4, local), kind=c.video)
        err = assert_error(
            await client.post("/api/appointments", json=body, headers=c.reception), 400, "not_a_slot"
        )
        assert [x[11:16] for x in err["details"]["nearest_local"]] == nearest, err
        for hhmm in nearest:
            assert hhmm in err["message"], err
    # One second (or a microsecond) off a valid start is off the grid too, and the message shows
    # the seconds it was given instead of "10:00 is not the start ...; the nearest are 10:00".
    for off, shown in ((timedelta(seconds=1), "10:00:01"), (timedelta(microseconds=1), "10:00:00.000001")):
        odd = booking(c, patient["id"], next_local(4, "10:00") + off, kind=c.video)
        err = assert_error(
            await client.post("/api/appointments", json=odd, headers=c.reception), 400, "not_a_slot"
        )
        assert err["message"].startswith(f"{shown} is not the start of a 20-minute slot"), err
        assert "(slots start on a whole minute)" in err["message"], err
        assert [x[11:16] for x in err["details"]["nearest_local"]] == ["10:00", "10:20"], err
    # Outside the hours altogether stays outside_hours.
    for local in ("08:40", "17:00", "03:00"):
        body = booking(c, patient["id"], next_local(4, local), kind=c.video)
        assert_error(
            await client.post("/api/appointments", json=body, headers=c.reception), 400, "outside_hours"
        )
    assert await _written(db) == before
    # The grid's own starts book.
    ok = await client.post(
        "/api/appointments",
        json=booking(c, patient["id"], next_local(4, "10:40"), kind=c.video),
        headers=c.reception,
    )
    assert ok.status_code == 201, ok.text


async def test_an_unknown_department_is_404_like_an_unknown_clinician(client, db):
    c = await clinic(client, db)
    _patient, me = await make_patient(client, db, c.reception)
    base = {"type_id": c.consult["id"], "start": iso(next_local(2, "00:00"))}
    for who in (me, c.reception):
        assert_error(
            await client.get(SLOTS, params={**base, "staff_id": str(uuid.uuid4())}, headers=who),
            404,
            "staff_not_found",
        )
        assert_error(
            await client.get(SLOTS, params={**base, "department_id": str(uuid.uuid4())}, headers=who),
            404,
            "department_not_found",
        )
    # A known department without bookable clinicians is an empty page, not an error.
    made = await client.post(
        "/api/staff/departments", json={"code": "EMPTY", "name": "Empty"}, headers=c.admin
    )
    assert made.status_code == 201, made.text
    empty = await client.get(SLOTS, params={**base, "department_id": made.json()["id"]}, headers=me)
    assert empty.status_code == 200, empty.text
    assert empty.json()["items"] == []
