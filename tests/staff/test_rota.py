"""Rotas over HTTP: shift definitions, shifts with the rules (overlap, rest, leave, licence,
weekly hours), a whole week all or nothing, leave, the rota calendar, permissions, audit."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from app.db import Database
from app.staff.models import Leave, Shift
from tests.patients.helpers import assert_error, audit_events, headers_for
from tests.staff.helpers import api_staff, count_rows, licence


def shift(
    w: dict[str, Any], who: str, day: str, definition: str | None = "Early", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"staff_id": w[who], "department_id": w["dept"], "date": day, **extra}
    if definition:
        body["definition_id"] = w["defs"][definition]
    return body


async def test_definitions_are_listed_with_their_lengths(
    client: httpx.AsyncClient, ward: dict[str, Any]
) -> None:
    r = await client.get("/api/staff/shift-definitions", headers=ward["rota"])
    got = {d["name"]: d for d in r.json()}
    assert got["Night"]["crosses_midnight"] is True and got["Night"]["nominal_minutes"] == 570
    assert got["Early"]["nominal_minutes"] == 480 and got["Office"]["clinical"] is False
    r = await client.post(
        "/api/staff/shift-definitions",
        json={"name": "Early", "start_time": "06:00", "end_time": "14:00"},
        headers=ward["rota"],
    )
    assert_error(r, 409, "duplicate_definition")
    r = await client.post(
        "/api/staff/shift-definitions",
        json={"name": "Odd", "start_time": "06:00", "end_time": "06:00"},
        headers=ward["rota"],
    )
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("day", "definition", "minutes", "local_start"),
    [
        ("2026-03-28", "Night", 510, "2026-03-28T22:00:00+00:00"),
        ("2026-03-29", "Early", 480, "2026-03-29T07:00:00+01:00"),
        ("2026-10-24", "Night", 630, "2026-10-24T22:00:00+01:00"),
        ("2026-10-25", "Late", 480, "2026-10-25T14:30:00+00:00"),
    ],
)
async def test_shift_lengths_over_the_clock_changes(
    client: httpx.AsyncClient, ward: dict[str, Any], day: str, definition: str, minutes: int, local_start: str
) -> None:
    r = await client.post("/api/staff/shifts", json=shift(ward, "ann", day, definition), headers=ward["rota"])
    assert r.status_code == 201, r.text
    got = r.json()["shift"]
    assert got["minutes"] == minutes
    assert got["local_start"] == local_start
    assert got["date"] == day and got["definition_name"] == definition
    assert got["department_name"] == "Ward 7" and got["staff_name"] == "Ann Ashby"


async def test_explicit_times_cross_midnight(client: httpx.AsyncClient, ward: dict[str, Any]) -> None:
    body = shift(ward, "ann", "2026-06-01", None, start_time="20:00", end_time="02:00")
    r = await client.post("/api/staff/shifts", json=body, headers=ward["rota"])
    assert r.status_code == 201, r.text
    got = r.json()["shift"]
    assert got["starts_at"] == "2026-06-01T19:00:00Z" and got["ends_at"] == "2026-06-02T01:00:00Z"
    assert got["clinical"] is True  # the person is a clinician and no definition says otherwise
    # Both a definition and times, or half the times: 422.
    both = shift(ward, "ann", "2026-06-03", "Early", start_time="08:00", end_time="09:00")
    assert (await client.post("/api/staff/shifts", json=both, headers=ward["rota"])).status_code == 422
    half = shift(ward, "ann", "2026-06-03", None, start_time="08:00")
    assert (await client.post("/api/staff/shifts", json=half, headers=ward["rota"])).status_code == 422


async def test_refusals_have_codes_details_and_write_nothing(
    client: httpx.AsyncClient, db: Database, ward: dict[str, Any]
) -> None:
    h = ward["rota"]
    r = await client.post("/api/staff/shifts", json=shift(ward, "ann", "2026-06-01", "Early"), headers=h)
    assert r.status_code == 201
    first = r.json()["shift"]["id"]
    before = await count_rows(db, Shift)

    # The same person on an overlapping late shift.
    err = assert_error(
        await client.post("/api/staff/shifts", json=shift(ward, "ann", "2026-06-01", "Late"), headers=h),
        409,
        "shift_overlap",
    )
    assert err["details"]["violations"][0]["conflicts_with"][0]["id"] == first
    assert err["details"]["violations"][0]["conflicts_with"][0]["label"] == "Early"
    assert err["details"]["shift"]["staff_id"] == ward["ann"]

    # A night ending 07:30 on 1 June, then the early at 07:00 overlaps; a night ending the
    # day before leaves 23.5 h. Rest: an early the day after a late (22:30 -> 07:00 = 8.5 h) is
    # fine with 8 h minimum; a night starting 22:00 after an early ending 15:00 is 7 h rest.
    err = assert_error(
        await client.post("/api/staff/shifts", json=shift(ward, "ann", "2026-05-31", "Night"), headers=h),
        409,
        "shift_overlap",
    )
    r = await client.post("/api/staff/shifts", json=shift(ward, "ann", "2026-06-02", "Late"), headers=h)
    assert r.status_code == 201
    r = await client.post("/api/staff/shifts", json=shift(ward, "ann", "2026-06-03", "Early"), headers=h)
    assert r.status_code == 201, r.text
    err = assert_error(
        await client.post(
            "/api/staff/shifts",
            json=shift(ward, "ann", "2026-06-01", None, start_time="22:00", end_time="23:00"),
            headers=h,
        ),
        409,
        "insufficient_rest",
    )
    assert err["details"]["violations"][0]["min_rest_hours"] == 8
    assert err["details"]["violations"][0]["conflicts_with"][0]["id"] == first

    # Leave.
    r = await client.post(
        "/api/staff/leave",
        json={
            "staff_id": ward["ben"],
            "kind": "annual",
            "start_date": "2026-06-08",
            "end_date": "2026-06-12",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    leave_id = r.json()["leave"]["id"]
    err = assert_error(
        await client.post("/api/staff/shifts", json=shift(ward, "ben", "2026-06-12", "Night"), headers=h),
        409,
        "on_leave",
    )
    assert err["details"]["violations"][0]["conflicts_with"][0]["id"] == leave_id
    assert (
        await client.post("/api/staff/shifts", json=shift(ward, "ben", "2026-06-13"), headers=h)
    ).status_code == 201

    # Licence: lapsed on 30 June.
    lapsed = await api_staff(
        client,
        ward["admin"],
        "Cole",
        department_id=ward["dept"],
        licences=[licence("2020-01-01", "2026-06-30")],
    )
    ok = shift({**ward, "cole": lapsed["id"]}, "cole", "2026-06-29", "Early")
    assert (await client.post("/api/staff/shifts", json=ok, headers=h)).status_code == 201
    err = assert_error(
        await client.post(
            "/api/staff/shifts",
            json=shift({**ward, "cole": lapsed["id"]}, "cole", "2026-07-02", "Early"),
            headers=h,
        ),
        409,
        "licence_expired",
    )
    assert err["details"]["violations"][0]["days"] == ["2026-07-02"]
    # A night from the last licensed day runs into the first day without one.
    assert_error(
        await client.post(
            "/api/staff/shifts",
            json=shift({**ward, "cole": lapsed["id"]}, "cole", "2026-06-30", "Night"),
            headers=h,
        ),
        409,
        "licence_expired",
    )
    # A non-clinical shift needs no licence.
    office = shift({**ward, "cole": lapsed["id"]}, "cole", "2026-07-02", "Office")
    assert (await client.post("/api/staff/shifts", json=office, headers=h)).status_code == 201

    # Unknown references.
    assert_error(
        await client.post(
            "/api/staff/shifts",
            json={**shift(ward, "ann", "2026-06-20"), "staff_id": str(uuid.uuid4())},
            headers=h,
        ),
        404,
        "staff_not_found",
    )
    assert_error(
        await client.post(
            "/api/staff/shifts",
            json={**shift(ward, "ann", "2026-06-20"), "department_id": str(uuid.uuid4())},
            headers=h,
        ),
        404,
        "department_not_found",
    )
    assert_error(
        await client.post(
            "/api/staff/shifts",
            json={**shift(ward, "ann", "2026-06-20"), "definition_id": str(uuid.uuid4())},
            headers=h,
        ),
        404,
        "definition_not_found",
    )
    assert_error(
        await client.post("/api/staff/shifts", json=shift(ward, "ann", "9999-12-31"), headers=h),
        400,
        "date_out_of_range",
    )
    assert await count_rows(db, Shift) == before + 5  # only the accepted ones


async def test_weekly_hours_warn_but_do_not_refuse(client: httpx.AsyncClient, ward: dict[str, Any]) -> None:
    h = ward["rota"]
    # Six 9.5 h nights with 14.5 h between them = 57 h in the week of 1 June (limit 48).
    warnings: list[Any] = []
    for day in ("2026-06-01", "2026-06-02", "2026-06-03", "2026-06-04", "2026-06-05", "2026-06-06"):
        r = await client.post("/api/staff/shifts", json=shift(ward, "ann", day, "Night"), headers=h)
        assert r.status_code == 201, r.text
        warnings = r.json()["warnings"]
    assert warnings and warnings[0]["code"] == "weekly_hours"
    assert (
        warnings[0]["hours"] == 57
        and warnings[0]["limit"] == 48
        and warnings[0]["week_start"] == "2026-06-01"
    )
    r = await client.get(
        "/api/staff/rota",
        params={"department_id": ward["dept"], "start": "2026-06-01", "end": "2026-06-07"},
        headers=h,
    )
    assert r.status_code == 200
    assert [w["staff_id"] for w in r.json()["warnings"]] == [ward["ann"]]


async def test_update_and_delete_a_shift(
    client: httpx.AsyncClient, db: Database, ward: dict[str, Any]
) -> None:
    h = ward["rota"]
    a = (await client.post("/api/staff/shifts", json=shift(ward, "ann", "2026-06-01"), headers=h)).json()[
        "shift"
    ]
    b = (
        await client.post("/api/staff/shifts", json=shift(ward, "ben", "2026-06-01", "Late"), headers=h)
    ).json()["shift"]
    # Moving Ben's late onto Ann overlaps her early: refused, Ben keeps it.
    err = assert_error(
        await client.patch(f"/api/staff/shifts/{b['id']}", json={"staff_id": ward["ann"]}, headers=h),
        409,
        "shift_overlap",
    )
    assert err["details"]["violations"][0]["conflicts_with"][0]["id"] == a["id"]
    assert (await client.get(f"/api/staff/shifts/{b['id']}", headers=h)).json()["staff_id"] == ward["ben"]
    # A shift does not conflict with itself; moving it a day keeps its wall-clock times.
    r = await client.patch(f"/api/staff/shifts/{a['id']}", json={"date": "2026-03-29"}, headers=h)
    assert r.status_code == 200, r.text
    moved = r.json()["shift"]
    assert moved["local_start"] == "2026-03-29T07:00:00+01:00" and moved["minutes"] == 480
    assert moved["definition_name"] == "Early"
    r = await client.patch(
        f"/api/staff/shifts/{a['id']}",
        json={"definition_id": ward["defs"]["Night"], "note": "cover"},
        headers=h,
    )
    assert r.json()["shift"]["minutes"] == 570 and r.json()["shift"]["note"] == "cover"
    r = await client.delete(f"/api/staff/shifts/{a['id']}", headers=h)
    assert r.status_code == 204
    assert_error(await client.get(f"/api/staff/shifts/{a['id']}", headers=h), 404, "shift_not_found")
    actions = [e.action for e in await audit_events(db, resource_type="Shift")]
    assert (
        actions.count("shift.create") == 2
        and actions.count("shift.update") == 2
        and "shift.delete" in actions
    )


async def test_a_week_is_all_or_nothing(
    client: httpx.AsyncClient, db: Database, ward: dict[str, Any]
) -> None:
    h = ward["rota"]
    r = await client.post(
        "/api/staff/leave",
        json={
            "staff_id": ward["ben"],
            "kind": "training",
            "start_date": "2026-06-05",
            "end_date": "2026-06-05",
        },
        headers=h,
    )
    assert r.status_code == 201
    before = await count_rows(db, Shift)
    week = {
        "department_id": ward["dept"],
        "week_start": "2026-06-01",
        "shifts": [
            {"staff_id": ward["ann"], "date": "2026-06-01", "definition_id": ward["defs"]["Early"]},
            {
                "staff_id": ward["ann"],
                "date": "2026-06-01",
                "definition_id": ward["defs"]["Late"],
            },  # overlaps #0
            {"staff_id": ward["ben"], "date": "2026-06-02", "definition_id": ward["defs"]["Night"]},
            {
                "staff_id": ward["ben"],
                "date": "2026-06-03",
                "definition_id": ward["defs"]["Late"],
            },  # 7 h after the night
            {
                "staff_id": ward["ben"],
                "date": "2026-06-05",
                "definition_id": ward["defs"]["Early"],
            },  # training
            {
                "staff_id": ward["ben"],
                "date": "2026-06-09",
                "definition_id": ward["defs"]["Early"],
            },  # next week
            {"staff_id": str(uuid.uuid4()), "date": "2026-06-04", "definition_id": ward["defs"]["Early"]},
        ],
    }
    err = assert_error(
        await client.post("/api/staff/rota/week", json=week, headers=h), 409, "rota_violations"
    )
    items = {i["index"]: [v["code"] for v in i["violations"]] for i in err["details"]["items"]}
    assert items == {
        0: ["shift_overlap"],
        1: ["shift_overlap"],
        2: ["insufficient_rest"],
        3: ["insufficient_rest"],
        4: ["on_leave"],
        5: ["outside_week"],
        6: ["staff_not_found"],
    }
    assert await count_rows(db, Shift) == before  # nothing written

    good = {
        **week,
        "shifts": [week["shifts"][0], week["shifts"][2], {**week["shifts"][4], "date": "2026-06-06"}],
    }
    r = await client.post("/api/staff/rota/week", json=good, headers=h)
    assert r.status_code == 201, r.text
    assert len(r.json()["created"]) == 3 and r.json()["removed"] == []
    assert await count_rows(db, Shift) == before + 3

    # Saving the week again with replace swaps it for the new plan.
    again = {**week, "replace": True, "shifts": [{**week["shifts"][1]}]}
    r = await client.post("/api/staff/rota/week", json=again, headers=h)
    assert r.status_code == 201, r.text
    assert len(r.json()["removed"]) == 3 and r.json()["created"][0]["definition_name"] == "Late"
    assert await count_rows(db, Shift) == before + 1
    assert_error(
        await client.post("/api/staff/rota/week", json={**good, "week_start": "2026-06-02"}, headers=h),
        400,
        "invalid_week_start",
    )
    saves = await audit_events(db, action="rota.week.save")
    assert [json.loads(e.details or "{}")["created"] for e in saves] == [3, 1]


async def test_rota_groups_shifts_and_leave_by_day(client: httpx.AsyncClient, ward: dict[str, Any]) -> None:
    h = ward["rota"]
    await client.post("/api/staff/shifts", json=shift(ward, "ann", "2026-03-28", "Night"), headers=h)
    await client.post("/api/staff/shifts", json=shift(ward, "ben", "2026-03-29", "Early"), headers=h)
    await client.post(
        "/api/staff/leave",
        json={"staff_id": ward["ann"], "kind": "sick", "start_date": "2026-03-30", "end_date": "2026-03-31"},
        headers=h,
    )
    r = await client.get(
        "/api/staff/rota",
        params={"department_id": ward["dept"], "start": "2026-03-28", "end": "2026-03-31"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    rota = r.json()
    assert rota["timezone"] == "Europe/London" and rota["department"]["name"] == "Ward 7"
    days = {d["date"]: d for d in rota["days"]}
    assert list(days) == ["2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31"]
    assert [x["staff_name"] for x in days["2026-03-28"]["shifts"]] == ["Ann Ashby"]
    assert [x["definition_name"] for x in days["2026-03-29"]["shifts"]] == ["Early"]
    assert [x["kind"] for x in days["2026-03-30"]["leave"]] == ["sick"]
    assert [x["kind"] for x in days["2026-03-31"]["leave"]] == ["sick"]
    assert days["2026-03-29"]["leave"] == []
    hours = {p["display_name"]: p["weekly_hours"] for p in rota["staff"]}
    assert hours["Ann Ashby"] == {"2026-03-23": 8.5, "2026-03-30": 0.0}
    assert hours["Ann Bello"] == {"2026-03-23": 8.0, "2026-03-30": 0.0}
    assert_error(
        await client.get(
            "/api/staff/rota",
            params={"department_id": ward["dept"], "start": "2026-01-01", "end": "2026-06-01"},
            headers=h,
        ),
        400,
        "range_too_long",
    )
    r = await client.get(
        f"/api/staff/{ward['ann']}/schedule", params={"start": "2026-03-28", "end": "2026-04-03"}, headers=h
    )
    assert [x["definition_name"] for x in r.json()["shifts"]] == ["Night"] and len(r.json()["leave"]) == 1


async def test_leave_crud_and_shifts_inside_it(
    client: httpx.AsyncClient, db: Database, ward: dict[str, Any]
) -> None:
    h = ward["rota"]
    s1 = (await client.post("/api/staff/shifts", json=shift(ward, "ann", "2026-06-10"), headers=h)).json()[
        "shift"
    ]
    body = {"staff_id": ward["ann"], "kind": "sick", "start_date": "2026-06-10", "end_date": "2026-06-11"}
    err = assert_error(await client.post("/api/staff/leave", json=body, headers=h), 409, "shift_during_leave")
    assert [x["id"] for x in err["details"]["shifts"]] == [s1["id"]]
    assert await count_rows(db, Leave) == 0
    r = await client.post("/api/staff/leave", json={**body, "cancel_shifts": True}, headers=h)
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["cancelled_shifts"] == [s1["id"]]
    leave = got["leave"]
    assert leave["all_day"] and leave["start_date"] == "2026-06-10" and leave["end_date"] == "2026-06-11"
    assert leave["starts_at"] == "2026-06-09T23:00:00Z" and leave["ends_at"] == "2026-06-11T23:00:00Z"
    assert_error(await client.get(f"/api/staff/shifts/{s1['id']}", headers=h), 404, "shift_not_found")

    r = await client.patch(
        f"/api/staff/leave/{leave['id']}",
        json={
            "starts_at": "2026-06-10T08:00:00+01:00",
            "ends_at": "2026-06-10T12:00:00+01:00",
            "kind": "unavailable",
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["leave"]["kind"] == "unavailable" and r.json()["leave"]["all_day"] is False
    assert r.json()["leave"]["starts_at"] == "2026-06-10T07:00:00Z"
    r = await client.get(
        "/api/staff/leave",
        params={"staff_id": ward["ann"], "start": "2026-06-01", "end": "2026-06-30"},
        headers=h,
    )
    assert [x["id"] for x in r.json()] == [leave["id"]]
    r = await client.get(
        "/api/staff/leave",
        params={"department_id": ward["dept"], "start": "2026-06-01", "end": "2026-06-30"},
        headers=h,
    )
    assert [x["staff_name"] for x in r.json()] == ["Ann Ashby"]
    assert (await client.delete(f"/api/staff/leave/{leave['id']}", headers=h)).status_code == 204
    assert await count_rows(db, Leave) == 0
    # Bad leave: reversed days, both forms, neither.
    for bad in (
        {**body, "start_date": "2026-06-12", "end_date": "2026-06-10"},
        {**body, "starts_at": "2026-06-10T08:00:00Z", "ends_at": "2026-06-10T09:00:00Z"},
        {"staff_id": ward["ann"], "kind": "annual"},
        {**body, "kind": "holiday"},
        {
            **body,
            "start_date": None,
            "end_date": None,
            "starts_at": "2026-06-10T08:00:00",
            "ends_at": "2026-06-10T09:00:00",
        },
    ):
        assert (await client.post("/api/staff/leave", json=bad, headers=h)).status_code == 422, bad
    actions = {e.action for e in await audit_events(db, resource_type="Leave")}
    assert actions == {"leave.create", "leave.update", "leave.delete"}


@pytest.mark.parametrize("role", ["patient", "nurse", "doctor", "pharmacist"])
async def test_who_cannot_write_the_rota(
    client: httpx.AsyncClient, db: Database, ward: dict[str, Any], role: str
) -> None:
    h = await headers_for(client, db, role)
    before = await count_rows(db, Shift)
    r = await client.post("/api/staff/shifts", json=shift(ward, "ann", "2026-06-01"), headers=h)
    assert_error(r, 403, "forbidden")
    week = {"department_id": ward["dept"], "week_start": "2026-06-01", "shifts": []}
    assert_error(await client.post("/api/staff/rota/week", json=week, headers=h), 403, "forbidden")
    body = {"staff_id": ward["ann"], "kind": "annual", "start_date": "2026-06-10", "end_date": "2026-06-11"}
    assert_error(await client.post("/api/staff/leave", json=body, headers=h), 403, "forbidden")
    defn = {"name": "Mine", "start_time": "01:00", "end_time": "02:00"}
    assert_error(await client.post("/api/staff/shift-definitions", json=defn, headers=h), 403, "forbidden")
    assert await count_rows(db, Shift) == before
    denied = await audit_events(db, action="staff.access_denied")
    assert len(denied) >= 4 and all(e.outcome == "denied" for e in denied)
    # Clinicians may read the rota; patients may not.
    r = await client.get(
        "/api/staff/rota",
        params={"department_id": ward["dept"], "start": "2026-06-01", "end": "2026-06-07"},
        headers=h,
    )
    assert r.status_code == (403 if role in ("patient", "pharmacist") else 200)


async def test_a_check_answers_what_the_write_would_refuse_and_writes_nothing(
    client: httpx.AsyncClient, db: Database, ward: dict[str, Any]
) -> None:
    """The rota screen asks before it writes, so a shift the rules refuse is shown without a
    refused (409) request; the check names the same violations the write answers with."""
    h = ward["rota"]
    early = await client.post("/api/staff/shifts", json=shift(ward, "ann", "2026-06-01", "Early"), headers=h)
    assert early.status_code == 201, early.text
    early_id = early.json()["shift"]["id"]
    rows, audited = await count_rows(db, Shift), len(await audit_events(db, action="shift.create"))

    late = shift(ward, "ann", "2026-06-01", "Late")
    checked = await client.post("/api/staff/shifts/check", json=late, headers=h)
    assert checked.status_code == 200, checked.text
    answer = checked.json()
    assert answer["ok"] is False
    refused = assert_error(await client.post("/api/staff/shifts", json=late, headers=h), 409, "shift_overlap")
    assert answer["violations"] == refused["details"]["violations"]
    assert answer["violations"][0]["conflicts_with"][0]["id"] == early_id
    # A shift the rules admit: ok, and still nothing written by the check.
    fine = await client.post(
        "/api/staff/shifts/check", json=shift(ward, "ben", "2026-06-01", "Late"), headers=h
    )
    assert fine.status_code == 200 and fine.json() == {"ok": True, "violations": []}
    assert await count_rows(db, Shift) == rows
    assert len(await audit_events(db, action="shift.create")) == audited

    # Moving a shift: Ben's late onto Ann's day would overlap her early; onto another day is fine.
    ben = await client.post("/api/staff/shifts", json=shift(ward, "ben", "2026-06-01", "Late"), headers=h)
    ben_id = ben.json()["shift"]["id"]
    onto_ann = {"staff_id": ward["ann"]}
    moved = await client.post(f"/api/staff/shifts/{ben_id}/check", json=onto_ann, headers=h)
    assert moved.status_code == 200 and moved.json()["ok"] is False
    refused = assert_error(
        await client.patch(f"/api/staff/shifts/{ben_id}", json=onto_ann, headers=h), 409, "shift_overlap"
    )
    assert moved.json()["violations"] == refused["details"]["violations"]
    elsewhere = await client.post(f"/api/staff/shifts/{ben_id}/check", json={"date": "2026-06-03"}, headers=h)
    assert elsewhere.json() == {"ok": True, "violations": []}
    # Same permission as the write; an unknown shift is 404.
    nurse = await headers_for(client, db, "nurse")
    assert_error(await client.post("/api/staff/shifts/check", json=late, headers=nurse), 403, "forbidden")
    assert_error(
        await client.post(f"/api/staff/shifts/{uuid.uuid4()}/check", json={"date": "2026-06-03"}, headers=h),
        404,
        "shift_not_found",
    )
