"""The clinicians a booking desk or calendar picks from: active clinical staff with weekly hours
valid today or later, by name, paged; filtered by the type their hours offer, a department or a
name. After an import of hundreds of practitioners without hours, the directory's first 200
names hold none of them; this list holds exactly the bookable ones."""

from __future__ import annotations

import uuid

from app.staff import schemas as staff_schemas
from app.staff import service as staff_service
from tests.appointments.helpers import add_hours, clinic, make_clinician, staff_principal
from tests.patients.helpers import assert_error, headers_for

CLINICIANS = "/api/appointments/clinicians"
IMPORTED = 205


async def _imported_practitioners(db, n: int) -> None:
    """Clinical staff without hours, sorting before everyone else (as Synthea's "Abbott774")."""
    async with db.sessionmaker() as session:
        for i in range(n):
            body = {"family": f"Aabbott{i:03d}", "given": ["Fanny"], "prefix": ["Dr."], "clinical": True}
            await staff_service.create_staff(
                session, staff_principal(), staff_schemas.StaffCreate.model_validate(body)
            )
        await session.commit()


async def test_only_bookable_clinicians_are_listed_among_hundreds_of_staff(client, db):
    c = await clinic(client, db)  # Dr. Grace Okafor, hours every day, both types
    await _imported_practitioners(db, IMPORTED)
    nunez = await make_clinician(db, family="Núñez", given=["Mateo"], prefix=[], email="n@hospital.test")
    await add_hours(client, c.reception, nunez, weekdays=[0], type_ids=[c.video["id"]])
    retired = await make_clinician(db, family="Retired", email="r@hospital.test")
    ended = await client.post(
        "/api/appointments/hours",
        json={
            "staff_id": str(retired),
            "weekday": 1,
            "start_time": "09:00",
            "end_time": "12:00",
            "valid_from": "2020-01-01",
            "valid_to": "2021-12-31",
        },
        headers=c.reception,
    )
    assert ended.status_code == 201, ended.text
    gone = await make_clinician(db, family="Gone", email="g@hospital.test", active=False)
    await add_hours(client, c.reception, gone, weekdays=[2])

    # The directory's first 200 clinicians: all imported, no Okafor (what the pickers used to list).
    directory = await client.get(
        "/api/staff", params={"clinical": True, "active": True, "limit": 200}, headers=c.reception
    )
    assert directory.json()["total"] == IMPORTED + 3
    assert "Dr. Grace Okafor" not in {x["display_name"] for x in directory.json()["items"]}

    listed = await client.get(CLINICIANS, headers=c.reception)
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["total"] == 2
    assert [x["display_name"] for x in page["items"]] == ["Mateo Núñez", "Dr. Grace Okafor"]  # by name
    okafor, mateo = page["items"][1], page["items"][0]
    assert okafor["id"] == str(c.staff_id)
    assert set(okafor["type_ids"]) == {c.consult["id"], c.video["id"]}
    assert mateo["type_ids"] == [c.video["id"]]

    # By name, accents ignored; by the type the hours offer; paged.
    for text, names in (("okaf", ["Dr. Grace Okafor"]), ("nunez", ["Mateo Núñez"]), ("aabbott", [])):
        r = await client.get(CLINICIANS, params={"name": text}, headers=c.doctor)
        assert [x["display_name"] for x in r.json()["items"]] == names, text
    r = await client.get(CLINICIANS, params={"type_id": c.consult["id"]}, headers=c.reception)
    assert [x["display_name"] for x in r.json()["items"]] == ["Dr. Grace Okafor"]
    r = await client.get(CLINICIANS, params={"limit": 1, "offset": 1}, headers=c.reception)
    assert [x["display_name"] for x in r.json()["items"]] == ["Dr. Grace Okafor"] and r.json()["total"] == 2


async def test_clinicians_by_department_and_the_refusals(client, db):
    c = await clinic(client, db)
    made = await client.post(
        "/api/staff/departments", json={"code": "CARD", "name": "Cardiology"}, headers=c.admin
    )
    assert made.status_code == 201, made.text
    cardiology = made.json()["id"]
    heart = await make_clinician(
        db, family="Heart", email="h@hospital.test", department_id=cardiology, position="Cardiologist"
    )
    await add_hours(client, c.reception, heart, weekdays=[3])
    r = await client.get(CLINICIANS, params={"department_id": cardiology}, headers=c.reception)
    assert r.status_code == 200, r.text
    (only,) = r.json()["items"]
    assert {k: v for k, v in only.items() if k != "type_ids"} == {
        "id": str(heart),
        "display_name": "Dr. Grace Heart",
        "position": "Cardiologist",
        "department_id": cardiology,
        "department_name": "Cardiology",
    }
    assert set(only["type_ids"]) == {c.consult["id"], c.video["id"]}

    assert_error(
        await client.get(CLINICIANS, params={"department_id": str(uuid.uuid4())}, headers=c.reception),
        404,
        "department_not_found",
    )
    assert_error(
        await client.get(CLINICIANS, params={"type_id": str(uuid.uuid4())}, headers=c.reception),
        404,
        "type_not_found",
    )
    assert_error(
        await client.get(CLINICIANS, params={"name": "--"}, headers=c.reception), 400, "invalid_search"
    )
    # Patients book from the free slots; billing sees appointments but not the staff directory.
    for role in ("patient", "billing"):
        assert_error(
            await client.get(CLINICIANS, headers=await headers_for(client, db, role)), 403, "forbidden"
        )
