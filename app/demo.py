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

# key, e-mail (fake: example.org is reserved for examples), given, family, prefix, suffix, gender,
# birth, language, problems, allergies, medications, baseline
_PATIENTS: list[dict[str, Any]] = [
    {
        "key": PORTAL_PATIENT,
        "email": "zoe.martin-garcia@example.org",
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
        "email": "jose.godinez@example.org",
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
        "email": "siobhan.obrien@example.org",
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
        "email": "xiuying.wang@example.org",
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
        "email": "mateus.conceicao@example.org",
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
            "telecom": [
                {"system": "phone", "value": "+1 555 0100", "use": "home"},
                {"system": "email", "value": spec["email"], "use": "home"},
            ],
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


# --- staff: departments, the demo clinicians' records and licences, shift definitions -----------

_DEPARTMENTS = [("GEN", "General Medicine"), ("ED", "Emergency Department")]
# username, family, given, prefix, department, position, licence (type, number, issuer)
_DEMO_STAFF = [
    (
        "doctor",
        "Okafor",
        ["Grace"],
        ["Dr."],
        "GEN",
        "Consultant physician",
        ("GMC", "GMC-7012345", "General Medical Council"),
    ),
    (
        "nurse",
        "Núñez",
        ["Mateo"],
        [],
        "GEN",
        "Staff nurse",
        ("NMC", "NMC-18A2345E", "Nursing and Midwifery Council"),
    ),
]
_SHIFTS = [("Early", "07:00", "15:00"), ("Late", "14:30", "22:30"), ("Night", "22:00", "07:30")]


async def seed_demo_staff(session: Any, today: date) -> str:
    """Departments, staff records for the demo doctor and nurse (linked to their logins, with
    licences valid for three more years) and the usual shift definitions. Idempotent: what
    exists (by department code, demo identifier, definition name) is left as it is."""
    from datetime import time

    from app.auth import service as auth_service
    from app.auth.permissions import Perm
    from app.deps import Principal
    from app.staff import repository as staff_repo
    from app.staff import schedule
    from app.staff import schemas as ss
    from app.staff import service as staff

    admin = await auth_service.find_user(session, "admin")
    principal = Principal(
        user_id=admin.id if admin else uuid.uuid4(),
        username="cli",
        full_name="Demo seed",
        email=None,
        roles=("admin",),
        permissions=frozenset({Perm.STAFF_READ, Perm.STAFF_WRITE, Perm.ROTA_WRITE}),
        patient_id=None,
        session_id=uuid.uuid4(),
    )
    departments = {d.code: d for d in await staff.list_departments(session, principal)}
    for code, name in _DEPARTMENTS:
        if code not in departments:
            departments[code] = await staff.create_department(
                session, principal, ss.DepartmentCreate(code=code, name=name)
            )
    created = 0
    for username, family, given, prefix, dept, position, (kind, number, issuer) in _DEMO_STAFF:
        key = (DEMO_SYSTEM, f"staff-{username}")
        if await staff.find_by_identifiers(session, principal, [key]):
            continue
        user = await auth_service.find_user(session, username)
        linked = await staff_repo.staff_id_for_user(session, user.id) if user else None
        data = ss.StaffCreate.model_validate(
            {
                "family": family,
                "given": given,
                "prefix": prefix,
                "identifiers": [{"system": key[0], "value": key[1]}],
                "telecoms": [{"system": "email", "value": f"{username}@hospital-hub.local", "use": "work"}],
                "qualifications": [
                    {
                        "kind": "licence",
                        "code": {
                            "system": "urn:hospital-hub:licence",
                            "code": kind,
                            "display": f"{kind} registration",
                        },
                        "number": number,
                        "issuer": issuer,
                        "valid_from": "2015-08-01",
                        "valid_to": (today.replace(day=1) + timedelta(days=3 * 366)).isoformat(),
                    }
                ],
                "clinical": True,
                "department_id": departments[dept].id,
                "position": position,
                "user_id": user.id if user and linked is None else None,
            }
        )
        await staff.create_staff(session, principal, data)
        created += 1
    existing = {d.name for d in await schedule.list_definitions(session, principal)}
    for name, start, end in _SHIFTS:
        if name not in existing:
            await schedule.create_definition(
                session,
                principal,
                ss.ShiftDefinitionCreate(
                    name=name, start_time=time.fromisoformat(start), end_time=time.fromisoformat(end)
                ),
            )
    return f"{created} created, {len(_DEMO_STAFF) - created} already there"


# --- appointments: types and the demo doctor's weekly clinic hours ---------------------------------

# code, name, minutes, mode, department code (None: any department)
_APPOINTMENT_TYPES = [
    ("GP20", "General consultation", 20, "in_person", "GEN"),
    ("FU10", "Follow-up visit", 10, "in_person", "GEN"),
    ("VIDEO15", "Video consultation", 15, "video", None),
]
# weekdays (0 Monday), start, end, type codes (empty: every type)
_DEMO_HOURS = [
    (range(5), "09:00", "12:30", ()),
    (range(5), "13:30", "17:00", ()),
    ([5], "10:00", "12:00", ("VIDEO15",)),
]


async def _add_demo_emails(session: Any, principal: Any) -> int:
    """Give the imported demo patients that have no e-mail address theirs (demo databases made
    before the bundles carried one): their online bookings are confirmed by e-mail. Returns how
    many were changed; the importer itself leaves an existing record as it is."""
    from app.patients import schemas as pts
    from app.patients import service as patients

    added = 0
    for spec in _PATIENTS:
        found, _, _ = await patients.search_patients(
            session, principal, identifier=f"{DEMO_SYSTEM}|{spec['key']}", limit=1, offset=0
        )
        if not found or (await patients.contact_summaries(session, [found[0].id]))[found[0].id]["email"]:
            continue
        record = await patients.get_patient(session, principal, found[0].id)
        telecoms = [
            pts.PatientContactPoint.model_validate(
                {"system": t.system, "value": t.value, "use": t.use, "rank": t.rank}
            )
            for t in record.telecoms
        ]
        telecoms.append(pts.PatientContactPoint(system="email", value=spec["email"], use="home"))
        await patients.update_patient(session, principal, record.id, pts.PatientUpdate(telecoms=telecoms))
        added += 1
    return added


async def seed_demo_appointments(session: Any, today: date) -> str:
    """Appointment types and weekly clinic hours (in the facility's time zone) for the demo
    doctor, so the portal's "book a visit" finds free slots at once, and an e-mail address for
    demo patients without one, so it is confirmed. Idempotent: types that exist (by code), a
    doctor who already has hours and patients with an address are left as they are. Needs the
    demo staff records (``seed_demo_staff``) first."""
    from datetime import time

    from app.appointments import schemas as aps
    from app.appointments import service as appointments
    from app.auth import service as auth_service
    from app.auth.permissions import Perm
    from app.deps import Principal
    from app.staff import service as staff

    admin = await auth_service.find_user(session, "admin")
    principal = Principal(
        user_id=admin.id if admin else uuid.uuid4(),
        username="cli",
        full_name="Demo seed",
        email=None,
        roles=("admin",),
        permissions=frozenset(
            {
                Perm.SETTINGS_ADMIN,
                Perm.ROTA_WRITE,
                Perm.STAFF_READ,
                Perm.APPOINTMENTS_READ,
                Perm.PATIENTS_READ,
                Perm.PATIENTS_WRITE,
            }
        ),
        patient_id=None,
        session_id=uuid.uuid4(),
    )
    emails = await _add_demo_emails(session, principal)
    added = f"; e-mail address added to {emails} demo patients" if emails else ""
    departments = {d.code: d.id for d in await staff.list_departments(session, principal)}
    types = {t.code: t for t in await appointments.list_types(session, principal, active=None)}
    created_types = 0
    for code, name, minutes, mode, dept in _APPOINTMENT_TYPES:
        if code not in types:
            types[code] = await appointments.create_type(
                session,
                principal,
                aps.AppointmentTypeCreate(
                    code=code,
                    name=name,
                    duration_minutes=minutes,
                    mode=mode,
                    department_id=departments.get(dept) if dept else None,
                ),
            )
            created_types += 1
    doctor = await auth_service.find_user(session, "doctor")
    staff_id = await staff.staff_id_for_user(session, doctor.id) if doctor else None
    if staff_id is None:
        return (
            f"{created_types} types created; no staff record for the demo doctor, so no clinic hours{added}"
        )
    if await appointments.list_hours(session, principal, staff_id=staff_id):
        return f"{created_types} types created; the demo doctor's clinic hours were already there{added}"
    rules = 0
    for weekdays, start, end, codes in _DEMO_HOURS:
        for weekday in weekdays:
            await appointments.create_hours(
                session,
                principal,
                aps.ClinicHoursCreate(
                    staff_id=staff_id,
                    weekday=weekday,
                    start_time=time.fromisoformat(start),
                    end_time=time.fromisoformat(end),
                    valid_from=today,
                    type_ids=[types[c].id for c in codes],
                ),
            )
            rules += 1
    return f"{created_types} types created; {rules} weekly clinic hours for the demo doctor{added}"
