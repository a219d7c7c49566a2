"""Importing both Synthea builds (standard + hiv) with ``hospital import-fhir`` and reading them
back through /fhir: per patient and per supported type, the count read back equals the count in
the source bundle; accents survive byte for byte; re-importing changes nothing; the audit chain
stays intact. The import runs once per module (the hiv set is ~24 MB)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.fhir import importer
from app.fhir.bookkeeping import FhirRawResource
from app.patients import models as pm
from app.staff.models import StaffMember
from tests.conftest import drop_database, make_settings, new_migrated_database, run_cli
from tests.fhir.helpers import assert_valid, fetch_all
from tests.patients.helpers import fresh_app, headers_for

SYNTHEA = "https://github.com/synthetichealth/synthea"
SUPPORTED = (
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "MedicationRequest",
    "Procedure",
    "Immunization",
    "CarePlan",
)
RAW_TYPES_KEPT = ("Claim", "ExplanationOfBenefit")


def _bundles(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith(("hospital", "practitioner")))


async def _table_counts(url: str) -> dict[str, int]:
    database = Database.from_settings(make_settings(url))
    try:
        async with database.sessionmaker() as s:
            out = {}
            for name, model in {
                "patients": pm.Patient,
                "encounters": pm.Encounter,
                "observations": pm.Observation,
                "immunizations": pm.Immunization,
                "staff": StaffMember,
                "raw": FhirRawResource,
            }.items():
                out[name] = (await s.execute(select(func.count()).select_from(model))).scalar_one()
            return out
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
async def synthea_db(
    tmp_path_factory: pytest.TempPathFactory, sample_data: Path
) -> AsyncIterator[dict[str, Any]]:
    """A database with both sample folders imported: the standard one through the CLI (a
    subprocess), the hiv one through the importer function; then both again through the CLI."""
    url = await new_migrated_database(tmp_path_factory.mktemp("synthea-import"))
    standard, hiv = sample_data / "synthea" / "standard", sample_data / "synthea" / "hiv"
    first_cli = await run_cli(url, "import-fhir", "--no-progress", str(standard))
    database = Database.from_settings(make_settings(url))
    try:
        hiv_report = await importer.import_paths(database, [hiv])
    finally:
        await database.dispose()
    counts_before = await _table_counts(url)
    again = await run_cli(url, "import-fhir", "--no-progress", str(standard), str(hiv))
    counts_after = await _table_counts(url)
    yield {
        "url": url,
        "first_cli": first_cli,
        "hiv_report": hiv_report,
        "again": again,
        "counts_before": counts_before,
        "counts_after": counts_after,
        "standard": standard,
        "hiv": hiv,
    }
    await drop_database(url)


def _summary_row(output: str, resource_type: str) -> list[int]:
    for line in output.splitlines():
        cells = line.split()
        if cells and cells[0] == resource_type:
            return [int(c) for c in cells[1:]]
    raise AssertionError(f"no summary row for {resource_type} in:\n{output}")


def _assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


async def test_first_import_reports_everything_imported_or_kept(synthea_db: dict[str, Any]) -> None:
    _assert_ok(synthea_db["first_cli"])
    out = synthea_db["first_cli"].stdout
    # imported, unchanged, kept raw, skipped, failed
    assert _summary_row(out, "Patient") == [4, 0, 0, 0, 0]
    assert _summary_row(out, "Claim")[2] > 0 and _summary_row(out, "ExplanationOfBenefit")[2] > 0
    assert "kept raw for the billing module" in out
    assert _summary_row(out, "total")[4] == 0
    report: importer.ImportReport = synthea_db["hiv_report"]
    assert report.ok, [str(p) for p in report.problems]
    assert report.counts["Patient"][importer.CREATED] == 12
    assert report.counts["Practitioner"][importer.CREATED] == 1191
    for kind in RAW_TYPES_KEPT:
        assert report.counts[kind][importer.KEPT_RAW] > 0
    assert report.total(importer.FAILED) == 0 and report.total(importer.SKIPPED) == 0


async def test_reimport_changes_nothing(synthea_db: dict[str, Any]) -> None:
    _assert_ok(synthea_db["again"])
    out = synthea_db["again"].stdout
    total = _summary_row(out, "total")
    assert total[0] == 0 and total[2] == 0 and total[3] == 0 and total[4] == 0, out
    assert total[1] > 10_000
    assert synthea_db["counts_after"] == synthea_db["counts_before"]


async def test_counts_per_patient_read_back_through_fhir(synthea_db: dict[str, Any], broker: Any) -> None:
    async with fresh_app(synthea_db["url"], broker) as (client, database):
        headers = await headers_for(client, database, "doctor")
        checked = 0
        for path in _bundles(synthea_db["standard"]) + _bundles(synthea_db["hiv"]):
            bundle = json.loads(path.read_text(encoding="utf-8"))
            source = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
            patient = next(
                e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
            )
            found, total = await fetch_all(
                client, f"/fhir/Patient?identifier={SYNTHEA}|{patient['id']}", headers
            )
            assert total == 1, path.name
            patient_id = found[0]["id"]
            for kind in SUPPORTED:
                resources, total = await fetch_all(
                    client, f"/fhir/{kind}?patient={patient_id}&_count=200", headers
                )
                assert total == len(resources) == source[kind], (path.name, kind, total, source[kind])
                checked += 1
        assert checked == 16 * len(SUPPORTED)


async def test_accented_name_survives_byte_for_byte(synthea_db: dict[str, Any], broker: Any) -> None:
    path = next(p for p in _bundles(synthea_db["hiv"]) if "Godínez" in p.name)
    source = json.loads(path.read_text(encoding="utf-8"))
    patient = next(e["resource"] for e in source["entry"] if e["resource"]["resourceType"] == "Patient")
    async with fresh_app(synthea_db["url"], broker) as (client, database):
        headers = await headers_for(client, database, "doctor")
        r = await client.get("/api/patients", params={"name": "godinez"}, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["total"] == 1
        got = await client.get(f"/fhir/Patient/{r.json()['items'][0]['id']}", headers=headers)
        family = got.json()["name"][0]["family"]
        assert family == patient["name"][0]["family"] == "Godínez202"
        assert family.encode() == patient["name"][0]["family"].encode()


async def test_imported_prescriptions_keep_their_requester(synthea_db: dict[str, Any], broker: Any) -> None:
    """The prescriber of the source record survives import and read-back (not the import user)."""
    path = next(p for p in _bundles(synthea_db["standard"]) if p.name.startswith("Frankie174"))
    bundle = json.loads(path.read_text(encoding="utf-8"))
    source = {
        e["resource"]["id"]: e["resource"]["requester"]["display"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
    }
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert len(source) == 29 and "Dr. Gaston250 Hermann103" in source.values()
    async with fresh_app(synthea_db["url"], broker) as (client, database):
        headers = await headers_for(client, database, "doctor")
        found, _ = await fetch_all(client, f"/fhir/Patient?identifier={SYNTHEA}|{patient['id']}", headers)
        meds, total = await fetch_all(
            client, f"/fhir/MedicationRequest?patient={found[0]['id']}&_count=200", headers
        )
        assert total == len(source)
        got = {}
        for med in meds:
            assert_valid(med)
            (ident,) = med["identifier"]
            assert ident["system"] == SYNTHEA
            got[ident["value"]] = med["requester"]["display"]
        assert got == source
        native = await client.get(
            f"/api/patients/{found[0]['id']}/medication-requests/{meds[0]['id']}", headers=headers
        )
        assert native.json()["requester_display"] == got[meds[0]["identifier"][0]["value"]]
        assert native.json()["prescriber_display"] != native.json()["requester_display"]


async def test_practitioners_and_organizations_are_in_the_directory(
    synthea_db: dict[str, Any], broker: Any
) -> None:
    async with fresh_app(synthea_db["url"], broker) as (client, database):
        headers = await headers_for(client, database, "doctor")
        r = await client.get(
            "/fhir/Practitioner",
            params={"identifier": "http://hl7.org/fhir/sid/us-npi|9999912069"},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["total"] == 1
        assert r.json()["entry"][0]["resource"]["name"][0]["family"] == "Hammes673"
        r = await client.get("/api/staff", params={"name": "hammes"}, headers=headers)
        assert r.status_code == 200 and r.json()["total"] >= 1
        r = await client.get(
            "/fhir/Organization",
            params={"identifier": f"{SYNTHEA}|cc017777-8cdb-3c21-bc4d-083ff908c27c"},
            headers=headers,
        )
        assert r.status_code == 200 and r.json()["total"] == 1, r.text


async def test_audit_chain_intact_after_import_and_reimport(synthea_db: dict[str, Any]) -> None:
    result = await run_cli(synthea_db["url"], "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit log intact" in result.stdout
