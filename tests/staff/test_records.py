"""Staff records over HTTP: departments, create/update, employment history, licences, the
expiring-licences report, self-service reading, permissions and audit."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx

from app.db import Database
from tests.conftest import bearer, login, make_user
from tests.patients.helpers import assert_error, audit_events, headers_for
from tests.staff.helpers import api_department, api_staff, licence


async def test_departments(client: httpx.AsyncClient, db: Database) -> None:
    admin = await headers_for(client, db, "admin")
    dept = await api_department(client, admin, "CARD", "Cardiology")
    assert_error(
        await client.post("/api/staff/departments", json={"code": "CARD", "name": "Again"}, headers=admin),
        409,
        "duplicate_department",
    )
    assert (
        await client.post("/api/staff/departments", json={"code": "has space", "name": "X"}, headers=admin)
    ).status_code == 422
    r = await client.patch(
        f"/api/staff/departments/{dept['id']}", json={"name": "Cardiology & Vascular"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["name"] == "Cardiology & Vascular"
    reader = await headers_for(client, db, "nurse")
    r = await client.get("/api/staff/departments", headers=reader)
    assert [d["code"] for d in r.json()] == ["CARD"]
    assert_error(
        await client.post("/api/staff/departments", json={"code": "X", "name": "X"}, headers=reader),
        403,
        "forbidden",
    )
    assert_error(
        await client.get(f"/api/staff/departments/{uuid.uuid4()}", headers=reader),
        404,
        "department_not_found",
    )
    assert [e.action for e in await audit_events(db, resource_type="Department")] == [
        "department.create",
        "department.update",
    ]


async def test_record_with_history_and_licences(client: httpx.AsyncClient, db: Database) -> None:
    admin = await headers_for(client, db, "admin")
    card = await api_department(client, admin, "CARD", "Cardiology")
    ed = await api_department(client, admin, "ED", "Emergency")
    user_id = await make_user(db, role="doctor", username=f"dr-{uuid.uuid4().hex[:6]}")
    created = await api_staff(
        client,
        admin,
        "Okafor",
        given=["Grace"],
        prefix=["Dr."],
        department_id=card["id"],
        position="Consultant cardiologist",
        user_id=str(user_id),
        telecoms=[{"system": "email", "value": "g.okafor@hospital.test", "use": "work"}],
    )
    sid = created["id"]
    assert created["department"]["name"] == "Cardiology" and created["position"] == "Consultant cardiologist"
    assert created["clinical"] is True and created["licence_valid_today"] is True
    assert [p["title"] for p in created["positions"]] == ["Consultant cardiologist"]
    assert created["positions"][0]["current"] is True

    # The post really began years ago (a correction), then a move to the emergency department
    # yesterday: the old post ends the day before.
    r = await client.patch(
        f"/api/staff/{sid}/positions/{created['positions'][0]['id']}",
        json={"start_date": "2020-01-01"},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["start_date"] == "2020-01-01"
    start = date.today() - timedelta(days=1)
    r = await client.post(
        f"/api/staff/{sid}/positions",
        json={
            "title": "ED consultant",
            "department_id": ed["id"],
            "start_date": start.isoformat(),
            "end_previous": True,
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = await client.get(f"/api/staff/{sid}", headers=admin)
    detail = r.json()
    assert detail["department"]["code"] == "ED" and detail["position"] == "ED consultant"
    assert [(p["title"], p["current"]) for p in detail["positions"]] == [
        ("ED consultant", True),
        ("Consultant cardiologist", False),
    ]
    assert detail["positions"][1]["end_date"] == (start - timedelta(days=1)).isoformat()
    # Ending the current post.
    pid = detail["positions"][0]["id"]
    r = await client.post(
        f"/api/staff/{sid}/positions/{pid}/end",
        json={"end_date": start.isoformat()},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["current"] is False
    assert (await client.get(f"/api/staff/{sid}", headers=admin)).json()["position"] is None
    assert_error(
        await client.post(
            f"/api/staff/{sid}/positions/{pid}/end", json={"end_date": "1990-01-01"}, headers=admin
        ),
        400,
        "invalid_dates",
    )

    # Licences: add an expiring one, correct it, and see the report.
    r = await client.post(
        f"/api/staff/{sid}/licences",
        json={
            "code": {"code": "ALS", "display": "Advanced life support"},
            "number": "ALS-9",
            "valid_to": "2030-01-01",
        },
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["kind"] == "licence"
    lid = r.json()["id"]
    r = await client.patch(
        f"/api/staff/{sid}/licences/{lid}", json={"issuer": "Resus Council"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["issuer"] == "Resus Council" and r.json()["number"] == "ALS-9"
    assert_error(
        await client.patch(
            f"/api/staff/{sid}/licences/{lid}", json={"valid_from": "2031-01-01"}, headers=admin
        ),
        400,
        "invalid_dates",
    )
    assert_error(
        await client.patch(f"/api/staff/{sid}/licences/{uuid.uuid4()}", json={"issuer": "X"}, headers=admin),
        404,
        "licence_not_found",
    )

    # Update the record itself.
    r = await client.patch(
        f"/api/staff/{sid}", json={"given": ["Grace", "Adaeze"], "clinical": True}, headers=admin
    )
    assert r.status_code == 200 and r.json()["display_name"] == "Dr. Grace Adaeze Okafor"
    assert_error(
        await client.patch(f"/api/staff/{sid}", json={"department_id": str(uuid.uuid4())}, headers=admin),
        404,
        "department_not_found",
    )
    other = await api_staff(client, admin, "Other")
    assert_error(
        await client.patch(f"/api/staff/{other['id']}", json={"user_id": str(user_id)}, headers=admin),
        409,
        "user_already_linked",
    )
    # Search filters.
    r = await client.get("/api/staff", params={"department_id": ed["id"]}, headers=admin)
    assert r.json()["total"] == 0  # the post ended: no current department
    r = await client.get("/api/staff", params={"clinical": "true", "name": "okafor"}, headers=admin)
    assert [i["id"] for i in r.json()["items"]] == [sid]

    actions = [e.action for e in await audit_events(db, resource_type="Staff", resource_id=sid)]
    for action in (
        "staff.create",
        "staff.position.add",
        "staff.position.end",
        "staff.licence.add",
        "staff.licence.update",
        "staff.update",
    ):
        assert action in actions, action


async def test_self_service_read_and_permissions(client: httpx.AsyncClient, db: Database) -> None:
    admin = await headers_for(client, db, "admin")
    username = f"nurse-{uuid.uuid4().hex[:6]}"
    user_id = await make_user(db, role="nurse", username=username)
    created = await api_staff(client, admin, "Núñez", given=["Mateo"], user_id=str(user_id))
    nurse = bearer(await login(client, username))
    r = await client.get("/api/staff/me", headers=nurse)
    assert r.status_code == 200 and r.json()["id"] == created["id"]
    # A nurse reads staff but may not write records or licences.
    assert_error(
        await client.patch(f"/api/staff/{created['id']}", json={"clinical": False}, headers=nurse),
        403,
        "forbidden",
    )
    assert_error(
        await client.post(f"/api/staff/{created['id']}/licences", json=licence(), headers=nurse),
        403,
        "forbidden",
    )
    patient = await headers_for(client, db, "patient")
    # An account without a staff record is an ordinary answer, not an error (screens ask for
    # every signed-in user, and a 404 would be logged as a failed request in the browser).
    for unlinked in (patient, admin, await headers_for(client, db, "receptionist")):
        r = await client.get("/api/staff/me", headers=unlinked)
        assert r.status_code == 200 and r.json() is None, r.text
    assert_error(await client.get(f"/api/staff/{created['id']}", headers=patient), 403, "forbidden")
    assert_error(await client.post("/api/staff", json={"family": "X"}, headers=patient), 403, "forbidden")


async def test_expiring_licences_report(client: httpx.AsyncClient, db: Database) -> None:
    admin = await headers_for(client, db, "admin")
    today = date.today()

    def d(days: int) -> str:
        return (today + timedelta(days=days)).isoformat()

    soon = await api_staff(client, admin, "Soon", licences=[licence("2020-01-01", d(20))])
    later = await api_staff(client, admin, "Later", licences=[licence("2020-01-01", d(200))])
    expired = await api_staff(client, admin, "Lapsed", licences=[licence("2020-01-01", d(-3))])
    renewed = await api_staff(
        client, admin, "Renewed", licences=[licence("2020-01-01", d(10)), licence(d(11), d(1000))]
    )
    clerk_expired = await api_staff(
        client, admin, "Clerk", clinical=False, licences=[licence("2020-01-01", d(-3))]
    )
    clerk_soon = await api_staff(
        client, admin, "Clerksoon", clinical=False, licences=[licence("2020-01-01", d(5))]
    )
    gone = await api_staff(client, admin, "Gone", active=False, licences=[licence("2020-01-01", d(5))])
    degree = await api_staff(
        client, admin, "Degree", licences=[licence("2020-01-01", d(5), kind="qualification")]
    )
    reader = await headers_for(client, db, "receptionist")
    r = await client.get("/api/staff/licences/expiring", params={"days": 30}, headers=reader)
    assert r.status_code == 200, r.text
    report = r.json()
    got = [(i["display_name"], i["status"], i["days_left"]) for i in report["items"]]
    assert got == [
        ("Ann Lapsed", "expired", -3),
        ("Ann Clerksoon", "expiring", 5),
        ("Ann Soon", "expiring", 20),
    ]
    ids = {i["staff_id"] for i in report["items"]}
    for absent in (later, renewed, clerk_expired, gone, degree):
        assert absent["id"] not in ids
    assert soon["id"] in ids and expired["id"] in ids and clerk_soon["id"] in ids
    assert report["as_of"] == today.isoformat() and report["days"] == 30
    assert (
        await client.get("/api/staff/licences/expiring", params={"days": -1}, headers=reader)
    ).status_code == 422
    patient = await headers_for(client, db, "patient")
    assert_error(await client.get("/api/staff/licences/expiring", headers=patient), 403, "forbidden")


async def test_detail_for_missing_and_bad_ids(client: httpx.AsyncClient, db: Database) -> None:
    admin = await headers_for(client, db, "admin")
    assert_error(await client.get(f"/api/staff/{uuid.uuid4()}", headers=admin), 404, "not_found")
    r = await client.get("/api/staff/not-a-uuid", headers=admin)
    assert r.status_code == 422
    body: dict[str, Any] = {"family": "Linked", "user_id": str(uuid.uuid4())}
    assert_error(await client.post("/api/staff", json=body, headers=admin), 404, "user_not_found")
