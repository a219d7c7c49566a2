"""The importer on small bundles and on damaged real ones: ordering, references, idempotency,
per-bundle atomicity, positions of errors, raw keeping, NDJSON, and POST /fhir."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from app.auth.models import User
from app.db import Database
from app.fhir import importer
from app.fhir.bookkeeping import FhirRawResource
from app.patients import models as pm
from tests.conftest import run_cli
from tests.patients.helpers import headers_for

SYNTHEA = "https://github.com/synthetichealth/synthea"
NPI = "http://hl7.org/fhir/sid/us-npi"
FRANKIE = "standard/Frankie174_Jast432_a5b737fb-1f94-4767-802b-1112051f5101.json"
ACCENTED_PATIENT = "hiv/Ramona980_Godínez202_6eb9f136-121e-2f36-9115-d450c210dced.json"


def _patient(pid: str, family: str = "Tester") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": SYNTHEA, "value": pid}],
        "name": [{"use": "official", "family": family, "given": ["Ann"]}],
        "gender": "female",
        "birthDate": "1970-01-02",
    }


def _bundle(kind: str, *resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {
                "fullUrl": f"urn:uuid:{r['id']}",
                "resource": r,
                "request": {"method": "POST", "url": r["resourceType"]},
            }
            for r in resources
        ],
    }


def _small_patient_bundle(kind: str = "transaction", npi: str = "555") -> tuple[dict[str, Any], str]:
    pid, enc, cond, claim = (str(uuid.uuid4()) for _ in range(4))
    practitioner = f"Practitioner?identifier={NPI}|{npi}"
    bundle = _bundle(
        kind,
        _patient(pid),
        {
            "resourceType": "Encounter",
            "id": enc,
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": f"urn:uuid:{pid}"},
            "participant": [{"individual": {"reference": practitioner, "display": "Dr. Who"}}],
            "period": {"start": "2020-01-01T10:00:00+00:00", "end": "2020-01-01T10:30:00+00:00"},
        },
        {
            "resourceType": "Condition",
            "id": cond,
            "code": {
                "coding": [
                    {"system": "http://snomed.info/sct", "code": "59621000", "display": "Hypertension"}
                ]
            },
            "subject": {"reference": f"urn:uuid:{pid}"},
            "encounter": {"reference": f"urn:uuid:{enc}"},
            "onsetDateTime": "2020-01-01T10:00:00+00:00",
        },
        {
            "resourceType": "Claim",
            "id": claim,
            "status": "active",
            "patient": {"reference": f"urn:uuid:{pid}"},
        },
    )
    return bundle, pid


async def _count(db: Database, model: Any) -> int:
    async with db.sessionmaker() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


# --- files -----------------------------------------------------------------------------


def test_discover_puts_organizations_and_practitioners_first(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a_patient.json").write_text(json.dumps(_small_patient_bundle()[0]))
    (tmp_path / "sub" / "orgs.json").write_text(
        json.dumps(_bundle("batch", {"resourceType": "Organization", "id": "o1", "name": "X"}))
    )
    (tmp_path / "practitionerInformation1.json").write_text("{}")
    (tmp_path / "hospitalInformation1.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("ignored")
    names = [p.name for p in importer.discover([tmp_path])]
    assert names == [
        "hospitalInformation1.json",
        "orgs.json",
        "practitionerInformation1.json",
        "a_patient.json",
    ]


async def test_import_resolves_references_keeps_raw_and_is_idempotent(db: Database, tmp_path: Path) -> None:
    directory = _bundle(
        "batch",
        {
            "resourceType": "Practitioner",
            "id": "p1",
            "identifier": [{"system": NPI, "value": "555"}],
            "name": [{"family": "Núñez", "given": ["Mateo"], "prefix": ["Dr."]}],
            "gender": "male",
        },
    )
    bundle, _ = _small_patient_bundle()
    (tmp_path / "practitionerInformation9.json").write_text(json.dumps(directory))
    (tmp_path / "patient.json").write_text(json.dumps(bundle))

    first = await importer.import_paths(db, [tmp_path])
    assert first.ok, [str(p) for p in first.problems]
    assert first.counts["Practitioner"][importer.CREATED] == 1
    assert first.counts["Patient"][importer.CREATED] == 1
    assert first.counts["Encounter"][importer.CREATED] == 1
    assert first.counts["Condition"][importer.CREATED] == 1
    assert first.counts["Claim"][importer.KEPT_RAW] == 1

    async with db.sessionmaker() as s:
        enc = (await s.execute(select(pm.Encounter))).scalar_one()
        cond = (await s.execute(select(pm.Condition))).scalar_one()
        raw = (await s.execute(select(FhirRawResource))).scalar_one()
        importer_user = (await s.execute(select(User).where(User.username == "system-import"))).scalar_one()
    assert enc.practitioner_identifier == f"{NPI}|555"
    assert cond.encounter_id == enc.id  # the urn:uuid reference became our id
    assert raw.patient_id == enc.patient_id and json.loads(raw.resource_json)["resourceType"] == "Claim"
    assert enc.recorded_by == importer_user.id and not importer_user.is_active

    again = await importer.import_paths(db, [tmp_path])
    assert again.ok
    assert again.total(importer.CREATED) == again.total(importer.KEPT_RAW) == 0
    assert again.total(importer.UNCHANGED) == 5
    assert await _count(db, pm.Patient) == 1 and await _count(db, FhirRawResource) == 1


async def test_the_import_account_cannot_sign_in(client: httpx.AsyncClient, db: Database) -> None:
    async with db.sessionmaker() as s:
        await importer.system_principal(s)
        await s.commit()
    r = await client.post("/api/auth/token", data={"username": "system-import", "password": "x" * 20})
    assert r.status_code in (401, 429)


async def test_bad_reference_mid_bundle_leaves_no_half_imported_patient(
    fresh_database_url: str, tmp_path: Path, sample_data: Path
) -> None:
    bundle = json.loads((sample_data / "synthea" / FRANKIE).read_text(encoding="utf-8"))
    index = next(
        i for i, e in enumerate(bundle["entry"]) if i > 100 and e["resource"]["resourceType"] == "Observation"
    )
    bundle["entry"][index]["resource"]["subject"] = {"reference": "urn:uuid:no-such-patient"}
    (tmp_path / "frankie.json").write_text(json.dumps(bundle))
    result = await run_cli(fresh_database_url, "import-fhir", "--no-progress", str(tmp_path))
    assert result.returncode == 1
    assert f"frankie.json: entry {index} Observation" in result.stdout
    assert "no-such-patient" in result.stdout
    assert "1 bundle(s) or file(s) rolled back" in result.stdout

    check = await run_cli(
        fresh_database_url, "import-fhir", "--no-progress", str(sample_data / "synthea" / FRANKIE)
    )
    assert check.returncode == 0, check.stdout + check.stderr
    row = next(line.split() for line in check.stdout.splitlines() if line.startswith("Patient "))
    assert row[1:3] == ["1", "0"]  # imported now, so nothing of it was left behind before
    verify = await run_cli(fresh_database_url, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


async def test_malformed_file_is_reported_with_position_and_the_rest_imports(
    db: Database, tmp_path: Path
) -> None:
    good, _ = _small_patient_bundle()
    text = json.dumps(good, indent=1)
    (tmp_path / "truncated.json").write_text(text[: len(text) // 2])
    (tmp_path / "good.json").write_text(json.dumps(_small_patient_bundle(npi="556")[0]))
    report = await importer.import_paths(db, [tmp_path])
    assert [p.file.endswith("truncated.json") for p in report.problems] == [True]
    assert report.problems[0].position.startswith("line ")
    assert "malformed JSON" in report.problems[0].message
    assert report.counts["Patient"][importer.CREATED] == 1
    lines = importer.summary_lines(report)
    assert any("truncated.json: line" in line for line in lines)


async def test_ndjson_lines_are_imported_one_by_one(db: Database, tmp_path: Path) -> None:
    pid = str(uuid.uuid4())
    lines = [
        json.dumps(_patient(pid, family="Ndjson")),
        json.dumps(
            {
                "resourceType": "Condition",
                "id": str(uuid.uuid4()),
                "code": {"text": "Cough"},
                "subject": {"reference": f"Patient/{pid}"},
            }
        ),
        '{"resourceType": "Condition", "subject": ',
        json.dumps(
            {"resourceType": "Condition", "code": {"text": "x"}, "subject": {"reference": "Patient/unknown"}}
        ),
    ]
    (tmp_path / "data.ndjson").write_text("\n".join(lines) + "\n")
    report = await importer.import_paths(db, [tmp_path])
    assert report.counts["Patient"][importer.CREATED] == 1
    assert report.counts["Condition"][importer.CREATED] == 1
    assert report.counts["Condition"][importer.FAILED] == 1
    positions = sorted(p.position for p in report.problems)
    assert positions[0].startswith("line 3 column") and positions[1] == "line 4"
    again = await importer.import_paths(db, [tmp_path / "data.ndjson"])
    assert again.counts["Condition"][importer.UNCHANGED] == 1 and again.total(importer.CREATED) == 0


# --- POST /fhir ------------------------------------------------------------------------


async def test_post_transaction_bundle(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "doctor")
    bundle, _ = _small_patient_bundle()
    r = await client.post("/fhir", json=bundle, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 4
    patient_location = body["entry"][0]["response"]["location"]
    assert patient_location.startswith("Patient/")
    condition = await client.get(f"/fhir/{body['entry'][2]['response']['location']}", headers=h)
    assert condition.status_code == 200, condition.text
    assert condition.json()["subject"]["reference"] == patient_location
    assert "location" not in body["entry"][3]["response"]  # the Claim: kept raw, not served

    # The same bundle again: everything is recognised (Synthea ids), nothing is added.
    r = await client.post("/fhir", json=bundle, headers=h)
    assert [e["response"]["status"] for e in r.json()["entry"]] == ["200 OK"] * 4
    assert await _count(db, pm.Patient) == 1


async def test_post_transaction_is_all_or_nothing(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "doctor")
    bundle, _ = _small_patient_bundle()
    bundle["entry"][2]["resource"]["subject"] = {"reference": "urn:uuid:missing"}
    r = await client.post("/fhir", json=bundle, headers=h)
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert "entry 2" in r.json()["issue"][0]["diagnostics"]
    assert await _count(db, pm.Patient) == 0
    assert await _count(db, pm.Encounter) == 0


async def test_post_batch_answers_each_entry(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "doctor")
    bundle, _ = _small_patient_bundle(kind="batch")
    bundle["entry"][2]["resource"]["subject"] = {"reference": "urn:uuid:missing"}
    r = await client.post("/fhir", json=bundle, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "201 Created", "400", "201 Created"]
    assert body["entry"][2]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert await _count(db, pm.Patient) == 1 and await _count(db, pm.Condition) == 0


async def test_post_bundle_needs_clinical_write(client: httpx.AsyncClient, db: Database) -> None:
    h = await headers_for(client, db, "receptionist")
    bundle, _ = _small_patient_bundle()
    r = await client.post("/fhir", json=bundle, headers=h)
    assert r.status_code == 403
    assert r.json()["resourceType"] == "OperationOutcome"
    r = await client.post(
        "/fhir", json={"resourceType": "Patient"}, headers=await headers_for(client, db, "doctor")
    )
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


async def test_cli_import_of_a_copied_folder(
    fresh_database_url: str, tmp_path: Path, sample_data: Path
) -> None:
    folder = tmp_path / "standard"
    shutil.copytree(sample_data / "synthea" / "standard", folder)
    result = await run_cli(fresh_database_url, "import-fhir", "--no-progress", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resource type" in result.stdout and "kept raw" in result.stdout


async def test_bundles_may_be_larger_than_other_bodies(client: httpx.AsyncClient, db: Database) -> None:
    """Synthea patient bundles run to megabytes: POST /fhir has its own, larger limit."""
    h = await headers_for(client, db, "doctor")
    bundle, _ = _small_patient_bundle()
    # Padding inside the Patient's narrative makes the bundle 2 MB, twice the general limit.
    bundle["entry"][0]["resource"]["text"] = {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * 2_000_000 + "</div>",
    }
    r = await client.post("/fhir", json=bundle, headers=h)
    assert r.status_code == 200, r.text[:300]
    too_big = await client.post("/api/patients", content=b"x" * 2_000_000, headers=h)
    assert too_big.status_code == 413


async def test_ndjson_conditional_references_to_resources_imported_earlier(
    db: Database, tmp_path: Path
) -> None:
    """QA 34 F3-7: ``Patient?identifier=system|value`` (and ``Encounter?identifier=...``) resolve
    to a resource imported earlier in the same NDJSON file, or in an earlier file of the run."""
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:qa34-imp", "value": "nd1"}],
        "name": [{"family": "Conditional", "given": ["Nd"]}],
    }
    by_identifier = {"reference": "Patient?identifier=urn:qa34-imp|nd1"}
    encounter = {
        "resourceType": "Encounter",
        "identifier": [{"system": "urn:qa34-enc", "value": "e1"}],
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": by_identifier,
        "period": {"start": "2024-01-01T10:00:00Z"},
    }

    def heart_rate(
        n: int, subject: dict[str, str], encounter: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "identifier": [{"system": "urn:qa34-obs", "value": str(n)}],
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": subject,
            **({"encounter": encounter} if encounter else {}),
            "effectiveDateTime": "2024-01-01T10:05:00Z",
            "valueQuantity": {"value": 70 + n},
        }

    lines = [
        patient,
        encounter,
        heart_rate(1, by_identifier, {"reference": "Encounter?identifier=urn:qa34-enc|e1"}),
        heart_rate(2, {"reference": "Patient?identifier=urn%3Aqa34-imp%7Cnd1"}),  # URL-encoded
        heart_rate(3, {"reference": "Patient?identifier=urn:qa34-imp|nobody"}),
    ]
    (tmp_path / "a.ndjson").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    (tmp_path / "b.ndjson").write_text(json.dumps(heart_rate(4, by_identifier)) + "\n")

    report = await importer.import_paths(db, [tmp_path])
    assert [(p.position, p.message) for p in report.problems] == [
        ("line 5", "unresolved patient reference 'Patient?identifier=urn:qa34-imp|nobody'")
    ]
    assert report.counts["Observation"][importer.CREATED] == 3
    async with db.sessionmaker() as s:
        [patient_id] = (await s.execute(select(pm.Patient.id))).scalars().all()
        enc = (await s.execute(select(pm.Encounter))).scalar_one()
        rows = (await s.execute(select(pm.Observation).order_by(pm.Observation.source_id))).scalars().all()
    assert enc.patient_id == patient_id
    assert [(o.source_id, o.patient_id, o.encounter_id) for o in rows] == [
        ("1", patient_id, enc.id),
        ("2", patient_id, None),
        ("4", patient_id, None),
    ]


async def test_utf8_files_and_bodies_with_a_byte_order_mark(
    client: httpx.AsyncClient, db: Database, tmp_path: Path
) -> None:
    """QA 34 F3-8: Windows exporters write a UTF-8 BOM; it is no part of the JSON."""
    bundle, _ = _small_patient_bundle(npi="557")
    (tmp_path / "h_bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(bundle, ensure_ascii=False).encode())
    line = json.dumps(_patient(str(uuid.uuid4()), family="Bömlich"), ensure_ascii=False)
    (tmp_path / "bom.ndjson").write_bytes(b"\xef\xbb\xbf" + line.encode() + b"\n")
    report = await importer.import_paths(db, [tmp_path])
    assert report.ok, [str(p) for p in report.problems]
    assert report.counts["Patient"][importer.CREATED] == 2

    h = await headers_for(client, db, "doctor")
    body = {"resourceType": "Patient", "name": [{"family": "Bom"}]}
    r = await client.post(
        "/fhir/Patient",
        content=b"\xef\xbb\xbf" + json.dumps(body).encode(),
        headers={**h, "Content-Type": "application/fhir+json"},
    )
    assert r.status_code == 201, r.text


async def test_reimport_after_identifiers_changed_never_splits_a_patient(
    client: httpx.AsyncClient, db: Database, sample_data: Path
) -> None:
    """QA 34 F3-9, on the real Ramona Godínez bundle: a FHIR PUT that names no identifiers keeps
    them, so a re-import finds her; identifiers wiped through the native API make the re-import
    refuse the bundle (her records were imported for another patient) instead of registering an
    empty duplicate and calling her records "unchanged"."""
    path = sample_data / "synthea" / ACCENTED_PATIENT
    first = await importer.import_paths(db, [path])
    assert first.ok, [str(p) for p in first.problems[:3]]
    [pid] = await _patient_ids(db)
    h = await headers_for(client, db, "doctor")
    fhir = {**h, "Content-Type": "application/fhir+json"}
    r = await client.put(
        f"/fhir/Patient/{pid}",
        json={"resourceType": "Patient", "id": str(pid), "name": [{"family": "X"}]},
        headers=fhir,
    )
    assert r.status_code == 200, r.text

    again = await importer.import_paths(db, [path])
    assert again.ok and again.total(importer.CREATED) == 0, [str(p) for p in again.problems[:3]]
    assert again.counts["Patient"][importer.UNCHANGED] == 1
    assert await _patient_ids(db) == [pid]

    r = await client.patch(f"/api/patients/{pid}", json={"identifiers": []}, headers=h)
    assert r.status_code == 200, r.text
    split = await importer.import_paths(db, [path])
    [problem] = split.problems
    assert problem.file.endswith(".json") and problem.resource_type == "Encounter"
    assert f"was imported before for Patient/{pid}" in problem.message
    assert split.total(importer.CREATED) == 0 and split.bundles_failed == 1
    assert await _patient_ids(db) == [pid]  # no empty duplicate was left behind


async def _patient_ids(db: Database) -> list[uuid.UUID]:
    async with db.sessionmaker() as s:
        return list((await s.execute(select(pm.Patient.id))).scalars())
