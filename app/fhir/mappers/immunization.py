"""Immunization <-> ImmunizationCreate / ImmunizationRead.

Kept: vaccineCode (CVX), status, occurrenceDateTime, lotNumber, note, encounter, identifier/id
as provenance; ``primarySource`` is emitted as true only for what we recorded ourselves.
Ignored: location, manufacturer, site, route, doseQuantity, performer, protocolApplied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.fhir.mappers import base as b
from app.patients import schemas as s

RESOURCE_TYPE = "Immunization"


@b.reads_fhir
def from_fhir(resource: Mapping[str, Any], refs: b.ReferenceResolver) -> s.ImmunizationCreate:
    b.check_type(resource, RESOURCE_TYPE)
    b.patient_of(resource, refs)
    if resource.get("occurrenceDateTime") is None:
        raise b.MappingError(
            "Immunization.occurrenceDateTime is required (occurrenceString is not supported)",
            path="Immunization.occurrenceDateTime",
        )
    data = {
        **b.provenance(resource, refs),
        "vaccine": b.concept(resource.get("vaccineCode"), "Immunization.vaccineCode", required=True),
        "status": b.one_of(
            resource.get("status"),
            ("completed", "entered-in-error", "not-done"),
            "Immunization.status",
            "completed",
        ),
        "occurrence_at": b.when(resource.get("occurrenceDateTime"), "Immunization.occurrenceDateTime"),
        "lot_number": b._clip(resource.get("lotNumber"), 64),
        "note": b.texts(resource.get("note")),
        "encounter_id": b.encounter(resource, refs),
    }
    return b.build(s.ImmunizationCreate, data, RESOURCE_TYPE)


def to_fhir(obj: Any) -> dict[str, Any]:
    i = b.as_read(s.ImmunizationRead, obj)
    resource = {
        "resourceType": RESOURCE_TYPE,
        "id": str(i.id),
        "meta": b.meta(i),
        "identifier": b.source_identifier(i),
        "status": i.status,
        "vaccineCode": b.fhir_concept(i.vaccine),
        "patient": b.ref("Patient", i.patient_id),
        "encounter": b.ref("Encounter", i.encounter_id),
        "occurrenceDateTime": b.fhir_instant(i.occurrence_at),
        "primarySource": i.source_system is None,
        "lotNumber": i.lot_number,
        "note": [{"text": i.note}] if i.note else None,
    }
    result: dict[str, Any] = b.clean(resource)
    return result
