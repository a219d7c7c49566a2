"""Text that is not text (QA 34 F3-3, F3-4): NUL and other control characters, halves of
surrogate pairs, and e-mail telecoms that are no e-mail addresses are refused (422), on the
native API and on FHIR; line breaks stay allowed in free text; real Synthea values still pass."""

from __future__ import annotations

import json

import httpx

from app.db import Database
from tests.fhir.helpers import assert_outcome
from tests.patients.helpers import SNOMED, assert_error, headers_for, patient_body, register

FHIR = {"Content-Type": "application/fhir+json"}


def _messages(resp: httpx.Response) -> list[str]:
    err = assert_error(resp, 422, "validation_error")
    return [d["msg"] for d in err["details"]]


async def test_control_characters_are_refused_in_one_line_fields(
    client: httpx.AsyncClient, db: Database
) -> None:
    h = await headers_for(client, db, "receptionist")
    bodies = [
        patient_body(family="\u0000evil"),
        patient_body(given=["Ann\nMarie"]),
        patient_body(telecoms=[{"system": "phone", "value": "\u0000\u0000\u0000\u0000\u0000"}]),
        patient_body(telecoms=[{"system": "phone", "value": "555\u00070100"}]),
        patient_body(identifiers=[{"system": "urn:x", "value": "12\t34"}]),
        patient_body(addresses=[{"line": ["1 Main St\u0000"], "city": "Boston"}]),
        patient_body(addresses=[{"postal_code": "021\u000010"}]),
        patient_body(contacts=[{"name": "Ana\u001bGodínez"}]),
        patient_body(marital_status={"display": "Married\u0000"}),
    ]
    for body in bodies:
        r = await client.post("/api/patients", json=body, headers=h)
        assert any("control characters" in m for m in _messages(r)), body
    # Half of a surrogate pair (a lone \ud800 escape) is no character: refused, not a 500.
    raw = json.dumps(patient_body(family="FAMILY")).replace("FAMILY", "\\ud800x")
    r = await client.post("/api/patients", content=raw, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422 and "unicode" in r.text, r.text
    # Accents, other scripts, apostrophes and a real pair (an emoji) are text.
    p = await register(client, h, family="D'Amore-Godínez", given=["Xiùyīng", "王", "😀"])
    assert p["names"][0]["given"] == ["Xiùyīng", "王", "😀"]


async def test_free_text_keeps_line_breaks_but_not_nul(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "doctor")
    p = await register(client, h)
    base = f"/api/patients/{p['id']}"
    cond = {"code": {"system": SNOMED, "code": "38341003", "display": "Hypertension"}}
    r = await client.post(f"{base}/conditions", json={**cond, "note": "Line one\n\tLine two\r\n"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["note"] == "Line one\n\tLine two"
    r = await client.post(f"{base}/conditions", json={**cond, "note": "x\u0000y"}, headers=h)
    assert any("control characters" in m for m in _messages(r))
    bad_code = {"code": {"system": SNOMED, "code": "383\u000041003"}}
    assert any(
        "control characters" in m
        for m in _messages(await client.post(f"{base}/conditions", json=bad_code, headers=h))
    )


async def test_email_telecoms_must_be_addresses(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "receptionist")
    for bad in (
        "not-an-email",
        "a@b",
        "zoe@@example.org",
        "zoe@example.org, ann@example.org",
        "zoe @example.org",
    ):
        body = patient_body(telecoms=[{"system": "email", "value": bad}])
        r = await client.post("/api/patients", json=body, headers=h)
        err = assert_error(r, 422, "validation_error")
        assert {d["type"] for d in err["details"]} == {"invalid_email"}, (bad, err)
    p = await register(
        client,
        h,
        telecoms=[
            {"system": "email", "value": "Zoe.Martin@Example.ORG", "use": "home"},
            {"system": "url", "value": "not-an-email"},  # only e-mail telecoms are addresses
            {"system": "phone", "value": "555-889-2084"},  # as Synthea writes them
        ],
    )
    assert [t["value"] for t in p["telecoms"]] == ["Zoe.Martin@Example.ORG", "not-an-email", "555-889-2084"]
    r = await client.patch(
        f"/api/patients/{p['id']}", json={"telecoms": [{"system": "email", "value": "nope"}]}, headers=h
    )
    assert_error(r, 422, "validation_error")


async def test_fhir_refuses_the_same(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "doctor")
    for patient in (
        {"resourceType": "Patient", "name": [{"family": "\u0000evil", "given": ["x"]}]},
        {
            "resourceType": "Patient",
            "name": [{"family": "Ok"}],
            "telecom": [{"system": "phone", "value": "\u0000"}],
        },
        {
            "resourceType": "Patient",
            "name": [{"family": "Ok"}],
            "telecom": [{"system": "email", "value": "not-an-email"}],
        },
    ):
        assert_outcome(
            await client.post("/fhir/Patient", json=patient, headers={**h, **FHIR}), 400, "invalid"
        )
    found = await client.get("/fhir/Patient?family=evil", headers=h)
    assert found.json()["total"] == 0
