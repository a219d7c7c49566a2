"""Medical history over HTTP: conditions, allergies, immunizations, procedures, encounters with
notes, observations (Decimal quantities, components, filters), care plans."""

from __future__ import annotations

import json
import uuid

from tests.patients.helpers import CVX, LOINC, SNOMED, assert_error, audit_events, headers_for, register


async def test_conditions_and_allergies_round_trip_and_update(client, db):
    h = await headers_for(client, db, "doctor")
    p = await register(client, h)
    base = f"/api/patients/{p['id']}"
    r = await client.post(
        f"{base}/conditions",
        json={
            "code": {"system": SNOMED, "code": "44054006", "display": "Diabetes mellitus type 2"},
            "onset_at": "2019-03-01T00:00:00Z",
            "source_system": "synthea",
            "source_id": "c-1",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    cond = r.json()
    assert cond["clinical_status"] == "active" and cond["code"]["code"] == "44054006"
    dup = await client.post(
        f"{base}/conditions",
        json={"code": {"display": "x"}, "source_system": "synthea", "source_id": "c-1"},
        headers=h,
    )
    assert_error(dup, 409, "duplicate_source_id")
    r = await client.patch(
        f"{base}/conditions/{cond['id']}",
        json={"clinical_status": "resolved", "abatement_at": "2020-01-01T00:00:00+00:00"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["clinical_status"] == "resolved"
    assert_error(
        await client.patch(f"{base}/conditions/{cond['id']}", json={"clinical_status": "gone"}, headers=h),
        422,
        "validation_error",
    )

    r = await client.post(
        f"{base}/allergies",
        json={
            "code": {"system": SNOMED, "code": "91936005", "display": "Penicillin allergy"},
            "type": "allergy",
            "category": "medication",
            "criticality": "high",
            "reactions": [
                {
                    "manifestation": {"system": SNOMED, "code": "247472004", "display": "Hives"},
                    "severity": "moderate",
                }
            ],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    allergy = r.json()
    assert allergy["reactions"][0]["manifestation"]["display"] == "Hives"
    r = await client.patch(f"{base}/allergies/{allergy['id']}", json={"reactions": []}, headers=h)
    assert r.status_code == 200 and r.json()["reactions"] == []
    listed = (await client.get(f"{base}/allergies", params={"clinical_status": "active"}, headers=h)).json()
    assert listed["total"] == 1
    assert (await client.get(f"{base}/conditions", params={"clinical_status": "active"}, headers=h)).json()[
        "total"
    ] == 0

    # A coding needs a code or a display; a missing one is a 422, nothing written.
    assert_error(
        await client.post(f"{base}/conditions", json={"code": {"system": SNOMED}}, headers=h),
        422,
        "validation_error",
    )
    # Another patient's record is not reachable through this one.
    other = await register(client, h, family="Other")
    assert_error(
        await client.get(f"/api/patients/{other['id']}/conditions/{cond['id']}", headers=h), 404, "not_found"
    )


async def test_encounters_notes_observations_and_care_plans(client, db):
    h = await headers_for(client, db, "nurse")
    p = await register(client, h)
    base = f"/api/patients/{p['id']}"
    r = await client.post(
        f"{base}/encounters",
        json={
            "class_code": "amb",
            "type": {"system": SNOMED, "code": "185349003", "display": "Encounter for check up"},
            "period_start": "2024-05-01T09:00:00-04:00",
            "practitioner_identifier": "npi|1234567890",
            "practitioner_display": "Dr. Ada Lovelace",
            "reasons": [{"system": SNOMED, "code": "38341003", "display": "Hypertension"}],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    enc = r.json()
    assert enc["class_code"] == "AMB" and enc["period_start"] == "2024-05-01T13:00:00Z"
    assert enc["reasons"][0]["code"] == "38341003" and enc["notes"] == []
    r = await client.post(
        f"{base}/encounters/{enc['id']}/notes", json={"text": "BP elevated; recheck in 2 weeks."}, headers=h
    )
    assert r.status_code == 201, r.text
    got = (await client.get(f"{base}/encounters/{enc['id']}", headers=h)).json()
    assert [n["text"] for n in got["notes"]] == ["BP elevated; recheck in 2 weeks."]
    r = await client.patch(
        f"{base}/encounters/{enc['id']}",
        json={"status": "finished", "period_end": "2024-05-01T13:30:00Z"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["status"] == "finished"

    bp = {
        "category": "vital-signs",
        "code": {"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"},
        "effective_at": "2024-05-01T09:10:00Z",
        "encounter_id": enc["id"],
        "components": [
            {"code": {"system": LOINC, "code": "8480-6"}, "value_quantity": "142", "value_unit": "mm[Hg]"},
            {"code": {"system": LOINC, "code": "8462-4"}, "value_quantity": 91, "value_unit": "mm[Hg]"},
        ],
    }
    r = await client.post(f"{base}/observations", json=bp, headers=h)
    assert r.status_code == 201, r.text
    assert [c["value_quantity"] for c in r.json()["components"]] == ["142", "91"]
    lab = {
        "category": "laboratory",
        "code": {"system": LOINC, "code": "2339-0", "display": "Glucose"},
        "effective_at": "2024-05-02T08:00:00Z",
        "value_quantity": "5.40",
        "value_unit": "mmol/L",
        "reference_low": "3.9",
        "reference_high": "5.6",
        "interpretation": {"code": "N"},
    }
    r = await client.post(f"{base}/observations", json=lab, headers=h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["value_quantity"] == "5.4" and body["reference_high"] == "5.6"  # Decimal, as strings
    for bad in (
        {**lab, "value_string": "high"},  # two values
        {**lab, "value_quantity": "1e400"},
        {**lab, "value_quantity": "NaN"},
        {**lab, "effective_at": "2024-05-02T08:00:00"},  # naive
        {**lab, "encounter_id": "nope"},
    ):
        assert_error(await client.post(f"{base}/observations", json=bad, headers=h), 422, "validation_error")
    assert_error(
        await client.post(f"{base}/observations", json={**lab, "encounter_id": str(uuid.uuid4())}, headers=h),
        400,
        "unknown_encounter",
    )

    async def codes(**params):
        r = await client.get(f"{base}/observations", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [o["code"]["code"] for o in r.json()["items"]]

    assert await codes() == ["2339-0", "85354-9"]  # newest first
    assert await codes(category="laboratory") == ["2339-0"]
    assert await codes(code="85354-9") == ["85354-9"]
    assert await codes(date_from="2024-05-02T00:00:00Z") == ["2339-0"]
    assert await codes(date_to="2024-05-01T23:59:59+00:00") == ["85354-9"]
    assert_error(
        await client.get(f"{base}/observations", params={"date_from": "2024-05-02T00:00:00"}, headers=h),
        422,
        "validation_error",
    )

    r = await client.post(
        f"{base}/immunizations",
        json={
            "vaccine": {"system": CVX, "code": "140", "display": "Influenza, seasonal"},
            "occurrence_at": "2023-10-01T10:00:00Z",
        },
        headers=h,
    )
    assert r.status_code == 201 and r.json()["vaccine"]["code"] == "140"
    r = await client.post(
        f"{base}/procedures",
        json={
            "code": {"system": SNOMED, "code": "430193006", "display": "Medication reconciliation"},
            "performed_start": "2024-05-01T09:30:00Z",
            "performed_end": "2024-05-01T09:45:00Z",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{base}/care-plans",
        json={
            "category": {"system": SNOMED, "code": "698360004", "display": "Diabetes self management plan"},
            "period_start": "2024-05-01T00:00:00Z",
            "author_display": "Dr. Ada Lovelace",
            "goals": [{"description": "HbA1c below 7%", "target_date": "2024-11-01"}],
            "activities": [
                {
                    "code": {"system": SNOMED, "code": "160670007", "display": "Diabetic diet"},
                    "status": "in-progress",
                }
            ],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    assert (
        plan["goals"][0]["target_date"] == "2024-11-01" and plan["activities"][0]["status"] == "in-progress"
    )
    for path in ("immunizations", "procedures", "care-plans", "encounters"):
        assert (await client.get(f"{base}/{path}", headers=h)).json()["total"] == 1, path

    actions = {e.action for e in await audit_events(db, patient_id=uuid.UUID(p["id"]))}
    assert {
        "Encounter.create",
        "Encounter.note_add",
        "Observation.create",
        "Observation.list",
        "CarePlan.create",
    } <= actions


async def test_observation_correction_status_value_and_immutable_code(client, db):
    h = await headers_for(client, db, "doctor")
    p = await register(client, h)
    base = f"/api/patients/{p['id']}"
    glucose = {"system": LOINC, "code": "2339-0", "display": "Glucose"}
    r = await client.post(
        f"{base}/observations",
        json={
            "code": glucose,
            "category": "laboratory",
            "effective_at": "2024-05-01T08:00:00Z",
            "value_quantity": "250",
            "value_unit": "mg/dL",
            "reference_low": "70",
            "reference_high": "99",
            "interpretation": {"code": "H"},
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    obs = r.json()
    assert obs["status"] == "final" and obs["note"] is None
    url = f"{base}/observations/{obs['id']}"

    # A transcription error: corrected value, normal interpretation, a note; the code may be
    # repeated unchanged.
    r = await client.patch(
        url,
        json={
            "status": "corrected",
            "code": glucose,
            "value_quantity": "95.5",
            "value_unit": "mg/dL",
            "interpretation": {"code": "N"},
            "note": "Transcription error: 250 was entered for 95.5",
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    fixed = r.json()
    assert fixed["status"] == "corrected" and fixed["value_quantity"] == "95.5"
    assert fixed["interpretation"]["code"] == "N" and fixed["note"].startswith("Transcription")
    assert (fixed["reference_low"], fixed["reference_high"]) == ("70", "99")  # untouched
    assert fixed["code"] == obs["code"] and fixed["effective_at"] == obs["effective_at"]
    assert (await client.get(url, headers=h)).json() == fixed

    # A value of another kind replaces the quantity; null clears the range.
    r = await client.patch(
        url,
        json={"value_string": "hemolysed sample", "reference_low": None, "reference_high": None},
        headers=h,
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["value_string"] == "hemolysed sample" and got["value_quantity"] is None
    assert got["value_unit"] is None and got["reference_low"] is None and got["reference_high"] is None
    r = await client.patch(url, json={"status": "entered-in-error"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "entered-in-error"
    assert r.json()["value_string"] == "hemolysed sample"

    # The code is immutable: a different code is a different observation.
    err = assert_error(
        await client.patch(url, json={"code": {"system": LOINC, "code": "2345-7"}}, headers=h),
        400,
        "immutable_field",
    )
    assert err["details"] == {"field": "code"}
    assert_error(
        await client.patch(url, json={"value_quantity": "1", "value_string": "x"}, headers=h),
        422,
        "validation_error",
    )
    # Another patient's observation id under this patient: not found.
    other = await register(client, h, family="Other")
    assert_error(
        await client.patch(f"/api/patients/{other['id']}/observations/{obs['id']}", json={}, headers=h),
        404,
        "not_found",
    )

    events = await audit_events(db, action="Observation.update", resource_id=obs["id"])
    assert len(events) == 3 and {e.patient_id for e in events} == {uuid.UUID(p["id"])}
    assert json.loads(events[0].details or "{}")["fields"] == [
        "interpretation",
        "note",
        "status",
        "value_code",
        "value_quantity",
        "value_string",
        "value_unit",
    ]

    desk = await headers_for(client, db, "receptionist")
    assert_error(await client.patch(url, json={"status": "amended"}, headers=desk), 403, "forbidden")
