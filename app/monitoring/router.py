"""HTTP endpoints of remote monitoring under /api/monitoring: thin; rules live in the service."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, status
from pydantic import AwareDatetime

from app.auth.permissions import Perm
from app.deps import PrincipalDep, SessionDep
from app.errors import BadRequest
from app.kit.pagination import Page, PageParams, page_params
from app.kit.time import utcnow
from app.monitoring import ingest, service
from app.monitoring import schemas as s
from app.monitoring.parse import Reading
from app.monitoring.pipeline import Pipeline, Source

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])
PageDep = Annotated[PageParams, Depends(page_params)]


def _pipeline(request: Request) -> Pipeline:
    return ingest.pipeline_of(request.app.state)


PipelineDep = Annotated[Pipeline, Depends(_pipeline)]


@router.post(
    "/patients/{patient_id}/devices",
    status_code=status.HTTP_201_CREATED,
    summary="Register a device for a patient; the answer carries its token, shown only this once",
)
async def register_device(
    patient_id: uuid.UUID, body: s.DeviceCreate, principal: PrincipalDep, session: SessionDep
) -> s.DeviceRegistered:
    return await service.register_device(session, principal, patient_id, body)


@router.get("/patients/{patient_id}/devices", summary="A patient's devices")
async def list_devices(
    patient_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> list[s.DeviceRead]:
    return [
        s.DeviceRead.model_validate(d) for d in await service.list_devices(session, principal, patient_id)
    ]


@router.post("/devices/{device_id}/revoke", summary="Revoke a device's token (it can write nothing more)")
async def revoke_device(
    device_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, pipeline: PipelineDep
) -> s.DeviceRead:
    device = await service.revoke_device(session, principal, device_id)
    ingest.forget_device(device.id)
    pipeline.revoked(device.id)
    return s.DeviceRead.model_validate(device)


@router.get("/patients/{patient_id}/profile", summary="Ward, bed and the NEWS2 inputs a nurse records")
async def get_profile(patient_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> s.ProfileRead:
    return await service.get_profile(session, principal, patient_id)


@router.patch("/patients/{patient_id}/profile", summary="Record ward/bed, SpO2 scale, oxygen, ACVPU")
async def update_profile(
    patient_id: uuid.UUID,
    body: s.ProfileUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    pipeline: PipelineDep,
) -> s.ProfileRead:
    result = await service.update_profile(session, principal, patient_id, body)
    pipeline.engine.invalidate(patient_id)
    return result


@router.get("/patients/{patient_id}/thresholds", summary="The patient's alarm limits")
async def get_thresholds(
    patient_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> list[s.ThresholdRead]:
    return [
        s.ThresholdRead.model_validate(t)
        for t in await service.get_thresholds(session, principal, patient_id)
    ]


@router.put("/patients/{patient_id}/thresholds", summary="Set the patient's alarm limits (replaces them)")
async def set_thresholds(
    patient_id: uuid.UUID,
    body: s.ThresholdsUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    pipeline: PipelineDep,
) -> list[s.ThresholdRead]:
    rows = await service.set_thresholds(session, principal, patient_id, body)
    pipeline.engine.invalidate(patient_id)
    return [s.ThresholdRead.model_validate(t) for t in rows]


@router.get("/patients/{patient_id}/history", summary="Downsampled history: min/max/mean per bucket")
async def history(
    patient_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    series: Annotated[s.SeriesName, Query()],
    start: Annotated[AwareDatetime | None, Query(description="Default: end minus 6 hours")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Default: now")] = None,
    bucket: Annotated[
        int | None, Query(ge=1, le=86400, description="Seconds; default: about 500 buckets")
    ] = None,
) -> s.History:
    end = end or utcnow()
    start = start or end - timedelta(hours=6)
    return await service.history(session, principal, patient_id, series, start, end, bucket)


@router.get("/patients/{patient_id}/ecg", summary="The last seconds of ECG")
async def recent_ecg(
    patient_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    seconds: Annotated[int, Query(ge=1, le=600)] = 10,
) -> s.EcgRead:
    return await service.recent_ecg(session, principal, patient_id, seconds)


@router.get("/patients/{patient_id}/readings", summary="Raw readings, newest first")
async def list_readings(
    patient_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    metric: Annotated[str | None, Query(pattern="^(hr|rr|spo2|bp|temp)$")] = None,
    source: Annotated[str | None, Query(pattern="^(device|portal|chart)$")] = None,
) -> Page[s.ReadingRead]:
    rows, total = await service.list_readings(
        session,
        principal,
        patient_id,
        metric=metric,
        source_kind=source,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(
        items=[service.reading_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "/patients/{patient_id}/blood-pressure",
    status_code=status.HTTP_201_CREATED,
    summary="A home blood-pressure reading (the patient for themselves, or staff)",
)
async def add_blood_pressure(
    patient_id: uuid.UUID,
    body: s.HomeBloodPressure,
    principal: PrincipalDep,
    session: SessionDep,
    pipeline: PipelineDep,
    tasks: BackgroundTasks,
) -> s.StoredReadings:
    service.authorize(session, principal, patient_id, write=True, portal_ok=True)
    await service.require_patient(session, patient_id)
    now = utcnow()
    measured = body.measured_at or now
    if measured > now + timedelta(minutes=5):
        raise BadRequest("measured_at is in the future", code="invalid_time")
    if measured < now - timedelta(days=30):
        raise BadRequest("measured_at is more than 30 days ago", code="invalid_time")
    ident = body.client_id or f"{measured.isoformat()}|{body.systolic}/{body.diastolic}"
    items: list[Reading] = [
        Reading(
            f"bp|{ident}",
            "bp",
            "85354-9",
            Decimal(body.systolic),
            Decimal(body.diastolic),
            "mm[Hg]",
            "valid",
            measured,
        )
    ]
    if body.pulse is not None:
        items.append(
            Reading(f"hr|{ident}", "hr", "8867-4", Decimal(body.pulse), None, "/min", "valid", measured)
        )
    staff = principal.has(Perm.MONITORING_WRITE)
    source = Source(
        patient_id=patient_id,
        key=f"{'staff' if staff else 'portal'}:{principal.user_id}",
        actor_name=principal.username,
        actor_id=principal.user_id,
    )
    # The pipeline's rules (dedupe, rollups, alarms, audit) in this request's transaction.
    stored = await pipeline.store_in(session, source, list(items))
    tasks.add_task(pipeline.after_commit, stored)
    results = stored.results[0]
    return s.StoredReadings(
        stored=sum(r.status == "stored" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        readings=[
            s.ReadingRead(
                id=r.id or 0,
                metric=item.metric,
                value=float(item.value) if item.value is not None else None,
                value2=float(item.value2) if item.value2 is not None else None,
                unit=item.unit,
                quality=item.quality,
                effective_at=item.effective_at,
                source=source.key.split(":", 1)[0],
            )
            for r, item in zip(results, items, strict=True)
        ],
    )


@router.get("/wards", summary="Wards with monitored patients")
async def list_wards(principal: PrincipalDep, session: SessionDep) -> list[s.WardRead]:
    return await service.list_wards(session, principal)


@router.get("/overview", summary="The monitoring wall: one tile per patient")
async def overview(
    principal: PrincipalDep,
    session: SessionDep,
    pipeline: PipelineDep,
    ward: Annotated[str | None, Query(max_length=64)] = None,
    patient: Annotated[list[uuid.UUID] | None, Query(description="Patients to show (repeat)")] = None,
) -> s.Overview:
    service.require_staff(session, principal)
    if patient:
        ids = list(patient)
    elif ward:
        ids = await service.ward_patients(session, ward)
    else:
        ids = await service.monitored_patients(session)
    return await service.overview(session, principal, pipeline.engine, ids)


@router.get("/alarms", summary="Alarms, open first, newest first")
async def list_alarms(
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    state: Annotated[list[str] | None, Query(description="raised, acknowledged, resolved (repeat)")] = None,
    patient: Annotated[uuid.UUID | None, Query()] = None,
    ward: Annotated[str | None, Query(max_length=64)] = None,
) -> s.AlarmPage:
    states = state or []
    bad = [x for x in states if x not in ("raised", "acknowledged", "resolved")]
    if bad:
        raise BadRequest(f"unknown state {bad[0]!r}", code="invalid_state")
    ids: list[uuid.UUID] | None = None
    if patient is not None:
        ids = [patient]
    elif ward:
        ids = await service.ward_patients(session, ward)
    rows, total = await service.list_alarms(
        session, principal, patient_ids=ids, states=states, limit=page.limit, offset=page.offset
    )
    return s.AlarmPage(items=[s.AlarmRead.model_validate(a) for a in rows], total=total)


@router.post("/alarms/{alarm_id}/acknowledge", summary="Acknowledge an alarm (who and when are recorded)")
async def acknowledge_alarm(
    alarm_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    pipeline: PipelineDep,
    tasks: BackgroundTasks,
) -> s.AlarmRead:
    alarm, events = await service.acknowledge_alarm(session, principal, alarm_id, pipeline.engine)
    tasks.add_task(pipeline.publish_events, events)  # after the commit
    return s.AlarmRead.model_validate(alarm)


@router.post("/alarms/{alarm_id}/resolve", summary="Resolve an alarm")
async def resolve_alarm(
    alarm_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    pipeline: PipelineDep,
    tasks: BackgroundTasks,
) -> s.AlarmRead:
    alarm, events = await service.resolve_alarm(session, principal, alarm_id, pipeline.engine)
    tasks.add_task(pipeline.publish_events, events)
    return s.AlarmRead.model_validate(alarm)


@router.post("/socket-token", summary="An access token for /ws/monitoring (same sign-in session)")
async def socket_token(principal: PrincipalDep, session: SessionDep, request: Request) -> s.SocketToken:
    from app.auth.tokens import issue_access_token

    service.require_staff(session, principal)
    token, lifetime = issue_access_token(
        request.app.state.settings, principal.user_id, principal.session_id, list(principal.roles), utcnow()
    )
    return s.SocketToken(token=token, expires_in=lifetime)
