"""Prescribing: permission, the allergy check (code, ingredient, display), audited overrides,
idempotent retries, stopping with a reason."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.patients.helpers import (
    RXNORM,
    SNOMED,
    assert_error,
    audit_events,
    fresh_app,
    headers_for,
    register,
)

AMOXICILLIN = {"system": RXNORM, "code": "308182", "display": "Amoxicillin 250 MG Oral Capsule"}
AMOX_INGREDIENT = {"system": RXNORM, "code": "723", "display": "Amoxicillin"}


def order(**extra):
    return {
        "medication": AMOXICILLIN,
        "ingredients": [AMOX_INGREDIENT],
        "dose_value": "250",
        "dose_unit": "mg",
        "route": {"system": SNOMED, "code": "26643006", "display": "Oral route"},
        "frequency": "every 8 h",
        "duration_value": 7,
        "duration_unit": "d",
        "quantity_value": "21",
        "quantity_unit": "{capsule}",
        "refills": 0,
        **extra,
    }


async def _setup(client, db):
    doctor = await headers_for(client, db, "doctor")
    p = await register(client, doctor)
    return doctor, p, f"/api/patients/{p['id']}"


async def test_only_prescribers_prescribe(client, db):
    doctor, _p, base = await _setup(client, db)
    nurse = await headers_for(client, db, "nurse")
    pharmacist = await headers_for(client, db, "pharmacist")
    for h in (nurse, pharmacist):
        assert_error(
            await client.post(f"{base}/medication-requests", json=order(), headers=h), 403, "forbidden"
        )
    r = await client.post(f"{base}/medication-requests", json=order(), headers=doctor)
    assert r.status_code == 201, r.text
    med = r.json()
    assert (
        med["status"] == "active"
        and med["dose_value"] == "250"
        and med["prescriber_display"] == "Doctor Tester"
    )
    assert med["ingredients"] == [AMOX_INGREDIENT]
    # Nurses and pharmacists can read it, not stop it.
    assert (await client.get(f"{base}/medication-requests", headers=pharmacist)).json()["total"] == 1
    stop = {"status": "stopped", "reason": "rash"}
    assert_error(
        await client.patch(f"{base}/medication-requests/{med['id']}", json=stop, headers=nurse),
        403,
        "forbidden",
    )


async def _allergy(client, h, base, code):
    r = await client.post(
        f"{base}/allergies", json={"code": code, "category": "medication", "criticality": "high"}, headers=h
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_allergy_on_the_drug_code_is_refused_then_overridden_and_audited(client, db):
    doctor, p, base = await _setup(client, db)
    allergy = await _allergy(client, doctor, base, AMOXICILLIN)
    r = await client.post(f"{base}/medication-requests", json=order(), headers=doctor)
    err = assert_error(r, 409, "allergy_conflict")
    assert err["details"]["allergy"]["id"] == allergy["id"]
    assert err["details"]["matched"] == {"on": "medication", "by": "code", **AMOXICILLIN}
    assert (await client.get(f"{base}/medication-requests", headers=doctor)).json()["total"] == 0
    [blocked] = await audit_events(db, action="MedicationRequest.create", outcome="failure") or [None]
    assert blocked is None  # the refused attempt wrote nothing (not even a create event)

    r = await client.post(
        f"{base}/medication-requests",
        json=order(override_reason="Tolerated before; monitored"),
        headers=doctor,
    )
    assert r.status_code == 201, r.text
    assert r.json()["allergy_override_reason"] == "Tolerated before; monitored"
    [override] = await audit_events(db, action="prescription.allergy_override")
    assert override.patient_id == uuid.UUID(p["id"]) and override.resource_id == r.json()["id"]
    details = json.loads(override.details)
    assert details["reason"] == "Tolerated before; monitored"
    assert details["conflicts"][0]["allergy"]["id"] == allergy["id"]


async def test_allergy_on_an_ingredient_and_by_display(client, db):
    doctor, _p, base = await _setup(client, db)
    await _allergy(client, doctor, base, {"system": RXNORM, "code": "723", "display": "Amoxicillin"})
    err = assert_error(
        await client.post(f"{base}/medication-requests", json=order(), headers=doctor),
        409,
        "allergy_conflict",
    )
    assert err["details"]["matched"]["on"] == "ingredient" and err["details"]["matched"]["code"] == "723"

    # No code on the allergy: the display matches, ignoring case and accents.
    doctor2, _p2, base2 = await _setup(client, db)
    await _allergy(client, doctor2, base2, {"display": "AMOXICILLIN"})
    err = assert_error(
        await client.post(f"{base2}/medication-requests", json=order(), headers=doctor2),
        409,
        "allergy_conflict",
    )
    assert err["details"]["matched"]["by"] == "display"

    # An inactive or refuted allergy does not block; an unrelated one does not either.
    doctor3, _p3, base3 = await _setup(client, db)
    a = await _allergy(client, doctor3, base3, AMOX_INGREDIENT)
    await client.patch(
        f"{base3}/allergies/{a['id']}", json={"verification_status": "refuted"}, headers=doctor3
    )
    await _allergy(client, doctor3, base3, {"system": RXNORM, "code": "7980", "display": "Penicillin G"})
    r = await client.post(f"{base3}/medication-requests", json=order(), headers=doctor3)
    assert r.status_code == 201, r.text
    assert r.json()["allergy_override_reason"] is None


async def test_prescribing_is_idempotent_with_a_key(client, db):
    doctor, p, base = await _setup(client, db)
    key = {**doctor, "Idempotency-Key": "rx-" + uuid.uuid4().hex}
    first = await client.post(f"{base}/medication-requests", json=order(), headers=key)
    second = await client.post(f"{base}/medication-requests", json=order(), headers=key)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers.get("idempotent-replayed") == "true"
    assert (await client.get(f"{base}/medication-requests", headers=doctor)).json()["total"] == 1
    # The same key with another body is a conflict, and applies nothing.
    other = await client.post(f"{base}/medication-requests", json=order(refills=2), headers=key)
    assert_error(other, 409, "idempotency_key_reused")
    assert (await client.get(f"{base}/medication-requests", headers=doctor)).json()["total"] == 1
    # Another user's identical key is their own.
    doctor_b = await headers_for(client, db, "doctor")
    r = await client.post(
        f"{base}/medication-requests",
        json=order(),
        headers={**doctor_b, "Idempotency-Key": key["Idempotency-Key"]},
    )
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]
    # A refused attempt leaves no key behind: the retry with an override goes through.
    await _allergy(client, doctor, base, AMOXICILLIN)
    k2 = {**doctor, "Idempotency-Key": "rx-allergy"}
    assert_error(
        await client.post(f"{base}/medication-requests", json=order(), headers=k2), 409, "allergy_conflict"
    )
    r = await client.post(
        f"{base}/medication-requests", json=order(override_reason="benefit outweighs"), headers=k2
    )
    assert r.status_code == 201, r.text
    replays = await audit_events(db, action="MedicationRequest.create_replayed")
    assert [e.patient_id for e in replays] == [uuid.UUID(p["id"])]


async def test_concurrent_retries_apply_once(fresh_database_url, broker):
    async with fresh_app(fresh_database_url, broker) as (client, database):
        doctor, _p, base = await _setup(client, database)
        key = {**doctor, "Idempotency-Key": "burst"}
        responses = await asyncio.gather(
            *(client.post(f"{base}/medication-requests", json=order(), headers=key) for _ in range(8))
        )
        assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        assert (await client.get(f"{base}/medication-requests", headers=doctor)).json()["total"] == 1


async def test_stopping_needs_a_reason_and_happens_once(client, db):
    doctor, _p, base = await _setup(client, db)
    med = (await client.post(f"{base}/medication-requests", json=order(), headers=doctor)).json()
    url = f"{base}/medication-requests/{med['id']}"
    assert_error(await client.patch(url, json={"status": "stopped"}, headers=doctor), 422, "validation_error")
    assert_error(
        await client.patch(url, json={"status": "stopped", "reason": "  "}, headers=doctor),
        422,
        "validation_error",
    )
    r = await client.patch(url, json={"status": "stopped", "reason": "Rash on day 2"}, headers=doctor)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "stopped" and r.json()["status_reason"] == "Rash on day 2"
    again = await client.patch(url, json={"status": "cancelled", "reason": "dup"}, headers=doctor)
    assert_error(again, 409, "invalid_status_transition")
    assert_error(
        await client.patch(
            f"{base}/medication-requests/{uuid.uuid4()}", json={"status": "completed"}, headers=doctor
        ),
        404,
        "not_found",
    )
    active = (
        await client.get(f"{base}/medication-requests", params={"status": "active"}, headers=doctor)
    ).json()
    assert active["total"] == 0


SULFAMETHOXAZOLE = {"system": RXNORM, "code": "10180", "display": "Sulfamethoxazole"}


async def test_an_uncoded_drug_named_like_an_allergy_is_refused_by_name(client, db):
    """QA 34 F3-10: the server compares names too (word by word, as the web's hint does), so a
    drug sent without a code, or coded in another system, cannot pass the check silently."""
    doctor, _p, base = await _setup(client, db)
    allergy = await _allergy(client, doctor, base, SULFAMETHOXAZOLE)
    for medication in (
        {"display": "Sulfamethoxazole 400mg (no code)"},
        {"system": SNOMED, "code": "363528006", "display": "Sulfamethoxazole (substance)"},
        # A combination product's own code differs from the ingredient's: its name does not.
        {
            "system": RXNORM,
            "code": "198335",
            "display": "Sulfamethoxazole 800 MG / Trimethoprim 160 MG Oral Tablet",
        },
    ):
        err = assert_error(
            await client.post(f"{base}/medication-requests", json={"medication": medication}, headers=doctor),
            409,
            "allergy_conflict",
        )
        assert err["details"]["allergy"]["id"] == allergy["id"], medication
        assert err["details"]["matched"] == {
            "on": "medication",
            "by": "display",
            "system": medication.get("system"),
            "code": medication.get("code"),
            "display": medication["display"],
        }
    # Overriding a match by name works like overriding one by code: stored, audited.
    r = await client.post(
        f"{base}/medication-requests",
        json={"medication": {"display": "Sulfamethoxazole 400mg"}, "override_reason": "Desensitised in 2023"},
        headers=doctor,
    )
    assert r.status_code == 201, r.text
    assert r.json()["allergy_override_reason"] == "Desensitised in 2023"
    assert r.json()["allergy_check"]["status"] == "overridden"
    [override] = await audit_events(db, action="prescription.allergy_override")
    assert json.loads(override.details)["conflicts"][0]["matched"]["by"] == "display"
    assert override.resource_id == r.json()["id"]


async def test_the_answer_says_what_the_allergy_check_compared(client, db):
    doctor, p, base = await _setup(client, db)

    async def prescribe(medication, **extra):
        r = await client.post(
            f"{base}/medication-requests", json={"medication": medication, **extra}, headers=doctor
        )
        assert r.status_code == 201, r.text
        return r.json()

    lisinopril = {"system": RXNORM, "code": "314076", "display": "Lisinopril 10 MG Oral Tablet"}
    assert (await prescribe(lisinopril))["allergy_check"]["status"] == "no_allergies"
    allergy = await _allergy(client, doctor, base, SULFAMETHOXAZOLE)
    checked = (await prescribe(lisinopril))["allergy_check"]
    assert checked["status"] == "clear" and checked["compared_by_name_only"] == []
    # The QA case: the allergy's code in another system, and no name to compare: it says so.
    other_system = await prescribe({"system": SNOMED, "code": "10180"})
    check = other_system["allergy_check"]
    assert check["status"] == "names_only"
    assert [a["id"] for a in check["compared_by_name_only"]] == [allergy["id"]]
    assert "Compared by name only with: Sulfamethoxazole" in check["message"]
    assert (await prescribe({"display": "Paracetamol 500 mg"}))["allergy_check"]["status"] == "names_only"
    # A food allergy is compared by name (peanut oil would match), never listed as names-only.
    r = await client.post(
        f"{base}/allergies",
        json={"code": {"system": SNOMED, "code": "256349002", "display": "Peanut"}, "category": "food"},
        headers=doctor,
    )
    assert r.status_code == 201, r.text
    assert (await prescribe(lisinopril))["allergy_check"]["status"] == "clear"
    assert_error(
        await client.post(
            f"{base}/medication-requests",
            json={"medication": {"display": "Arachis (peanut) oil"}},
            headers=doctor,
        ),
        409,
        "allergy_conflict",
    )
    historic = await prescribe({"display": "Sulfamethoxazole 400mg"}, status="completed")
    assert historic["allergy_check"]["status"] == "not_checked"  # a record of the past, as before
    # Each prescription's audit event carries the outcome.
    events = await audit_events(db, action="MedicationRequest.create", patient_id=uuid.UUID(p["id"]))
    outcomes = [json.loads(e.details)["allergy_check"] for e in events]
    assert outcomes == ["no_allergies", "clear", "names_only", "names_only", "clear", "not_checked"]
    # Reads of the request stay the same shape (the check belongs to the moment of prescribing).
    read = (await client.get(f"{base}/medication-requests/{other_system['id']}", headers=doctor)).json()
    assert "allergy_check" not in read and read["id"] == other_system["id"]


def test_the_name_rule_is_the_web_hints_rule():
    """The cases the web's prescribing.test.ts runs against its port of the rule."""
    from pathlib import Path

    from app.patients.allergy_check import names_match

    path = Path(__file__).parents[2] / "frontend" / "src" / "patients" / "allergy-name-cases.json"
    cases = json.loads(path.read_text(encoding="utf-8"))
    assert len(cases) >= 20
    assert [names_match(c["allergy"], c["drug"]) for c in cases] == [c["match"] for c in cases]
