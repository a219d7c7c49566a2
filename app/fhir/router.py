"""The FHIR R4 REST facade under ``/fhir``: thin handlers over the patients service.

Every handler calls ``app.patients.service`` with the authenticated principal, so access rules
and audit are exactly the native API's (a patient's token sees only their own compartment; any
other record is a 404). Errors come back as OperationOutcome (see ``app.fhir.outcome``).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Mapping
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request

from app.auth.permissions import Perm
from app.deps import Principal, PrincipalDep, SessionDep, SettingsDep, get_principal, oauth2_scheme
from app.errors import AppError, BadRequest, NotFound
from app.fhir import capability, jsonio
from app.fhir import monitoring as fm
from app.fhir import search as fs
from app.fhir.mappers import MAPPERS, MappingError
from app.fhir.mappers import allergy_intolerance as allergy_map
from app.fhir.mappers import base as mb
from app.fhir.mappers import condition as condition_map
from app.fhir.mappers import medication_request as medication_map
from app.fhir.mappers import observation as observation_map
from app.fhir.mappers import patient as patient_map
from app.fhir.outcome import FHIR_JSON, FHIRResponse, FHIRRoute
from app.monitoring import ingest
from app.patients import schemas as s
from app.patients import service as ps
from app.patients.repository import Access

router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=FHIRRoute, default_response_class=FHIRResponse)

_JSON_TYPES = ("application/fhir+json", "application/json")

# $everything: the patient compartment we keep, in this order after the Patient.
EVERYTHING_TYPES = (
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "MedicationRequest",
    "Procedure",
    "Immunization",
    "CarePlan",
)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _resource_id(value: str, resource_type: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:  # not one of our ids: it does not exist here
        raise NotFound(f"{resource_type}/{value} not found") from exc


async def _body(request: Request, resource_type: str) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise _UnsupportedMedia()
    try:
        body = jsonio.loads(await request.body())
    except jsonio.JsonError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc.message}", code="malformed_json") from exc
    if not isinstance(body, dict):
        raise MappingError("The request body must be a FHIR resource (a JSON object)")
    if body.get("resourceType") != resource_type:
        raise MappingError(
            f"Expected a {resource_type} resource, got {body.get('resourceType')!r}", path="resourceType"
        )
    return body


class _UnsupportedMedia(AppError):
    status_code = 415
    code = "unsupported_media_type"

    def __init__(self) -> None:
        super().__init__("Send the resource as application/fhir+json (or application/json)")


class RestResolver:
    """References in a resource sent to the REST API: ``Patient/{id}``, ``Encounter/{id}``."""

    source_system: str | None = None  # a client's own ids are not provenance; identifiers are

    def patient_id(self, reference: str) -> uuid.UUID:
        found = fs.patient_reference(reference)
        if found is None:
            raise MappingError(
                f"The subject must reference one of our patients as Patient/{{id}}, not {reference!r}",
                path="subject.reference",
            )
        return found

    def encounter_id(self, reference: str) -> uuid.UUID | None:
        tail = reference.rstrip("/").split("/")
        try:
            if len(tail) >= 2 and tail[-2] == "Encounter":
                return uuid.UUID(tail[-1])
        except ValueError:
            pass
        raise MappingError(
            f"encounter must reference one of our encounters as Encounter/{{id}}, not {reference!r}",
            path="encounter.reference",
        )

    def practitioner(self, reference: Mapping[str, Any]) -> tuple[str | None, str | None]:
        ident = reference.get("identifier")
        identifier = None
        if isinstance(ident, Mapping) and ident.get("value"):
            identifier = (
                f"{ident.get('system')}|{ident['value']}" if ident.get("system") else str(ident["value"])
            )
        display = reference.get("display")
        return identifier, str(display) if display else None


def _created(request: Request, resource: dict[str, Any]) -> FHIRResponse:
    location = f"{base_url(request)}/{resource['resourceType']}/{resource['id']}"
    return FHIRResponse(resource, status_code=201, headers={"Location": location})


def _check_body_id(body: Mapping[str, Any], resource_id: uuid.UUID) -> None:
    """FHIR update: the body SHALL carry the id of the URL (400 when it is missing or another)."""
    rid = body.get("id")
    if rid in (None, ""):
        raise MappingError(
            f"The resource must carry its id ({resource_id}, as in the URL) to be updated", path="id"
        )
    if str(rid) != str(resource_id):
        raise MappingError(f"The resource id {rid!r} does not match the URL's {resource_id}", path="id")


# --- metadata --------------------------------------------------------------------------


@router.get("/metadata", summary="The CapabilityStatement (public)")
async def metadata(request: Request) -> FHIRResponse:
    return FHIRResponse(capability.statement(base_url(request)))


# --- Patient ---------------------------------------------------------------------------

PATIENT_PARAMS = ("name", "family", "given", "identifier", "birthdate", "gender", "_id")


@router.get("/Patient", summary="Search patients")
async def search_patients(request: Request, principal: PrincipalDep, session: SessionDep) -> FHIRResponse:
    params = request.query_params
    fs.check_known(params, PATIENT_PARAMS, "Patient")
    page = fs.paging(params)
    resources: list[dict[str, Any]] = []
    lower_bound = False
    rid = fs.single(params, "_id")
    if rid is not None:
        if any(k in params for k in PATIENT_PARAMS if k != "_id"):
            raise fs.bad("_id cannot be combined with other search parameters")
        total = 0
        try:
            patient = await ps.get_patient(session, principal, _resource_id(rid, "Patient"))
            total = 1
            if page.offset == 0 and page.count:
                resources = [patient_map.to_fhir(patient)]
        except NotFound:
            pass
    else:
        # name: any name part; family / given: only that part. Repeated or several words: AND.
        words = {k: " ".join(params.getlist(k)) if k in params else None for k in ("name", "family", "given")}
        gender = fs.single(params, "gender")
        if gender is not None and gender not in ("male", "female", "other", "unknown"):
            raise fs.bad("gender must be one of male, female, other, unknown")
        rows, total, lower_bound = await ps.search_patients(
            session,
            principal,
            name=words["name"],
            family=words["family"],
            given=words["given"],
            identifier=fs.single(params, "identifier"),
            birth_date=params.getlist("birthdate"),
            gender=gender,
            limit=page.count,
            offset=page.offset,
        )
        resources = [patient_map.to_fhir(p) for p in rows]
    return FHIRResponse(
        fs.searchset(
            base_url(request), "/Patient", params, page, total, resources, total_is_lower_bound=lower_bound
        )
    )


@router.get("/Patient/{patient_id}", summary="Read a patient")
async def read_patient(patient_id: str, principal: PrincipalDep, session: SessionDep) -> FHIRResponse:
    patient = await ps.get_patient(session, principal, _resource_id(patient_id, "Patient"))
    return FHIRResponse(patient_map.to_fhir(patient))


@router.post("/Patient", status_code=201, summary="Register a patient")
async def create_patient(request: Request, principal: PrincipalDep, session: SessionDep) -> FHIRResponse:
    body = await _body(request, "Patient")
    patient = await ps.register_patient(session, principal, patient_map.from_fhir(body))
    return _created(request, patient_map.to_fhir(await ps.get_patient(session, principal, patient.id)))


@router.put(
    "/Patient/{patient_id}",
    summary="Update a patient: the resource replaces the demographics we keep; identifiers are"
    " replaced per system (systems the resource does not name keep theirs)",
)
async def update_patient(
    patient_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> FHIRResponse:
    pid = _resource_id(patient_id, "Patient")
    body = await _body(request, "Patient")
    _check_body_id(body, pid)
    data = patient_map.update_from_fhir(body)
    await ps.update_patient(session, principal, pid, data, keep_identifier_systems_not_sent=True)
    return FHIRResponse(patient_map.to_fhir(await ps.get_patient(session, principal, pid)))


@router.get("/Patient/{patient_id}/$everything", summary="The patient compartment, paged")
async def everything(
    patient_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> FHIRResponse:
    params = request.query_params
    fs.check_known(params, (), "Patient/$everything")
    page = fs.paging(params)
    pid = _resource_id(patient_id, "Patient")
    patient = await ps.get_patient(session, principal, pid)
    resources: list[dict[str, Any]] = []
    if page.offset == 0 and page.count:
        resources.append(patient_map.to_fhir(patient))
    # The Patient is item 0; then each type's items in its native order. Each type is asked for
    # the slice of the requested page that falls within it (its total comes with it).
    position, end = 1, page.offset + page.count
    for resource_type in EVERYTHING_TYPES:
        spec = fs.CLINICAL[resource_type]
        start = max(page.offset, position)
        rows, total = await ps.list_resources(
            session, principal, spec.kind, pid, limit=max(end - start, 0), offset=max(start - position, 0)
        )
        resources.extend(MAPPERS[resource_type].to_fhir(r) for r in rows)
        position += total
    bundle = fs.searchset(base_url(request), f"/Patient/{pid}/$everything", params, page, position, resources)
    return FHIRResponse(bundle)


# --- clinical resources: read and search -----------------------------------------------


def _own_patient(principal: Principal) -> uuid.UUID | None:
    return principal.patient_id if principal.has(Perm.SELF_SERVICE) else None


def _search_handler(spec: fs.ClinicalType, mapper: ModuleType) -> Any:
    async def search(request: Request, principal: PrincipalDep, session: SessionDep) -> FHIRResponse:
        params = request.query_params
        fs.check_known(params, (*spec.patient_params, *spec.params), spec.resource_type)
        page = fs.paging(params)
        refs = [v for p in spec.patient_params for v in params.getlist(p)]
        if len(refs) > 1:
            raise fs.bad(f"{' or '.join(spec.patient_params)}: give one patient")
        filters = fs.clinical_filters(spec, params)
        pid = fs.patient_reference(refs[0]) if refs else _own_patient(principal)
        if not refs and pid is None:
            raise fs.bad(
                f"{spec.resource_type} search needs {spec.patient_params[0]}=Patient/{{id}}"
                " (searching across all patients is not supported)",
                code="patient_required",
            )
        rows: list[Any] = []
        total = 0
        if pid is not None:
            # No such patient, or not one this principal may see: no matches.
            with contextlib.suppress(NotFound):
                rows, total = await ps.list_filtered(
                    session, principal, spec.kind, pid, limit=page.count, offset=page.offset, **filters
                )
        resources = [mapper.to_fhir(r) for r in rows]
        if spec.resource_type == "Observation" and pid is not None:
            # Device readings (remote monitoring) follow the chart's observations, newest first.
            start = max(page.offset - total, 0)
            extra, device_total = await fm.search_readings(
                session, principal, pid, filters, page.count - len(resources), start
            )
            resources += extra
            total += device_total
        return FHIRResponse(
            fs.searchset(base_url(request), f"/{spec.resource_type}", params, page, total, resources)
        )

    return search


def _read_handler(spec: fs.ClinicalType, mapper: ModuleType) -> Any:
    async def read(resource_id: str, principal: PrincipalDep, session: SessionDep) -> FHIRResponse:
        if spec.resource_type == "Observation" and (reading := fm.reading_id(resource_id)) is not None:
            return await fm.read_reading(session, principal, reading)
        rid = _resource_id(resource_id, spec.resource_type)
        try:
            row = await ps.get_resource_by_id(session, principal, spec.kind, rid)
        except NotFound as exc:
            raise NotFound(f"{spec.resource_type}/{resource_id} not found") from exc
        return FHIRResponse(mapper.to_fhir(row))

    return read


for _type, _spec in fs.CLINICAL.items():
    _mapper = MAPPERS[_type]
    router.add_api_route(
        f"/{_type}", _search_handler(_spec, _mapper), methods=["GET"], summary=f"Search {_type}"
    )
    router.add_api_route(
        f"/{_type}/{{resource_id}}", _read_handler(_spec, _mapper), methods=["GET"], summary=f"Read {_type}"
    )


# --- clinical resources: create and update ---------------------------------------------


async def _create(request: Request, principal: Principal, session: Any, resource_type: str) -> FHIRResponse:
    body = await _body(request, resource_type)
    refs = RestResolver()
    mapper = MAPPERS[resource_type]
    data = mapper.from_fhir(body, refs)
    pid = mb.patient_of(body, refs)
    row: Any
    if resource_type == "Condition":
        row = await ps.add_condition(session, principal, pid, data)
    elif resource_type == "AllergyIntolerance":
        row = await ps.add_allergy(session, principal, pid, data)
    elif resource_type == "Observation":
        row = await ps.add_observation(session, principal, pid, data)
    else:
        row = await ps.prescribe(session, principal, pid, data)
    kind = fs.CLINICAL[resource_type].kind
    fresh = await ps.get_resource(session, principal, kind, pid, row.id)
    return _created(request, mapper.to_fhir(fresh))


@router.post("/Condition", status_code=201, summary="Record a condition")
async def create_condition(request: Request, principal: PrincipalDep, session: SessionDep) -> FHIRResponse:
    return await _create(request, principal, session, "Condition")


@router.post("/AllergyIntolerance", status_code=201, summary="Record an allergy or intolerance")
async def create_allergy(request: Request, principal: PrincipalDep, session: SessionDep) -> FHIRResponse:
    return await _create(request, principal, session, "AllergyIntolerance")


@router.post(
    "/Observation",
    status_code=201,
    summary="Record an observation (a device token writes vital signs into remote monitoring)",
)
async def create_observation(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tasks: BackgroundTasks,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> FHIRResponse:
    device = await fm.device_of(request)
    if device is not None:
        return await fm.device_create(request, device, await _body(request, "Observation"))
    principal = await get_principal(session, settings, token)
    response = await _create(request, principal, session, "Observation")
    created = json.loads(bytes(response.body))
    if created.get("category") and any(
        c.get("code") == "vital-signs" for cat in created["category"] for c in cat.get("coding", [])
    ):
        stored = await fm.chart_vitals(
            request,
            session,
            uuid.UUID(created["subject"]["reference"].split("/")[-1]),
            principal.user_id,
            principal.username,
            uuid.UUID(created["id"]),
            created,
        )
        if stored is not None:
            tasks.add_task(ingest.pipeline_of(request.app.state).after_commit, stored)
    return response


@router.post(
    "/MedicationRequest",
    status_code=201,
    summary="Prescribe (checked against recorded allergies: 409 unless the override extension is sent)",
)
async def create_medication_request(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> FHIRResponse:
    return await _create(request, principal, session, "MedicationRequest")


async def _current(
    request: Request, principal: Principal, session: Any, resource_type: str, resource_id: str, access: Access
) -> tuple[dict[str, Any], uuid.UUID, uuid.UUID, Any]:
    """The body of a PUT, the resource's patient and id, and the stored row (for the checks)."""
    spec = fs.CLINICAL[resource_type]
    rid = _resource_id(resource_id, resource_type)
    body = await _body(request, resource_type)
    _check_body_id(body, rid)
    pid = await ps.locate(session, principal, spec.kind, rid, access)
    if mb.patient_of(body, RestResolver()) != pid:
        raise MappingError("The subject of a resource cannot change", path="subject")
    row = await ps.get_resource(session, principal, spec.kind, pid, rid)
    return body, pid, rid, row


def _same_code(stored: Any, sent: s.Coding | None, path: str) -> None:
    if sent is None or (stored.system, stored.code) != (sent.system, sent.code):
        raise MappingError(
            f"{path} cannot change on update (a different code is a new resource: POST it)", path=path
        )


@router.put("/Condition/{resource_id}", summary="Update a condition's status, abatement and note")
async def update_condition(
    resource_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> FHIRResponse:
    body, pid, rid, row = await _current(
        request, principal, session, "Condition", resource_id, Access.CLINICAL_WRITE
    )
    _same_code(row.code, condition_map.immutable(body)["code"], "Condition.code")
    updated = await ps.update_condition(session, principal, pid, rid, condition_map.update_from_fhir(body))
    return FHIRResponse(condition_map.to_fhir(updated))


@router.put(
    "/AllergyIntolerance/{resource_id}",
    summary="Update an allergy's status, criticality, note and reactions",
)
async def update_allergy(
    resource_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> FHIRResponse:
    body, pid, rid, row = await _current(
        request, principal, session, "AllergyIntolerance", resource_id, Access.CLINICAL_WRITE
    )
    _same_code(row.code, allergy_map.immutable(body)["code"], "AllergyIntolerance.code")
    updated = await ps.update_allergy(session, principal, pid, rid, allergy_map.update_from_fhir(body))
    return FHIRResponse(allergy_map.to_fhir(updated))


@router.put(
    "/Observation/{resource_id}",
    summary="Correct an observation's status, value, range, interpretation, components and note",
)
async def update_observation(
    resource_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> FHIRResponse:
    body, pid, rid, row = await _current(
        request, principal, session, "Observation", resource_id, Access.CLINICAL_WRITE
    )
    _same_code(row.code, observation_map.immutable(body)["code"], "Observation.code")
    data = observation_map.update_from_fhir(body)
    updated = await ps.update_observation(session, principal, pid, rid, data)
    return FHIRResponse(observation_map.to_fhir(updated))


@router.put(
    "/MedicationRequest/{resource_id}",
    summary="Stop, cancel or complete a prescription (the only change a PUT may make)",
)
async def update_medication_request(
    resource_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> FHIRResponse:
    body, pid, rid, row = await _current(
        request, principal, session, "MedicationRequest", resource_id, Access.PRESCRIBE
    )
    sent = medication_map.from_fhir(body, RestResolver())
    _same_code(row.medication, sent.medication, "MedicationRequest.medication")
    if sent.status == row.status:
        return FHIRResponse(medication_map.to_fhir(row))
    if sent.status not in ("stopped", "cancelled", "completed"):
        raise MappingError(
            "A prescription's status can only change to stopped, cancelled or completed (give statusReason)",
            path="MedicationRequest.status",
        )
    change = mb.build(
        s.MedicationRequestStatusChange,
        {"status": sent.status, "reason": sent.status_reason},
        "MedicationRequest",
    )
    updated = await ps.change_medication_request_status(session, principal, pid, rid, change)
    return FHIRResponse(medication_map.to_fhir(updated))


__all__ = ["FHIR_JSON", "router"]
