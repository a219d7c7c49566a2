"""Observation <-> ObservationCreate / ObservationRead.

Kept: status, category (the first code matching ``[a-z-]``, e.g. vital-signs, laboratory,
survey), code, effective[x] (dateTime, instant, or a Period's start), value[x] (Quantity,
CodeableConcept, string; boolean and integer too, as string and quantity), referenceRange (the
first: low/high), interpretation (the first), component (e.g. the two blood-pressure values),
note, encounter, identifier/id as provenance. Decimal values keep up to 6 decimal places.
An update (PUT) may change status, value[x], referenceRange, interpretation, component and note;
code and subject cannot change.
Ignored: issued, performer, method, specimen, device, hasMember, derivedFrom, dataAbsentReason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, get_args

from app.fhir.mappers import base as b
from app.patients import schemas as s

RESOURCE_TYPE = "Observation"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_STATUSES = get_args(s.ObservationStatus)
_CATEGORY_CODE = re.compile(r"^[a-z-]{2,32}$")


def _value(item: Mapping[str, Any], path: str) -> dict[str, Any]:
    q = item.get("valueQuantity")
    if isinstance(q, Mapping) and q.get("value") is not None:
        return {
            "value_quantity": b.decimal(q.get("value"), f"{path}.valueQuantity.value"),
            "value_unit": b.quantity_unit(q),
        }
    if item.get("valueCodeableConcept") is not None:
        return {"value_code": b.concept(item.get("valueCodeableConcept"), f"{path}.valueCodeableConcept")}
    if isinstance(item.get("valueString"), str) and item["valueString"].strip():
        return {"value_string": item["valueString"][:20_000]}
    if isinstance(item.get("valueBoolean"), bool):
        return {"value_string": "true" if item["valueBoolean"] else "false"}
    if isinstance(item.get("valueInteger"), int):
        return {"value_quantity": b.decimal(item["valueInteger"], f"{path}.valueInteger")}
    return {}


def _category(resource: Mapping[str, Any]) -> str | None:
    for cat in resource.get("category") or []:
        for c in (cat or {}).get("coding") or []:
            code = c.get("code") if isinstance(c, Mapping) else None
            if isinstance(code, str) and _CATEGORY_CODE.match(code):
                return code
    return None


def _range(resource: Mapping[str, Any]) -> dict[str, Any]:
    r = b.first(resource.get("referenceRange"))
    if not isinstance(r, Mapping):
        return {"reference_low": None, "reference_high": None}
    low, high = r.get("low") or {}, r.get("high") or {}
    return {
        "reference_low": b.decimal(low.get("value"), "Observation.referenceRange.low"),
        "reference_high": b.decimal(high.get("value"), "Observation.referenceRange.high"),
    }


@b.reads_fhir
def from_fhir(resource: Mapping[str, Any], refs: b.ReferenceResolver) -> s.ObservationCreate:
    b.check_type(resource, RESOURCE_TYPE)
    b.patient_of(resource, refs)
    period = resource.get("effectivePeriod") or {}
    effective = resource.get("effectiveDateTime") or resource.get("effectiveInstant") or period.get("start")
    data = {
        **b.provenance(resource, refs),
        "status": b.one_of(resource.get("status"), _STATUSES, "Observation.status", "final"),
        "category": _category(resource),
        "code": b.concept(resource.get("code"), "Observation.code", required=True),
        "effective_at": b.when(effective, "Observation.effective"),
        **_value(resource, "Observation"),
        **_range(resource),
        "interpretation": b.concept(b.first(resource.get("interpretation"))),
        "components": _components(resource),
        "note": b.texts(resource.get("note")),
        "encounter_id": b.encounter(resource, refs),
    }
    return b.build(s.ObservationCreate, data, RESOURCE_TYPE)


def _components(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    components = []
    for i, c in enumerate(resource.get("component") or []):
        if isinstance(c, Mapping):
            path = f"Observation.component[{i}]"
            components.append(
                {"code": b.concept(c.get("code"), f"{path}.code", required=True), **_value(c, path)}
            )
    return components


@b.reads_fhir
def update_from_fhir(resource: Mapping[str, Any]) -> s.ObservationUpdate:
    """The elements a PUT may change. The resource replaces them: an element left out is
    cleared (a missing status keeps the stored one). The code is compared by the caller."""
    b.check_type(resource, RESOURCE_TYPE)
    value = dict.fromkeys(("value_quantity", "value_unit", "value_code", "value_string"))
    data = {
        "status": b.one_of(resource.get("status"), _STATUSES, "Observation.status"),
        **value,
        **_value(resource, "Observation"),
        **_range(resource),
        "interpretation": b.concept(b.first(resource.get("interpretation"))),
        "components": _components(resource),
        "note": b.texts(resource.get("note")),
    }
    return b.build(s.ObservationUpdate, data, RESOURCE_TYPE)


@b.reads_fhir
def immutable(resource: Mapping[str, Any]) -> dict[str, Any]:
    """What a PUT may not change (a different code is a different observation: create one)."""
    return {"code": b.concept(resource.get("code"), "Observation.code", required=True)}


def _value_out(v: Any) -> dict[str, Any]:
    if v.value_quantity is not None:
        quantity: dict[str, Any] = {"value": b.fhir_number(v.value_quantity)}
        if v.value_unit:
            quantity.update({"unit": v.value_unit, "system": b.UCUM, "code": v.value_unit})
        return {"valueQuantity": quantity}
    if v.value_code is not None:
        return {"valueCodeableConcept": b.fhir_concept(v.value_code)}
    if v.value_string is not None:
        return {"valueString": v.value_string}
    return {}


def to_fhir(obj: Any) -> dict[str, Any]:
    o = b.as_read(s.ObservationRead, obj)
    ref_range = None
    if o.reference_low is not None or o.reference_high is not None:
        unit = {"unit": o.value_unit, "system": b.UCUM, "code": o.value_unit} if o.value_unit else {}
        ref_range = [
            {
                "low": {"value": b.fhir_number(o.reference_low), **unit}
                if o.reference_low is not None
                else None,
                "high": {"value": b.fhir_number(o.reference_high), **unit}
                if o.reference_high is not None
                else None,
            }
        ]
    resource = {
        "resourceType": RESOURCE_TYPE,
        "id": str(o.id),
        "meta": b.meta(o),
        "identifier": b.source_identifier(o),
        "status": o.status,
        "category": [{"coding": [{"system": CATEGORY, "code": o.category}], "text": o.category}]
        if o.category
        else None,
        "code": b.fhir_concept(o.code),
        "subject": b.ref("Patient", o.patient_id),
        "encounter": b.ref("Encounter", o.encounter_id),
        "effectiveDateTime": b.fhir_instant(o.effective_at),
        **_value_out(o),
        "interpretation": [b.fhir_concept(o.interpretation)] if o.interpretation else None,
        "referenceRange": ref_range,
        "component": [{"code": b.fhir_concept(c.code), **_value_out(c)} for c in o.components],
        "note": [{"text": o.note}] if o.note else None,
    }
    result: dict[str, Any] = b.clean(resource)
    return result
