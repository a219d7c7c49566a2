"""The staff directory: records with identifiers (NPI unique), search by name and identifier,
paging, permissions."""

from __future__ import annotations

import uuid

import httpx
import pytest

from app.auth.permissions import Perm
from app.db import Database
from app.deps import Principal
from app.errors import Conflict, Forbidden
from app.staff import schemas as s
from app.staff import service
from tests.patients.helpers import assert_error, audit_events, headers_for

NPI = "http://hl7.org/fhir/sid/us-npi"


def principal(*perms: Perm) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username="tester",
        full_name="Tester",
        email=None,
        roles=("admin",),
        permissions=frozenset(perms),
        patient_id=None,
        session_id=uuid.uuid4(),
    )


def staff_body(family: str, npi: str, **extra: object) -> s.StaffCreate:
    return s.StaffCreate.model_validate(
        {
            "family": family,
            "given": ["Ana"],
            "prefix": ["Dr."],
            "gender": "female",
            "identifiers": [{"system": NPI, "value": npi}],
            "telecoms": [{"system": "email", "value": f"{family.lower()}@example.org", "use": "work"}],
            "addresses": [{"line": ["1 Main St"], "city": "Boston", "country": "US"}],
            "qualifications": [
                {
                    "code": {"code": "MD", "display": "Doctor of Medicine"},
                    "number": "L-1",
                    "valid_to": "2030-01-01",
                }
            ],
            **extra,
        }
    )


async def _seed(db: Database) -> list[uuid.UUID]:
    writer = principal(Perm.STAFF_WRITE, Perm.STAFF_READ)
    async with db.sessionmaker() as session:
        ids = [
            (await service.create_staff(session, writer, staff_body("Núñez", "100"))).id,
            (await service.create_staff(session, writer, staff_body("Nunes", "101"))).id,
            (await service.create_staff(session, writer, staff_body("Okafor", "102"))).id,
        ]
        await session.commit()
    return ids


async def test_create_and_find_by_npi(db: Database) -> None:
    ids = await _seed(db)
    reader = principal(Perm.STAFF_READ)
    async with db.sessionmaker() as session:
        owners = await service.find_by_identifiers(session, reader, [(NPI, "100"), (NPI, "999")])
        assert owners == {(NPI, "100"): ids[0]}
        row = await service.get_staff(session, reader, ids[0])
        read = s.StaffRead.model_validate(row)
    assert read.display_name == "Dr. Ana Núñez"
    assert read.qualifications[0].number == "L-1"
    assert read.telecoms[0].value == "núñez@example.org"
    events = await audit_events(db, action="staff.create")
    assert len(events) == 3


async def test_npi_is_unique(db: Database) -> None:
    await _seed(db)
    async with db.sessionmaker() as session:
        with pytest.raises(Conflict) as exc:
            await service.create_staff(session, principal(Perm.STAFF_WRITE), staff_body("Other", "100"))
    assert exc.value.code == "duplicate_identifier"


async def test_writing_needs_staff_write(db: Database) -> None:
    async with db.sessionmaker() as session:
        with pytest.raises(Forbidden):
            await service.create_staff(session, principal(Perm.STAFF_READ), staff_body("X", "1"))


async def test_rest_search_by_name_identifier_and_paging(client: httpx.AsyncClient, db: Database) -> None:
    ids = await _seed(db)
    h = await headers_for(client, db, "receptionist")
    r = await client.get("/api/staff", params={"name": "nunez"}, headers=h)
    assert r.status_code == 200, r.text
    assert [i["family"] for i in r.json()["items"]] == ["Núñez"]
    r = await client.get("/api/staff", params={"identifier": f"{NPI}|102"}, headers=h)
    assert [i["family"] for i in r.json()["items"]] == ["Okafor"]
    r = await client.get("/api/staff", params={"limit": 2, "offset": 0}, headers=h)
    page = r.json()
    assert page["total"] >= 3 and len(page["items"]) == 2
    r = await client.get(f"/api/staff/{ids[2]}", headers=h)
    assert r.status_code == 200 and r.json()["identifiers"][0]["value"] == "102"
    assert_error(await client.get(f"/api/staff/{uuid.uuid4()}", headers=h), 404, "not_found")


async def test_rest_needs_staff_read(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "patient")
    assert_error(await client.get("/api/staff", headers=h), 403, "forbidden")
    assert (await client.get("/api/staff")).status_code == 401


async def test_fhir_practitioner_read_and_search(client: httpx.AsyncClient, db: Database) -> None:
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.practitioner import Practitioner

    ids = await _seed(db)
    h = await headers_for(client, db, "doctor")
    r = await client.get(f"/fhir/Practitioner/{ids[0]}", headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    Practitioner.model_validate(r.json())
    assert r.json()["name"][0]["family"] == "Núñez"
    r = await client.get("/fhir/Practitioner", params={"name": "okafor"}, headers=h)
    Bundle.model_validate(r.json())
    assert r.json()["total"] == 1
    r = await client.get("/fhir/Practitioner/not-a-uuid", headers=h)
    assert r.status_code in (404, 422, 400) and r.json()["resourceType"] == "OperationOutcome"
