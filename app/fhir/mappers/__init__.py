"""FHIR R4 mappers, one module per resource type, both directions.

``from_fhir(resource, refs) -> patients ...Create`` and ``to_fhir(row or read schema) -> dict``.
``MAPPERS`` maps a resource type to its module; ``base`` holds ``ReferenceResolver`` and
``MappingError``.
"""

from __future__ import annotations

from types import ModuleType

from app.fhir.mappers import (
    allergy_intolerance,
    care_plan,
    condition,
    encounter,
    immunization,
    medication_request,
    observation,
    patient,
    procedure,
)
from app.fhir.mappers.base import MappingError, ReferenceResolver

MAPPERS: dict[str, ModuleType] = {
    "Patient": patient,
    "Encounter": encounter,
    "Condition": condition,
    "AllergyIntolerance": allergy_intolerance,
    "Observation": observation,
    "MedicationRequest": medication_request,
    "Procedure": procedure,
    "Immunization": immunization,
    "CarePlan": care_plan,
}

__all__ = ["MAPPERS", "MappingError", "ReferenceResolver"]
