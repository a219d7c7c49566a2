"""Facilities: organisations with unique identifiers, search, permissions, FHIR Organization."""

from __future__ import annotations

import uuid

import httpx
import pytest

from app.auth.permissions import Perm
from app.db import Database
from app.errors import Conflict
from app.facilities import schemas as s
from app.facilities import service
from tests.patients.helpers import assert_error, headers_for
from tests.staff.test_staff import principal

SYNTHEA = "https://github.com/synthetichealth/synthea"


def body(name: str, ident: str) -> s.FacilityCreate:
    return s.FacilityCreate.model_validate(
        {
            "name": name,
            "type": {"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov"},
            "identifiers": [{"system": SYNTHEA, "value": ident}],
            "telecoms": [{"system": "phone", "value": "555-0100"}],
            "addresses": [{"line": ["60 Hospital Road"], "city": "Leominster", "state": "MA"}],
        }
    )


async def _seed(db: Database) -> list[uuid.UUID]:
    writer = principal(Perm.STAFF_WRITE)
    async with db.sessionmaker() as session:
        ids = [
            (await service.create_facility(session, writer, body("Sturdy Memorial Hospital", "a"))).id,
            (await service.create_facility(session, writer, body("Clínica São José", "b"))).id,
        ]
        await session.commit()
    return ids


async def test_identifiers_are_unique(db: Database) -> None:
    await _seed(db)
    async with db.sessionmaker() as session:
        with pytest.raises(Conflict):
            await service.create_facility(session, principal(Perm.STAFF_WRITE), body("Again", "a"))


async def test_rest_search_and_read(client: httpx.AsyncClient, db: Database) -> None:
    ids = await _seed(db)
    h = await headers_for(client, db, "nurse")
    r = await client.get("/api/facilities", params={"name": "sao jose"}, headers=h)
    assert r.status_code == 200, r.text
    assert [f["name"] for f in r.json()["items"]] == ["Clínica São José"]
    r = await client.get("/api/facilities", params={"identifier": f"{SYNTHEA}|a"}, headers=h)
    assert r.json()["total"] == 1
    r = await client.get(f"/api/facilities/{ids[0]}", headers=h)
    assert r.status_code == 200 and r.json()["type"]["code"] == "prov"
    assert_error(
        await client.get("/api/facilities", headers=await headers_for(client, db, "patient")),
        403,
        "forbidden",
    )


async def test_fhir_organization(client: httpx.AsyncClient, db: Database) -> None:
    from fhir.resources.R4B.organization import Organization

    ids = await _seed(db)
    h = await headers_for(client, db, "doctor")
    r = await client.get(f"/fhir/Organization/{ids[1]}", headers=h)
    assert r.status_code == 200, r.text
    Organization.model_validate(r.json())
    assert r.json()["name"] == "Clínica São José"
    r = await client.get("/fhir/Organization", params={"identifier": f"{SYNTHEA}|a"}, headers=h)
    assert r.json()["total"] == 1
