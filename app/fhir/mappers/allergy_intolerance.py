"""AllergyIntolerance <-> AllergyCreate / AllergyUpdate / AllergyRead.

Kept: code (the substance), clinicalStatus, verificationStatus, type, category (the first),
criticality, onset[x] (dateTime or Period start), recordedDate, note, reaction (manifestation:
the first; severity, description, onset), encounter, identifier/id as provenance.
Ignored: recorder, asserter, lastOccurrence, reaction.substance/exposureRoute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from app.fhir.mappers import base as b
from app.patients import schemas as s

RESOURCE_TYPE = "AllergyIntolerance"
CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
_CLINICAL = get_args(s.AllergyClinicalStatus)
_VERIFICATION = get_args(s.VerificationStatus)
_CRITICALITY = ("low", "high", "unable-to-assess")


def _reactions(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(resource.get("reaction") or []):
        if not isinstance(r, Mapping):
            continue
        path = f"AllergyIntolerance.reaction[{i}]"
        manifestation = b.concept(b.first(r.get("manifestation")), f"{path}.manifestation", required=True)
        out.append(
            {
                "manifestation": manifestation,
                "severity": b.one_of(r.get("severity"), ("mild", "moderate", "severe"), f"{path}.severity"),
                "description": b._clip(r.get("description"), 20_000),
                "onset_at": b.when(r.get("onset"), f"{path}.onset"),
            }
        )
    return out[:20]


def _mutable(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "clinical_status": b.one_of(
            b.code_of(resource.get("clinicalStatus")),
            _CLINICAL,
            "AllergyIntolerance.clinicalStatus",
            "active",
        ),
        "verification_status": b.one_of(
            b.code_of(resource.get("verificationStatus")),
            _VERIFICATION,
            "AllergyIntolerance.verificationStatus",
            "confirmed",
        ),
        "criticality": b.one_of(resource.get("criticality"), _CRITICALITY, "AllergyIntolerance.criticality"),
        "note": b.texts(resource.get("note")),
        "reactions": _reactions(resource),
    }


@b.reads_fhir
def from_fhir(resource: Mapping[str, Any], refs: b.ReferenceResolver) -> s.AllergyCreate:
    b.check_type(resource, RESOURCE_TYPE)
    b.patient_of(resource, refs)
    period = resource.get("onsetPeriod") or {}
    category = b.first(resource.get("category"))
    data = {
        **b.provenance(resource, refs),
        "code": b.concept(resource.get("code"), "AllergyIntolerance.code", required=True),
        **_mutable(resource),
        "type": b.one_of(resource.get("type"), ("allergy", "intolerance"), "AllergyIntolerance.type"),
        "category": b.one_of(
            category, ("food", "medication", "environment", "biologic"), "AllergyIntolerance.category"
        ),
        "onset_at": b.when(
            resource.get("onsetDateTime") or period.get("start"), "AllergyIntolerance.onsetDateTime"
        ),
        "recorded_at": b.when(resource.get("recordedDate"), "AllergyIntolerance.recordedDate"),
        "encounter_id": b.encounter(resource, refs),
    }
    return b.build(s.AllergyCreate, data, RESOURCE_TYPE)


@b.reads_fhir
def update_from_fhir(resource: Mapping[str, Any]) -> s.AllergyUpdate:
    b.check_type(resource, RESOURCE_TYPE)
    return b.build(s.AllergyUpdate, _mutable(resource), RESOURCE_TYPE)


@b.reads_fhir
def immutable(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {"code": b.concept(resource.get("code"), "AllergyIntolerance.code", required=True)}


def to_fhir(obj: Any) -> dict[str, Any]:
    a = b.as_read(s.AllergyRead, obj)
    resource = {
        "resourceType": RESOURCE_TYPE,
        "id": str(a.id),
        "meta": b.meta(a),
        "identifier": b.source_identifier(a),
        "clinicalStatus": b.system_concept(CLINICAL, a.clinical_status)
        if a.verification_status != "entered-in-error"
        else None,
        "verificationStatus": b.system_concept(VERIFICATION, a.verification_status),
        "type": a.type,
        "category": [a.category] if a.category else None,
        "criticality": a.criticality,
        "code": b.fhir_concept(a.code),
        "patient": b.ref("Patient", a.patient_id),
        "encounter": b.ref("Encounter", a.encounter_id),
        "onsetDateTime": b.fhir_instant(a.onset_at),
        "recordedDate": b.fhir_instant(a.recorded_at),
        "note": [{"text": a.note}] if a.note else None,
        "reaction": [
            {
                "manifestation": [b.fhir_concept(r.manifestation)],
                "severity": r.severity,
                "description": r.description,
                "onset": b.fhir_instant(r.onset_at),
            }
            for r in a.reactions
        ],
    }
    result: dict[str, Any] = b.clean(resource)
    return result
