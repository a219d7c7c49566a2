"""Device messages -> what the pipeline stores.

A message is one FHIR R4 Observation (vital-signs profile, or ECG as ``valueSampledData``) or a
``batch``/``transaction``/``collection`` Bundle of them. Everything is checked before anything is
stored: a message with one bad Observation is refused whole (400 naming the entry), so a device
never has to guess which half of a message was kept.

Quality, decided here and nowhere else:
- a value of 0, or no value with a ``dataAbsentReason`` (the way ICU numerics record "probe off"):
  ``signal_loss``;
- a value outside what a living patient can show (``vitals.VITALS``), or a diastolic at or above
  its systolic: ``artefact``.
Neither raises a clinical alarm or enters NEWS2; both raise a technical alarm.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from app.errors import BadRequest
from app.kit.time import utcnow
from app.monitoring import vitals as v

MAX_ENTRIES = 500
MAX_SAMPLES = 20_000
FUTURE_SKEW = timedelta(minutes=5)


class MessageError(BadRequest):
    code = "invalid_observation"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message, details={"path": path} if path else None)
        self.path = path


@dataclass(frozen=True, slots=True)
class Reading:
    identifier: str
    metric: str
    code: str
    value: Decimal | None
    value2: Decimal | None
    unit: str
    quality: str
    effective_at: datetime


@dataclass(frozen=True, slots=True)
class Waveform:
    identifier: str
    code: str
    start_at: datetime
    period_ms: Decimal
    origin: Decimal
    factor: Decimal
    unit: str
    data: str
    sample_count: int


Item = Reading | Waveform


def parse_message(body: Any, patient_id: uuid.UUID | None) -> list[Item]:
    """Parse one message; ``patient_id``: the patient the sender may write for (a subject, if
    given, must be that patient). ``None`` leaves the subject to the caller to check."""
    if not isinstance(body, Mapping):
        raise MessageError("A message is a FHIR Observation or Bundle (a JSON object)")
    kind = body.get("resourceType")
    if kind == "Observation":
        return [parse_observation(body, patient_id, "Observation")]
    if kind == "Bundle":
        if body.get("type") not in ("batch", "transaction", "collection"):
            raise MessageError("Bundle.type must be batch, transaction or collection", path="Bundle.type")
        entries = body.get("entry") or []
        if not isinstance(entries, list) or not entries:
            raise MessageError("The Bundle has no entries", path="Bundle.entry")
        if len(entries) > MAX_ENTRIES:
            raise MessageError(f"A Bundle may carry at most {MAX_ENTRIES} entries", path="Bundle.entry")
        items: list[Item] = []
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            path = f"Bundle.entry[{i}].resource"
            if not isinstance(resource, Mapping) or resource.get("resourceType") != "Observation":
                raise MessageError("Every entry must be an Observation", path=path)
            items.append(parse_observation(resource, patient_id, path))
        return items
    raise MessageError(f"Expected an Observation or a Bundle, got {str(kind)[:40]!r}", path="resourceType")


def subject_of(resource: Mapping[str, Any]) -> uuid.UUID | None:
    subject = resource.get("subject")
    if not isinstance(subject, Mapping) or not isinstance(subject.get("reference"), str):
        return None
    tail = subject["reference"].rstrip("/").split("/")
    try:
        if len(tail) >= 2 and tail[-2] != "Patient":
            raise ValueError
        return uuid.UUID(tail[-1])
    except ValueError as exc:
        raise MessageError("subject must reference a patient as Patient/{id}", path="subject") from exc


def _codes(concept: Any) -> list[tuple[str | None, str]]:
    if not isinstance(concept, Mapping):
        return []
    return [
        (c.get("system"), str(c["code"]))
        for c in concept.get("coding") or []
        if isinstance(c, Mapping) and isinstance(c.get("code"), str)
    ]


def _loinc(concept: Any, known: Mapping[str, Any]) -> str | None:
    for system, code in _codes(concept):
        if system in (v.LOINC, None) and code in known:
            return code
    return None


def _when(resource: Mapping[str, Any], path: str) -> datetime:
    period = resource.get("effectivePeriod")
    raw = resource.get("effectiveDateTime") or resource.get("effectiveInstant")
    if raw is None and isinstance(period, Mapping):
        raw = period.get("start")
    if not isinstance(raw, str):
        raise MessageError("effectiveDateTime (or effectiveInstant) is required", path=f"{path}.effective")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MessageError(f"{raw[:40]!r} is not a FHIR dateTime", path=f"{path}.effective") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MessageError("effective times need a time zone (e.g. Z)", path=f"{path}.effective")
    if moment > utcnow() + FUTURE_SKEW:
        raise MessageError(
            "effective time is in the future (check the device clock)", path=f"{path}.effective"
        )
    return moment


def _decimal(raw: Any, path: str, places: str = "0.001") -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise MessageError("value must be a number", path=path)
    try:
        value = Decimal(str(raw))
    except InvalidOperation as exc:
        raise MessageError("value must be a number", path=path) from exc
    if not value.is_finite():
        raise MessageError("value must be a finite number (use dataAbsentReason)", path=path)
    if abs(value) >= Decimal(10) ** 7:
        raise MessageError("value is out of range", path=path)
    return value.quantize(Decimal(places))


def _quantity(item: Mapping[str, Any], spec: v.VitalSpec, path: str) -> tuple[Decimal | None, bool]:
    """(value, absent): absent when there is no value and a dataAbsentReason says why."""
    q = item.get("valueQuantity")
    if q is None:
        if item.get("dataAbsentReason") is not None:
            return None, True
        raise MessageError("valueQuantity (or a dataAbsentReason) is required", path=f"{path}.value")
    if not isinstance(q, Mapping):
        raise MessageError("valueQuantity must be an object", path=f"{path}.valueQuantity")
    unit = q.get("code") or q.get("unit")
    if q.get("system") not in (None, v.UCUM) or unit not in spec.units:
        raise MessageError(
            f"{spec.label} is measured in UCUM {spec.unit!r}, not {str(unit)[:20]!r}",
            path=f"{path}.valueQuantity.code",
        )
    return _decimal(q.get("value"), f"{path}.valueQuantity.value"), False


def identifier_of(resource: Mapping[str, Any]) -> str:
    """The device's identifier of the Observation (system|value, else id); without one, a hash
    of the resource itself, so resending the same message is still recognised."""
    for ident in resource.get("identifier") or []:
        if isinstance(ident, Mapping) and isinstance(ident.get("value"), str) and ident["value"]:
            system = ident.get("system")
            text = f"{system}|{ident['value']}" if isinstance(system, str) and system else ident["value"]
            if len(text) <= 190:
                return text
            return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    if isinstance(resource.get("id"), str) and 0 < len(resource["id"]) <= 64:
        return "id:" + str(resource["id"])
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def parse_observation(resource: Mapping[str, Any], patient_id: uuid.UUID | None, path: str) -> Item:
    subject = subject_of(resource)
    if patient_id is not None and subject is not None and subject != patient_id:
        raise MessageError(
            "This device may only write observations for its own patient", path=f"{path}.subject"
        )
    status = resource.get("status", "final")
    if status not in ("final", "amended", "corrected", "preliminary"):
        raise MessageError("status must be final, amended, corrected or preliminary", path=f"{path}.status")
    identifier = identifier_of(resource)
    effective = _when(resource, path)
    if resource.get("valueSampledData") is not None:
        return _waveform(resource, identifier, effective, path)
    code = _loinc(resource.get("code"), v.VITALS)
    if code is None:
        known = ", ".join(sorted(v.VITALS))
        raise MessageError(
            f"Observation.code must be a LOINC vital sign this service monitors ({known})",
            path=f"{path}.code",
        )
    spec = v.VITALS[code]
    if spec.metric == "bp":
        return _blood_pressure(resource, spec, code, identifier, effective, path)
    value, absent = _quantity(resource, spec, path)
    quality = _quality(value, absent, spec.low, spec.high)
    return Reading(identifier, spec.metric, code, value, None, spec.unit, quality, effective)


def _quality(value: Decimal | None, absent: bool, low: Decimal, high: Decimal) -> str:
    if absent or value is None or value == 0:
        return "signal_loss"
    if value < low or value > high:
        return "artefact"
    return "valid"


def _blood_pressure(
    resource: Mapping[str, Any],
    spec: v.VitalSpec,
    code: str,
    identifier: str,
    effective: datetime,
    path: str,
) -> Reading:
    found: dict[str, tuple[Decimal | None, bool]] = {}
    for i, component in enumerate(resource.get("component") or []):
        which = _loinc(
            component.get("code") if isinstance(component, Mapping) else None, {v.SYSTOLIC: 1, v.DIASTOLIC: 1}
        )
        if which is not None and isinstance(component, Mapping):
            found[which] = _quantity(component, spec, f"{path}.component[{i}]")
    if v.SYSTOLIC not in found or v.DIASTOLIC not in found:
        raise MessageError(
            "A blood-pressure panel needs systolic (8480-6) and diastolic (8462-4) components",
            path=f"{path}.component",
        )
    systolic, sys_absent = found[v.SYSTOLIC]
    diastolic, dia_absent = found[v.DIASTOLIC]
    quality = _quality(systolic, sys_absent, spec.low, spec.high)
    if quality == "valid":
        quality = _quality(diastolic, dia_absent, v.DIASTOLIC_LOW, v.DIASTOLIC_HIGH)
    if quality == "valid" and diastolic is not None and systolic is not None and diastolic >= systolic:
        quality = "artefact"
    return Reading(identifier, "bp", code, systolic, diastolic, spec.unit, quality, effective)


def _waveform(resource: Mapping[str, Any], identifier: str, effective: datetime, path: str) -> Waveform:
    sd = resource["valueSampledData"]
    spath = f"{path}.valueSampledData"
    if not isinstance(sd, Mapping):
        raise MessageError("valueSampledData must be an object", path=spath)
    data = sd.get("data")
    if not isinstance(data, str) or not data.strip():
        raise MessageError("valueSampledData.data is required", path=f"{spath}.data")
    samples = data.split()
    if len(samples) > MAX_SAMPLES:
        raise MessageError(f"at most {MAX_SAMPLES} samples per chunk", path=f"{spath}.data")
    for token in samples:
        if token not in ("E", "L", "U"):
            try:
                float(token)
            except ValueError as exc:
                raise MessageError(
                    "data holds numbers (or E, L, U) separated by spaces", path=f"{spath}.data"
                ) from exc
    period = _decimal(sd.get("period"), f"{spath}.period", "0.000001")
    if period <= 0:
        raise MessageError("period must be positive (milliseconds between samples)", path=f"{spath}.period")
    origin = sd.get("origin") or {}
    unit = str(origin.get("code") or origin.get("unit") or "mV")[:16]
    codes = _codes(resource.get("code"))
    if not codes:
        raise MessageError("Observation.code is required", path=f"{path}.code")
    if int(sd.get("dimensions", 1) or 1) != 1:
        raise MessageError("one lead per Observation (dimensions 1)", path=f"{spath}.dimensions")
    return Waveform(
        identifier=identifier,
        code=codes[0][1][:32],
        start_at=effective,
        period_ms=period,
        origin=_decimal(origin.get("value", 0), f"{spath}.origin.value", "0.000001"),
        factor=_decimal(sd.get("factor", 1), f"{spath}.factor", "0.000001"),
        unit=unit,
        data=" ".join(samples),
        sample_count=len(samples),
    )
