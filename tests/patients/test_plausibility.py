"""Plausible dates and values (QA 34 F3-2, F3-11): no birth in the future or before 1900, no
death before the birth or in the future, no clinical instant in the future (beyond the clock
skew) or before 1900, no inverted reference range, no negative vital sign; on registration,
clinical writes, partial updates, FHIR and the importer alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.db import Database
from app.fhir import importer
from app.kit.time import CLOCK_SKEW, latest_today
from tests.fhir.helpers import assert_outcome
from tests.patients.helpers import LOINC, SNOMED, assert_error, headers_for, patient_body, register

HEART_RATE = {"system": LOINC, "code": "8867-4", "display": "Heart rate"}
FHIR = {"Content-Type": "application/fhir+json"}


def _types(resp: httpx.Response) -> set[str]:
    err = assert_error(resp, 422, "validation_error")
    return {d["type"] for d in err["details"]}


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _heart_rate(**extra: Any) -> dict[str, Any]:
    return {
        "code": HEART_RATE,
        "category": "vital-signs",
        "value_quantity": "72",
        "value_unit": "/min",
        "effective_at": "2024-05-01T10:00:00Z",
        **extra,
    }


async def test_registration_refuses_impossible_birth_and_death(
    client: httpx.AsyncClient, db: Database
) -> None:
    h = await headers_for(client, db, "doctor")
    cases = {
        "date_in_future": {"birth_date": "2990-01-01"},
        "date_too_early": {"birth_date": "0001-01-01"},
        "deceased_before_birth": {
            "birth_date": "1990-01-01",
            "deceased": True,
            "deceased_at": "1980-01-01T00:00:00Z",
        },
    }
    for expected, extra in cases.items():
        r = await client.post("/api/patients", json=patient_body(**extra), headers=h)
        assert expected in _types(r), (extra, r.text)
    r = await client.post(
        "/api/patients",
        json=patient_body(birth_date="1990-01-01", deceased=True, deceased_at="2100-01-01T00:00:00Z"),
        headers=h,
    )
    assert "date_in_future" in _types(r)
    for year in ("0001", "9999"):  # the ends of the calendar: refused, not an overflow
        r = await client.post(
            "/api/patients", json=patient_body(deceased_at=f"{year}-01-01T00:00:00-12:00"), headers=h
        )
        assert _types(r) & {"date_in_future", "date_too_early"}, r.text

    # What is plausible stays accepted: a birth today anywhere on Earth, a death on the day of
    # birth (in any zone), the oldest patients.
    today_somewhere = latest_today().isoformat()
    await register(client, h, birth_date=today_somewhere)
    await register(client, h, birth_date="1900-01-01")
    newborn = await register(
        client, h, birth_date="2024-03-02", deceased=True, deceased_at="2024-03-01T13:00:00Z"
    )
    assert newborn["deceased"] is True
    tomorrow_everywhere = (latest_today() + timedelta(days=1)).isoformat()
    r = await client.post("/api/patients", json=patient_body(birth_date=tomorrow_everywhere), headers=h)
    assert "date_in_future" in _types(r)


async def test_partial_updates_check_the_stored_dates(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "doctor")
    p = await register(client, h, birth_date="1990-01-01")
    url = f"/api/patients/{p['id']}"
    r = await client.patch(url, json={"deceased_at": "1985-05-05T00:00:00Z"}, headers=h)
    assert_error(r, 400, "deceased_before_birth")
    r = await client.patch(url, json={"deceased_at": "2020-05-05T00:00:00Z"}, headers=h)
    assert r.status_code == 200, r.text
    r = await client.patch(url, json={"birth_date": "2021-01-01"}, headers=h)
    assert_error(r, 400, "deceased_before_birth")
    assert (await client.get(url, headers=h)).json()["birth_date"] == "1990-01-01"  # nothing written
    assert "date_in_future" in _types(await client.patch(url, json={"birth_date": "2990-01-01"}, headers=h))


async def test_clinical_instants_are_not_in_the_future(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "doctor")
    p = await register(client, h)
    base = f"/api/patients/{p['id']}"
    now = datetime.now(UTC)
    future = {
        "observations": _heart_rate(effective_at="2999-01-01T00:00:00Z"),
        "allergies": {"code": {"display": "Peanut"}, "onset_at": "3000-01-01T00:00:00Z"},
        "conditions": {
            "code": {"system": SNOMED, "code": "38341003"},
            "onset_at": _iso(now + timedelta(days=1)),
        },
        "immunizations": {"vaccine": {"code": "140"}, "occurrence_at": _iso(now + timedelta(hours=1))},
        "procedures": {"code": {"display": "x"}, "performed_start": _iso(now + timedelta(days=30))},
        "medication-requests": {
            "medication": {"display": "Paracetamol"},
            "authored_at": "2100-01-01T00:00:00Z",
        },
    }
    for path, body in future.items():
        assert "date_in_future" in _types(await client.post(f"{base}/{path}", json=body, headers=h)), path
    reaction = {"manifestation": {"display": "Rash"}, "onset_at": "2999-01-01T00:00:00Z"}
    r = await client.post(
        f"{base}/allergies", json={"code": {"display": "Latex"}, "reactions": [reaction]}, headers=h
    )
    assert "date_in_future" in _types(r)
    for early in ("0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "0001-01-01T00:00:00+05:00"):
        r = await client.post(f"{base}/observations", json=_heart_rate(effective_at=early), headers=h)
        assert "date_too_early" in _types(r), early
    r = await client.post(
        f"{base}/observations", json=_heart_rate(effective_at="9999-12-31T23:59:59-12:00"), headers=h
    )
    assert "date_in_future" in _types(r)

    # A client clock a little ahead is tolerated; more is not.
    slightly = _iso(now + CLOCK_SKEW / 2)
    r = await client.post(f"{base}/observations", json=_heart_rate(effective_at=slightly), headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{base}/observations", json=_heart_rate(effective_at=_iso(now + 2 * CLOCK_SKEW)), headers=h
    )
    assert "date_in_future" in _types(r)
    # A planned visit may lie ahead (not beyond 2200); a care plan may run into the future.
    planned = {"status": "planned", "class_code": "AMB", "period_start": _iso(now + timedelta(days=30))}
    assert (await client.post(f"{base}/encounters", json=planned, headers=h)).status_code == 201
    late = {**planned, "period_start": "2300-01-01T00:00:00Z"}
    assert "date_too_late" in _types(await client.post(f"{base}/encounters", json=late, headers=h))
    plan = {"title": "Diet", "period_end": _iso(now + timedelta(days=365))}
    assert (await client.post(f"{base}/care-plans", json=plan, headers=h)).status_code == 201

    # The typo'd reading never becomes the latest vital sign.
    chart = (await client.get(f"{base}/chart", headers=h)).json()
    assert [v["effective_at"][:4] for v in chart["latest_vitals"]] == [str(now.year)]


async def test_values_ranges_and_periods(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "nurse")
    p = await register(client, h)
    base = f"/api/patients/{p['id']}"
    assert "negative_value" in _types(
        await client.post(f"{base}/observations", json=_heart_rate(value_quantity="-70"), headers=h)
    )
    bp = {
        "code": {"system": LOINC, "code": "85354-9", "display": "Blood pressure"},
        "effective_at": "2024-05-01T10:00:00Z",
        "components": [
            {"code": {"system": LOINC, "code": "8480-6", "display": "Systolic"}, "value_quantity": "120"},
            {"code": {"system": LOINC, "code": "8462-4", "display": "Diastolic"}, "value_quantity": "-80"},
        ],
    }
    assert "negative_value" in _types(await client.post(f"{base}/observations", json=bp, headers=h))
    inverted = _heart_rate(reference_low="100", reference_high="50")
    assert "reference_range_inverted" in _types(
        await client.post(f"{base}/observations", json=inverted, headers=h)
    )
    # A measurement that may be negative (base excess) and a sensor reading 0 are kept.
    base_excess = {
        "code": {"system": LOINC, "code": "1925-7"},
        "value_quantity": "-3.5",
        "value_unit": "mmol/L",
    }
    assert (await client.post(f"{base}/observations", json=base_excess, headers=h)).status_code == 201
    r = await client.post(
        f"{base}/observations",
        json=_heart_rate(value_quantity="0", reference_low="50", reference_high="100"),
        headers=h,
    )
    assert r.status_code == 201, r.text
    obs = f"{base}/observations/{r.json()['id']}"

    # Corrections are checked against what is stored.
    assert_error(
        await client.patch(obs, json={"reference_low": "120"}, headers=h), 400, "reference_range_inverted"
    )
    assert_error(await client.patch(obs, json={"value_quantity": "-1"}, headers=h), 400, "negative_value")
    assert (await client.patch(obs, json={"value_quantity": "64"}, headers=h)).status_code == 200
    assert "reference_range_inverted" in _types(
        await client.patch(obs, json={"reference_low": "9", "reference_high": "1"}, headers=h)
    )

    doctor = await headers_for(client, db, "doctor")
    cond = {
        "code": {"display": "Flu"},
        "onset_at": "2024-01-10T00:00:00Z",
        "abatement_at": "2024-01-01T00:00:00Z",
    }
    assert "period_end_before_start" in _types(
        await client.post(f"{base}/conditions", json=cond, headers=doctor)
    )
    del cond["abatement_at"]
    r = await client.post(f"{base}/conditions", json=cond, headers=doctor)
    assert r.status_code == 201, r.text
    r = await client.patch(
        f"{base}/conditions/{r.json()['id']}", json={"abatement_at": "2023-12-01T00:00:00Z"}, headers=doctor
    )
    assert_error(r, 400, "period_end_before_start")
    enc = {"class_code": "AMB", "period_start": "2024-01-10T10:00:00Z"}
    r = await client.post(f"{base}/encounters", json=enc, headers=doctor)
    r = await client.patch(
        f"{base}/encounters/{r.json()['id']}", json={"period_end": "2024-01-10T09:00:00Z"}, headers=doctor
    )
    assert_error(r, 400, "period_end_before_start")
    # refills is a whole number, not a boolean.
    med = {"medication": {"display": "Paracetamol 500 MG"}, "refills": True}
    assert "int_type" in _types(await client.post(f"{base}/medication-requests", json=med, headers=doctor))


async def test_fhir_and_the_importer_apply_the_same_rules(
    client: httpx.AsyncClient, db: Database, tmp_path: Path
) -> None:
    h = await headers_for(client, db, "doctor")
    patient = {"resourceType": "Patient", "name": [{"family": "Future"}], "birthDate": "2990-01-01"}
    outcome = assert_outcome(
        await client.post("/fhir/Patient", json=patient, headers={**h, **FHIR}), 400, "invalid"
    )
    assert "birth_date: must not be in the future" in outcome["issue"][0]["diagnostics"]
    created = await client.post(
        "/fhir/Patient", json={**patient, "birthDate": "1990-01-01"}, headers={**h, **FHIR}
    )
    pid = created.json()["id"]
    dead_before_born = {**created.json(), "deceasedDateTime": "1980-01-01T00:00:00Z"}
    r = await client.put(f"/fhir/Patient/{pid}", json=dead_before_born, headers={**h, **FHIR})
    assert "deceased_at is before the birth date" in assert_outcome(r, 400)["issue"][0]["diagnostics"]
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [HEART_RATE]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2999-01-01T00:00:00Z",
        "valueQuantity": {"value": 72},
    }
    assert_outcome(await client.post("/fhir/Observation", json=obs, headers={**h, **FHIR}), 400, "invalid")
    obs["effectiveDateTime"] = "2024-01-01T00:00:00Z"
    obs["referenceRange"] = [{"low": {"value": 100}, "high": {"value": 50}}]
    assert_outcome(await client.post("/fhir/Observation", json=obs, headers={**h, **FHIR}), 400, "invalid")
    del obs["referenceRange"]
    r = await client.post("/fhir/Observation", json=obs, headers={**h, **FHIR})
    assert r.status_code == 201, r.text
    fixed = {**r.json(), "valueQuantity": {"value": -72}}
    r = await client.put(f"/fhir/Observation/{fixed['id']}", json=fixed, headers={**h, **FHIR})
    assert "negative" in assert_outcome(r, 400)["issue"][0]["diagnostics"]

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:p1", "resource": {**patient, "birthDate": "1970-01-01", "id": "p1"}},
            {
                "fullUrl": "urn:uuid:o1",
                "resource": {
                    **obs,
                    "id": "o1",
                    "subject": {"reference": "urn:uuid:p1"},
                    "effectiveDateTime": "2999-01-01T00:00:00Z",
                },
            },
        ],
    }
    (tmp_path / "future.json").write_text(json.dumps(bundle))
    report = await importer.import_paths(db, [tmp_path])
    [problem] = report.problems
    assert problem.position == "entry 1" and problem.resource_type == "Observation"
    assert "effective_at: must not be in the future" in problem.message
    assert report.counts["Patient"][importer.FAILED] == 1  # the bundle was rolled back
