"""Encounter <-> EncounterCreate / EncounterRead.

Kept: status, class, type (the first), period, the primary performer (or first participant) as a
practitioner identifier + display, the first location's display, reasonCode, identifier/id as
provenance. Ignored: serviceProvider, hospitalization, diagnosis, reasonReference, episodeOfCare.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from app.fhir.mappers import base as b
from app.patients import schemas as s

RESOURCE_TYPE = "Encounter"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_STATUSES = get_args(s.EncounterStatus)


def _performer(resource: Mapping[str, Any], refs: b.ReferenceResolver) -> tuple[str | None, str | None]:
    participants = [p for p in resource.get("participant") or [] if isinstance(p, Mapping)]

    def primary(p: Mapping[str, Any]) -> bool:
        codes = {c.get("code") for t in p.get("type") or [] for c in (t.get("coding") or [])}
        return "PPRF" in codes

    participants.sort(key=lambda p: not primary(p))
    for p in participants:
        individual = p.get("individual")
        if isinstance(individual, Mapping):
            return refs.practitioner(individual)
    return None, None


@b.reads_fhir
def from_fhir(resource: Mapping[str, Any], refs: b.ReferenceResolver) -> s.EncounterCreate:
    b.check_type(resource, RESOURCE_TYPE)
    b.patient_of(resource, refs)  # a clear error when the subject is missing or unknown
    klass = b.require(resource, "class", RESOURCE_TYPE)
    class_code = klass.get("code") if isinstance(klass, Mapping) else None
    if not class_code:
        raise b.MappingError("Encounter.class needs a code", path="Encounter.class")
    period = resource.get("period") or {}
    identifier, display = _performer(resource, refs)
    location = b.first(resource.get("location")) or {}
    location_ref = location.get("location") if isinstance(location, Mapping) else None
    data = {
        **b.provenance(resource, refs),
        "status": b.one_of(resource.get("status"), _STATUSES, "Encounter.status", "finished"),
        "class_code": class_code,
        "type": b.concept(b.first(resource.get("type"))),
        "period_start": b.when(period.get("start"), "Encounter.period.start"),
        "period_end": b.when(period.get("end"), "Encounter.period.end"),
        "practitioner_identifier": b._clip(identifier, 190),
        "practitioner_display": b._clip(display, 200),
        "location_display": b._clip(location_ref.get("display"), 200)
        if isinstance(location_ref, Mapping)
        else None,
        "reasons": [c for c in (b.concept(r) for r in resource.get("reasonCode") or []) if c][:20],
    }
    return b.build(s.EncounterCreate, data, RESOURCE_TYPE)


def to_fhir(obj: Any) -> dict[str, Any]:
    e = b.as_read(s.EncounterRead, obj)
    performer = b.practitioner_ref(e.practitioner_identifier, e.practitioner_display)
    resource = {
        "resourceType": RESOURCE_TYPE,
        "id": str(e.id),
        "meta": b.meta(e),
        "identifier": b.source_identifier(e),
        "status": e.status,
        "class": {"system": ACT_CODE, "code": e.class_code},
        "type": [b.fhir_concept(e.type)] if e.type else None,
        "subject": b.ref("Patient", e.patient_id),
        "participant": (
            [
                {
                    "type": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                    "code": "PPRF",
                                    "display": "primary performer",
                                }
                            ]
                        }
                    ],
                    "individual": performer,
                }
            ]
            if performer
            else None
        ),
        "period": {"start": b.fhir_instant(e.period_start), "end": b.fhir_instant(e.period_end)},
        "reasonCode": [b.fhir_concept(r) for r in e.reasons],
        "location": [{"location": {"display": e.location_display}}] if e.location_display else None,
    }
    result: dict[str, Any] = b.clean(resource)
    return result
