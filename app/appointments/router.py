"""HTTP endpoints of the appointment book under /api/appointments: thin, typed; access is decided
by the service (``repository.authorize``). Static paths come before ``/{appointment_id}``."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments import schemas as s
from app.appointments import service
from app.appointments.models import Appointment
from app.appointments.repository import Access
from app.config import Settings
from app.deps import Principal, PrincipalDep, SessionDep, SettingsDep
from app.kit import idempotency
from app.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/appointments", tags=["appointments"])

PageDep = Annotated[PageParams, Depends(page_params)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=idempotency.MAX_KEY_LENGTH,
        description="Retry-safe writes: the same key and body replay the first response",
    ),
]


async def _idempotent(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    key: str | None,
    body: BaseModel,
    *,
    action: str,
    status_code: int,
    precheck: Callable[[], Awaitable[None]],
    work: Callable[[], Awaitable[s.AppointmentRead]],
) -> s.AppointmentRead | Response:
    if key is None:
        return await work()
    await precheck()  # a replay is only for whom the request itself would be allowed
    claim = await idempotency.begin(
        session,
        user_id=principal.user_id,
        key=key,
        endpoint=f"{request.method} {request.url.path}",
        payload=body.model_dump(mode="json"),
    )
    if isinstance(claim, idempotency.Replay):
        service.record_replay(session, action, claim.body)
        return JSONResponse(
            claim.body, status_code=claim.status_code, headers={"Idempotent-Replayed": "true"}
        )
    result = await work()
    await idempotency.complete(session, claim, status_code, result.model_dump(mode="json"))
    return result


async def _one(
    session: AsyncSession, principal: Principal, row: Appointment, settings: Settings
) -> s.AppointmentRead:
    return (await service.present(session, principal, [row], settings=settings))[0]


# --- types ------------------------------------------------------------------------------------


@router.get("/types", response_model=list[s.AppointmentTypeRead], summary="Appointment types")
async def list_types(
    principal: PrincipalDep,
    session: SessionDep,
    active: Annotated[bool | None, Query(description="Default: active types only")] = True,
    mode: s.Mode | None = None,
    department_id: uuid.UUID | None = None,
) -> list[s.AppointmentTypeRead]:
    rows = await service.list_types(session, principal, active=active, mode=mode, department_id=department_id)
    return [s.AppointmentTypeRead.model_validate(r) for r in rows]


@router.post(
    "/types",
    response_model=s.AppointmentTypeRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add an appointment type (settings admin)",
)
async def create_type(
    body: s.AppointmentTypeCreate, principal: PrincipalDep, session: SessionDep
) -> s.AppointmentTypeRead:
    return s.AppointmentTypeRead.model_validate(await service.create_type(session, principal, body))


@router.get("/types/{type_id}", response_model=s.AppointmentTypeRead)
async def get_type(type_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> s.AppointmentTypeRead:
    return s.AppointmentTypeRead.model_validate(await service.get_type(session, principal, type_id))


@router.patch("/types/{type_id}", response_model=s.AppointmentTypeRead, summary="Change or retire a type")
async def update_type(
    type_id: uuid.UUID, body: s.AppointmentTypeUpdate, principal: PrincipalDep, session: SessionDep
) -> s.AppointmentTypeRead:
    return s.AppointmentTypeRead.model_validate(await service.update_type(session, principal, type_id, body))


# --- weekly hours -----------------------------------------------------------------------------


@router.get("/hours", response_model=list[s.ClinicHoursRead], summary="Clinicians' weekly hours")
async def list_hours(
    principal: PrincipalDep, session: SessionDep, staff_id: uuid.UUID | None = None
) -> list[s.ClinicHoursRead]:
    rows = await service.list_hours(session, principal, staff_id=staff_id)
    return [s.ClinicHoursRead.model_validate(r) for r in rows]


@router.post(
    "/hours",
    response_model=s.ClinicHoursRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add weekly hours for a clinician (facility wall-clock time)",
)
async def create_hours(
    body: s.ClinicHoursCreate, principal: PrincipalDep, session: SessionDep
) -> s.ClinicHoursRead:
    return s.ClinicHoursRead.model_validate(await service.create_hours(session, principal, body))


@router.patch("/hours/{hours_id}", response_model=s.ClinicHoursRead)
async def update_hours(
    hours_id: uuid.UUID, body: s.ClinicHoursUpdate, principal: PrincipalDep, session: SessionDep
) -> s.ClinicHoursRead:
    return s.ClinicHoursRead.model_validate(await service.update_hours(session, principal, hours_id, body))


@router.delete("/hours/{hours_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_hours(hours_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> Response:
    await service.delete_hours(session, principal, hours_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- clinicians ---------------------------------------------------------------------------------


@router.get(
    "/clinicians",
    response_model=Page[s.ClinicianRead],
    summary="Bookable clinicians (active, clinical, with weekly hours), by name",
)
async def list_clinicians(
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    page: PageDep,
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Part of any name (accents ignored)")
    ] = None,
    type_id: Annotated[uuid.UUID | None, Query(description="Whose hours offer this type")] = None,
    department_id: Annotated[uuid.UUID | None, Query(description="Members of this department")] = None,
) -> Page[s.ClinicianRead]:
    """What the booking desk's and the calendar's clinician pickers list: not the whole staff
    directory (an import brings hundreds of practitioners without hours), only those who can
    be booked. Needs appointments:read and staff:read."""
    items, total = await service.bookable_clinicians(
        session,
        principal,
        name=name,
        type_id=type_id,
        department_id=department_id,
        limit=page.limit,
        offset=page.offset,
        settings=settings,
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


# --- slots ------------------------------------------------------------------------------------


@router.get("/slots", response_model=s.SlotPage, summary="Free slots of an appointment type")
async def search_slots(
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    type_id: uuid.UUID,
    staff_id: Annotated[uuid.UUID | None, Query(description="One clinician")] = None,
    department_id: Annotated[uuid.UUID | None, Query(description="A department's clinicians")] = None,
    start: Annotated[AwareDatetime | None, Query(description="Default: now (1900 to 2200)")] = None,
    end: Annotated[
        AwareDatetime | None, Query(description="Default: start + 14 days; at most 62 days")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the page before, same search")
    ] = None,
) -> s.SlotPage:
    """Without ``staff_id`` or ``department_id``: every clinician whose hours offer the type.
    Instants outside 1900-2200 are 400 ``date_out_of_range``; nothing is offered past the booking
    horizon (two years ahead). A cursor is only valid for the search that returned it."""
    return await service.search_slots(
        session,
        principal,
        type_id=type_id,
        staff_id=staff_id,
        department_id=department_id,
        start=start,
        end=end,
        limit=limit,
        cursor=cursor,
        settings=settings,
    )


# --- waitlist ---------------------------------------------------------------------------------


async def _waitlist_read(session: AsyncSession, rows: list[s.WaitlistRead]) -> list[s.WaitlistRead]:
    offers = await service.offered_appointments(
        session, [r.id for r in rows if r.status in ("offered", "booked")]
    )
    for row in rows:
        row.offered_appointment_id = offers.get(row.id)
    return rows


@router.get("/waitlist", response_model=Page[s.WaitlistRead], summary="The waitlist, first come first")
async def list_waitlist(
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    patient_id: uuid.UUID | None = None,
    type_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    status_: Annotated[list[s.WaitlistStatus] | None, Query(alias="status")] = None,
) -> Page[s.WaitlistRead]:
    rows, total = await service.list_waitlist(
        session,
        principal,
        patient_id=patient_id,
        type_id=type_id,
        staff_id=staff_id,
        statuses=status_,
        limit=page.limit,
        offset=page.offset,
    )
    items = await _waitlist_read(session, [s.WaitlistRead.model_validate(r) for r in rows])
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/waitlist",
    response_model=s.WaitlistRead,
    status_code=status.HTTP_201_CREATED,
    summary="Join the waitlist for an earlier slot",
)
async def add_to_waitlist(
    body: s.WaitlistCreate, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.WaitlistRead:
    entry = await service.add_to_waitlist(session, principal, body, settings=settings)
    return s.WaitlistRead.model_validate(entry)


@router.delete("/waitlist/{entry_id}", response_model=s.WaitlistRead, summary="Leave the waitlist")
async def remove_from_waitlist(
    entry_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.WaitlistRead:
    entry = await service.remove_from_waitlist(session, principal, entry_id, settings=settings)
    return s.WaitlistRead.model_validate(entry)


# --- appointments -----------------------------------------------------------------------------


@router.get("", response_model=Page[s.AppointmentRead], summary="Appointments: a calendar, a patient's")
async def list_appointments(
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    page: PageDep,
    staff_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    start: Annotated[AwareDatetime | None, Query(description="Ending after this instant")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Starting before this instant")] = None,
    status_: Annotated[list[s.Status] | None, Query(alias="status")] = None,
) -> Page[s.AppointmentRead]:
    """Ordered by start. A patient sees their own only (``patient_id`` may be left out)."""
    rows, total = await service.list_appointments(
        session,
        principal,
        staff_id=staff_id,
        patient_id=patient_id,
        start=start,
        end=end,
        statuses=status_,
        limit=page.limit,
        offset=page.offset,
    )
    items = await service.present(session, principal, rows, settings=settings)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "",
    response_model=s.AppointmentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Book a free slot",
)
async def book(
    body: s.AppointmentCreate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> s.AppointmentRead | Response:
    async def precheck() -> None:
        service.check_access(
            session, principal, service.booking_patient(principal, body.patient_id), Access.WRITE
        )

    async def work() -> s.AppointmentRead:
        row = await service.book(session, principal, body, settings=settings)
        return await _one(session, principal, row, settings)

    return await _idempotent(
        session,
        principal,
        request,
        idempotency_key,
        body,
        action="book",
        status_code=status.HTTP_201_CREATED,
        precheck=precheck,
        work=work,
    )


@router.get("/{appointment_id}", response_model=s.AppointmentRead)
async def get_appointment(
    appointment_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.AppointmentRead:
    return await _one(
        session, principal, await service.get_appointment(session, principal, appointment_id), settings
    )


@router.post("/{appointment_id}/reschedule", response_model=s.AppointmentRead, summary="Move to another slot")
async def reschedule(
    appointment_id: uuid.UUID,
    body: s.RescheduleRequest,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> s.AppointmentRead | Response:
    async def precheck() -> None:
        await service.check_change_access(session, principal, appointment_id)

    async def work() -> s.AppointmentRead:
        row = await service.reschedule(session, principal, appointment_id, body, settings=settings)
        return await _one(session, principal, row, settings)

    return await _idempotent(
        session,
        principal,
        request,
        idempotency_key,
        body,
        action="reschedule",
        status_code=status.HTTP_200_OK,
        precheck=precheck,
        work=work,
    )


@router.post("/{appointment_id}/cancel", response_model=s.AppointmentRead, summary="Cancel")
async def cancel(
    appointment_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
    body: s.CancelRequest | None = None,
) -> s.AppointmentRead | Response:
    data = body or s.CancelRequest()

    async def precheck() -> None:
        await service.check_change_access(session, principal, appointment_id)

    async def work() -> s.AppointmentRead:
        row = await service.cancel(session, principal, appointment_id, data, settings=settings)
        return await _one(session, principal, row, settings)

    return await _idempotent(
        session,
        principal,
        request,
        idempotency_key,
        data,
        action="cancel",
        status_code=status.HTTP_200_OK,
        precheck=precheck,
        work=work,
    )


@router.post("/{appointment_id}/check-in", response_model=s.AppointmentRead, summary="The patient arrived")
async def check_in(
    appointment_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.AppointmentRead:
    row = await service.check_in(session, principal, appointment_id, settings=settings)
    return await _one(session, principal, row, settings)


@router.post("/{appointment_id}/complete", response_model=s.AppointmentRead, summary="The visit took place")
async def complete(
    appointment_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.AppointmentRead:
    row = await service.complete(session, principal, appointment_id, settings=settings)
    return await _one(session, principal, row, settings)


@router.post(
    "/{appointment_id}/no-show", response_model=s.AppointmentRead, summary="The patient did not come"
)
async def no_show(
    appointment_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.AppointmentRead:
    row = await service.no_show(session, principal, appointment_id, settings=settings)
    return await _one(session, principal, row, settings)


@router.post("/{appointment_id}/accept", response_model=s.AppointmentRead, summary="Accept a waitlist offer")
async def accept(
    appointment_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.AppointmentRead:
    row = await service.accept(session, principal, appointment_id, settings=settings)
    return await _one(session, principal, row, settings)


@router.post(
    "/{appointment_id}/decline", response_model=s.AppointmentRead, summary="Decline a waitlist offer"
)
async def decline(
    appointment_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    body: s.DeclineRequest | None = None,
) -> s.AppointmentRead:
    row = await service.decline(
        session, principal, appointment_id, body or s.DeclineRequest(), settings=settings
    )
    return await _one(session, principal, row, settings)
