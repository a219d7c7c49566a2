"""Practitioners imported from Synthea (practitionerInformation*.json) become staff records:
clinicians, found again by NPI on a re-import, with licences mapped from qualifications."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from app.db import Database
from app.fhir import importer
from app.fhir.directory import practitioner_from_fhir
from app.staff import service
from app.staff.models import StaffIdentifier, StaffMember
from tests.conftest import make_settings

NPI = "http://hl7.org/fhir/sid/us-npi"


def _practitioner_files(sample_data: Path) -> list[Path]:
    files = sorted((sample_data / "synthea").glob("*/practitionerInformation*.json"))
    assert files, "no practitionerInformation*.json in the sample data"
    return files


async def test_synthea_practitioners_become_clinical_staff(
    fresh_database_url: str, sample_data: Path
) -> None:
    source = next(p for p in _practitioner_files(sample_data) if p.parent.name == "standard")
    bundle = json.loads(source.read_text(encoding="utf-8"))
    expected = {
        next(i["value"] for i in e["resource"]["identifier"] if i["system"] == NPI): e["resource"]["name"][0][
            "family"
        ]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Practitioner"
    }
    db = Database.from_settings(make_settings(fresh_database_url))
    try:
        report = await importer.import_paths(db, [source])
        assert not report.problems, report.problems
        assert report.counts["Practitioner"][importer.CREATED] == len(expected)
        again = await importer.import_paths(db, [source])
        assert again.counts["Practitioner"][importer.UNCHANGED] == len(expected)
        async with db.sessionmaker() as s:
            rows = (
                await s.execute(
                    select(StaffMember, StaffIdentifier.value)
                    .join(StaffIdentifier, StaffIdentifier.staff_id == StaffMember.id)
                    .where(StaffIdentifier.system == NPI)
                )
            ).all()
            got = {npi: member.family for member, npi in rows}
            assert got == expected
            assert all(member.clinical and member.active for member, _ in rows)
            facts = await service.eligibility(s, [member.id for member, _ in rows])
            # Synthea records no licences: imported clinicians are not bookable until one is added.
            assert facts and not any(f.licence_periods for f in facts.values())
    finally:
        await db.dispose()


def test_qualifications_with_a_number_or_period_are_licences() -> None:
    data = practitioner_from_fhir(
        {
            "resourceType": "Practitioner",
            "name": [{"family": "Licensed", "given": ["Lee"]}],
            "qualification": [
                {
                    "identifier": [{"system": "urn:board", "value": "MA-1234"}],
                    "code": {"coding": [{"system": "urn:x", "code": "MD"}]},
                    "period": {"start": "2020-01-01", "end": "2027-12-31"},
                    "issuer": {"display": "Board of Registration in Medicine"},
                },
                {"code": {"coding": [{"system": "urn:x", "code": "PhD"}]}},
            ],
        }
    )
    assert data.clinical is True
    assert [(q.kind, q.number, str(q.valid_to)) for q in data.qualifications] == [
        ("licence", "MA-1234", "2027-12-31"),
        ("qualification", None, "None"),
    ]
