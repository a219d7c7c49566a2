"""Schedule, Slot and Appointment <-> the appointment book (``app.appointments``).

There are no slot tables: free slots are computed from clinicians' weekly hours. So the FHIR ids
of the scheduling resources are derived, stable and checked on the way in:

- Schedule: one per bookable clinician; its id is the staff member's id (the Practitioner's).
- Slot: (clinician, appointment type, UTC start) packed into 37 bytes (a version byte, two UUIDs,
  the start in minutes since the epoch) and written in lowercase base32: 60 characters from
  ``[a-z2-7]``, within FHIR's 64. Only the canonical spelling of a well-formed value with a
  start before 2200 decodes; anything else is no id of ours (404 on read, 400 inside a request
  body).
- Appointment: the appointment's id.

Our appointment types travel as ``serviceType`` codings of ``TYPE_SYSTEM`` (code = the type's
code); the visit mode (in person, video) as ``appointmentType`` of ``MODE_SYSTEM``.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.appointments import schemas as aps
from app.appointments.models import AppointmentType
from app.fhir.mappers import base as b

TYPE_SYSTEM = f"{b.HUB_BASE}/CodeSystem/appointment-type"
MODE_SYSTEM = f"{b.HUB_BASE}/CodeSystem/appointment-mode"
MODE_DISPLAY = {"in_person": "In person", "video": "Video consultation"}

# Our appointment states -> FHIR Appointment.status. A waitlist offer (a slot held for a patient
# until they accept) is "pending": the clinic has accepted, the patient has not yet.
STATUS_TO_FHIR = {
    "offered": "pending",
    "booked": "booked",
    "checked_in": "arrived",
    "completed": "fulfilled",
    "no_show": "noshow",
    "cancelled": "cancelled",
}
FHIR_APPOINTMENT_STATUSES = (
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
)
STATUS_FROM_FHIR: dict[str, str] = {v: k for k, v in STATUS_TO_FHIR.items()}
# What a POST may ask for: a booking (``proposed``/``pending``: a request we confirm at once).
BOOKING_STATUSES = ("booked", "proposed", "pending")


# --- ids ---------------------------------------------------------------------------------


_SLOT_VERSION = 1
_SLOT_FORMAT = ">B16s16sI"  # version, staff id, type id, start in minutes since the epoch (UTC)
_SLOT_BYTES = struct.calcsize(_SLOT_FORMAT)
_SLOT_ID_LENGTH = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Slots start before the end of the appointment book's instants (2200).
_LATEST_MINUTES = int((aps.LATEST_INSTANT - _EPOCH).total_seconds()) // 60


@dataclass(frozen=True, slots=True)
class SlotKey:
    staff_id: uuid.UUID
    type_id: uuid.UUID
    start: datetime  # aware UTC, on a whole minute


def slot_id(staff_id: uuid.UUID, type_id: uuid.UUID, start: datetime) -> str:
    minutes = int((start.astimezone(UTC) - _EPOCH).total_seconds()) // 60
    raw = struct.pack(_SLOT_FORMAT, _SLOT_VERSION, staff_id.bytes, type_id.bytes, minutes)
    return base64.b32encode(raw).decode().rstrip("=").lower()


def parse_slot_id(value: str) -> SlotKey | None:
    """The slot an id stands for; None for anything that is not the canonical id of one."""
    if len(value) != _SLOT_ID_LENGTH or not value.isascii() or value != value.lower():
        return None
    padded = value.upper() + "=" * (-len(value) % 8)
    try:
        raw = base64.b32decode(padded)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _SLOT_BYTES:
        return None
    version, staff, kind, minutes = struct.unpack(_SLOT_FORMAT, raw)
    if version != _SLOT_VERSION:
        return None
    if minutes >= _LATEST_MINUTES:  # 2**32 minutes reach past the year 9999
        return None
    key = SlotKey(uuid.UUID(bytes=staff), uuid.UUID(bytes=kind), _EPOCH + timedelta(minutes=minutes))
    if slot_id(key.staff_id, key.type_id, key.start) != value:  # a non-canonical spelling
        return None
    return key


def reference_id(reference: Any, resource_type: str) -> str | None:
    """The id in ``{resource_type}/{id}`` (or a full URL ending so); None otherwise."""
    if not isinstance(reference, str):
        return None
    tail = reference.strip().rstrip("/").split("/")
    if len(tail) < 2 or tail[-2] != resource_type or not tail[-1]:
        return None
    return tail[-1]


def reference_uuid(reference: Any, resource_type: str) -> uuid.UUID | None:
    rid = reference_id(reference, resource_type)
    try:
        return uuid.UUID(rid) if rid is not None else None
    except ValueError:
        return None


# --- outbound ----------------------------------------------------------------------------


def type_concept(kind: AppointmentType | aps.TypeBrief) -> dict[str, Any]:
    return {"coding": [{"system": TYPE_SYSTEM, "code": kind.code, "display": kind.name}], "text": kind.name}


def mode_concept(mode: str) -> dict[str, Any]:
    display = MODE_DISPLAY.get(mode, mode)
    return {"coding": [{"system": MODE_SYSTEM, "code": mode, "display": display}], "text": display}


def schedule_to_fhir(schedule: Any, timezone: str) -> dict[str, Any]:
    """``schedule``: an ``app.appointments.service.ClinicianSchedule``."""
    horizon = {
        "start": schedule.first_day.isoformat(),
        "end": schedule.last_day.isoformat() if schedule.last_day else None,
    }
    resource = {
        "resourceType": "Schedule",
        "id": str(schedule.staff_id),
        "active": schedule.active,
        "serviceType": [type_concept(k) for k in schedule.types],
        "actor": [b.ref("Practitioner", schedule.staff_id, schedule.display_name)],
        "planningHorizon": horizon,
        "comment": f"Weekly hours in {timezone}; free slots are computed from them"
        f" (GET /fhir/Slot?schedule=Schedule/{schedule.staff_id}&start=ge...&start=lt...).",
    }
    result: dict[str, Any] = b.clean(resource)
    return result


def slot_to_fhir(
    staff_id: uuid.UUID, kind: AppointmentType, start: datetime, end: datetime, status: str
) -> dict[str, Any]:
    resource = {
        "resourceType": "Slot",
        "id": slot_id(staff_id, kind.id, start),
        "serviceType": [type_concept(kind)],
        "appointmentType": mode_concept(kind.mode),
        "schedule": {"reference": f"Schedule/{staff_id}"},
        "status": status,
        "start": b.fhir_instant(start),
        "end": b.fhir_instant(end),
    }
    result: dict[str, Any] = b.clean(resource)
    return result


def appointment_to_fhir(a: aps.AppointmentRead) -> dict[str, Any]:
    status = STATUS_TO_FHIR[a.status]
    patient_status = "needs-action" if a.status == "offered" else "accepted"
    minutes = int((a.end - a.start).total_seconds()) // 60
    cancelled = a.status == "cancelled"
    resource = {
        "resourceType": "Appointment",
        "id": str(a.id),
        "meta": {"lastUpdated": b.fhir_instant(a.updated_at)},
        "status": status,
        "cancelationReason": {"text": a.cancel_reason} if cancelled and a.cancel_reason else None,
        "serviceType": [type_concept(a.type)],
        "appointmentType": mode_concept(a.mode),
        "reasonCode": [{"text": a.reason}] if a.reason else None,
        "description": a.type.name,
        "start": b.fhir_instant(a.start),
        "end": b.fhir_instant(a.end),
        "minutesDuration": minutes,
        "slot": [{"reference": f"Slot/{slot_id(a.staff.id, a.type.id, a.start)}"}],
        "created": b.fhir_instant(a.created_at),
        "participant": [
            {
                "actor": b.ref("Patient", a.patient.id, a.patient.display_name or None),
                "required": "required",
                "status": patient_status,
            },
            {
                "actor": b.ref("Practitioner", a.staff.id, a.staff.display_name or None),
                "required": "required",
                "status": "accepted",
            },
        ],
    }
    result: dict[str, Any] = b.clean(resource)
    return result


# --- inbound -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookingRequest:
    slot: SlotKey
    patient_id: uuid.UUID | None  # None: a patient booking for their own record
    reason: str | None


def _participants(resource: Mapping[str, Any]) -> list[tuple[int, str, str | None]]:
    """(index, resource type, id) of each participant's actor reference."""
    out = []
    items = resource.get("participant") or []
    if not isinstance(items, list):
        raise b.MappingError("Appointment.participant must be a list", path="Appointment.participant")
    for i, p in enumerate(items):
        actor = p.get("actor") if isinstance(p, Mapping) else None
        reference = actor.get("reference") if isinstance(actor, Mapping) else None
        if not isinstance(reference, str) or "/" not in reference:
            raise b.MappingError(
                "Each participant needs actor.reference (Patient/{id} or Practitioner/{id})",
                path=f"Appointment.participant[{i}].actor.reference",
            )
        kind = reference.strip().rstrip("/").split("/")[-2]
        out.append((i, kind, reference_id(reference, kind)))
    return out


def _same_instant(value: Any, expected: datetime, path: str) -> None:
    if value in (None, ""):
        return
    sent = b.when(value, path)
    if sent is None or sent.astimezone(UTC) != expected:
        raise b.MappingError(
            f"{path} {value!r} is not the slot's ({b.fhir_instant(expected)}): leave it out or send that",
            path=path,
        )


def _reason(resource: Mapping[str, Any]) -> str | None:
    """The first reasonCode's text (or its first coding's display or code), else the comment."""
    for concept in resource.get("reasonCode") or []:
        if not isinstance(concept, Mapping):
            continue
        codings = [c for c in concept.get("coding") or [] if isinstance(c, Mapping)]
        for text in (concept.get("text"), *(c.get("display") or c.get("code") for c in codings)):
            if isinstance(text, str) and text.strip():
                return text.strip()
    comment = resource.get("comment")
    return (comment.strip() or None) if isinstance(comment, str) else None


def booking_from_fhir(resource: Mapping[str, Any]) -> BookingRequest:
    """A POSTed Appointment -> what to book. The slot decides clinician, type, start and end;
    start/end/participant Practitioner, when sent, must agree with it."""
    b.check_type(resource, "Appointment")
    status = resource.get("status")
    if status not in BOOKING_STATUSES:
        raise b.MappingError(
            f"Appointment.status must be booked (or proposed/pending, which we book at once), not {status!r}",
            path="Appointment.status",
        )
    slots = resource.get("slot")
    if not isinstance(slots, list) or len(slots) != 1:
        raise b.MappingError("Appointment.slot must reference exactly one free Slot", path="Appointment.slot")
    ref = slots[0].get("reference") if isinstance(slots[0], Mapping) else None
    rid = reference_id(ref, "Slot")
    key = parse_slot_id(rid) if rid is not None else None
    if key is None:
        raise b.MappingError(
            f"Appointment.slot[0].reference must be Slot/{{id}} of a slot from GET /fhir/Slot, not {ref!r}",
            path="Appointment.slot[0].reference",
        )
    patient_id: uuid.UUID | None = None
    for i, kind, pid in _participants(resource):
        path = f"Appointment.participant[{i}].actor.reference"
        if kind == "Patient":
            try:
                found = uuid.UUID(pid or "")
            except ValueError as exc:
                raise b.MappingError(f"Patient/{pid} is not one of our patients", path=path) from exc
            if patient_id is not None and patient_id != found:
                raise b.MappingError("An appointment is for one patient", path=path)
            patient_id = found
        elif kind == "Practitioner":
            if pid != str(key.staff_id):
                raise b.MappingError("The Practitioner must be the slot's clinician (or left out)", path=path)
        else:
            raise b.MappingError(f"Participants may be a Patient or a Practitioner, not {kind}", path=path)
    _same_instant(resource.get("start"), key.start, "Appointment.start")
    reason = _reason(resource)
    if reason is not None and len(reason) > 500:
        raise b.MappingError("The reason is longer than 500 characters", path="Appointment.reasonCode")
    return BookingRequest(slot=key, patient_id=patient_id, reason=reason)


def check_end(resource: Mapping[str, Any], end: datetime) -> None:
    """``end``, when sent, must be the slot's (known once its type is)."""
    _same_instant(resource.get("end"), end, "Appointment.end")
