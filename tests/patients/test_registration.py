"""Registration, the MRN, demographics updates, duplicate identifiers and bad input."""

from __future__ import annotations

import asyncio
import uuid

from app.patients.names import damm, format_mrn, is_valid_mrn
from tests.patients.helpers import (
    SSN,
    assert_error,
    audit_events,
    fresh_app,
    headers_for,
    patient_body,
    register,
)


def test_mrn_check_digit_catches_typos():
    mrn = format_mrn(1234)
    assert is_valid_mrn(mrn) and len(mrn) == 8
    body = mrn[:-1]
    for i in range(len(body)):  # every single-digit error
        for d in "0123456789":
            if d != body[i]:
                typo = body[:i] + d + body[i + 1 :] + mrn[-1]
                assert not is_valid_mrn(typo), typo
    for i in range(len(mrn) - 1):  # every adjacent transposition
        if mrn[i] != mrn[i + 1]:
            swapped = mrn[:i] + mrn[i + 1] + mrn[i] + mrn[i + 2 :]
            assert not is_valid_mrn(swapped), swapped
    assert damm("572") == 4  # the published example
    assert not is_valid_mrn("²0000000") and not is_valid_mrn("abc")


async def test_register_read_and_update_a_patient(client, db):
    h = await headers_for(client, db, "receptionist")
    body = patient_body(
        family="Godínez",
        given=["José", "María"],
        identifiers=[{"system": SSN, "value": "999-12-3456", "type": {"code": "SS", "display": "SSN"}}],
        telecoms=[{"system": "phone", "value": "+1 555 0100", "use": "mobile"}],
        addresses=[
            {"line": ["1 Main St", "Apt 2"], "city": "Boston", "postal_code": "02110", "country": "US"}
        ],
        contacts=[
            {
                "relationship": {"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C"},
                "name": "Ana Godínez",
                "phone": "+1 555 0101",
            }
        ],
        preferred_language="es-MX",
    )
    body["names"].append({"use": "nickname", "given": ["Pepe"]})
    r = await client.post("/api/patients", json=body, headers=h)
    assert r.status_code == 201, r.text
    p = r.json()
    assert is_valid_mrn(p["mrn"])
    assert [n["is_primary"] for n in p["names"]] == [True, False]
    assert p["names"][0]["given"] == ["José", "María"] and p["names"][0]["family"] == "Godínez"
    assert p["identifiers"][0]["type"]["code"] == "SS"
    assert p["addresses"][0]["line"] == ["1 Main St", "Apt 2"]
    assert p["contacts"][0]["relationship"]["code"] == "C"

    got = await client.get(f"/api/patients/{p['id']}", headers=h)
    assert got.status_code == 200 and got.json() == p

    patch = {
        "deceased_at": "2024-01-02T03:04:05+02:00",
        "identifiers": [
            {"system": SSN, "value": "999-12-3456"},
            {"system": "urn:passport:US", "value": "X123"},
        ],
    }
    r = await client.patch(f"/api/patients/{p['id']}", json=patch, headers=h)
    assert r.status_code == 200, r.text
    upd = r.json()
    assert upd["deceased"] is True and upd["deceased_at"].startswith("2024-01-02T01:04:05")
    assert [i["value"] for i in upd["identifiers"]] == ["999-12-3456", "X123"]
    assert upd["names"] == p["names"] and upd["mrn"] == p["mrn"]

    events = await audit_events(db, patient_id=uuid.UUID(p["id"]))
    assert [e.action for e in events] == ["patient.create", "patient.read", "patient.update"]


async def test_duplicate_external_identifier_is_a_clear_409(client, db):
    h = await headers_for(client, db, "receptionist")
    first = await register(client, h, identifiers=[{"system": SSN, "value": "111-22-3333"}])
    r = await client.post(
        "/api/patients", json=patient_body(identifiers=[{"system": SSN, "value": "111-22-3333"}]), headers=h
    )
    err = assert_error(r, 409, "duplicate_identifier")
    assert err["details"]["patient_id"] == first["id"]
    # The same value in another system is another identifier.
    await register(client, h, identifiers=[{"system": "urn:other", "value": "111-22-3333"}])
    # Updating another patient to take it is refused too; nothing changes.
    second = await register(client, h, family="Other")
    r = await client.patch(
        f"/api/patients/{second['id']}",
        json={"identifiers": [{"system": SSN, "value": "111-22-3333"}]},
        headers=h,
    )
    assert_error(r, 409, "duplicate_identifier")
    assert (await client.get(f"/api/patients/{second['id']}", headers=h)).json()["identifiers"] == []
    # Nobody assigns the hospital MRN by hand.
    r = await client.post(
        "/api/patients",
        json=patient_body(identifiers=[{"system": "urn:hospital-hub:mrn", "value": first["mrn"]}]),
        headers=h,
    )
    assert_error(r, 400, "mrn_not_assignable")


async def test_bad_input_is_a_clear_4xx(client, db):
    h = await headers_for(client, db, "receptionist")
    cases = [
        patient_body(names=[]),
        patient_body(names=[{"use": "official"}]),  # a name with nothing in it
        patient_body(deceased_at="2024-01-02T03:04:05"),  # naive datetime
        patient_body(birth_date="1980-13-01"),
        patient_body(gender="robot"),
        patient_body(identifiers=[{"system": SSN, "value": "1"}, {"system": SSN, "value": "1"}]),
        patient_body(names=[{"family": "A", "is_primary": True}, {"family": "B", "is_primary": True}]),
        {**patient_body(), "unexpected": 1},
        patient_body(family="x" * 101),
    ]
    for body in cases:
        assert_error(await client.post("/api/patients", json=body, headers=h), 422, "validation_error")
    r = await client.post(
        "/api/patients", content=b'{"names": [', headers={**h, "content-type": "application/json"}
    )
    assert_error(r, 400, "malformed_json")
    assert_error(await client.get("/api/patients/not-a-uuid", headers=h), 422, "validation_error")
    assert_error(await client.get(f"/api/patients/{uuid.uuid4()}", headers=h), 404, "not_found")


async def test_registration_is_idempotent_with_a_key(client, db):
    h = await headers_for(client, db, "receptionist")
    key = {"Idempotency-Key": "reg-1"}
    body = patient_body(family="Retry")
    first = await client.post("/api/patients", json=body, headers={**h, **key})
    again = await client.post("/api/patients", json=body, headers={**h, **key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    search = await client.get("/api/patients", params={"name": "retry"}, headers=h)
    assert search.json()["total"] == 1


async def test_concurrent_registrations_get_distinct_valid_mrns(fresh_database_url, broker):
    async with fresh_app(fresh_database_url, broker) as (c, database):
        h = await headers_for(c, database, "receptionist")
        responses = await asyncio.gather(
            *(c.post("/api/patients", json=patient_body(family=f"Fam{i}"), headers=h) for i in range(20))
        )
    assert [r.status_code for r in responses] == [201] * 20, [
        r.text for r in responses if r.status_code != 201
    ]
    mrns = [r.json()["mrn"] for r in responses]
    assert len(set(mrns)) == 20
    assert all(is_valid_mrn(m) for m in mrns)
    assert sorted(int(m[:-1]) for m in mrns) == list(range(1, 21))  # no gaps, no repeats
