"""Factories for the FHIR suites: load a real Synthea bundle through the patients service (with
our inbound mappers), and validate what /fhir emits against the fhir.resources R4B models."""

from __future__ import annotations

import asyncio
import importlib
import json
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from app.auth.permissions import permissions_for
from app.db import Database
from app.deps import Principal
from app.fhir.mappers import MAPPERS, MappingError
from app.fhir.mappers import base as mb
from app.patients import service as ps
from tests.conftest import make_user

SYNTHEA = "https://github.com/synthetichealth/synthea"
STANDARD_PATIENT = "standard/Frankie174_Jast432_a5b737fb-1f94-4767-802b-1112051f5101.json"
ACCENTED_PATIENT = "hiv/Ramona980_Godínez202_6eb9f136-121e-2f36-9115-d450c210dced.json"
CLINICAL_TYPES = (
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "MedicationRequest",
    "Procedure",
    "Immunization",
    "CarePlan",
)
ADD = {
    "Encounter": ps.add_encounter,
    "Condition": ps.add_condition,
    "AllergyIntolerance": ps.add_allergy,
    "Observation": ps.add_observation,
    "MedicationRequest": ps.prescribe,
    "Procedure": ps.add_procedure,
    "Immunization": ps.add_immunization,
    "CarePlan": ps.add_care_plan,
}


class BundleResolver:
    """urn:uuid references inside one Synthea bundle (a test stand-in for the importer's)."""

    source_system = SYNTHEA

    def __init__(self) -> None:
        self.ids: dict[str, uuid.UUID] = {}

    def patient_id(self, reference: str) -> uuid.UUID:
        if reference not in self.ids:
            raise MappingError(f"unknown patient {reference}")
        return self.ids[reference]

    def encounter_id(self, reference: str) -> uuid.UUID | None:
        return self.ids.get(reference)

    def practitioner(self, reference: Mapping[str, Any]) -> tuple[str | None, str | None]:
        ref = str(reference.get("reference") or "")
        ident = ref.partition("identifier=")[2] or None
        return ident, reference.get("display")


def principal_for(user_id: uuid.UUID, role: str = "doctor") -> Principal:
    return Principal(
        user_id=user_id,
        username=f"loader-{user_id.hex[:6]}",
        full_name="Bundle Loader",
        email=None,
        roles=(role,),
        permissions=permissions_for([role]),
        patient_id=None,
        session_id=uuid.uuid4(),
    )


def source_counts(bundle: dict[str, Any]) -> Counter[str]:
    return Counter(e["resource"]["resourceType"] for e in bundle["entry"])


async def load_bundle(db: Database, path: Path) -> tuple[uuid.UUID, dict[str, Any]]:
    """Register the bundle's patient and its clinical resources; returns (patient id, bundle)."""
    bundle = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    user_id = await make_user(db, role="doctor")
    principal = principal_for(user_id)
    refs = BundleResolver()
    entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] in MAPPERS]
    order = {"Patient": 0, "Encounter": 1}
    entries.sort(key=lambda e: order.get(e["resource"]["resourceType"], 2))
    async with db.sessionmaker() as session:
        patient_id: uuid.UUID | None = None
        for entry in entries:
            resource = entry["resource"]
            kind = resource["resourceType"]
            if kind == "Patient":
                patient = await ps.register_patient(
                    session, principal, MAPPERS[kind].from_fhir(resource, refs)
                )
                patient_id = patient.id
                refs.ids[entry["fullUrl"]] = patient.id
                continue
            data = MAPPERS[kind].from_fhir(resource, refs)
            row = await ADD[kind](session, principal, mb.patient_of(resource, refs), data)
            refs.ids[entry["fullUrl"]] = row.id
        await session.commit()
    assert patient_id is not None
    return patient_id, bundle


def r4b_class(resource_type: str) -> Any:
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def assert_valid(resource: dict[str, Any]) -> None:
    """Validate against fhir.resources R4B (raises pydantic's ValidationError with the paths)."""
    cls = r4b_class(resource["resourceType"])
    cls.model_validate(resource)


def assert_outcome(resp: httpx.Response, status: int, issue_code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/fhir+json"), resp.headers
    body: dict[str, Any] = resp.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert_valid(body)
    if issue_code is not None:
        assert body["issue"][0]["code"] == issue_code, body
    return body


def error_code(outcome: dict[str, Any]) -> str | None:
    details = outcome["issue"][0].get("details") or {}
    codings = details.get("coding") or [{}]
    code: str | None = codings[0].get("code")
    return code


async def fetch_all(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> tuple[list[dict[str, Any]], int]:
    """Follow a searchset's next links; returns (every resource, the total announced)."""
    resources: list[dict[str, Any]] = []
    total = -1
    next_url: str | None = url
    while next_url:
        resp = await client.get(next_url, headers=headers)
        assert resp.status_code == 200, resp.text
        bundle = resp.json()
        assert bundle["type"] == "searchset"
        total = bundle["total"]
        resources.extend(e["resource"] for e in bundle.get("entry", []))
        next_url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return resources, total
