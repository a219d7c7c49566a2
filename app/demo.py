"""Generated demo data for `make run`: a handful of patients with realistic charts.

The records are written as a FHIR transaction bundle and go through the real importer, so the
demo exercises the same path as a hospital's own data, and re-seeding changes nothing (every
resource carries a stable demo identifier). Times are relative to today so the charts look alive.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

DEMO_SYSTEM = "urn:hospital-hub:demo"
PORTAL_PATIENT = "patient-zoe"  # the record the demo `patient` login sees
_NS = uuid.UUID("6f1c3c52-6b0e-4e3c-9a55-2f1d6c1f0a11")

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

# key, given, family, prefix, suffix, gender, birth, language, problems, allergies, medications, baseline
_PATIENTS: list[dict[str, Any]] = [
    {
        "key": PORTAL_PATIENT,
        "given": ["Zoë"],
        "family": "Martín-García",
        "gender": "female",
        "birth": "1988-04-12",
        "language": "es",
        "problems": [("38341003", "Hypertensive disorder, systemic arterial")],
        "allergies": [("7980", RXNORM, "Penicillin G", "high", "Hives")],
        "medications": [("314076", "lisinopril 10 MG Oral Tablet", "10", "mg")],
        "vitals": {"hr": 74, "sys": 142, "dia": 91, "spo2": 98, "temp": 36.7, "rr": 14, "weight": 68.0},
    },
    {
        "key": "patient-jose",
        "given": ["José", "Ángel"],
        "family": "Godínez",
        "suffix": "Jr.",
        "gender": "male",
        "birth": "1955-11-02",
        "language": "es",
        "problems": [("13645005", "Chronic obstructive lung disease")],
        "allergies": [("10180", RXNORM, "Sulfamethoxazole", "high", "Rash")],
        "medications": [("895994", "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Inhaler", "2", "puff")],
        "vitals": {"hr": 88, "sys": 131, "dia": 82, "spo2": 91, "temp": 36.9, "rr": 20, "weight": 81.5},
    },
    {
        "key": "patient-siobhan",
        "given": ["Siobhán"],
        "family": "O'Brien",
        "gender": "female",
        "birth": "2001-07-23",
        "language": "en",
        "problems": [("195967001", "Asthma")],
        "allergies": [("256349002", SNOMED, "Peanut", "high", "Anaphylaxis")],
        "medications": [("745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "2", "puff")],
        "vitals": {"hr": 70, "sys": 112, "dia": 71, "spo2": 99, "temp": 36.6, "rr": 13, "weight": 59.0},
    },
    {
        "key": "patient-wang",
        "given": ["秀英"],
        "family": "王",
        "gender": "female",
        "birth": "1972-01-30",
        "language": "zh",
        "problems": [("44054006", "Diabetes mellitus type 2")],
        "allergies": [],
        "medications": [
            ("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet", "500", "mg")
        ],
        "vitals": {"hr": 79, "sys": 128, "dia": 84, "spo2": 97, "temp": 36.8, "rr": 15, "weight": 72.4},
    },
    {
        "key": "patient-mateus",
        "given": ["Mateus"],
        "family": "Conceição",
        "gender": "male",
        "birth": "1990-09-09",
        "language": "pt",
        "problems": [],
        "allergies": [],
        "medications": [],
        "vitals": {"hr": 62, "sys": 118, "dia": 76, "spo2": 99, "temp": 36.5, "rr": 12, "weight": 77.0},
    },
]

_VITALS = {
    "hr": ("8867-4", "Heart rate", "/min"),
    "rr": ("9279-1", "Respiratory rate", "/min"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    "temp": ("8310-5", "Body temperature", "Cel"),
    "weight": ("29463-7", "Body Weight", "kg"),
}


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def _ident(value: str) -> list[dict[str, str]]:
    return [{"system": DEMO_SYSTEM, "value": value}]


def _entry(resource: dict[str, Any], key: str) -> dict[str, Any]:
    resource["id"] = key
    resource["identifier"] = _ident(key)
    return {
        "fullUrl": f"urn:uuid:{_uid(key)}",
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _observation(
    key: str, patient: str, encounter: str, when: datetime, kind: str, value: float
) -> dict[str, Any]:
    code, display, unit = _VITALS[kind]
    return _entry(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs",
                            "display": "vital-signs",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
            "subject": {"reference": patient},
            "encounter": {"reference": encounter},
            "effectiveDateTime": _instant(when),
            "valueQuantity": _quantity(value, unit),
        },
        key,
    )


def _blood_pressure(
    key: str, patient: str, encounter: str, when: datetime, sys: int, dia: int
) -> dict[str, Any]:
    def component(code: str, display: str, value: int) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "valueQuantity": _quantity(value, "mm[Hg]"),
        }

    return _entry(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]},
            "subject": {"reference": patient},
            "encounter": {"reference": encounter},
            "effectiveDateTime": _instant(when),
            "component": [
                component("8480-6", "Systolic blood pressure", sys),
                component("8462-4", "Diastolic blood pressure", dia),
            ],
        },
        key,
    )


def _patient_entries(spec: dict[str, Any], today: date) -> list[dict[str, Any]]:
    key = spec["key"]
    name: dict[str, Any] = {"use": "official", "family": spec["family"], "given": spec["given"]}
    if spec.get("suffix"):
        name["suffix"] = [spec["suffix"]]
    patient = _entry(
        {
            "resourceType": "Patient",
            "name": [name],
            "gender": spec["gender"],
            "birthDate": spec["birth"],
            "communication": [
                {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": spec["language"]}]}}
            ],
            "telecom": [{"system": "phone", "value": "+1 555 0100", "use": "home"}],
            "address": [{"line": ["1 Demo Street"], "city": "Springfield", "country": "US"}],
        },
        key,
    )
    ref = patient["fullUrl"]
    entries = [patient]
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    visits = [noon - timedelta(days=days) for days in (180, 120, 60, 21, 2)]
    base = spec["vitals"]
    for v, when in enumerate(visits):
        ekey = f"{key}-enc-{v}"
        encounter = _entry(
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "ambulatory",
                },
                "type": [
                    {"coding": [{"system": SNOMED, "code": "185349003", "display": "Encounter for check up"}]}
                ],
                "subject": {"reference": ref},
                "period": {"start": _instant(when), "end": _instant(when + timedelta(minutes=25))},
            },
            ekey,
        )
        entries.append(encounter)
        eref = encounter["fullUrl"]
        # A gentle, deterministic drift so the vitals charts show a trend.
        wave = math.sin(v * 1.3)
        for kind in ("hr", "rr", "spo2", "temp", "weight"):
            value = base[kind] + {"hr": 4, "rr": 1, "spo2": 1, "temp": 0.2, "weight": 0.8}[kind] * wave
            rounded = round(value, 1) if kind in ("temp", "weight") else round(value)
            entries.append(_observation(f"{ekey}-{kind}", ref, eref, when, kind, rounded))
        entries.append(
            _blood_pressure(
                f"{ekey}-bp", ref, eref, when, round(base["sys"] + 5 * wave), round(base["dia"] + 3 * wave)
            )
        )
    for i, (code, display) in enumerate(spec["problems"]):
        entries.append(
            _entry(
                {
                    "resourceType": "Condition",
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "verificationStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                "code": "confirmed",
                            }
                        ]
                    },
                    "code": {
                        "coding": [{"system": SNOMED, "code": code, "display": display}],
                        "text": display,
                    },
                    "subject": {"reference": ref},
                    "onsetDateTime": _instant(visits[0] - timedelta(days=400)),
                },
                f"{key}-cond-{i}",
            )
        )
    for i, (code, system, display, criticality, reaction) in enumerate(spec["allergies"]):
        entries.append(
            _entry(
                {
                    "resourceType": "AllergyIntolerance",
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "verificationStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                                "code": "confirmed",
                            }
                        ]
                    },
                    "type": "allergy",
                    "category": ["medication" if system == RXNORM else "food"],
                    "criticality": criticality,
                    "code": {
                        "coding": [{"system": system, "code": code, "display": display}],
                        "text": display,
                    },
                    "patient": {"reference": ref},
                    "reaction": [{"manifestation": [{"text": reaction}], "severity": "severe"}],
                },
                f"{key}-allergy-{i}",
            )
        )
    for i, (code, display, dose, unit) in enumerate(spec["medications"]):
        entries.append(
            _entry(
                {
                    "resourceType": "MedicationRequest",
                    "status": "active",
                    "intent": "order",
                    "medicationCodeableConcept": {
                        "coding": [{"system": RXNORM, "code": code, "display": display}],
                        "text": display,
                    },
                    "subject": {"reference": ref},
                    "authoredOn": _instant(visits[1]),
                    "dosageInstruction": [
                        {
                            "text": f"{dose} {unit} daily",
                            "doseAndRate": [{"doseQuantity": {"value": float(dose), "unit": unit}}],
                        }
                    ],
                },
                f"{key}-med-{i}",
            )
        )
    return entries


def write_demo_bundles(folder: Path, today: date) -> list[Path]:
    """One transaction bundle per patient (each imports all-or-nothing)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in _PATIENTS:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": _patient_entries(spec, today)}
        path = folder / f"{spec['key']}.json"
        path.write_text(json.dumps(bundle, ensure_ascii=False, indent=1))
        paths.append(path)
    return paths
