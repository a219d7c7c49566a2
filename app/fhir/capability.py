"""The CapabilityStatement: built from the same tables the router and search use, so it lists
exactly what is implemented."""

from __future__ import annotations

from typing import Any

from app.fhir import search as fs
from app.fhir.mappers import base as mb

SOFTWARE_VERSION = "0.1.0"

# Interactions beyond read + search-type, per resource type.
CREATE = {"Patient", "Condition", "AllergyIntolerance", "Observation", "MedicationRequest"}
UPDATE = {
    "Patient": "The resource (with its id) replaces the demographics we keep; its identifiers replace"
    " ours of the systems it names, identifiers of other systems stay (the MRN is ours and cannot"
    " change). Every update must carry the resource's id, as in the URL.",
    "Condition": "Changes clinicalStatus, verificationStatus, abatement and note; the code cannot change.",
    "AllergyIntolerance": "Changes status, criticality, note and reactions; the code cannot change.",
    "Observation": "Corrects status (e.g. final to amended, corrected or entered-in-error), value[x],"
    " referenceRange, interpretation, component and note; the code and subject cannot change.",
    "MedicationRequest": "Only a status change to stopped, cancelled or completed (statusReason: why).",
}

_STRICT = (
    "Search is strict: an unknown parameter, a modifier or an unsupported combination is a 400"
    " OperationOutcome (never silently ignored). Paging: _count (default 50, at most 200) and _offset;"
    " Bundle.link next/previous carry them. Clinical searches need patient (a patient's own token"
    " defaults to their record)."
)


def _param(name: str, type_: str, doc: str) -> dict[str, Any]:
    return {"name": name, "type": type_, "documentation": doc}


def _patient_resource() -> dict[str, Any]:
    return {
        "type": "Patient",
        "profile": "http://hl7.org/fhir/StructureDefinition/Patient",
        "interaction": [
            {"code": "read"},
            {"code": "search-type"},
            {"code": "create"},
            {"code": "update", "documentation": UPDATE["Patient"]},
        ],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "searchParam": [
            _param("_id", "token", "The patient id; cannot be combined with other parameters"),
            _param("name", "string", "Prefix of any name part, case- and accent-insensitive; words AND-ed"),
            _param("family", "string", "Prefix of a family name part, like name; AND-ed with name and given"),
            _param("given", "string", "Prefix of a given name part, like name; AND-ed with name and family"),
            _param("identifier", "token", f"system|value or value; our MRN has system {_mrn_system()}"),
            _param("birthdate", "date", "YYYY-MM-DD with eq/ge/le/gt/lt; repeat to AND"),
            _param("gender", "token", "male, female, other, unknown"),
        ],
        "operation": [
            {
                "name": "everything",
                "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                "documentation": "The Patient and its "
                + ", ".join(_everything())
                + " as one searchset, paged with _count/_offset",
            }
        ],
    }


def _mrn_system() -> str:
    from app.patients.repository import MRN_SYSTEM

    return MRN_SYSTEM


def _everything() -> tuple[str, ...]:
    from app.fhir.router import EVERYTHING_TYPES

    return EVERYTHING_TYPES


def _clinical_resource(spec: fs.ClinicalType) -> dict[str, Any]:
    interactions: list[dict[str, Any]] = [{"code": "read"}, {"code": "search-type"}]
    if spec.resource_type in CREATE:
        interactions.append({"code": "create"})
    if spec.resource_type in UPDATE:
        interactions.append({"code": "update", "documentation": UPDATE[spec.resource_type]})
    params = [
        _param(p, "reference", "Patient/{id} (required unless a patient's own token)")
        for p in spec.patient_params
    ]
    for name, param in spec.params.items():
        params.append(_param(name, "date" if param.kind == "date" else "token", param.doc))
    resource: dict[str, Any] = {
        "type": spec.resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{spec.resource_type}",
        "interaction": interactions,
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "searchParam": params,
    }
    if spec.resource_type == "Observation":
        resource["documentation"] = (
            "Search returns the chart's observations, then remote-monitoring readings (ids mon-<n>,"
            " with device = Device/{id}; the same code, date, category and status filters apply)."
            " A device token (hhd_...) may create vital-sign Observations (LOINC 8867-4, 9279-1,"
            " 59408-5, 2708-6, 85354-9 with 8480-6/8462-4, 8310-5; UCUM units; ECG as"
            " valueSampledData) for its own patient only, here or as a batch Bundle on POST /fhir;"
            " a resend of the same identifier answers 200 with the stored resource, not a copy."
        )
    if spec.resource_type == "MedicationRequest":
        resource["documentation"] = (
            "Create is checked against the patient's recorded allergies (drug and contained-Medication"
            " ingredients): a match is a 409 OperationOutcome (code allergy_conflict) unless the request"
            f" carries the extension {mb.EXT_ALLERGY_OVERRIDE} with valueString = the reason, which is"
            " audited. requester (a Practitioner identifier + display) is kept as sent, e.g. the prescriber"
            " of an imported record; without one, the requester is the authenticated prescriber."
        )
    return resource


def _scheduling_resources() -> list[dict[str, Any]]:
    from app.fhir import scheduling as sch
    from app.fhir.mappers import scheduling as sm

    def params(table: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
        return [_param(name, kind, doc) for name, (kind, doc) in table.items()]

    def resource(type_: str, create: bool, table: dict[str, tuple[str, str]], doc: str) -> dict[str, Any]:
        interactions: list[dict[str, Any]] = [{"code": "read"}, {"code": "search-type"}]
        if create:
            interactions.append({"code": "create"})
        return {
            "type": type_,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{type_}",
            "documentation": doc,
            "interaction": interactions,
            "versioning": "no-version",
            "readHistory": False,
            "updateCreate": False,
            "searchParam": params(table),
        }

    return [
        resource(
            "Schedule",
            False,
            sch.SCHEDULE_PARAMS,
            "One per clinician with weekly clinic hours; its id is the clinician's Practitioner id."
            f" serviceType lists the appointment types offered (system {sm.TYPE_SYSTEM}). Readable by"
            " staff with appointments:read and by patients (to book online).",
        ),
        resource(
            "Slot",
            False,
            sch.SLOT_PARAMS,
            "Slots are computed from weekly hours, leave and bookings (none are stored): ids are"
            " derived from (clinician, appointment type, start), so a slot keeps its id from one"
            " search to the next; one the hours no longer offer reads 404. Search lists free"
            " slots only (busy ones are omitted); it needs schedule or service-type and a start"
            " range: a lower bound alone searches 14 days from it (page on with the next links),"
            f" or both bounds at most {_max_window_days()} days apart; refused with 400 otherwise;"
            " dates between 1900 and 2200; past"
            f" slots are never listed; paging goes at most {sch.MAX_SLOT_DEPTH} slots deep and a page"
            " that is not the last carries no total. Read answers the slot's current status: free,"
            " busy, busy-tentative (held for a waitlist offer) or busy-unavailable.",
        ),
        resource(
            "Appointment",
            True,
            sch.APPOINTMENT_PARAMS,
            "Statuses: booked, pending (a waitlist offer awaiting the patient), arrived (checked in),"
            " fulfilled, noshow, cancelled. Create books one free Slot: status booked (or"
            " proposed/pending, booked at once), slot = [Slot/{id}], participant Patient/{id}"
            " (a patient's token: their own record only, which is also the default; staff need"
            " appointments:write); start/end and a Practitioner participant, if sent, must be the"
            " slot's; reasonCode text (or comment) is the reason. Booking is atomic: a slot taken"
            " meanwhile is a 409 OperationOutcome (code slot_taken), the patient busy elsewhere 409"
            " patient_busy; a past slot 400 in_past, one more than two years ahead 400"
            " too_far_ahead, one no longer offered 400 outside_hours. An"
            " Idempotency-Key header makes retries safe. Changes (reschedule, cancel, check-in)"
            " go through the native API /api/appointments.",
        ),
    ]


def _max_window_days() -> int:
    from app.appointments.service import MAX_WINDOW_DAYS

    return MAX_WINDOW_DAYS


def statement(base: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "id": "hospital-hub",
        "status": "active",
        "date": "2026-01-01",
        "publisher": "Hospital Hub",
        "kind": "instance",
        "software": {"name": "Hospital Hub", "version": SOFTWARE_VERSION},
        "implementation": {"description": "Hospital Hub FHIR R4 facade", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": _STRICT,
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                }
                            ],
                            "text": "Bearer access token from POST /api/auth/token",
                        }
                    ],
                    "description": "Every interaction except GET /fhir/metadata needs a bearer token. Access"
                    " follows the native API: staff by permission; a patient's token sees only their own"
                    " compartment (anything else is 404).",
                },
                "resource": [
                    _patient_resource(),
                    *(_clinical_resource(spec) for spec in fs.CLINICAL.values()),
                    *_scheduling_resources(),
                    {
                        "type": "Device",
                        "profile": "http://hl7.org/fhir/StructureDefinition/Device",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "versioning": "no-version",
                        "readHistory": False,
                        "updateCreate": False,
                        "searchParam": [_param("patient", "reference", "Patient/{id}")],
                        "documentation": "Remote-monitoring devices (registered and revoked through"
                        " /api/monitoring); status inactive once revoked. Needs monitoring:read.",
                    },
                ],
            }
        ],
    }
