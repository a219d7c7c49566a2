"""MedicationRequest <-> MedicationRequestCreate / MedicationRequestRead.

Kept: medication (``medicationCodeableConcept``, or a reference to a *contained* Medication
whose ``ingredient[].itemCodeableConcept`` become our ingredients, which the allergy check also
matches), status, statusReason, intent, the first dosageInstruction (dose quantity, route,
timing as ``"<frequency> per <period> <unit>"`` or its code, text), dispenseRequest (quantity,
numberOfRepeatsAllowed as refills, expectedSupplyDuration), authoredOn, encounter, requester
(a practitioner reference: identifier ``system|value`` + display, resolved by the
``ReferenceResolver``; e.g. the prescriber of an imported record), identifier/id as provenance,
and the extension ``EXT_ALLERGY_OVERRIDE`` (valueString: the reason to prescribe despite a
recorded allergy). The acting user is kept as the prescriber; outbound, ``requester`` is the
stored requester when there is one, else that prescriber.
Ignored: reasonCode/reasonReference, substitution, priorPrescription.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app.fhir.mappers import base as b
from app.patients import schemas as s

RESOURCE_TYPE = "MedicationRequest"
_STATUSES = ("active", "on-hold", "completed", "stopped", "cancelled", "draft", "entered-in-error")
_INTENTS = ("proposal", "plan", "order", "original-order", "instance-order")
_DURATION_UNITS = {"h": "h", "d": "d", "wk": "wk", "mo": "mo", "a": "a", "day": "d", "days": "d"}
_TIMING = re.compile(r"^(\d+) per (\d+(?:\.\d+)?) (s|min|h|d|wk|mo|a)$")
CONTAINED_MEDICATION = "med"


def _medication(resource: Mapping[str, Any]) -> tuple[s.Coding, list[s.Coding]]:
    if resource.get("medicationCodeableConcept") is not None:
        med = b.concept(resource["medicationCodeableConcept"], "MedicationRequest.medicationCodeableConcept")
        assert med is not None
        return med, []
    ref = resource.get("medicationReference")
    if isinstance(ref, Mapping):
        target = str(ref.get("reference") or "")
        if target.startswith("#"):
            for contained in resource.get("contained") or []:
                if contained.get("resourceType") == "Medication" and contained.get("id") == target[1:]:
                    med = b.concept(contained.get("code"), "Medication.code", required=True)
                    ingredients = [
                        c
                        for c in (
                            b.concept(i.get("itemCodeableConcept"))
                            for i in contained.get("ingredient") or []
                            if isinstance(i, Mapping)
                        )
                        if c is not None
                    ]
                    assert med is not None
                    return med, ingredients[:20]
        if ref.get("display"):
            return s.Coding(display=str(ref["display"])[:255]), []
        raise b.MappingError(
            "medicationReference must point to a contained Medication (or carry a display);"
            " or send medicationCodeableConcept",
            path="MedicationRequest.medicationReference",
        )
    raise b.MappingError(
        "MedicationRequest.medication[x] is required", path="MedicationRequest.medicationCodeableConcept"
    )


def _frequency(dosage: Mapping[str, Any]) -> str | None:
    timing = dosage.get("timing") or {}
    repeat = timing.get("repeat") or {}
    if repeat.get("frequency") and repeat.get("period") and repeat.get("periodUnit"):
        period = b.decimal(repeat["period"], "Dosage.timing.repeat.period")
        return f"{int(repeat['frequency'])} per {period} {repeat['periodUnit']}"[:64]
    code = timing.get("code")
    if isinstance(code, Mapping):
        found = b.concept(code)
        if found is not None:
            return (found.code or found.display or "")[:64] or None
    return None


def _dosage(resource: Mapping[str, Any]) -> dict[str, Any]:
    dosage = b.first(resource.get("dosageInstruction"))
    if not isinstance(dosage, Mapping):
        return {}
    out: dict[str, Any] = {
        "route": b.concept(dosage.get("route")),
        "frequency": _frequency(dosage),
        "instructions": b._clip(dosage.get("text") or dosage.get("patientInstruction"), 20_000),
    }
    dose_rate = b.first(dosage.get("doseAndRate")) or {}
    dose = dose_rate.get("doseQuantity") if isinstance(dose_rate, Mapping) else None
    if isinstance(dose, Mapping):
        value = b.decimal(dose.get("value"), "Dosage.doseAndRate.doseQuantity.value")
        if value is not None and value > 0:
            # A bare count ("1" tablet) has no unit: UCUM's unity "1".
            out.update(dose_value=value, dose_unit=b.quantity_unit(dose) or "1")
    return out


def _dispense(resource: Mapping[str, Any]) -> dict[str, Any]:
    dispense = resource.get("dispenseRequest")
    if not isinstance(dispense, Mapping):
        return {}
    out: dict[str, Any] = {}
    quantity = dispense.get("quantity") or {}
    value = b.decimal(quantity.get("value"), "MedicationRequest.dispenseRequest.quantity")
    if value is not None and value > 0:
        out.update(quantity_value=value, quantity_unit=b.quantity_unit(quantity) or "1")
    repeats = dispense.get("numberOfRepeatsAllowed")
    if isinstance(repeats, int):
        out["refills"] = repeats
    supply = dispense.get("expectedSupplyDuration") or {}
    days = b.decimal(supply.get("value"), "MedicationRequest.dispenseRequest.expectedSupplyDuration")
    unit = _DURATION_UNITS.get(str(supply.get("code") or supply.get("unit") or ""))
    if days is not None and days > 0 and unit:
        out.update(duration_value=days, duration_unit=unit)
    return out


def override_reason(resource: Mapping[str, Any]) -> str | None:
    for ext in resource.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == b.EXT_ALLERGY_OVERRIDE:
            return b._clip(ext.get("valueString"), 20_000)
    return None


def _requester(resource: Mapping[str, Any], refs: b.ReferenceResolver) -> dict[str, Any]:
    requester = resource.get("requester")
    if not isinstance(requester, Mapping):
        return {}
    identifier, display = refs.practitioner(requester)
    return {"requester_identifier": b._clip(identifier, 190), "requester_display": b._clip(display, 200)}


@b.reads_fhir
def from_fhir(resource: Mapping[str, Any], refs: b.ReferenceResolver) -> s.MedicationRequestCreate:
    b.check_type(resource, RESOURCE_TYPE)
    b.patient_of(resource, refs)
    medication, ingredients = _medication(resource)
    status_reason = b.concept(resource.get("statusReason"))
    data = {
        **b.provenance(resource, refs),
        "medication": medication,
        "ingredients": ingredients,
        "status": b.one_of(resource.get("status"), _STATUSES, "MedicationRequest.status", "active"),
        "status_reason": (status_reason.display or status_reason.code) if status_reason else None,
        "intent": b.one_of(resource.get("intent"), _INTENTS, "MedicationRequest.intent", "order"),
        **_dosage(resource),
        **_dispense(resource),
        "authored_at": b.when(resource.get("authoredOn"), "MedicationRequest.authoredOn"),
        "encounter_id": b.encounter(resource, refs),
        **_requester(resource, refs),
        "override_reason": override_reason(resource),
    }
    return b.build(s.MedicationRequestCreate, data, RESOURCE_TYPE)


def _timing(frequency: str | None) -> dict[str, Any] | None:
    if not frequency:
        return None
    match = _TIMING.match(frequency)
    if match:
        period = float(match.group(2))
        return {
            "repeat": {
                "frequency": int(match.group(1)),
                "period": int(period) if period.is_integer() else period,
                "periodUnit": match.group(3),
            }
        }
    return {"code": {"text": frequency}}


def to_fhir(obj: Any) -> dict[str, Any]:
    m = b.as_read(s.MedicationRequestRead, obj)
    resource: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(m.id),
        "meta": b.meta(m),
        "extension": [{"url": b.EXT_ALLERGY_OVERRIDE, "valueString": m.allergy_override_reason}]
        if m.allergy_override_reason
        else None,
        "identifier": b.source_identifier(m),
        "status": m.status,
        "statusReason": {"text": m.status_reason} if m.status_reason else None,
        "intent": m.intent,
        "subject": b.ref("Patient", m.patient_id),
        "encounter": b.ref("Encounter", m.encounter_id),
        "authoredOn": b.fhir_instant(m.authored_at),
        "requester": b.practitioner_ref(m.requester_identifier, m.requester_display)
        or ({"display": m.prescriber_display} if m.prescriber_display else None),
    }
    if m.ingredients:
        resource["contained"] = [
            {
                "resourceType": "Medication",
                "id": CONTAINED_MEDICATION,
                "code": b.fhir_concept(m.medication),
                "ingredient": [{"itemCodeableConcept": b.fhir_concept(i)} for i in m.ingredients],
            }
        ]
        resource["medicationReference"] = {"reference": f"#{CONTAINED_MEDICATION}"}
    else:
        resource["medicationCodeableConcept"] = b.fhir_concept(m.medication)
    dosage = {
        "text": m.instructions,
        "timing": _timing(m.frequency),
        "route": b.fhir_concept(m.route),
        "doseAndRate": [
            {
                "doseQuantity": {
                    "value": b.fhir_number(m.dose_value),
                    "unit": m.dose_unit,
                    "system": b.UCUM,
                    "code": m.dose_unit,
                }
            }
        ]
        if m.dose_value is not None
        else None,
    }
    resource["dosageInstruction"] = [dosage]
    dispense: dict[str, Any] = {"numberOfRepeatsAllowed": m.refills}
    if m.quantity_value is not None:
        dispense["quantity"] = {"value": b.fhir_number(m.quantity_value), "unit": m.quantity_unit}
    if m.duration_value is not None:
        dispense["expectedSupplyDuration"] = {
            "value": b.fhir_number(m.duration_value),
            "unit": m.duration_unit,
            "system": b.UCUM,
            "code": m.duration_unit,
        }
    resource["dispenseRequest"] = dispense
    result: dict[str, Any] = b.clean(resource)
    return result
