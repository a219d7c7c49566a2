"""FHIR for remote monitoring: device-token writes into the monitoring pipeline, device readings
as Observations (ids ``mon-<n>``, searchable with the chart's observations), Device read/search.

A request whose bearer token is a device token (``hhd_...``) never becomes a user principal:
it may write vital-sign Observations (or a Bundle of them) for its own patient through the
monitoring pipeline, and nothing else; every other path rejects it as an invalid access token.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request

from app.deps import PrincipalDep, SessionDep
from app.errors import Forbidden, NotFound
from app.fhir import search as fs
from app.fhir.mappers import base as b
from app.fhir.outcome import FHIRResponse, FHIRRoute
from app.monitoring import ingest, parse
from app.monitoring import service as monitoring
from app.monitoring import vitals as v
from app.monitoring.models import MonitoringDevice, VitalReading
from app.monitoring.pipeline import ItemResult, Source, Stored

READING_PREFIX = "mon-"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DEVICE_SYSTEM = "urn:hospital-hub:device"

router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=FHIRRoute, default_response_class=FHIRResponse)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _quantity(value: Any, unit: str) -> dict[str, Any]:
    return {"value": b.fhir_number(value), "unit": unit, "system": v.UCUM, "code": unit}


def reading_to_fhir(row: VitalReading) -> dict[str, Any]:
    code = v.VITALS.get(row.code)
    label = code.label if code else row.code
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"{READING_PREFIX}{row.id}",
        "meta": {"lastUpdated": b.fhir_instant(row.received_at)},
        "identifier": [
            {"system": f"urn:hospital-hub:{row.source.split(':', 1)[0]}", "value": row.identifier}
        ],
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}], "text": "vital-signs"}],
        "code": {"coding": [{"system": v.LOINC, "code": row.code, "display": label}], "text": label},
        "subject": {"reference": f"Patient/{row.patient_id}"},
        "effectiveDateTime": b.fhir_instant(row.effective_at),
        "device": {"reference": f"Device/{row.device_id}"} if row.device_id else None,
    }
    absent = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "error"}]
    }
    if row.metric == "bp":
        resource["component"] = [
            {
                "code": {
                    "coding": [{"system": v.LOINC, "code": v.SYSTOLIC, "display": "Systolic blood pressure"}]
                },
                **(
                    {"valueQuantity": _quantity(row.value, row.unit)}
                    if row.value is not None
                    else {"dataAbsentReason": absent}
                ),
            },
            {
                "code": {
                    "coding": [
                        {"system": v.LOINC, "code": v.DIASTOLIC, "display": "Diastolic blood pressure"}
                    ]
                },
                **(
                    {"valueQuantity": _quantity(row.value2, row.unit)}
                    if row.value2 is not None
                    else {"dataAbsentReason": absent}
                ),
            },
        ]
    elif row.value is not None:
        resource["valueQuantity"] = _quantity(row.value, row.unit)
    else:
        resource["dataAbsentReason"] = absent
    if row.quality != "valid":
        resource["interpretation"] = [{"text": "signal loss" if row.quality == "signal_loss" else "artefact"}]
    result: dict[str, Any] = b.clean(resource)
    return result


def device_to_fhir(device: MonitoringDevice) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": str(device.id),
        "meta": {"lastUpdated": b.fhir_instant(device.updated_at)},
        "identifier": [{"system": DEVICE_SYSTEM, "value": str(device.id)}],
        "status": "inactive" if device.revoked_at else "active",
        "deviceName": [{"name": device.label, "type": "user-friendly-name"}],
        "type": {"text": device.kind},
        "patient": {"reference": f"Patient/{device.patient_id}"},
    }


# --- writes with a device token ------------------------------------------------------------


async def device_of(request: Request) -> ingest.DeviceAuth | None:
    """The device when the bearer token is a device token (``Unauthorized`` when it is a bad
    one); None for anything else (a user's access token goes the usual way)."""
    token = ingest.bearer_token(request.headers.get("authorization"))
    if not ingest.is_device_token(token):
        return None
    assert token is not None
    return await ingest.authenticate_device(request.app.state.db, token)


def _location(request: Request, result: ItemResult) -> str | None:
    if result.kind == "reading" and result.id is not None:
        return f"{_base(request)}/Observation/{READING_PREFIX}{result.id}"
    return None


async def device_create(request: Request, device: ingest.DeviceAuth, body: dict[str, Any]) -> FHIRResponse:
    """POST /fhir/Observation with a device token: 201 (stored) or 200 (a duplicate)."""
    pipeline = ingest.pipeline_of(request.app.state)
    results = await ingest.ingest_message(pipeline, device, body)
    result = results[0]
    answer = dict(body)
    if result.kind == "reading" and result.id is not None:
        answer["id"] = f"{READING_PREFIX}{result.id}"
    location = _location(request, result)
    return FHIRResponse(
        answer,
        status_code=201 if result.status == "stored" else 200,
        headers={"Location": location} if location else None,
    )


async def device_bundle(request: Request, device: ingest.DeviceAuth, body: dict[str, Any]) -> FHIRResponse:
    """POST /fhir with a device token: the Bundle's Observations go in together (all checked
    before any is stored); each entry answers 201 or 200 (duplicate)."""
    pipeline = ingest.pipeline_of(request.app.state)
    results = await ingest.ingest_message(pipeline, device, body)
    kind = body.get("type", "batch")
    entries = []
    for result in results:
        response: dict[str, Any] = {"status": "201 Created" if result.status == "stored" else "200 OK"}
        location = _location(request, result)
        if location:
            response["location"] = location
        entries.append({"response": response})
    return FHIRResponse({"resourceType": "Bundle", "type": f"{kind}-response", "entry": entries})


async def chart_vitals(
    request: Request,
    session: Any,
    patient_id: uuid.UUID,
    user_id: uuid.UUID,
    username: str,
    observation_id: uuid.UUID,
    body: dict[str, Any],
) -> Stored | None:
    """A clinician's vital-sign Observation, kept in the chart, also feeds monitoring in the
    same transaction (NEWS2 and alarms see a nurse's manual temperature). Input the monitoring
    rules refuse (another unit, an unmonitored code) stays in the chart only. Returns what to
    publish once the request has committed."""
    try:
        item = parse.parse_observation(
            {**body, "identifier": [{"value": f"obs:{observation_id}"}]}, patient_id, "Observation"
        )
    except parse.MessageError:
        return None
    pipeline = ingest.pipeline_of(request.app.state)
    source = Source(patient_id=patient_id, key=f"chart:{user_id}", actor_name=username, actor_id=user_id)
    return await pipeline.store_in(session, source, [item])


# --- reads ---------------------------------------------------------------------------------


def reading_id(resource_id: str) -> int | None:
    if resource_id.startswith(READING_PREFIX) and resource_id[len(READING_PREFIX) :].isdigit():
        return int(resource_id[len(READING_PREFIX) :])
    return None


async def read_reading(session: Any, principal: Any, rid: int) -> FHIRResponse:
    try:
        row = await monitoring.get_reading(session, principal, rid)
    except NotFound as exc:
        raise NotFound(f"Observation/{READING_PREFIX}{rid} not found") from exc
    return FHIRResponse(reading_to_fhir(row))


def monitoring_filters(filters: dict[str, Any]) -> dict[str, Any] | None:
    """The chart's Observation search filters applied to device readings; None when they
    exclude every device reading (another category or status, a non-LOINC system)."""
    out: dict[str, Any] = {}
    category = filters.get("category", filters.get("category__in"))
    if category is not None:
        cats = category if isinstance(category, list) else [category]
        if "vital-signs" not in cats:
            return None
    status = filters.get("status", filters.get("status__in"))
    if status is not None:
        statuses = status if isinstance(status, list) else [status]
        if "final" not in statuses:
            return None
    system = filters.get("code_system")
    if system is not None and system != v.LOINC:
        return None
    code = filters.get("code_code", filters.get("code_code__in"))
    if code is not None:
        out["codes"] = code if isinstance(code, list) else [code]
    if "effective_at__ge" in filters:
        out["since"] = filters["effective_at__ge"]
    if "effective_at__le" in filters:
        out["until"] = filters["effective_at__le"]
    return out


async def search_readings(
    session: Any, principal: Any, patient_id: uuid.UUID, filters: dict[str, Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    wanted = monitoring_filters(filters)
    if wanted is None:
        return [], 0
    try:
        rows, total = await monitoring.list_readings(
            session,
            principal,
            patient_id,
            metric=None,
            source_kind=None,
            limit=limit,
            offset=offset,
            exclude_chart=True,
            **wanted,
        )
    except (NotFound, Forbidden):
        return [], 0
    return [reading_to_fhir(r) for r in rows], total


@router.get("/Device/{device_id}", summary="Read a monitoring device")
async def read_device(device_id: str, principal: PrincipalDep, session: SessionDep) -> FHIRResponse:
    try:
        did = uuid.UUID(device_id)
    except ValueError as exc:
        raise NotFound(f"Device/{device_id} not found") from exc
    try:
        device = await monitoring.get_device(session, principal, did)
    except NotFound as exc:
        raise NotFound(f"Device/{device_id} not found") from exc
    return FHIRResponse(device_to_fhir(device))


@router.get("/Device", summary="Search monitoring devices (patient=Patient/{id})")
async def search_device(request: Request, principal: PrincipalDep, session: SessionDep) -> FHIRResponse:
    params = request.query_params
    fs.check_known(params, ("patient",), "Device")
    page = fs.paging(params)
    ref = fs.single(params, "patient")
    pid = fs.patient_reference(ref) if ref else None
    if ref and pid is None:
        raise fs.bad("patient must be Patient/{id}")
    rows, total = await monitoring.search_devices(session, principal, pid, page.count, page.offset)
    return FHIRResponse(
        fs.searchset(_base(request), "/Device", params, page, total, [device_to_fhir(d) for d in rows])
    )
