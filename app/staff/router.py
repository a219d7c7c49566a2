"""HTTP endpoints of the staff module under /api/staff: records, departments, licences, shift
definitions, rotas, leave and personal calendar feeds.

Permissions are checked (and denials audited) in the service: staff:read to read, staff:write
for records, departments and licences, staff:rota for shifts, rotas and leave. Fixed paths are
declared before ``/{staff_id}`` so they never read as an id.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.deps import PrincipalDep, SessionDep, SettingsDep
from app.kit.pagination import Page, PageParams, page_params
from app.staff import feeds, schedule, service
from app.staff import schemas as s

router = APIRouter(prefix="/api/staff", tags=["staff"])

PageDep = Annotated[PageParams, Depends(page_params)]
StartDay = Annotated[date, Query(description="First facility-local day")]
EndDay = Annotated[date, Query(description="Last facility-local day (inclusive, at most 62 days in all)")]


@router.get("", response_model=Page[s.StaffRead], summary="Search the staff directory")
async def search_staff(
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Part of any name (accents ignored)")
    ] = None,
    identifier: Annotated[
        str | None, Query(min_length=1, max_length=400, description="system|value, or value (e.g. an NPI)")
    ] = None,
    active: bool | None = None,
    department_id: Annotated[uuid.UUID | None, Query(description="Current post in this department")] = None,
    clinical: bool | None = None,
) -> Page[s.StaffRead]:
    rows, total = await service.search_staff(
        session,
        principal,
        name=name,
        identifier=identifier,
        active=active,
        department_id=department_id,
        clinical=clinical,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(
        items=[s.StaffRead.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.post("", response_model=s.StaffDetail, status_code=201, summary="Create a staff record")
async def create_staff(body: s.StaffCreate, principal: PrincipalDep, session: SessionDep) -> s.StaffDetail:
    row = await service.create_staff(session, principal, body)
    return await service.staff_detail(session, principal, row.id)


@router.get(
    "/me",
    response_model=s.StaffDetail | None,
    summary="The signed-in user's own staff record (null when the account has none)",
)
async def my_staff_record(principal: PrincipalDep, session: SessionDep) -> s.StaffDetail | None:
    """Every signed-in user may ask; an account not linked to a staff record (a patient, a
    receptionist without one) gets ``null``: a normal answer, not a 404 for screens to swallow."""
    staff_id = await service.staff_id_for_user(session, principal.user_id)
    if staff_id is None:
        return None
    return await service.own_staff_detail(session, principal, staff_id)


# --- reports, departments ----------------------------------------------------------------------


@router.get(
    "/licences/expiring",
    response_model=s.ExpiringLicencesReport,
    summary="Licences expiring within N days, and expired licences of active clinicians",
)
async def expiring_licences(
    principal: PrincipalDep,
    session: SessionDep,
    days: Annotated[int, Query(ge=0, le=3650)] = 90,
) -> s.ExpiringLicencesReport:
    return await service.expiring_licences(session, principal, days=days)


@router.get("/departments", response_model=list[s.DepartmentRead], summary="Departments")
async def list_departments(
    principal: PrincipalDep, session: SessionDep, active: bool | None = None
) -> list[s.DepartmentRead]:
    rows = await service.list_departments(session, principal, active=active)
    return [s.DepartmentRead.model_validate(r) for r in rows]


@router.post("/departments", response_model=s.DepartmentRead, status_code=201, summary="Create a department")
async def create_department(
    body: s.DepartmentCreate, principal: PrincipalDep, session: SessionDep
) -> s.DepartmentRead:
    return s.DepartmentRead.model_validate(await service.create_department(session, principal, body))


@router.get("/departments/{department_id}", response_model=s.DepartmentRead, summary="One department")
async def get_department(
    department_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> s.DepartmentRead:
    return s.DepartmentRead.model_validate(await service.get_department(session, principal, department_id))


@router.patch("/departments/{department_id}", response_model=s.DepartmentRead, summary="Change a department")
async def update_department(
    department_id: uuid.UUID, body: s.DepartmentUpdate, principal: PrincipalDep, session: SessionDep
) -> s.DepartmentRead:
    return s.DepartmentRead.model_validate(
        await service.update_department(session, principal, department_id, body)
    )


# --- shift definitions ---------------------------------------------------------------------------


@router.get("/shift-definitions", response_model=list[s.ShiftDefinitionRead], summary="Shift definitions")
async def list_definitions(
    principal: PrincipalDep, session: SessionDep, active: bool | None = None
) -> list[s.ShiftDefinitionRead]:
    return await schedule.list_definitions(session, principal, active=active)


@router.post(
    "/shift-definitions", response_model=s.ShiftDefinitionRead, status_code=201, summary="Define a shift"
)
async def create_definition(
    body: s.ShiftDefinitionCreate, principal: PrincipalDep, session: SessionDep
) -> s.ShiftDefinitionRead:
    return await schedule.create_definition(session, principal, body)


@router.patch(
    "/shift-definitions/{definition_id}",
    response_model=s.ShiftDefinitionRead,
    summary="Change a shift definition (shifts already on the rota keep their times)",
)
async def update_definition(
    definition_id: uuid.UUID, body: s.ShiftDefinitionUpdate, principal: PrincipalDep, session: SessionDep
) -> s.ShiftDefinitionRead:
    return await schedule.update_definition(session, principal, definition_id, body)


# --- rota and shifts -------------------------------------------------------------------------------


@router.get("/rota", response_model=s.Rota, summary="A department's rota for a range of days")
async def get_rota(
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    department_id: uuid.UUID,
    start: StartDay,
    end: EndDay,
) -> s.Rota:
    return await schedule.get_rota(session, principal, settings, department_id, start, end)


@router.post(
    "/rota/week",
    response_model=s.RotaWeekResult,
    status_code=201,
    summary="Save a week of a department's rota, all or nothing (409 rota_violations per item)",
)
async def save_week(
    body: s.RotaWeek, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.RotaWeekResult:
    return await schedule.save_week(session, principal, settings, body)


@router.post("/shifts", response_model=s.ShiftResult, status_code=201, summary="Put someone on a shift")
async def create_shift(
    body: s.ShiftCreate, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.ShiftResult:
    return await schedule.create_shift(session, principal, settings, body)


@router.post(
    "/shifts/check",
    response_model=s.ShiftCheck,
    summary="Which rota rules a new shift would break, without saving it",
)
async def check_new_shift(
    body: s.ShiftCreate, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.ShiftCheck:
    """200 with the violations a ``POST /shifts`` of this body would be refused for (409), so a
    screen can show them without a refused request; the write still decides (a concurrent
    change may come between)."""
    return await schedule.check_new_shift(session, principal, settings, body)


@router.get("/shifts/{shift_id}", response_model=s.ShiftRead, summary="One shift")
async def get_shift(
    shift_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.ShiftRead:
    return await schedule.get_shift(session, principal, settings, shift_id)


@router.patch("/shifts/{shift_id}", response_model=s.ShiftResult, summary="Change a shift")
async def update_shift(
    shift_id: uuid.UUID,
    body: s.ShiftUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> s.ShiftResult:
    return await schedule.update_shift(session, principal, settings, shift_id, body)


@router.post(
    "/shifts/{shift_id}/check",
    response_model=s.ShiftCheck,
    summary="Which rota rules a change of a shift would break, without saving it",
)
async def check_shift_change(
    shift_id: uuid.UUID,
    body: s.ShiftUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> s.ShiftCheck:
    return await schedule.check_shift_change(session, principal, settings, shift_id, body)


@router.delete("/shifts/{shift_id}", status_code=204, summary="Take a shift off the rota")
async def delete_shift(shift_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> Response:
    await schedule.delete_shift(session, principal, shift_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- leave -------------------------------------------------------------------------------------------


@router.get("/leave", response_model=list[s.LeaveRead], summary="Leave of a person or a department's staff")
async def list_leave(
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    start: StartDay,
    end: EndDay,
    staff_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
) -> list[s.LeaveRead]:
    return await schedule.list_leave(
        session, principal, settings, start=start, end=end, staff_id=staff_id, department_id=department_id
    )


@router.post(
    "/leave",
    response_model=s.LeaveResult,
    status_code=201,
    summary="Record leave or unavailability (409 appointments_during_leave unless acknowledged)",
)
async def create_leave(
    body: s.LeaveCreate, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> s.LeaveResult:
    return await schedule.create_leave(session, principal, settings, body)


@router.patch("/leave/{leave_id}", response_model=s.LeaveResult, summary="Change leave")
async def update_leave(
    leave_id: uuid.UUID,
    body: s.LeaveUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> s.LeaveResult:
    return await schedule.update_leave(session, principal, settings, leave_id, body)


@router.delete("/leave/{leave_id}", status_code=204, summary="Delete leave")
async def delete_leave(leave_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> Response:
    await schedule.delete_leave(session, principal, leave_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- calendar feeds -----------------------------------------------------------------------------------


@router.get(
    "/calendar-feeds/{token}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "An iCalendar (RFC 5545) feed"}},
    summary="A personal calendar feed (no sign-in: the secret token is the credential)",
)
async def read_calendar_feed(token: str, session: SessionDep, settings: SettingsDep) -> Response:
    body = await feeds.read_feed(session, settings, token)
    return Response(
        content=body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Cache-Control": "private, no-cache",
            "Content-Disposition": 'inline; filename="rota.ics"',
            "Referrer-Policy": "no-referrer",
        },
    )


# --- one staff record -----------------------------------------------------------------------------------


@router.get("/{staff_id}", response_model=s.StaffDetail, summary="One staff record with history and licences")
async def get_staff(staff_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> s.StaffDetail:
    return await service.staff_detail(session, principal, staff_id)


@router.patch("/{staff_id}", response_model=s.StaffDetail, summary="Change a staff record")
async def update_staff(
    staff_id: uuid.UUID, body: s.StaffUpdate, principal: PrincipalDep, session: SessionDep
) -> s.StaffDetail:
    await service.update_staff(session, principal, staff_id, body)
    return await service.staff_detail(session, principal, staff_id)


@router.post(
    "/{staff_id}/positions", response_model=s.PositionRead, status_code=201, summary="Add a post held"
)
async def add_position(
    staff_id: uuid.UUID, body: s.PositionCreate, principal: PrincipalDep, session: SessionDep
) -> s.PositionRead:
    return await service.add_position(session, principal, staff_id, body)


@router.patch("/{staff_id}/positions/{position_id}", response_model=s.PositionRead, summary="Correct a post")
async def update_position(
    staff_id: uuid.UUID,
    position_id: uuid.UUID,
    body: s.PositionUpdate,
    principal: PrincipalDep,
    session: SessionDep,
) -> s.PositionRead:
    return await service.update_position(session, principal, staff_id, position_id, body)


@router.post("/{staff_id}/positions/{position_id}/end", response_model=s.PositionRead, summary="End a post")
async def end_position(
    staff_id: uuid.UUID,
    position_id: uuid.UUID,
    body: s.PositionEnd,
    principal: PrincipalDep,
    session: SessionDep,
) -> s.PositionRead:
    return await service.update_position(session, principal, staff_id, position_id, body)


@router.post(
    "/{staff_id}/licences",
    response_model=s.QualificationRead,
    status_code=201,
    summary="Add a licence (or, with kind=qualification, a qualification)",
)
async def add_licence(
    staff_id: uuid.UUID, body: s.LicenceCreate, principal: PrincipalDep, session: SessionDep
) -> s.QualificationRead:
    return s.QualificationRead.model_validate(
        await service.add_qualification(session, principal, staff_id, body)
    )


@router.patch(
    "/{staff_id}/licences/{licence_id}",
    response_model=s.QualificationChanged,
    summary="Change a licence (409 appointments_without_licence when it strands booked appointments)",
)
async def update_licence(
    staff_id: uuid.UUID,
    licence_id: uuid.UUID,
    body: s.QualificationUpdate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> s.QualificationChanged:
    return await service.update_qualification(
        session, principal, staff_id, licence_id, body, tz=settings.facility_timezone
    )


@router.delete(
    "/{staff_id}/licences/{licence_id}",
    status_code=204,
    summary="Delete a licence (409 appointments_without_licence when it strands booked appointments)",
)
async def delete_licence(
    staff_id: uuid.UUID,
    licence_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    acknowledge_appointments: Annotated[
        bool,
        Query(
            description="Delete even though booked appointments fall on days left without a valid "
            "licence (the 409 listed them)"
        ),
    ] = False,
) -> Response:
    await service.delete_qualification(
        session,
        principal,
        staff_id,
        licence_id,
        acknowledge_appointments=acknowledge_appointments,
        tz=settings.facility_timezone,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{staff_id}/schedule", response_model=s.Schedule, summary="One person's shifts and leave")
async def staff_schedule(
    staff_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    start: StartDay,
    end: EndDay,
) -> s.Schedule:
    return await schedule.staff_schedule(session, principal, settings, staff_id, start, end)


@router.get(
    "/{staff_id}/calendar-feed", response_model=s.CalendarFeedStatus, summary="Whether a calendar feed exists"
)
async def calendar_feed_status(
    staff_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> s.CalendarFeedStatus:
    return await feeds.feed_status(session, principal, staff_id)


@router.post(
    "/{staff_id}/calendar-feed",
    response_model=s.CalendarFeedCreated,
    status_code=201,
    summary="Create or rotate the secret calendar feed URL (the old URL stops working)",
)
async def create_calendar_feed(
    staff_id: uuid.UUID, request: Request, principal: PrincipalDep, session: SessionDep
) -> s.CalendarFeedCreated:
    token, row = await feeds.create_feed(session, principal, staff_id)
    path = feeds.FEED_PATH.format(token=token)
    return s.CalendarFeedCreated(
        url=str(request.base_url).rstrip("/") + path, path=path, token=token, created_at=row.created_at
    )


@router.delete("/{staff_id}/calendar-feed", status_code=204, summary="Revoke the calendar feed")
async def revoke_calendar_feed(staff_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> Response:
    await feeds.revoke_feed(session, principal, staff_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
