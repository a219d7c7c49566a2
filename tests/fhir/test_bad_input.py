"""Bad input on the FHIR write path never becomes a 500: impossible calendar dates, elements of
the wrong JSON type, hostile JSON (deep nesting, half surrogate pairs, huge numbers), through
the REST create/update, ``POST /fhir`` bundles and the importer (which reports and goes on)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.db import Database
from app.errors import AppError
from app.fhir import directory, importer
from app.fhir.mappers import MAPPERS
from app.fhir.mappers import base as mb
from app.fhir.mappers.scheduling import booking_from_fhir, slot_id
from app.fhir.router import RestResolver
from app.patients import models as pm
from tests.fhir.helpers import assert_outcome, error_code
from tests.fhir.test_api import FHIR, create_patient, observation
from tests.patients.helpers import LOINC, RXNORM, SNOMED, headers_for

IMPOSSIBLE = (
    "2026-13-01",
    "2026-02-30",
    "2026-00",
    "0000-01-01",
    "9999-12-31T23:59:59-12:00",  # no UTC equivalent (after the last representable instant)
    "2026-12-01T10:00:00+25:00",
    "2026-12-01T25:00:00Z",
)


def _seeds(patient: str) -> dict[str, dict[str, Any]]:
    """One well-formed resource per inbound mapper, using most of the elements it reads."""
    p = {"reference": patient}
    slot = slot_id(uuid.uuid4(), uuid.uuid4(), datetime(2030, 1, 7, 9, tzinfo=UTC))
    return {
        "Patient": {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:x", "value": "1", "type": {"coding": [{"code": "SS"}]}}],
            "name": [{"use": "official", "family": "F", "given": ["G"], "prefix": ["Dr"]}],
            "gender": "female",
            "birthDate": "1980-01-01",
            "deceasedDateTime": "2020-01-01T00:00:00Z",
            "telecom": [{"system": "phone", "value": "1", "use": "home", "rank": 1}],
            "address": [
                {
                    "line": ["a"],
                    "city": "c",
                    "extension": [
                        {
                            "url": "http://hl7.org/fhir/StructureDefinition/geolocation",
                            "extension": [
                                {"url": "latitude", "valueDecimal": 1.5},
                                {"url": "longitude", "valueDecimal": 2.5},
                            ],
                        }
                    ],
                }
            ],
            "contact": [
                {
                    "relationship": [{"coding": [{"code": "C"}]}],
                    "name": {"family": "K", "given": ["L"]},
                    "telecom": [{"system": "phone", "value": "2"}, {"system": "email", "value": "a@b.org"}],
                }
            ],
            "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}}],
            "maritalStatus": {"coding": [{"code": "M"}], "text": "Married"},
        },
        "Observation": {
            **observation(patient.removeprefix("Patient/")),
            "referenceRange": [{"low": {"value": 50}, "high": {"value": 100}}],
            "interpretation": [{"coding": [{"code": "N"}]}],
            "component": [{"code": {"text": "c"}, "valueQuantity": {"value": 1}}],
            "note": [{"text": "n"}],
            "identifier": [{"system": "urn:x", "value": "1"}],
        },
        "Condition": {
            "resourceType": "Condition",
            "code": {"coding": [{"system": SNOMED, "code": "1", "display": "d"}]},
            "subject": p,
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "category": [{"coding": [{"code": "encounter-diagnosis"}]}],
            "onsetDateTime": "2020-01-01T00:00:00Z",
            "abatementPeriod": {"end": "2020-02-01T00:00:00Z"},
            "recordedDate": "2020-01-01T00:00:00Z",
            "note": [{"text": "n"}],
        },
        "AllergyIntolerance": {
            "resourceType": "AllergyIntolerance",
            "code": {"coding": [{"code": "1", "display": "d"}]},
            "patient": p,
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "category": ["medication"],
            "onsetPeriod": {"start": "2020-01-01T00:00:00Z"},
            "recordedDate": "2020-01-01T00:00:00Z",
            "reaction": [{"manifestation": [{"text": "rash"}], "severity": "mild", "onset": "2020-01-01"}],
        },
        "MedicationRequest": {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": p,
            "medicationReference": {"reference": "#m"},
            "contained": [
                {
                    "resourceType": "Medication",
                    "id": "m",
                    "code": {"coding": [{"system": RXNORM, "code": "1", "display": "x"}]},
                    "ingredient": [{"itemCodeableConcept": {"coding": [{"code": "2"}]}}],
                }
            ],
            "dosageInstruction": [
                {
                    "text": "t",
                    "route": {"coding": [{"code": "1"}]},
                    "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg"}}],
                }
            ],
            "dispenseRequest": {
                "quantity": {"value": 10},
                "numberOfRepeatsAllowed": 2,
                "expectedSupplyDuration": {"value": 5, "code": "d"},
            },
            "authoredOn": "2020-01-01T00:00:00Z",
            "requester": {"identifier": {"system": "s", "value": "v"}, "display": "D"},
            "extension": [{"url": mb.EXT_ALLERGY_OVERRIDE, "valueString": "ok"}],
        },
        "Encounter": {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"code": "AMB"},
            "type": [{"coding": [{"code": "1"}]}],
            "subject": p,
            "period": {"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T01:00:00Z"},
            "participant": [{"type": [{"coding": [{"code": "PPRF"}]}], "individual": {"display": "D"}}],
            "location": [{"location": {"display": "L"}}],
            "reasonCode": [{"coding": [{"code": "1"}]}],
        },
        "Procedure": {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {"coding": [{"code": "1"}]},
            "subject": p,
            "performedPeriod": {"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T01:00:00Z"},
        },
        "Immunization": {
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {"coding": [{"code": "1"}]},
            "patient": p,
            "occurrenceDateTime": "2020-01-01T00:00:00Z",
        },
        "CarePlan": {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": p,
            "period": {"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"},
            "contained": [
                {
                    "resourceType": "Goal",
                    "id": "g",
                    "description": {"text": "d"},
                    "target": [{"dueDate": "2021-01-01"}],
                }
            ],
            "goal": [{"reference": "#g"}],
            "activity": [{"detail": {"code": {"coding": [{"code": "1"}]}, "status": "completed"}}],
        },
        "Practitioner": {
            "resourceType": "Practitioner",
            "identifier": [{"system": "urn:npi", "value": "1"}],
            "name": [{"family": "F", "given": ["G"]}],
            "telecom": [{"system": "email", "value": "a@b.org"}],
            "address": [{"line": ["a"], "city": "c"}],
            "qualification": [{"code": {"text": "MD"}}],
        },
        "Organization": {
            "resourceType": "Organization",
            "identifier": [{"system": "urn:o", "value": "1"}],
            "name": "O",
            "type": [{"coding": [{"code": "prov"}]}],
            "address": [{"line": ["a"]}],
        },
        "Appointment": {
            "resourceType": "Appointment",
            "status": "booked",
            "slot": [{"reference": f"Slot/{slot}"}],
            "participant": [{"actor": {"reference": patient}, "status": "accepted"}],
        },
    }


def _map(kind: str, resource: Any) -> None:
    """Every inbound mapping of ``kind`` the REST API and the importer run."""
    refs = RestResolver()
    if kind == "Practitioner":
        directory.practitioner_from_fhir(resource)
    elif kind == "Organization":
        directory.organization_from_fhir(resource)
    elif kind == "Appointment":
        booking_from_fhir(resource)
    else:
        mapper = MAPPERS[kind]
        if kind == "Patient":
            mapper.from_fhir(resource)
        else:
            mapper.from_fhir(resource, refs)
            mb.patient_of(resource, refs)
            mb.provenance(resource, refs)
        for extra in ("update_from_fhir", "immutable"):
            if hasattr(mapper, extra):
                getattr(mapper, extra)(resource)


WRONG = (
    "x",
    7,
    1.5,
    True,
    None,
    [],
    {},
    ["x"],
    [7],
    [{}],
    {"a": 1},
    "2026-02-30",
    "9999-12-31T23:59:59-12:00",
)


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if at:
        yield at
    if isinstance(value, dict):
        for key, item in value.items():
            if at or key != "resourceType":
                yield from _paths(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*at, i))


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    out = copy.deepcopy(value)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return out


def test_every_inbound_mapper_answers_wrong_json_types_with_a_mapping_error() -> None:
    """Each element of each seed replaced by values of the wrong JSON type or impossible dates:
    the mappers refuse with a 400 ``MappingError`` (naming the element where the R4B models
    can), never with another exception (which the API would answer 500)."""
    seeds = _seeds(f"Patient/{uuid.uuid4()}")
    refused = 0
    for kind, seed in seeds.items():
        _map(kind, seed)  # the seed itself maps
        for path in _paths(seed):
            for wrong in WRONG:
                try:
                    _map(kind, _replaced(seed, path, wrong))
                except AppError as exc:
                    assert exc.status_code == 400, (kind, path, wrong, exc.message)
                    refused += 1
                except Exception as exc:  # pragma: no cover - the failure message is the point
                    pytest.fail(f"{kind} {path} = {wrong!r}: {type(exc).__name__}: {exc}")
    assert refused > 1000  # the mutations did reach the mappers' checks


def test_a_wrong_type_names_the_element() -> None:
    seed = _seeds(f"Patient/{uuid.uuid4()}")["Observation"]
    with pytest.raises(mb.MappingError) as caught:
        _map("Observation", {**seed, "category": "vital-signs"})
    assert caught.value.message.startswith("Observation is not valid FHIR: Observation.category")
    with pytest.raises(mb.MappingError) as caught:
        _map("Observation", _replaced(seed, ("referenceRange", 0, "low"), "50"))
    assert (
        "FHIR: Observation.referenceRange[0].low: Input should be a valid dictionary" in caught.value.message
    )
    with pytest.raises(mb.MappingError) as caught:
        _map("Observation", _replaced(seed, ("referenceRange", 0, "low"), "fifty"))
    assert "Observation.referenceRange[0].low: must be a JSON object" in caught.value.message


def test_fhir_dates_parse_strictly() -> None:
    assert mb.when("2020-05-18T14:26:21.813+02:00", "x").isoformat() == "2020-05-18T12:26:21.813000+00:00"
    assert mb.when("2020-05", "x").isoformat() == "2020-05-01T00:00:00+00:00"
    assert mb.when("2016-12-31T23:59:60Z", "x").isoformat() == "2017-01-01T00:00:00+00:00"  # leap second
    for bad in (*IMPOSSIBLE, "2020-01-01 10:00:00Z", "20200101", "2020-01-01T10:00", 2020, ["2020"]):
        with pytest.raises(mb.MappingError) as caught:
            mb.when(bad, "Observation.effective")
        assert caught.value.path == "Observation.effective"
        assert caught.value.message.startswith("Observation.effective ")


async def test_impossible_dates_are_400_on_every_fhir_write(client: httpx.AsyncClient, db: Database) -> None:
    doctor = await headers_for(client, db, "doctor")
    patient = await create_patient(client, doctor)
    pid = patient["id"]
    medication = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "197361"}]},
        "subject": {"reference": f"Patient/{pid}"},
    }
    condition = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": SNOMED, "code": "38341003"}]},
        "subject": {"reference": f"Patient/{pid}"},
    }
    for bad in IMPOSSIBLE:
        for url, body, element in (
            ("/fhir/Observation", {**observation(pid), "effectiveDateTime": bad}, "Observation.effective"),
            ("/fhir/Condition", {**condition, "onsetDateTime": bad}, "Condition.onset"),
            ("/fhir/MedicationRequest", {**medication, "authoredOn": bad}, "MedicationRequest.authoredOn"),
            ("/fhir/Patient", {**patient, "deceasedDateTime": bad}, "Patient.deceasedDateTime"),
        ):
            outcome = assert_outcome(
                await client.post(url, json=body, headers={**doctor, **FHIR}), 400, "invalid"
            )
            assert outcome["issue"][0]["expression"] == [element], (bad, outcome)
            assert error_code(outcome) == "invalid_resource"
    # Nothing was written on the way.
    listed = await client.get(f"/fhir/Observation?patient=Patient/{pid}", headers=doctor)
    assert listed.json()["total"] == 0


async def test_bundles_with_bad_entries_are_400_never_500(client: httpx.AsyncClient, db: Database) -> None:
    doctor = await headers_for(client, db, "doctor")
    pid = str(uuid.uuid4())
    patient = {"resourceType": "Patient", "id": pid, "name": [{"family": "Bundle"}]}
    obs = {**observation("x"), "id": str(uuid.uuid4()), "subject": {"reference": f"urn:uuid:{pid}"}}

    def bundle(kind: str, *resources: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": kind,
            "entry": [
                {"fullUrl": f"urn:uuid:{r.get('id', i)}", "resource": r, "request": {"method": "POST"}}
                for i, r in enumerate(resources)
            ],
        }

    bad_date = {**obs, "effectiveDateTime": "2020-02-30"}
    r = await client.post("/fhir", json=bundle("transaction", patient, bad_date), headers=doctor)
    outcome = assert_outcome(r, 400, "invalid")
    assert "entry 1 (Observation)" in outcome["issue"][0]["diagnostics"]
    assert "Observation.effective is not a FHIR dateTime" in outcome["issue"][0]["diagnostics"]
    r = await client.post("/fhir", json=bundle("batch", patient, bad_date), headers=doctor)
    assert r.status_code == 200, r.text
    assert [e["response"]["status"] for e in r.json()["entry"]] == ["201 Created", "400"]

    wrong_shapes: list[Any] = [
        {**obs, "category": "vital-signs"},
        {**obs, "valueQuantity": "72"},
        {**obs, "code": {"coding": {"code": "8867-4", "system": LOINC}}},
        {**obs, "identifier": 7},
        {**obs, "subject": "Patient/1"},
    ]
    for wrong in wrong_shapes:
        r = await client.post(
            "/fhir", json=bundle("transaction", {**patient, "id": str(uuid.uuid4())}, wrong), headers=doctor
        )
        assert_outcome(r, 400)
    for body in (
        {"resourceType": "Bundle", "type": "transaction", "entry": 7},
        {"resourceType": "Bundle", "type": "transaction", "entry": "abc"},
        {"resourceType": "Bundle", "type": "batch", "entry": [7, "x", {"resource": 7}, {"request": 7}]},
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": {**patient, "identifier": 7}}],
        },
    ):
        r = await client.post("/fhir", json=body, headers=doctor)
        assert r.status_code in (200, 400), r.text
        assert r.json()["resourceType"] in ("Bundle", "OperationOutcome")
    async with db.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(pm.Observation))).scalar_one() == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000 + b"]" * 5000,  # deeper than any resource: the parser must not run out of stack
        b'{"resourceType": "Patient", "name": [' + b"[" * 150 + b"]" * 150 + b"]}",
        b'{"resourceType": "Patient", "name": [{"family": "\\ud800"}]}',  # half a surrogate pair
        b'{"resourceType": "Patient", "multipleBirthInteger": 1' + b"0" * 5000 + b"}",
        b"\xff\xfe{}",
    ],
)
async def test_hostile_json_is_malformed_json(client: httpx.AsyncClient, db: Database, raw: bytes) -> None:
    doctor = await headers_for(client, db, "doctor")
    for url in ("/fhir/Patient", "/fhir"):
        outcome = assert_outcome(
            await client.post(url, content=raw, headers={**doctor, **FHIR}), 400, "invalid"
        )
        assert error_code(outcome) == "malformed_json"


async def test_import_reports_an_impossible_date_and_goes_on(db: Database, tmp_path: Path) -> None:
    """QA 34 F3-6: the bundle with the bad date is rolled back and reported with its file and
    position; the files after it are imported; the run does not stop."""
    pid = str(uuid.uuid4())
    patient = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:qa:imp", "value": pid}],
        "name": [{"family": "Baddate"}],
    }
    entries = [
        patient,
        {**observation("x"), "id": str(uuid.uuid4()), "subject": {"reference": f"urn:uuid:{pid}"}},
        {
            **observation("x"),
            "id": str(uuid.uuid4()),
            "subject": {"reference": f"urn:uuid:{pid}"},
            "effectiveDateTime": "2020-02-30",
        },
    ]
    bad = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries],
    }
    (tmp_path / "b_baddate.json").write_text(json.dumps(bad))
    good_id = str(uuid.uuid4())
    good = {**patient, "id": good_id, "identifier": [{"system": "urn:qa:imp", "value": good_id}]}
    (tmp_path / "c_good.json").write_text(json.dumps(good))
    (tmp_path / "d_shape.json").write_text(
        json.dumps({"resourceType": "Bundle", "type": "collection", "entry": {"resource": patient}})
    )

    report = await importer.import_paths(db, [tmp_path])
    problems = [str(p) for p in report.problems]
    assert any(
        p.endswith(
            "b_baddate.json: entry 2 Observation: Observation.effective is not a FHIR dateTime:"
            " '2020-02-30' (no such date, time or zone offset)"
        )
        for p in problems
    ), problems
    assert any("d_shape.json: file Bundle: Bundle.entry must be an array" in p for p in problems), problems
    assert report.bundles_failed == 2 and not report.ok
    assert report.counts["Patient"][importer.CREATED] == 1  # c_good.json, after the bad one
    async with db.sessionmaker() as s:
        names = (await s.execute(select(pm.PatientIdentifier.value))).scalars().all()
        observations = (await s.execute(select(func.count()).select_from(pm.Observation))).scalar_one()
    assert set(names) == {good_id} and observations == 0  # nothing of the bad bundle was kept
