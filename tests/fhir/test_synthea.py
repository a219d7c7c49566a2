"""Real Synthea data through the patients service and back out of /fhir: counts per type equal
the source bundle's, every resource validates against R4B, accents and values survive."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from app.db import Database
from tests.fhir.helpers import (
    ACCENTED_PATIENT,
    CLINICAL_TYPES,
    STANDARD_PATIENT,
    assert_valid,
    fetch_all,
    load_bundle,
    source_counts,
)
from tests.patients.helpers import headers_for

PATIENT_PARAM = {"AllergyIntolerance": "patient", "Immunization": "patient"}


async def _everything_by_type(
    client: httpx.AsyncClient, headers: dict[str, str], patient_id: Any
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for resource_type in CLINICAL_TYPES:
        param = PATIENT_PARAM.get(resource_type, "subject")
        resources, total = await fetch_all(
            client, f"/fhir/{resource_type}?{param}=Patient/{patient_id}&_count=200", headers
        )
        assert total == len(resources)
        out[resource_type] = resources
    return out


async def test_standard_bundle_round_trip(client: httpx.AsyncClient, db: Database, sample_data: Path) -> None:
    patient_id, bundle = await load_bundle(db, sample_data / "synthea" / STANDARD_PATIENT)
    headers = await headers_for(client, db, "doctor")
    counts = source_counts(bundle)

    resp = await client.get(f"/fhir/Patient/{patient_id}", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/fhir+json")
    patient = resp.json()
    assert_valid(patient)
    source = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient["name"][0]["family"] == source["name"][0]["family"]
    assert patient["name"][0]["prefix"] == ["Mr."]
    assert patient["birthDate"] == source["birthDate"]
    assert patient["communication"][0]["language"]["coding"][0]["code"] == "en-US"
    systems = {i["system"] for i in patient["identifier"]}
    assert {
        "urn:hospital-hub:mrn",
        "https://github.com/synthetichealth/synthea",
        "http://hl7.org/fhir/sid/us-ssn",
    } <= systems
    geo = patient["address"][0]["extension"][0]["extension"]
    assert geo[0]["url"] == "latitude" and abs(geo[0]["valueDecimal"] - 41.7771411) < 1e-6

    by_type = await _everything_by_type(client, headers, patient_id)
    for resource_type in CLINICAL_TYPES:
        assert len(by_type[resource_type]) == counts[resource_type], resource_type
        for resource in by_type[resource_type]:
            assert_valid(resource)

    # Blood pressure: a panel with two components, values and UCUM units intact.
    bp = [o for o in by_type["Observation"] if o["code"]["coding"][0]["code"] == "85354-9"]
    assert bp, "the bundle has blood-pressure panels"
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp[0]["component"]}
    assert set(components) == {"8480-6", "8462-4"}
    assert components["8480-6"]["code"] == "mm[Hg]"
    # Provenance: each resource carries its Synthea id as an identifier, so a re-import matches.
    source_ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert all(r["identifier"][0]["value"] in source_ids for rs in by_type.values() for r in rs)
    # Medication requests: stopped ones stay stopped; the dose survives; the timing too.
    with_dose = [
        m for m in by_type["MedicationRequest"] if m.get("dosageInstruction", [{}])[0].get("doseAndRate")
    ]
    assert with_dose and with_dose[0]["dosageInstruction"][0]["timing"]["repeat"]["periodUnit"] == "d"
    # Care plans keep their activities.
    assert all(cp.get("activity") for cp in by_type["CarePlan"])


async def test_accented_hiv_bundle(client: httpx.AsyncClient, db: Database, sample_data: Path) -> None:
    patient_id, bundle = await load_bundle(db, sample_data / "synthea" / ACCENTED_PATIENT)
    headers = await headers_for(client, db, "doctor")

    found, total = await fetch_all(client, "/fhir/Patient?name=godinez", headers)
    assert total == 1 and found[0]["id"] == str(patient_id)
    assert found[0]["name"][0]["family"] == "Godínez202"
    assert_valid(found[0])

    resp = await client.get(f"/fhir/Patient/{patient_id}/$everything?_count=200", headers=headers)
    assert resp.status_code == 200, resp.text
    first = resp.json()
    counts = source_counts(bundle)
    expected = 1 + sum(counts[t] for t in CLINICAL_TYPES)
    assert first["total"] == expected
    resources, total = await fetch_all(client, f"/fhir/Patient/{patient_id}/$everything?_count=200", headers)
    assert total == expected and len(resources) == expected
    assert len({(r["resourceType"], r["id"]) for r in resources}) == expected
    assert resources[0]["resourceType"] == "Patient"

    # A CIEL-coded weight keeps its decimal value exactly.
    source_weights = {
        e["resource"]["id"]: e["resource"]["valueQuantity"]["value"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and "valueQuantity" in e["resource"]
    }
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    for obs in observations:
        assert_valid(obs)
        sid = obs["identifier"][0]["value"]
        if sid in source_weights:
            assert Decimal(str(obs["valueQuantity"]["value"])) == Decimal(str(source_weights[sid]))
