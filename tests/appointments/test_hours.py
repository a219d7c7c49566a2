"""A clinician's weekly hours never overlap: a second set of hours on the same weekday that
meets the first (on a day both are valid) is 409 ``hours_overlap``, naming the hours it meets,
and nothing is written; decided under the clinician's row lock, also under concurrency."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from app.appointments.models import ClinicHours
from tests.appointments.helpers import LONDON, clinic, count, iso, make_clinician, next_local
from tests.patients.helpers import assert_error, fresh_app

HOURS = "/api/appointments/hours"


def _hours(staff_id: object, weekday: int, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {
        "staff_id": str(staff_id),
        "weekday": weekday,
        "start_time": start,
        "end_time": end,
        "valid_from": "2026-01-01",
        **extra,
    }


async def test_overlapping_hours_are_refused_and_adjacent_or_disjoint_ones_added(client, db):
    c = await clinic(client, db, weekdays=[])  # a clinician without hours yet
    wednesday = await client.post(HOURS, json=_hours(c.staff_id, 2, "09:00", "12:00"), headers=c.reception)
    assert wednesday.status_code == 201, wednesday.text
    first = wednesday.json()

    for start, end in (("11:00", "13:00"), ("08:00", "09:30"), ("10:00", "11:00"), ("08:00", "18:00")):
        err = assert_error(
            await client.post(HOURS, json=_hours(c.staff_id, 2, start, end), headers=c.reception),
            409,
            "hours_overlap",
        )
        assert err["details"] == {
            "hours_id": first["id"],
            "weekday": 2,
            "start_time": "09:00",
            "end_time": "12:00",
            "valid_from": "2026-01-01",
            "valid_to": None,
        }
        assert "Wednesday hours 09:00-12:00 (from 2026-01-01)" in err["message"], err
    assert await count(db, ClinicHours, staff_id=c.staff_id) == 1

    # Touching is not overlapping; another weekday, another clinician, or hours that end before
    # these begin to apply are fine.
    other = await make_clinician(db, family="Other", email="other@hospital.test")
    for body in (
        _hours(c.staff_id, 2, "12:00", "13:00"),
        _hours(c.staff_id, 2, "07:00", "09:00"),
        _hours(c.staff_id, 3, "09:00", "12:00"),
        _hours(other, 2, "09:00", "12:00"),
    ):
        made = await client.post(HOURS, json=body, headers=c.reception)
        assert made.status_code == 201, made.text
    later = _hours(c.staff_id, 4, "09:00", "12:00", valid_from="2027-01-01")
    assert (await client.post(HOURS, json=later, headers=c.reception)).status_code == 201
    earlier = _hours(c.staff_id, 4, "10:00", "11:00", valid_to="2026-12-31")
    assert (await client.post(HOURS, json=earlier, headers=c.reception)).status_code == 201
    # ... but not when the dates meet.
    meets = _hours(c.staff_id, 4, "10:00", "11:00", valid_from="2026-06-01", valid_to="2027-01-01")
    assert_error(await client.post(HOURS, json=meets, headers=c.reception), 409, "hours_overlap")

    # A change that would make hours overlap is refused too, and leaves them as they were.
    noon = next(
        h
        for h in (await client.get(HOURS, params={"staff_id": str(c.staff_id)}, headers=c.reception)).json()
        if h["weekday"] == 2 and h["start_time"] == "12:00:00"
    )
    moved = await client.patch(f"{HOURS}/{noon['id']}", json={"start_time": "11:30"}, headers=c.reception)
    assert_error(moved, 409, "hours_overlap")
    again = await client.get(HOURS, params={"staff_id": str(c.staff_id)}, headers=c.reception)
    assert {
        (h["weekday"], h["start_time"], h["end_time"]) for h in again.json() if h["id"] == noon["id"]
    } == {(2, "12:00:00", "13:00:00")}
    # Changing hours within their own time (or a note) is no overlap with themselves.
    ok = await client.patch(
        f"{HOURS}/{first['id']}", json={"end_time": "11:30", "note": "Short day"}, headers=c.reception
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["end_time"] == "11:30:00"


async def test_slots_of_touching_hours_are_one_run_without_duplicates(client, db):
    c = await clinic(client, db, weekdays=[])
    weekday = (datetime.now(LONDON).date() + timedelta(days=7)).weekday()
    for start, end in (("09:00", "10:00"), ("10:00", "11:00")):
        made = await client.post(HOURS, json=_hours(c.staff_id, weekday, start, end), headers=c.reception)
        assert made.status_code == 201, made.text
    r = await client.get(
        "/api/appointments/slots",
        params={
            "type_id": c.consult["id"],
            "staff_id": str(c.staff_id),
            "start": iso(next_local(7, "09:00")),
            "end": iso(next_local(7, "12:00")),
        },
        headers=c.reception,
    )
    assert r.status_code == 200, r.text
    starts = [s["local_start"][11:16] for s in r.json()["items"]]
    assert starts == ["09:00", "09:30", "10:00", "10:30"]


async def test_concurrent_overlapping_hours_one_wins(fresh_database_url, broker):
    async with fresh_app(fresh_database_url, broker) as (client, database):
        c = await clinic(client, database, weekdays=[])
        bodies = [_hours(c.staff_id, 1, f"{9 + i % 3:02d}:00", f"{12 + i % 3:02d}:00") for i in range(12)]
        responses = await asyncio.gather(*(client.post(HOURS, json=b, headers=c.reception) for b in bodies))
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: 1, 409: 11}, [r.text for r in responses if r.status_code not in (201, 409)]
        codes = Counter(r.json()["error"]["code"] for r in responses if r.status_code == 409)
        assert codes == {"hours_overlap": 11}
        assert await count(database, ClinicHours, staff_id=c.staff_id) == 1
