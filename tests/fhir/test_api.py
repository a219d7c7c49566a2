"""The /fhir REST surface: capability, auth, OperationOutcome errors, create/update through the
patients service (allergy check included), paging, and the patient compartment."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from app.db import Database
from app.fhir.mappers.base import EXT_ALLERGY_OVERRIDE
from tests.conftest import bearer, login, make_user
from tests.fhir.helpers import assert_outcome, assert_valid, error_code, fetch_all
from tests.patients.helpers import LOINC, RXNORM, SNOMED, audit_events, headers_for

FHIR = {"Content-Type": "application/fhir+json"}


def patient_resource(family: str = "Núñez", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": family, "given": ["José", "María"], "suffix": ["Jr."]}],
        "gender": "male",
        "birthDate": "1975-03-09",
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": f"999-{uuid.uuid4().hex[:6]}"}],
        "telecom": [{"system": "phone", "value": "555-0100", "use": "mobile"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}}],
        "multipleBirthBoolean": False,
        "extension": [{"url": "http://example.org/unknown", "valueString": "ignored"}],
    }
    body.update(extra)
    return body


async def create_patient(client: httpx.AsyncClient, headers: dict[str, str], **kw: Any) -> dict[str, Any]:
    resp = await client.post("/fhir/Patient", json=patient_resource(**kw), headers={**headers, **FHIR})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    assert resp.headers["location"].endswith(f"/fhir/Patient/{body['id']}")
    return body


def observation(
    patient_id: str, value: Any = 72, code: str = "8867-4", when: str = "2024-05-01T10:00:00Z"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


async def test_metadata_is_public_and_valid(client: httpx.AsyncClient) -> None:
    resp = await client.get("/fhir/metadata")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/fhir+json")
    cs = resp.json()
    assert_valid(cs)
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert set(resources) == {
        "Patient", "Encounter", "Condition", "AllergyIntolerance", "Observation",
        "MedicationRequest", "Procedure", "Immunization", "CarePlan", "Schedule", "Slot", "Appointment",
        "Device",
    }  # fmt: skip
    assert {i["code"] for i in resources["Observation"]["interaction"]} == {
        "read",
        "search-type",
        "create",
        "update",
    }
    assert {p["name"] for p in resources["Observation"]["searchParam"]} >= {
        "patient",
        "code",
        "category",
        "date",
    }
    assert EXT_ALLERGY_OVERRIDE in resources["MedicationRequest"]["documentation"]


async def test_everything_else_needs_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/fhir/Patient", f"/fhir/Patient/{uuid.uuid4()}", "/fhir/Observation?patient=x"):
        outcome = assert_outcome(await client.get(path), 401, "login")
        assert error_code(outcome) == "not_authenticated"


async def test_errors_are_operation_outcomes(client: httpx.AsyncClient, db: Database) -> None:
    doctor = await headers_for(client, db, "doctor")
    outcome = assert_outcome(await client.get("/fhir/Patient?nickname=x", headers=doctor), 400, "invalid")
    assert error_code(outcome) == "unsupported_search_parameter"
    assert_outcome(await client.get("/fhir/Patient?birthdate=yesterday", headers=doctor), 400)
    assert_outcome(await client.get("/fhir/Observation?patient=Patient/1&date=soon", headers=doctor), 400)
    outcome = assert_outcome(await client.get("/fhir/Observation", headers=doctor), 400)
    assert error_code(outcome) == "patient_required"
    assert_outcome(await client.get(f"/fhir/Patient/{uuid.uuid4()}", headers=doctor), 404, "not-found")
    assert_outcome(await client.get("/fhir/Condition/not-a-uuid", headers=doctor), 404, "not-found")
    assert_outcome(await client.get("/fhir/Basic", headers=doctor), 404, "not-found")
    assert_outcome(await client.delete(f"/fhir/Patient/{uuid.uuid4()}", headers=doctor), 405)
    # Invalid resources: the issue names the element.
    bad = patient_resource(gender="robot")
    outcome = assert_outcome(await client.post("/fhir/Patient", json=bad, headers={**doctor, **FHIR}), 400)
    assert outcome["issue"][0]["expression"] == ["Patient.gender"]
    outcome = assert_outcome(
        await client.post(
            "/fhir/Patient", json={"resourceType": "Patient", "name": []}, headers={**doctor, **FHIR}
        ),
        400,
    )
    assert error_code(outcome) == "invalid_resource"
    assert_outcome(await client.post("/fhir/Patient", content=b"{not json", headers={**doctor, **FHIR}), 400)
    assert_outcome(
        await client.post(
            "/fhir/Patient", content=b"<Patient/>", headers={**doctor, "Content-Type": "application/xml"}
        ),
        415,
    )
    wrong = await client.post("/fhir/Condition", json=patient_resource(), headers={**doctor, **FHIR})
    assert_outcome(wrong, 400)


async def test_patient_create_read_update_search(client: httpx.AsyncClient, db: Database) -> None:
    doctor = await headers_for(client, db, "doctor")
    created = await create_patient(client, doctor)
    assert_valid(created)
    mrn = created["identifier"][0]
    assert mrn["system"] == "urn:hospital-hub:mrn"
    assert created["name"][0]["family"] == "Núñez" and created["name"][0]["suffix"] == ["Jr."]
    assert created["communication"][0]["language"]["coding"][0]["code"] == "es"

    # PUT replaces what we keep; the MRN sent back is ours and is ignored, not refused.
    update = {**created, "gender": "other", "deceasedDateTime": "2025-01-02T03:04:05+01:00"}
    resp = await client.put(f"/fhir/Patient/{created['id']}", json=update, headers={**doctor, **FHIR})
    assert resp.status_code == 200, resp.text
    updated = resp.json()
    assert_valid(updated)
    assert updated["gender"] == "other" and updated["deceasedDateTime"] == "2025-01-02T02:04:05Z"
    assert updated["identifier"][0] == mrn
    other_id = {**update, "id": str(uuid.uuid4())}
    assert_outcome(
        await client.put(f"/fhir/Patient/{created['id']}", json=other_id, headers={**doctor, **FHIR}), 400
    )
    no_id = {k: v for k, v in update.items() if k != "id"}
    outcome = assert_outcome(
        await client.put(f"/fhir/Patient/{created['id']}", json=no_id, headers={**doctor, **FHIR}), 400
    )
    assert outcome["issue"][0]["expression"] == ["id"]

    for query in (
        "name=nunez",
        "family=NÚÑ",
        "given=jose&family=nunez",
        f"identifier=urn:hospital-hub:mrn|{mrn['value']}",
        f"identifier={created['identifier'][1]['system']}|{created['identifier'][1]['value']}",
        "birthdate=ge1975-03-09&birthdate=le1975-03-09&name=nunez",
        "gender=other&name=nunez",
        f"_id={created['id']}",
    ):
        resp = await client.get(f"/fhir/Patient?{query}", headers=doctor)
        assert resp.status_code == 200, (query, resp.text)
        bundle = resp.json()
        assert_valid(bundle)
        assert [e["resource"]["id"] for e in bundle["entry"]] == [created["id"]], query
    for query in ("name=nunez&gender=female", "name=nunez&birthdate=gt1975-03-09", f"_id={uuid.uuid4()}"):
        assert (await client.get(f"/fhir/Patient?{query}", headers=doctor)).json()["total"] == 0, query

    # Reads are audited exactly like the native API's.
    events = await audit_events(db, action="patient.read", patient_id=uuid.UUID(created["id"]))
    assert events


async def test_paging_links(client: httpx.AsyncClient, db: Database) -> None:
    doctor = await headers_for(client, db, "doctor")
    pid = (await create_patient(client, doctor))["id"]
    for i in range(5):
        obs = observation(pid, value=60 + i, when=f"2024-05-0{i + 1}T10:00:00Z")
        resp = await client.post("/fhir/Observation", json=obs, headers={**doctor, **FHIR})
        assert resp.status_code == 201, resp.text
    first = (await client.get(f"/fhir/Observation?patient={pid}&_count=2", headers=doctor)).json()
    assert_valid(first)
    assert first["total"] == 5 and len(first["entry"]) == 2
    relations = {link["relation"] for link in first["link"]}
    assert relations == {"self", "next"}
    resources, total = await fetch_all(client, f"/fhir/Observation?patient={pid}&_count=2", doctor)
    assert total == 5 and len({r["id"] for r in resources}) == 5
    last = (await client.get(f"/fhir/Observation?patient={pid}&_count=2&_offset=4", headers=doctor)).json()
    assert {link["relation"] for link in last["link"]} == {"self", "previous"}
    # Filters: date prefixes, token with system, category.
    q = f"/fhir/Observation?subject=Patient/{pid}&date=ge2024-05-02&date=lt2024-05-04"
    assert (await client.get(q, headers=doctor)).json()["total"] == 2
    q = f"/fhir/Observation?patient={pid}&code={LOINC}|8867-4&category=vital-signs"
    assert (await client.get(q, headers=doctor)).json()["total"] == 5
    q = f"/fhir/Observation?patient={pid}&code=9279-1"
    assert (await client.get(q, headers=doctor)).json()["total"] == 0
    assert (
        (await client.get(f"/fhir/Observation?patient={pid}&_count=1000", headers=doctor))
        .json()["link"][0]["url"]
        .endswith("_count=200&_offset=0")
    )


async def test_observation_values_and_components(client: httpx.AsyncClient, db: Database) -> None:
    doctor = await headers_for(client, db, "doctor")
    pid = (await create_patient(client, doctor))["id"]
    bp = observation(pid, code="85354-9")
    del bp["valueQuantity"]
    bp["component"] = [
        {
            "code": {"coding": [{"system": LOINC, "code": c}]},
            "valueQuantity": {
                "value": v,
                "unit": "mm[Hg]",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }
        for c, v in (("8480-6", 120), ("8462-4", 80))
    ]
    temp = observation(pid, value=36.65, code="8310-5")
    coded = observation(pid, code="72166-2")
    del coded["valueQuantity"]
    coded["valueCodeableConcept"] = {"text": "Never smoker"}
    for body in (bp, temp, coded):
        resp = await client.post("/fhir/Observation", json=body, headers={**doctor, **FHIR})
        assert resp.status_code == 201, resp.text
        out = resp.json()
        assert_valid(out)
        read = (await client.get(f"/fhir/Observation/{out['id']}", headers=doctor)).json()
        assert read == out
    resp = await client.post("/fhir/Observation", json=temp, headers={**doctor, **FHIR})
    assert resp.json()["valueQuantity"]["value"] == 36.65
    naive = observation(pid, when="2024-05-01T10:00:00")
    outcome = assert_outcome(
        await client.post("/fhir/Observation", json=naive, headers={**doctor, **FHIR}), 400
    )
    assert outcome["issue"][0]["expression"] == ["Observation.effective"]


async def test_observation_update_corrects_and_keeps_the_code(
    client: httpx.AsyncClient, db: Database
) -> None:
    doctor = await headers_for(client, db, "doctor")
    pid = (await create_patient(client, doctor))["id"]
    body = observation(pid, value=180)
    body["referenceRange"] = [{"low": {"value": 60}, "high": {"value": 100}}]
    body["interpretation"] = [{"coding": [{"code": "H"}]}]
    resp = await client.post("/fhir/Observation", json=body, headers={**doctor, **FHIR})
    assert resp.status_code == 201, resp.text
    obs = resp.json()
    url = f"/fhir/Observation/{obs['id']}"

    corrected = {
        **obs,
        "status": "corrected",
        "valueQuantity": {**obs["valueQuantity"], "value": 72.5},
        "interpretation": [{"coding": [{"code": "N"}]}],
        "note": [{"text": "Device artefact; manual count"}],
    }
    resp = await client.put(url, json=corrected, headers={**doctor, **FHIR})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert_valid(out)
    assert out["status"] == "corrected" and out["valueQuantity"]["value"] == 72.5
    assert out["interpretation"] == [{"coding": [{"code": "N"}]}]
    assert out["note"] == [{"text": "Device artefact; manual count"}]
    assert out["code"] == obs["code"] and out["effectiveDateTime"] == obs["effectiveDateTime"]
    assert out["referenceRange"] == obs["referenceRange"]
    assert (await client.get(url, headers=doctor)).json() == out
    # PUT replaces what may change: elements left out are cleared.
    bare = {k: v for k, v in out.items() if k not in ("referenceRange", "note", "interpretation")}
    resp = await client.put(url, json={**bare, "status": "entered-in-error"}, headers={**doctor, **FHIR})
    assert resp.status_code == 200, resp.text
    assert_valid(resp.json())
    assert resp.json()["status"] == "entered-in-error"
    assert not {"referenceRange", "note", "interpretation"} & set(resp.json())
    assert resp.json()["valueQuantity"]["value"] == 72.5

    recoded = {**out, "code": {"coding": [{"system": LOINC, "code": "9279-1"}]}}
    outcome = assert_outcome(await client.put(url, json=recoded, headers={**doctor, **FHIR}), 400)
    assert outcome["issue"][0]["expression"] == ["Observation.code"]
    other = (await create_patient(client, doctor, family="Else"))["id"]
    moved = {**out, "subject": {"reference": f"Patient/{other}"}}
    assert_outcome(await client.put(url, json=moved, headers={**doctor, **FHIR}), 400)
    unknown = str(uuid.uuid4())
    assert_outcome(
        await client.put(
            f"/fhir/Observation/{unknown}", json={**body, "id": unknown}, headers={**doctor, **FHIR}
        ),
        404,
    )
    # FHIR update: the body carries the URL's id (400 without it).
    outcome = assert_outcome(await client.put(url, json=body, headers={**doctor, **FHIR}), 400, "invalid")
    assert outcome["issue"][0]["expression"] == ["id"]

    events = await audit_events(db, action="Observation.update", resource_id=obs["id"])
    assert len(events) == 2 and {e.patient_id for e in events} == {uuid.UUID(pid)}

    desk = await headers_for(client, db, "receptionist")
    assert_outcome(await client.put(url, json=out, headers={**desk, **FHIR}), 403, "forbidden")
    # The patient portal: their own observation is read-only, anyone else's does not exist.
    username = f"portal-{uuid.uuid4().hex[:6]}"
    await make_user(db, role="patient", username=username, patient_id=uuid.UUID(pid))
    me = bearer(await login(client, username))
    assert_outcome(await client.put(url, json=out, headers={**me, **FHIR}), 403, "forbidden")
    resp = await client.post("/fhir/Observation", json=observation(other), headers={**doctor, **FHIR})
    theirs = resp.json()
    assert_outcome(
        await client.put(f"/fhir/Observation/{theirs['id']}", json=theirs, headers={**me, **FHIR}), 404
    )
    assert (await client.get(url, headers=doctor)).json()["status"] == "entered-in-error"


async def test_conditions_allergies_and_prescribing(client: httpx.AsyncClient, db: Database) -> None:
    doctor = await headers_for(client, db, "doctor")
    pid = (await create_patient(client, doctor))["id"]
    subject = {"reference": f"Patient/{pid}"}
    condition = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": SNOMED, "code": "38341003", "display": "Hypertension"}]},
        "subject": subject,
        "onsetDateTime": "2020-02",
        "identifier": [{"system": "urn:example:ehr", "value": "cond-1"}],
    }
    resp = await client.post("/fhir/Condition", json=condition, headers={**doctor, **FHIR})
    assert resp.status_code == 201, resp.text
    cond = resp.json()
    assert_valid(cond)
    assert cond["onsetDateTime"] == "2020-02-01T00:00:00Z"
    assert cond["identifier"] == [{"system": "urn:example:ehr", "value": "cond-1"}]
    # The same source identifier twice is a conflict (re-import stays idempotent).
    again = await client.post("/fhir/Condition", json=condition, headers={**doctor, **FHIR})
    assert error_code(assert_outcome(again, 409, "conflict")) == "duplicate_source_id"

    resolved = {
        **cond,
        "clinicalStatus": {"coding": [{"code": "resolved"}]},
        "abatementDateTime": "2024-01-01",
    }
    resp = await client.put(f"/fhir/Condition/{cond['id']}", json=resolved, headers={**doctor, **FHIR})
    assert resp.status_code == 200, resp.text
    assert resp.json()["clinicalStatus"]["coding"][0]["code"] == "resolved"
    recoded = {**cond, "code": {"coding": [{"system": SNOMED, "code": "73211009"}]}}
    outcome = assert_outcome(
        await client.put(f"/fhir/Condition/{cond['id']}", json=recoded, headers={**doctor, **FHIR}), 400
    )
    assert outcome["issue"][0]["expression"] == ["Condition.code"]

    allergy = {
        "resourceType": "AllergyIntolerance",
        "code": {"coding": [{"system": RXNORM, "code": "7980", "display": "Penicillin G"}]},
        "patient": subject,
        "criticality": "high",
        "reaction": [{"manifestation": [{"text": "Hives"}], "severity": "moderate"}],
    }
    resp = await client.post("/fhir/AllergyIntolerance", json=allergy, headers={**doctor, **FHIR})
    assert resp.status_code == 201, resp.text
    assert_valid(resp.json())
    assert resp.json()["reaction"][0]["manifestation"] == [{"text": "Hives"}]

    prescription: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "contained": [
            {
                "resourceType": "Medication",
                "id": "m1",
                "code": {"coding": [{"system": RXNORM, "code": "308182", "display": "Amoxicillin 250 MG"}]},
                "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "7980"}]}}],
            }
        ],
        "medicationReference": {"reference": "#m1"},
        "subject": subject,
        "dosageInstruction": [
            {
                "text": "with food",
                "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": 250,
                            "unit": "mg",
                            "system": "http://unitsofmeasure.org",
                            "code": "mg",
                        }
                    }
                ],
            }
        ],
        "dispenseRequest": {"numberOfRepeatsAllowed": 2, "quantity": {"value": 30}},
    }
    # A drug sent by name only is compared by name: the allergy to Penicillin G refuses it too.
    by_name = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "Penicillin G benzathine 1.2 MU injection"},
        "subject": subject,
    }
    outcome = assert_outcome(
        await client.post("/fhir/MedicationRequest", json=by_name, headers={**doctor, **FHIR}),
        409,
        "conflict",
    )
    assert error_code(outcome) == "allergy_conflict"
    conflict = await client.post("/fhir/MedicationRequest", json=prescription, headers={**doctor, **FHIR})
    assert error_code(assert_outcome(conflict, 409, "conflict")) == "allergy_conflict"

    prescription["extension"] = [{"url": EXT_ALLERGY_OVERRIDE, "valueString": "tolerated before"}]
    resp = await client.post("/fhir/MedicationRequest", json=prescription, headers={**doctor, **FHIR})
    assert resp.status_code == 201, resp.text
    med = resp.json()
    assert_valid(med)
    assert med["extension"] == [{"url": EXT_ALLERGY_OVERRIDE, "valueString": "tolerated before"}]
    assert med["contained"][0]["ingredient"][0]["itemCodeableConcept"]["coding"][0]["code"] == "7980"
    assert med["dosageInstruction"][0]["timing"]["repeat"] == {"frequency": 3, "period": 1, "periodUnit": "d"}
    assert med["requester"]["display"] == "Doctor Tester"

    stop = {**med, "status": "stopped", "statusReason": {"text": "rash"}}
    resp = await client.put(f"/fhir/MedicationRequest/{med['id']}", json=stop, headers={**doctor, **FHIR})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "stopped" and resp.json()["statusReason"] == {"text": "rash"}
    again = await client.put(
        f"/fhir/MedicationRequest/{med['id']}", json={**med, "status": "active"}, headers={**doctor, **FHIR}
    )
    assert_outcome(again, 400)
    assert_outcome(
        await client.put(f"/fhir/Procedure/{uuid.uuid4()}", json={}, headers={**doctor, **FHIR}), 405
    )


async def test_prescription_keeps_a_sent_requester(client: httpx.AsyncClient, db: Database) -> None:
    doctor = await headers_for(client, db, "doctor")
    pid = (await create_patient(client, doctor))["id"]
    npi = {"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999912069"}
    prescription = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "197361"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "requester": {"type": "Practitioner", "identifier": npi, "display": "Dr. Ava Hammes"},
    }
    resp = await client.post("/fhir/MedicationRequest", json=prescription, headers={**doctor, **FHIR})
    assert resp.status_code == 201, resp.text
    med = resp.json()
    assert_valid(med)
    assert med["requester"] == prescription["requester"]
    native = await client.get(f"/api/patients/{pid}/medication-requests/{med['id']}", headers=doctor)
    got = native.json()
    assert got["requester_identifier"] == f"{npi['system']}|{npi['value']}"
    assert got["requester_display"] == "Dr. Ava Hammes"
    assert got["prescriber_display"] == "Doctor Tester" and got["prescriber_id"] is not None


async def test_patient_token_sees_only_own_compartment(client: httpx.AsyncClient, db: Database) -> None:
    doctor = await headers_for(client, db, "doctor")
    mine = (await create_patient(client, doctor, family="Own"))["id"]
    theirs = (await create_patient(client, doctor, family="Other"))["id"]
    for pid in (mine, theirs):
        resp = await client.post("/fhir/Observation", json=observation(pid), headers={**doctor, **FHIR})
        assert resp.status_code == 201
    their_obs = resp.json()["id"]
    username = f"portal-{uuid.uuid4().hex[:6]}"
    await make_user(db, role="patient", username=username, patient_id=uuid.UUID(mine))
    me = bearer(await login(client, username))

    assert (await client.get(f"/fhir/Patient/{mine}", headers=me)).status_code == 200
    assert_outcome(await client.get(f"/fhir/Patient/{theirs}", headers=me), 404, "not-found")
    assert_outcome(await client.get(f"/fhir/Observation/{their_obs}", headers=me), 404)
    assert_outcome(await client.get(f"/fhir/Patient/{theirs}/$everything", headers=me), 404)
    found, total = await fetch_all(client, "/fhir/Patient", me)
    assert total == 1 and [p["id"] for p in found] == [mine]
    assert (await client.get(f"/fhir/Observation?patient={theirs}", headers=me)).json()["total"] == 0
    own = (await client.get("/fhir/Observation", headers=me)).json()  # defaults to their record
    assert own["total"] == 1 and own["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{mine}"
    everything = (await client.get(f"/fhir/Patient/{mine}/$everything", headers=me)).json()
    assert everything["total"] == 2
    assert_valid(everything)
    # Portal users write nothing.
    write = await client.post("/fhir/Observation", json=observation(mine), headers={**me, **FHIR})
    assert_outcome(write, 403, "forbidden")


async def test_receptionist_gets_demographics_not_clinical(client: httpx.AsyncClient, db: Database) -> None:
    doctor = await headers_for(client, db, "doctor")
    pid = (await create_patient(client, doctor))["id"]
    desk = await headers_for(client, db, "receptionist")
    assert (await client.get(f"/fhir/Patient/{pid}", headers=desk)).status_code == 200
    assert_outcome(await client.get(f"/fhir/Observation?patient={pid}", headers=desk), 403, "forbidden")
    assert_outcome(await client.get(f"/fhir/Condition/{uuid.uuid4()}", headers=desk), 403, "forbidden")


async def test_patient_update_keeps_identifiers_of_systems_it_does_not_name(
    client: httpx.AsyncClient, db: Database
) -> None:
    """QA 34 F3-9: a PUT without identifiers does not wipe the SSN, passport or source ids other
    systems find the patient by; identifiers of a system it sends replace that system's."""
    doctor = await headers_for(client, db, "doctor")
    ssn, passport, source = (
        "http://hl7.org/fhir/sid/us-ssn",
        "urn:passport:US",
        "https://github.com/synthetichealth/synthea",
    )
    created = await create_patient(
        client,
        doctor,
        identifier=[
            {"system": ssn, "value": f"999-{uuid.uuid4().hex[:6]}"},
            {"system": passport, "value": "X123"},
            {"system": source, "value": str(uuid.uuid4())},
        ],
    )
    url = f"/fhir/Patient/{created['id']}"
    kept = created["identifier"]
    resp = await client.put(
        url,
        json={"resourceType": "Patient", "id": created["id"], "name": [{"family": "X"}]},
        headers={**doctor, **FHIR},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["identifier"] == kept  # the MRN and the three others
    assert resp.json()["name"] == [{"family": "X"}] and "birthDate" not in resp.json()  # replaced

    new_passport = {"system": passport, "value": "Y456"}
    resp = await client.put(
        url, json={**resp.json(), "identifier": [new_passport]}, headers={**doctor, **FHIR}
    )
    assert resp.status_code == 200, resp.text
    systems = {(i["system"], i["value"]) for i in resp.json()["identifier"]}
    assert (passport, "Y456") in systems and (passport, "X123") not in systems
    assert {i["system"] for i in resp.json()["identifier"]} == {"urn:hospital-hub:mrn", ssn, passport, source}
    # The search by a kept identifier still finds the patient.
    found = await client.get(f"/fhir/Patient?identifier={source}|{kept[3]['value']}", headers=doctor)
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [created["id"]]
