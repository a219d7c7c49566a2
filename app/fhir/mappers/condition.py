"""Condition <-> ConditionCreate / ConditionUpdate / ConditionRead.

Kept: code, clinicalStatus, verificationStatus, category (problem-list-item or
encounter-diagnosis; others read as problem-list-item), onset[x] (dateTime, or a Period's
start), abatement[x] (dateTime or Period end), recordedDate, note, encounter, identifier/id as
provenance. Ignored: severity, bodySite, stage, evidence, recorder, asserter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from app.fhir.mappers import base as b
from app.patients import schemas as s

RESOURCE_TYPE = "Condition"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
_CLINICAL = get_args(s.ConditionClinicalStatus)
_VERIFICATION = get_args(s.VerificationStatus)


def _category(resource: Mapping[str, Any]) -> str:
    codes = {c.get("code") for cat in resource.get("category") or [] for c in (cat.get("coding") or []) if c}
    return "encounter-diagnosis" if "encounter-diagnosis" in codes else "problem-list-item"


def _at(resource: Mapping[str, Any], prefix: str) -> Any:
    period = resource.get(f"{prefix}Period") or {}
    return b.when(
        resource.get(f"{prefix}DateTime") or (period.get("end" if prefix == "abatement" else "start")),
        f"Condition.{prefix}",
    )


def statuses(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "clinical_status": b.one_of(
            b.code_of(resource.get("clinicalStatus")), _CLINICAL, "Condition.clinicalStatus", "active"
        ),
        "verification_status": b.one_of(
            b.code_of(resource.get("verificationStatus")),
            _VERIFICATION,
            "Condition.verificationStatus",
            "confirmed",
        ),
    }


@b.reads_fhir
def from_fhir(resource: Mapping[str, Any], refs: b.ReferenceResolver) -> s.ConditionCreate:
    b.check_type(resource, RESOURCE_TYPE)
    b.patient_of(resource, refs)
    data = {
        **b.provenance(resource, refs),
        "code": b.concept(resource.get("code"), "Condition.code", required=True),
        **statuses(resource),
        "category": _category(resource),
        "onset_at": _at(resource, "onset"),
        "abatement_at": _at(resource, "abatement"),
        "recorded_at": b.when(resource.get("recordedDate"), "Condition.recordedDate"),
        "note": b.texts(resource.get("note")),
        "encounter_id": b.encounter(resource, refs),
    }
    return b.build(s.ConditionCreate, data, RESOURCE_TYPE)


@b.reads_fhir
def update_from_fhir(resource: Mapping[str, Any]) -> s.ConditionUpdate:
    """The elements a PUT may change; the rest are compared by the caller (see ``immutable``)."""
    b.check_type(resource, RESOURCE_TYPE)
    data = {
        **statuses(resource),
        "abatement_at": _at(resource, "abatement"),
        "note": b.texts(resource.get("note")),
    }
    return b.build(s.ConditionUpdate, data, RESOURCE_TYPE)


@b.reads_fhir
def immutable(resource: Mapping[str, Any]) -> dict[str, Any]:
    """What a PUT may not change (a different code is a different condition: create one)."""
    return {"code": b.concept(resource.get("code"), "Condition.code", required=True)}


def to_fhir(obj: Any) -> dict[str, Any]:
    c = b.as_read(s.ConditionRead, obj)
    resource = {
        "resourceType": RESOURCE_TYPE,
        "id": str(c.id),
        "meta": b.meta(c),
        "identifier": b.source_identifier(c),
        "clinicalStatus": b.system_concept(CLINICAL, c.clinical_status)
        if c.verification_status != "entered-in-error"
        else None,
        "verificationStatus": b.system_concept(VERIFICATION, c.verification_status),
        "category": [b.system_concept(CATEGORY, c.category)],
        "code": b.fhir_concept(c.code),
        "subject": b.ref("Patient", c.patient_id),
        "encounter": b.ref("Encounter", c.encounter_id),
        "onsetDateTime": b.fhir_instant(c.onset_at),
        "abatementDateTime": b.fhir_instant(c.abatement_at),
        "recordedDate": b.fhir_instant(c.recorded_at),
        "note": [{"text": c.note}] if c.note else None,
    }
    result: dict[str, Any] = b.clean(resource)
    return result
