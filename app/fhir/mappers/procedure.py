"""Procedure <-> ProcedureCreate / ProcedureRead.

Kept: code, status, performed[x] (dateTime or Period), note, encounter, identifier/id as
provenance. Ignored: performer, reasonCode/reasonReference, bodySite, outcome, report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.fhir.mappers import base as b
from app.patients import schemas as s

RESOURCE_TYPE = "Procedure"
_STATUSES = (
    "preparation",
    "in-progress",
    "not-done",
    "on-hold",
    "stopped",
    "completed",
    "entered-in-error",
    "unknown",
)


@b.reads_fhir
def from_fhir(resource: Mapping[str, Any], refs: b.ReferenceResolver) -> s.ProcedureCreate:
    b.check_type(resource, RESOURCE_TYPE)
    b.patient_of(resource, refs)
    period = resource.get("performedPeriod") or {}
    start = b.when(resource.get("performedDateTime") or period.get("start"), "Procedure.performed")
    data = {
        **b.provenance(resource, refs),
        "code": b.concept(resource.get("code"), "Procedure.code", required=True),
        "status": b.one_of(resource.get("status"), _STATUSES, "Procedure.status", "completed"),
        "performed_start": start,
        "performed_end": b.when(period.get("end"), "Procedure.performedPeriod.end"),
        "note": b.texts(resource.get("note")),
        "encounter_id": b.encounter(resource, refs),
    }
    return b.build(s.ProcedureCreate, data, RESOURCE_TYPE)


def to_fhir(obj: Any) -> dict[str, Any]:
    p = b.as_read(s.ProcedureRead, obj)
    resource: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(p.id),
        "meta": b.meta(p),
        "identifier": b.source_identifier(p),
        "status": p.status,
        "code": b.fhir_concept(p.code),
        "subject": b.ref("Patient", p.patient_id),
        "encounter": b.ref("Encounter", p.encounter_id),
        "note": [{"text": p.note}] if p.note else None,
    }
    if p.performed_end is not None:
        resource["performedPeriod"] = {
            "start": b.fhir_instant(p.performed_start),
            "end": b.fhir_instant(p.performed_end),
        }
    else:
        resource["performedDateTime"] = b.fhir_instant(p.performed_start)
    result: dict[str, Any] = b.clean(resource)
    return result
