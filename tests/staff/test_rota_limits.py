"""A week of many shifts answers briefly; local times that do not exist or happen twice; local
times in rota answers carry the facility's offset."""

from __future__ import annotations

from typing import Any

import httpx

from app.db import Database
from app.staff.models import Shift
from app.staff.schemas import MAX_WEEK_SHIFTS
from tests.patients.helpers import assert_error
from tests.staff.helpers import api_staff, count_rows


def _week(w: dict[str, Any], n: int) -> dict[str, Any]:
    item = {"staff_id": w["ann"], "date": "2027-01-12", "definition_id": w["defs"]["Early"]}
    return {"department_id": w["dept"], "week_start": "2027-01-11", "shifts": [item] * n}


async def test_a_full_week_of_one_duplicated_shift_gets_a_short_refusal(
    client: httpx.AsyncClient, db: Database, ward: dict[str, Any]
) -> None:
    # Every copy clashes with every other: listing them all was quadratic (300 copies: 10 MB).
    r = await client.post("/api/staff/rota/week", json=_week(ward, MAX_WEEK_SHIFTS), headers=ward["rota"])
    err = assert_error(r, 409, "rota_violations")
    assert len(r.content) < 150_000
    details = err["details"]
    assert details["total"] == MAX_WEEK_SHIFTS and details["truncated"] is True
    assert len(details["items"]) == 100
    assert [i["index"] for i in details["items"]] == list(range(100))
    for item in details["items"]:
        (overlap,) = item["violations"]
        assert overlap["code"] == "shift_overlap"
        assert len(overlap["conflicts_with"]) == 5
        assert overlap["conflicts_total"] == MAX_WEEK_SHIFTS - 1
        assert item["index"] not in [c["index"] for c in overlap["conflicts_with"]]
    assert await count_rows(db, Shift) == 0


async def test_more_shifts_than_a_week_can_hold_is_a_short_validation_error(
    client: httpx.AsyncClient, db: Database, ward: dict[str, Any]
) -> None:
    r = await client.post("/api/staff/rota/week", json=_week(ward, 2000), headers=ward["rota"])
    err = assert_error(r, 422, "validation_error")
    assert len(r.content) < 2_000
    assert err["details"][0]["loc"] == ["body", "shifts"]
    assert (await client.get("/health")).status_code == 200
    assert await count_rows(db, Shift) == 0


async def test_a_busy_but_valid_week_is_saved(client: httpx.AsyncClient, ward: dict[str, Any]) -> None:
    # 60 people, each on an early every weekday: 300 shifts, no rule broken.
    people = [
        (await api_staff(client, ward["admin"], f"Staff{i:02d}", department_id=ward["dept"]))["id"]
        for i in range(60)
    ]
    days = [f"2027-01-{d}" for d in range(11, 16)]
    shifts = [
        {"staff_id": p, "date": d, "definition_id": ward["defs"]["Early"]} for p in people for d in days
    ]
    body = {"department_id": ward["dept"], "week_start": "2027-01-11", "shifts": shifts}
    r = await client.post("/api/staff/rota/week", json=body, headers=ward["rota"])
    assert r.status_code == 201, r.text[:500]
    created = r.json()["created"]
    assert len(created) == 300
    # Winter: the facility's offset is written out, like the appointments' local times.
    assert {c["local_start"] for c in created if c["date"] == "2027-01-11"} == {"2027-01-11T07:00:00+00:00"}


async def test_a_time_in_the_spring_gap_is_refused_with_its_own_code(
    client: httpx.AsyncClient, db: Database, ward: dict[str, Any]
) -> None:
    h = ward["rota"]
    body = {
        "staff_id": ward["ann"],
        "department_id": ward["dept"],
        "date": "2027-03-28",
        "start_time": "01:30",
        "end_time": "02:30",
    }
    err = assert_error(
        await client.post("/api/staff/shifts", json=body, headers=h), 400, "nonexistent_local_time"
    )
    assert "01:30 does not exist on 2027-03-28 in Europe/London" in err["message"]
    assert err["details"] == {"date": "2027-03-28", "time": "01:30", "timezone": "Europe/London"}
    # A definition starting inside the gap names the definition.
    r = await client.post(
        "/api/staff/shift-definitions",
        json={"name": "Small hours", "start_time": "01:30", "end_time": "09:00"},
        headers=h,
    )
    small = r.json()["id"]
    from_def = {
        "staff_id": ward["ann"],
        "department_id": ward["dept"],
        "date": "2027-03-28",
        "definition_id": small,
    }
    err = assert_error(
        await client.post("/api/staff/shifts", json=from_def, headers=h), 400, "nonexistent_local_time"
    )
    assert "'Small hours'" in err["message"]
    # In a week, it is that item's problem.
    week = {
        "department_id": ward["dept"],
        "week_start": "2027-03-22",
        "shifts": [
            {"staff_id": ward["ann"], "date": "2027-03-23", "definition_id": ward["defs"]["Early"]},
            {"staff_id": ward["ann"], "date": "2027-03-28", "start_time": "01:30", "end_time": "02:30"},
        ],
    }
    err = assert_error(
        await client.post("/api/staff/rota/week", json=week, headers=h), 409, "rota_violations"
    )
    assert [(i["index"], [v["code"] for v in i["violations"]]) for i in err["details"]["items"]] == [
        (1, ["nonexistent_local_time"])
    ]
    assert await count_rows(db, Shift) == 0
    # The same times on another day are fine.
    ok = await client.post("/api/staff/shifts", json={**body, "date": "2027-03-29"}, headers=h)
    assert ok.status_code == 201, ok.text
    assert ok.json()["shift"]["local_start"] == "2027-03-29T01:30:00+01:00"


async def test_a_repeated_autumn_time_is_its_first_occurrence(
    client: httpx.AsyncClient, ward: dict[str, Any]
) -> None:
    body = {
        "staff_id": ward["ann"],
        "department_id": ward["dept"],
        "date": "2027-10-31",
        "start_time": "01:30",
        "end_time": "03:00",
    }
    r = await client.post("/api/staff/shifts", json=body, headers=ward["rota"])
    assert r.status_code == 201, r.text
    got = r.json()["shift"]
    assert got["local_start"] == "2027-10-31T01:30:00+01:00" and got["starts_at"] == "2027-10-31T00:30:00Z"
    assert got["local_end"] == "2027-10-31T03:00:00+00:00" and got["minutes"] == 150
