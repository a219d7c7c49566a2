"""FHIR Schedule, Slot and Appointment under ``/fhir``: thin handlers over the appointments service.

Access, refusals and audit are the native API's (``app.appointments.service`` decides them with
the authenticated principal): staff need appointments:read / appointments:write; a patient's
token sees and books only their own appointments (another patient's is a 404, as natively); the
service's refusals keep their status and ``code`` (409 ``slot_taken`` when a slot was just
taken, 400 ``in_past`` / ``outside_hours``, 409 ``licence_expired``, ...), as OperationOutcomes.

Slots are computed, never stored (see ``app.fhir.mappers.scheduling`` for the derived ids), so a
Slot search is always scoped (a schedule or a service type) and bounded: a start range the
service accepts, at most ``MAX_WINDOW_DAYS`` days; a lower bound alone (``start=ge...``, the
usual client's question) means the native search's default window, ``DEFAULT_WINDOW_DAYS`` (14)
days from it. It answers free slots only. Paging is the house's ``_count``/``_offset``; a page
that is not the last carries no ``total`` (counting every free slot of a long window would mean
computing them all), only a ``next`` link.

Dates in searches lie between 1900 and 2200, as everywhere in the appointment book: others are a
400 ``date_out_of_range`` OperationOutcome.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from app.appointments import schemas as aps
from app.appointments import service as appointments
from app.appointments.models import AppointmentType
from app.appointments.repository import Access
from app.config import Settings
from app.deps import Principal, PrincipalDep, SessionDep, SettingsDep
from app.errors import BadRequest, NotFound
from app.fhir import search as fs
from app.fhir.mappers import base as mb
from app.fhir.mappers import scheduling as sm
from app.fhir.outcome import FHIRResponse, FHIRRoute
from app.fhir.router import _body, base_url
from app.kit import idempotency

router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=FHIRRoute, default_response_class=FHIRResponse)

# Supported search parameters (name -> (FHIR search type, documentation)); the
# CapabilityStatement is built from these.
SCHEDULE_PARAMS: dict[str, tuple[str, str]] = {
    "_id": ("token", "The schedule id (= the clinician's staff / Practitioner id)"),
    "actor": ("reference", "Practitioner/{id}: the clinician's schedule"),
    "service-type": ("token", f"An appointment type offered: code or {sm.TYPE_SYSTEM}|code; comma for OR"),
    "active": ("token", "true or false: whether the clinician is an active clinical staff member"),
}
SLOT_PARAMS: dict[str, tuple[str, str]] = {
    "schedule": ("reference", "Schedule/{id}; this or service-type is required"),
    "service-type": (
        "token",
        f"Appointment type: code or {sm.TYPE_SYSTEM}|code, comma for OR; without schedule: every"
        " clinician offering it",
    ),
    "start": (
        "date",
        "Required: a lower bound (ge/gt) and an upper one (le/lt), at most"
        f" {appointments.MAX_WINDOW_DAYS} days apart, or eq a day, or a lower bound alone, which"
        f" searches {appointments.DEFAULT_WINDOW_DAYS} days from it (follow the next links); past"
        " slots are never offered; dates between 1900 and 2200",
    ),
    "status": ("token", "free (the default and the only value: busy slots are not listed)"),
}
APPOINTMENT_PARAMS: dict[str, tuple[str, str]] = {
    "patient": ("reference", "Patient/{id} (a patient's own token defaults to their record)"),
    "practitioner": ("reference", "Practitioner/{id}: the clinician"),
    "actor": ("reference", "Patient/{id} or Practitioner/{id}"),
    "date": (
        "date",
        "ge/gt/le/lt/eq; YYYY, YYYY-MM, YYYY-MM-DD or dateTime, between 1900 and 2200. Matches"
        " appointments overlapping the range (ge: ending after, le: starting before); repeat to AND",
    ),
    "status": (
        "token",
        "pending (a waitlist offer), booked, arrived (checked in), fulfilled, cancelled, noshow; comma: OR",
    ),
}
# Paging deeper than this into computed slots is refused: narrow the start range instead.
MAX_SLOT_DEPTH = 1000
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=idempotency.MAX_KEY_LENGTH,
        description="Retry-safe booking: the same key and body replay the first response",
    ),
]


def _not_found(resource_type: str, rid: str) -> NotFound:
    return NotFound(f"{resource_type}/{rid} not found", code=f"{resource_type.lower()}_not_found")


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _reference(value: str, resource_type: str) -> uuid.UUID | None:
    """``{Type}/{id}``, a bare id, or a URL ending so; None when it cannot be one of ours."""
    if "/" not in value:
        return _uuid_or_none(value)
    return sm.reference_uuid(value, resource_type)


def _type_codes(value: str, name: str) -> set[str]:
    """The codes of a service-type token (``code`` or ``system|code``, comma for OR); codes of
    another system match nothing."""
    codes: set[str] = set()
    for part in value.split(","):
        system, bar, code = part.rpartition("|")
        if not code:
            raise fs.bad(f"{name}: a token needs a code (system|code or code)")
        if not bar or system == sm.TYPE_SYSTEM:
            codes.add(code)
    return codes


def _bundle(
    request: Request,
    path: str,
    page: fs.Paging,
    found: Sequence[dict[str, Any]],
    *,
    more: bool = False,
) -> FHIRResponse:
    """A searchset of ``found[offset:offset+count]``; ``found`` holds every match up to the end
    of this page, plus one more when ``more`` (then the total is unknown and left out)."""
    resources = list(found[page.offset : page.offset + page.count])
    bundle = fs.searchset(base_url(request), path, request.query_params, page, len(found), resources)
    if more:
        del bundle["total"]
    return FHIRResponse(bundle)


# --- Schedule ------------------------------------------------------------------------------


async def _schedules(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    staff_ids: Sequence[uuid.UUID] | None = None,
) -> list[appointments.ClinicianSchedule]:
    return await appointments.schedules(session, principal, staff_ids=staff_ids, settings=settings)


@router.get("/Schedule", summary="Search clinicians' schedules")
async def search_schedules(
    request: Request, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> FHIRResponse:
    params = request.query_params
    fs.check_known(params, tuple(SCHEDULE_PARAMS), "Schedule")
    page = fs.paging(params)
    wanted: set[uuid.UUID] | None = None
    for name, kind in (("_id", None), ("actor", "Practitioner")):
        value = fs.single(params, name)
        if value is None:
            continue
        ids = {_uuid_or_none(v) if kind is None else _reference(v, kind) for v in value.split(",")}
        chosen = {i for i in ids if i is not None}
        wanted = chosen if wanted is None else wanted & chosen
    active = fs.single(params, "active")
    if active is not None and active not in ("true", "false"):
        raise fs.bad("active must be true or false")
    service_type = fs.single(params, "service-type")
    codes = _type_codes(service_type, "service-type") if service_type is not None else None
    rows = await _schedules(
        session, principal, settings, sorted(wanted, key=str) if wanted is not None else None
    )
    found = [
        sm.schedule_to_fhir(r, settings.facility_timezone)
        for r in rows
        if (active is None or r.active == (active == "true"))
        and (codes is None or any(k.code in codes for k in r.types))
    ]
    return _bundle(request, "/Schedule", page, found)


@router.get("/Schedule/{resource_id}", summary="Read a clinician's schedule")
async def read_schedule(
    resource_id: str, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> FHIRResponse:
    staff_id = _uuid_or_none(resource_id)
    rows = await _schedules(session, principal, settings, [staff_id] if staff_id else [])
    if not rows:
        raise _not_found("Schedule", resource_id)
    return FHIRResponse(sm.schedule_to_fhir(rows[0], settings.facility_timezone))


# --- dates ---------------------------------------------------------------------------------


def _out_of_range(name: str) -> BadRequest:
    return fs.bad(
        f"{name}: dates must be between {aps.EARLIEST_INSTANT.year} and {aps.LATEST_INSTANT.year}",
        code="date_out_of_range",
    )


def _dates(values: Sequence[str], name: str) -> dict[str, datetime]:
    """``fs.date_filters`` for the scheduling searches, held to the appointment book's range of
    instants (1900 to 2200) before any arithmetic on them can overflow."""
    for value in values:
        raw = value[2:] if value[:2] in ("eq", "ge", "le", "gt", "lt") else value
        if raw[:4].isdigit() and not aps.EARLIEST_INSTANT.year <= int(raw[:4]) < aps.LATEST_INSTANT.year:
            raise _out_of_range(name)
    try:
        bounds = fs.date_filters(values, name, name)
    except OverflowError as exc:  # e.g. the last day of 2199 in a zone far behind UTC
        raise _out_of_range(name) from exc
    if any(not aps.EARLIEST_INSTANT <= v < aps.LATEST_INSTANT for v in bounds.values()):
        raise _out_of_range(name)
    return bounds


# --- Slot ----------------------------------------------------------------------------------


def _slot_window(params: QueryParams) -> tuple[datetime, datetime]:
    """The start range of a Slot search: both bounds, or a lower one alone (then the native
    search's default window from it)."""
    values = params.getlist("start")
    why = (
        "free slots are computed from clinicians' weekly hours, so a search needs a start range:"
        f" a lower bound (then {appointments.DEFAULT_WINDOW_DAYS} days from it) or both bounds, at"
        f" most {appointments.MAX_WINDOW_DAYS} days apart: e.g. start=ge2026-03-02 or"
        " start=ge2026-03-02&start=lt2026-03-09"
    )
    if not values:
        raise fs.bad(f"Slot search needs a bounded start range: {why}", code="unbounded_search")
    bounds = _dates(values, "start")
    if "start__ge" not in bounds:
        raise fs.bad(f"start needs a lower bound (ge or gt): {why}", code="unbounded_search")
    low = bounds["start__ge"]
    if "start__le" in bounds:
        high = bounds["start__le"] + timedelta(microseconds=1)
    else:
        high = low + timedelta(days=appointments.DEFAULT_WINDOW_DAYS)
    if high <= low:
        raise fs.bad(
            "The start range is empty (its upper bound is before its lower one)", code="invalid_window"
        )
    if high - low > timedelta(days=appointments.MAX_WINDOW_DAYS):  # as the service would answer
        raise fs.bad(f"Search at most {appointments.MAX_WINDOW_DAYS} days at a time", code="window_too_long")
    return low, high


async def _free_slots(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    kind: AppointmentType,
    staff_id: uuid.UUID | None,
    window: tuple[datetime, datetime],
    wanted: int,
) -> list[aps.SlotRead]:
    """The first ``wanted`` free slots of one type, following the service's cursor."""
    out: list[aps.SlotRead] = []
    cursor: str | None = None
    while len(out) < wanted:
        page = await appointments.search_slots(
            session,
            principal,
            type_id=kind.id,
            staff_id=staff_id,
            start=window[0],
            end=window[1],
            limit=min(wanted - len(out), fs.MAX_COUNT),
            cursor=cursor,
            settings=settings,
        )
        out.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return out


@router.get("/Slot", summary="Search free slots (computed; scoped and bounded)")
async def search_slots(
    request: Request, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> FHIRResponse:
    params = request.query_params
    fs.check_known(params, tuple(SLOT_PARAMS), "Slot")
    page = fs.paging(params)
    status = fs.single(params, "status")
    if status is not None and {s.rpartition("|")[2] for s in status.split(",")} != {"free"}:
        raise fs.bad(
            "Only free slots can be searched (status=free): busy time is not listed as slots",
            code="unsupported_slot_status",
        )
    schedule = fs.single(params, "schedule")
    service_type = fs.single(params, "service-type")
    if schedule is None and service_type is None:
        raise fs.bad(
            "Slot search needs schedule=Schedule/{id} or service-type=<appointment type code>: free"
            " slots are computed per clinician and type, so an unscoped search is refused",
            code="slot_scope_required",
        )
    window = _slot_window(params)
    depth = page.offset + page.count
    if depth > MAX_SLOT_DEPTH:
        raise fs.bad(
            f"Slot search pages at most {MAX_SLOT_DEPTH} slots deep (_offset + _count):"
            " narrow the start range",
            code="paging_too_deep",
        )
    codes = _type_codes(service_type, "service-type") if service_type is not None else None
    staff_id: uuid.UUID | None = None
    kinds: list[AppointmentType]
    if schedule is not None:
        staff_id = _reference(schedule, "Schedule")
        # The service checks the caller may search slots, whatever the schedule turns out to be.
        rows = await _schedules(session, principal, settings, [staff_id] if staff_id else [])
        kinds = list(rows[0].types) if rows else []
    else:
        await _schedules(session, principal, settings, [])  # the same permission check
        kinds = await appointments.list_types(session, principal, active=True)
    if codes is not None:
        kinds = [k for k in kinds if k.code in codes]
    by_id = {k.id: k for k in kinds}
    merged: list[aps.SlotRead] = []
    for kind in kinds:
        merged += await _free_slots(session, principal, settings, kind, staff_id, window, depth + 1)
    merged.sort(key=lambda x: (x.start, str(x.staff_id), by_id[x.type_id].code))
    found = [
        sm.slot_to_fhir(x.staff_id, by_id[x.type_id], x.start, x.end, "free") for x in merged[: depth + 1]
    ]
    return _bundle(request, "/Slot", page, found, more=len(found) > depth)


@router.get("/Slot/{resource_id}", summary="Read a slot (free or busy, computed now)")
async def read_slot(
    resource_id: str, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> FHIRResponse:
    key = sm.parse_slot_id(resource_id)
    if key is None:
        raise _not_found("Slot", resource_id)
    state = await appointments.slot_status(
        session, principal, type_id=key.type_id, staff_id=key.staff_id, start=key.start, settings=settings
    )
    if state is None:
        raise _not_found("Slot", resource_id)
    kind, status = state
    end = key.start + timedelta(minutes=kind.duration_minutes)
    return FHIRResponse(sm.slot_to_fhir(key.staff_id, kind, key.start, end, status))


# --- Appointment ---------------------------------------------------------------------------


async def _resource(
    session: AsyncSession, principal: Principal, settings: Settings, row: Any
) -> dict[str, Any]:
    (read,) = await appointments.present(session, principal, [row], settings=settings)
    return sm.appointment_to_fhir(read)


def _statuses(value: str) -> list[str]:
    wanted = [v.rpartition("|")[2] for v in value.split(",")]
    wrong = [v for v in wanted if v not in sm.FHIR_APPOINTMENT_STATUSES]
    if wrong:
        raise fs.bad(f"status: {', '.join(wrong)} is not an Appointment status")
    return [sm.STATUS_FROM_FHIR[v] for v in wanted if v in sm.STATUS_FROM_FHIR]


@router.get("/Appointment", summary="Search appointments")
async def search_appointments(
    request: Request, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> FHIRResponse:
    params = request.query_params
    fs.check_known(params, tuple(APPOINTMENT_PARAMS), "Appointment")
    page = fs.paging(params)
    patients: set[uuid.UUID | None] = set()
    staff: set[uuid.UUID | None] = set()
    for name in ("patient", "practitioner", "actor"):
        value = fs.single(params, name)
        if value is None:
            continue
        if name == "actor":
            kind = value.rstrip("/").split("/")[-2] if value.count("/") else ""
            if kind not in ("Patient", "Practitioner"):
                raise fs.bad("actor must be Patient/{id} or Practitioner/{id}")
            name = kind.lower()
        target = patients if name == "patient" else staff
        target.add(_reference(value, "Patient" if name == "patient" else "Practitioner"))
    dates = _dates(params.getlist("date"), "date")
    end = dates.get("date__le")
    status = fs.single(params, "status")
    statuses = _statuses(status) if status is not None else None
    rows: list[Any] = []
    total = 0
    # Two different patients (or clinicians), an id that cannot be ours, or only statuses we
    # never use: nothing matches.
    impossible = len(patients) > 1 or len(staff) > 1 or None in patients | staff or statuses == []
    if impossible:  # still only for whom may search at all
        appointments.check_access(session, principal, principal.patient_id, Access.READ)
    else:
        # Another patient's appointments: no matches (the service audits the refusal).
        with contextlib.suppress(NotFound):
            rows, total = await appointments.list_appointments(
                session,
                principal,
                staff_id=next(iter(staff), None),
                patient_id=next(iter(patients), None),
                start=dates.get("date__ge"),
                end=end + timedelta(microseconds=1) if end is not None else None,
                statuses=statuses,
                limit=page.count,
                offset=page.offset,
            )
    reads = await appointments.present(session, principal, rows, settings=settings) if rows else []
    resources = [sm.appointment_to_fhir(r) for r in reads]
    bundle = fs.searchset(base_url(request), "/Appointment", params, page, total, resources)
    return FHIRResponse(bundle)


@router.get("/Appointment/{resource_id}", summary="Read an appointment")
async def read_appointment(
    resource_id: str, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> FHIRResponse:
    appointment_id = _uuid_or_none(resource_id)
    if appointment_id is None:
        raise _not_found("Appointment", resource_id)
    try:
        row = await appointments.get_appointment(session, principal, appointment_id)
    except NotFound as exc:
        raise _not_found("Appointment", resource_id) from exc
    return FHIRResponse(await _resource(session, principal, settings, row))


@router.post(
    "/Appointment",
    status_code=201,
    summary="Book a free Slot (409 OperationOutcome slot_taken when it was just taken)",
)
async def create_appointment(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> FHIRResponse:
    body = await _body(request, "Appointment")
    wanted = sm.booking_from_fhir(body)
    patient_id = appointments.booking_patient(principal, wanted.patient_id)
    # Who may book for whom first (as the native booking does), then whether the slot exists.
    try:
        appointments.check_access(session, principal, patient_id, Access.WRITE)
    except NotFound as exc:  # another patient's record, to a patient: the native booking's answer
        raise NotFound("Patient not found", code="patient_not_found") from exc
    claim: idempotency.IdempotencyKey | None = None
    if idempotency_key is not None:
        found = await idempotency.begin(
            session,
            user_id=principal.user_id,
            key=idempotency_key,
            endpoint="POST /fhir/Appointment",
            payload=body,
        )
        if isinstance(found, idempotency.Replay):
            replayed = found.body if isinstance(found.body, dict) else {}
            patient = {"id": str(patient_id)} if patient_id else {}
            appointments.record_replay(session, "book", {"id": replayed.get("id"), "patient": patient})
            location = f"{base_url(request)}/Appointment/{replayed.get('id')}"
            return FHIRResponse(
                found.body,
                status_code=found.status_code,
                headers={"Location": location, "Idempotent-Replayed": "true"},
            )
        claim = found
    slot = f"Slot/{sm.slot_id(wanted.slot.staff_id, wanted.slot.type_id, wanted.slot.start)}"
    try:
        kind = await appointments.get_type(session, principal, wanted.slot.type_id)
    except NotFound as exc:
        raise mb.MappingError(f"{slot} does not exist", path="Appointment.slot[0].reference") from exc
    sm.check_end(body, wanted.slot.start + timedelta(minutes=kind.duration_minutes))
    data = mb.build(
        aps.AppointmentCreate,
        {
            "type_id": kind.id,
            "staff_id": wanted.slot.staff_id,
            "patient_id": patient_id,
            "start": wanted.slot.start,
            "reason": wanted.reason,
        },
        "Appointment",
    )
    try:
        row = await appointments.book(session, principal, data, settings=settings)
    except NotFound as exc:
        if exc.code != "staff_not_found":
            raise
        raise mb.MappingError(f"{slot} does not exist", path="Appointment.slot[0].reference") from exc
    resource = await _resource(session, principal, settings, row)
    if claim is not None:
        await idempotency.complete(session, claim, 201, resource)
    location = f"{base_url(request)}/Appointment/{resource['id']}"
    return FHIRResponse(resource, status_code=201, headers={"Location": location})
