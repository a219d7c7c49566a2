"""Personal calendar feeds: a secret URL (only its hash stored), the .ics holds shifts, leave
and registered sources' events, rotation and revocation, who may manage a feed, audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import icalendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.kit.ical import CalendarEvent
from app.staff import service
from app.staff.feeds import token_hash
from app.staff.models import CalendarFeed
from tests.conftest import bearer, login, make_user
from tests.patients.helpers import assert_error, audit_events, headers_for
from tests.staff.helpers import api_definitions, api_department, api_staff


async def _setup(client: httpx.AsyncClient, db: Database) -> dict[str, Any]:
    admin = await headers_for(client, db, "admin")
    rota = await headers_for(client, db, "receptionist")
    username = f"doc-{uuid.uuid4().hex[:6]}"
    user_id = await make_user(db, role="doctor", username=username)
    dept = await api_department(client, admin, f"D{uuid.uuid4().hex[:5]}", "Cardiology")
    me = await api_staff(
        client, admin, "Okafor", given=["Grace"], user_id=str(user_id), department_id=dept["id"]
    )
    defs = await api_definitions(client, rota)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    r = await client.post(
        "/api/staff/shifts",
        json={
            "staff_id": me["id"],
            "department_id": dept["id"],
            "date": tomorrow.isoformat(),
            "definition_id": defs["Early"],
        },
        headers=rota,
    )
    assert r.status_code == 201, r.text
    r2 = await client.post(
        "/api/staff/leave",
        json={
            "staff_id": me["id"],
            "kind": "annual",
            "start_date": (tomorrow + timedelta(days=10)).isoformat(),
            "end_date": (tomorrow + timedelta(days=12)).isoformat(),
        },
        headers=rota,
    )
    assert r2.status_code == 201, r2.text
    return {
        "admin": admin,
        "rota": rota,
        "me": me["id"],
        "doctor": bearer(await login(client, username)),
        "shift": r.json()["shift"],
        "leave": r2.json()["leave"],
    }


def _events(body: bytes) -> list[Any]:
    cal = icalendar.Calendar.from_ical(body)
    return [c for c in cal.walk("VEVENT")]


async def test_feed_lifecycle(client: httpx.AsyncClient, db: Database) -> None:
    w = await _setup(client, db)
    r = await client.get(f"/api/staff/{w['me']}/calendar-feed", headers=w["doctor"])
    assert r.json() == {"active": False, "created_at": None, "last_read_at": None}

    r = await client.post(f"/api/staff/{w['me']}/calendar-feed", headers=w["doctor"])
    assert r.status_code == 201, r.text
    created = r.json()
    token = created["token"]
    assert created["path"] == f"/api/staff/calendar-feeds/{token}.ics"
    assert created["url"] == f"http://testserver{created['path']}"
    async with db.sessionmaker() as s:
        stored = (await s.execute(select(CalendarFeed))).scalars().all()
    assert [f.token_hash for f in stored] == [token_hash(token)]  # only the hash, never the token
    assert token not in stored[0].token_hash

    r = await client.get(created["path"])  # no sign-in
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    events = _events(r.content)
    by_uid = {str(e["UID"]): e for e in events}
    shift = by_uid[f"shift-{w['shift']['id']}@hospital-hub"]
    assert str(shift["SUMMARY"]) == "Early shift · Cardiology"
    assert shift.decoded("DTSTART") == datetime.fromisoformat(w["shift"]["starts_at"])
    assert shift.decoded("DTEND") - shift.decoded("DTSTART") == timedelta(hours=8)
    leave = by_uid[f"leave-{w['leave']['id']}@hospital-hub"]
    assert str(leave["SUMMARY"]) == "Annual leave"
    cal = icalendar.Calendar.from_ical(r.content)
    assert str(cal["VERSION"]) == "2.0" and "Grace Okafor" in str(cal["X-WR-CALNAME"])

    status = (await client.get(f"/api/staff/{w['me']}/calendar-feed", headers=w["doctor"])).json()
    assert status["active"] is True and status["last_read_at"] is not None
    reads = await audit_events(db, action="staff.calendar_feed.read")
    assert len(reads) == 1 and reads[0].resource_id == w["me"]

    # Rotating: the old URL is dead, the new one works.
    r = await client.post(f"/api/staff/{w['me']}/calendar-feed", headers=w["doctor"])
    new_path = r.json()["path"]
    assert_error(await client.get(created["path"]), 404, "calendar_feed_not_found")
    assert (await client.get(new_path)).status_code == 200
    # Revoking (an administrator may too).
    assert (await client.delete(f"/api/staff/{w['me']}/calendar-feed", headers=w["admin"])).status_code == 204
    assert_error(await client.get(new_path), 404, "calendar_feed_not_found")
    assert_error(
        await client.delete(f"/api/staff/{w['me']}/calendar-feed", headers=w["admin"]),
        404,
        "calendar_feed_not_found",
    )
    assert_error(await client.get("/api/staff/calendar-feeds/short.ics"), 404, "calendar_feed_not_found")
    assert_error(
        await client.get(f"/api/staff/calendar-feeds/{'x' * 43}.ics"), 404, "calendar_feed_not_found"
    )
    actions = [e.action for e in await audit_events(db, resource_type="StaffCalendarFeed")]
    assert actions == [
        "staff.calendar_feed.create",
        "staff.calendar_feed.read",
        "staff.calendar_feed.rotate",
        "staff.calendar_feed.read",
        "staff.calendar_feed.revoke",
    ]


async def test_only_the_person_or_a_staff_writer_manages_a_feed(
    client: httpx.AsyncClient, db: Database
) -> None:
    w = await _setup(client, db)
    for role in ("doctor", "nurse", "receptionist", "patient"):
        other = await headers_for(client, db, role)
        assert_error(
            await client.post(f"/api/staff/{w['me']}/calendar-feed", headers=other), 403, "forbidden"
        )
        assert_error(
            await client.delete(f"/api/staff/{w['me']}/calendar-feed", headers=other), 403, "forbidden"
        )
    r = await client.post(f"/api/staff/{w['me']}/calendar-feed", headers=w["admin"])
    assert r.status_code == 201
    assert_error(
        await client.post(f"/api/staff/{uuid.uuid4()}/calendar-feed", headers=w["admin"]), 404, "not_found"
    )
    denied = await audit_events(db, action="staff.access_denied", resource_type="StaffCalendarFeed")
    assert len(denied) == 8


async def test_registered_sources_add_events(client: httpx.AsyncClient, db: Database) -> None:
    w = await _setup(client, db)
    calls: list[tuple[uuid.UUID, datetime, datetime]] = []

    async def bookings(
        session: AsyncSession, staff_id: uuid.UUID, start: datetime, end: datetime
    ) -> list[CalendarEvent]:
        calls.append((staff_id, start, end))
        at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        return [
            CalendarEvent(
                uid="appointment-x", start=at, end=at + timedelta(minutes=20), summary="Video visit"
            )
        ]

    async def broken(
        session: AsyncSession, staff_id: uuid.UUID, start: datetime, end: datetime
    ) -> list[CalendarEvent]:
        raise RuntimeError("source down")

    service.register_calendar_source(bookings)
    service.register_calendar_source(bookings)  # idempotent
    service.register_calendar_source(broken)
    try:
        path = (await client.post(f"/api/staff/{w['me']}/calendar-feed", headers=w["doctor"])).json()["path"]
        r = await client.get(path)
        assert r.status_code == 200
    finally:
        service.unregister_calendar_source(bookings)
        service.unregister_calendar_source(broken)
    summaries = sorted(str(e["SUMMARY"]) for e in _events(r.content))
    assert summaries == ["Annual leave", "Early shift · Cardiology", "Video visit"]
    assert len(calls) == 1
    staff_id, start, end = calls[0]
    assert str(staff_id) == w["me"]
    assert timedelta(days=209) < end - start <= timedelta(days=210)
    assert bookings not in service.calendar_sources() and broken not in service.calendar_sources()
