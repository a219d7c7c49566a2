"""HTTP endpoints of the clinical record under /api/patients: thin, typed; every endpoint is
authenticated, and access to a record is decided by the service (``repository.authorize``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import Principal, PrincipalDep, SessionDep
from app.kit import idempotency
from app.kit.pagination import Page, PageParams, page_params
from app.patients import schemas as s
from app.patients import service
from app.patients.repository import Access

router = APIRouter(prefix="/api/patients", tags=["patients"])

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
DateFrom = Annotated[AwareDatetime | None, Query(description="On or after (timezone required)")]
DateTo = Annotated[AwareDatetime | None, Query(description="On or before (timezone required)")]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _page(items: list[T], total: int, page: PageParams) -> Page[T]:
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


async def _idempotent(
    session: AsyncSession,
    principal: Principal,
    request: Request,
    key: str | None,
    body: BaseModel,
    *,
    patient_id: uuid.UUID | None,
    access: Access,
    resource_type: str,
    work: Callable[[], Awaitable[M]],
) -> M | Response:
    if key is None:
        return await work()
    service.check_access(session, principal, patient_id, access)
    claim = await idempotency.begin(
        session,
        user_id=principal.user_id,
        key=key,
        endpoint=f"{request.method} {request.url.path}",
        payload=body.model_dump(mode="json"),
    )
    if isinstance(claim, idempotency.Replay):
        service.record_replay(session, patient_id, resource_type, claim.body)
        return JSONResponse(
            claim.body, status_code=claim.status_code, headers={"Idempotent-Replayed": "true"}
        )
    result = await work()
    await idempotency.complete(session, claim, status.HTTP_201_CREATED, result.model_dump(mode="json"))
    return result


# --- patients --------------------------------------------------------------------------


@router.post(
    "", response_model=s.PatientRead, status_code=status.HTTP_201_CREATED, summary="Register a patient"
)
async def register_patient(
    body: s.PatientCreate,
    principal: PrincipalDep,
    session: SessionDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> s.PatientRead | Response:
    async def work() -> s.PatientRead:
        return s.PatientRead.model_validate(await service.register_patient(session, principal, body))

    return await _idempotent(
        session,
        principal,
        request,
        idempotency_key,
        body,
        patient_id=None,
        access=Access.DEMOGRAPHICS_WRITE,
        resource_type="Patient",
        work=work,
    )


@router.get("", response_model=Page[s.PatientRead], summary="Search patients")
async def search_patients(
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Prefix of any name part")
    ] = None,
    mrn: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
    identifier: Annotated[
        str | None, Query(min_length=1, max_length=400, description="system|value, or value")
    ] = None,
    birth_date: Annotated[
        list[str] | None,
        Query(max_length=2, description="YYYY-MM-DD, or with a prefix: ge1980-01-01, le1990-12-31"),
    ] = None,
) -> Page[s.PatientRead]:
    """Search patients. With ``name``: ordered by the patient's name token matched by the longest
    word of the query, then family, given, birth date and id; ``total`` is exact up to 1,000
    matches, past that a lower bound with ``total_is_lower_bound`` true. Without ``name``: ordered
    by family, given, birth date, id, with an exact total."""
    patients, total, lower_bound = await service.search_patients(
        session,
        principal,
        name=name,
        mrn=mrn,
        identifier=identifier,
        birth_date=birth_date or [],
        limit=page.limit,
        offset=page.offset,
    )
    result = _page([s.PatientRead.model_validate(p) for p in patients], total, page)
    result.total_is_lower_bound = lower_bound
    return result


@router.get("/{patient_id}", response_model=s.PatientRead)
async def get_patient(patient_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> s.PatientRead:
    return s.PatientRead.model_validate(await service.get_patient(session, principal, patient_id))


@router.patch("/{patient_id}", response_model=s.PatientRead)
async def update_patient(
    patient_id: uuid.UUID, body: s.PatientUpdate, principal: PrincipalDep, session: SessionDep
) -> s.PatientRead:
    return s.PatientRead.model_validate(await service.update_patient(session, principal, patient_id, body))


@router.get("/{patient_id}/chart", response_model=s.PatientChart, summary="The chart summary")
async def get_chart(patient_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> s.PatientChart:
    return await service.chart(session, principal, patient_id)


# --- conditions ------------------------------------------------------------------------


@router.get("/{patient_id}/conditions", response_model=Page[s.ConditionRead])
async def list_conditions(
    patient_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    clinical_status: s.ConditionClinicalStatus | None = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
) -> Page[s.ConditionRead]:
    rows, total = await service.list_filtered(
        session,
        principal,
        service.CONDITIONS,
        patient_id,
        limit=page.limit,
        offset=page.offset,
        clinical_status=clinical_status,
        category=category,
    )
    return _page([s.ConditionRead.model_validate(r) for r in rows], total, page)


@router.post("/{patient_id}/conditions", response_model=s.ConditionRead, status_code=status.HTTP_201_CREATED)
async def add_condition(
    patient_id: uuid.UUID, body: s.ConditionCreate, principal: PrincipalDep, session: SessionDep
) -> s.ConditionRead:
    return s.ConditionRead.model_validate(await service.add_condition(session, principal, patient_id, body))


@router.get("/{patient_id}/conditions/{condition_id}", response_model=s.ConditionRead)
async def get_condition(
    patient_id: uuid.UUID, condition_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> s.ConditionRead:
    row = await service.get_resource(session, principal, service.CONDITIONS, patient_id, condition_id)
    return s.ConditionRead.model_validate(row)


@router.patch("/{patient_id}/conditions/{condition_id}", response_model=s.ConditionRead)
async def update_condition(
    patient_id: uuid.UUID,
    condition_id: uuid.UUID,
    body: s.ConditionUpdate,
    principal: PrincipalDep,
    session: SessionDep,
) -> s.ConditionRead:
    row = await service.update_condition(session, principal, patient_id, condition_id, body)
    return s.ConditionRead.model_validate(row)


# --- allergies -------------------------------------------------------------------------


@router.get("/{patient_id}/allergies", response_model=Page[s.AllergyRead])
async def list_allergies(
    patient_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    clinical_status: s.AllergyClinicalStatus | None = None,
) -> Page[s.AllergyRead]:
    rows, total = await service.list_filtered(
        session,
        principal,
        service.ALLERGIES,
        patient_id,
        limit=page.limit,
        offset=page.offset,
        clinical_status=clinical_status,
    )
    return _page([s.AllergyRead.model_validate(r) for r in rows], total, page)


@router.post("/{patient_id}/allergies", response_model=s.AllergyRead, status_code=status.HTTP_201_CREATED)
async def add_allergy(
    patient_id: uuid.UUID, body: s.AllergyCreate, principal: PrincipalDep, session: SessionDep
) -> s.AllergyRead:
    return s.AllergyRead.model_validate(await service.add_allergy(session, principal, patient_id, body))


@router.get("/{patient_id}/allergies/{allergy_id}", response_model=s.AllergyRead)
async def get_allergy(
    patient_id: uuid.UUID, allergy_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> s.AllergyRead:
    row = await service.get_resource(session, principal, service.ALLERGIES, patient_id, allergy_id)
    return s.AllergyRead.model_validate(row)


@router.patch("/{patient_id}/allergies/{allergy_id}", response_model=s.AllergyRead)
async def update_allergy(
    patient_id: uuid.UUID,
    allergy_id: uuid.UUID,
    body: s.AllergyUpdate,
    principal: PrincipalDep,
    session: SessionDep,
) -> s.AllergyRead:
    row = await service.update_allergy(session, principal, patient_id, allergy_id, body)
    return s.AllergyRead.model_validate(row)


# --- immunizations ---------------------------------------------------------------------


@router.get("/{patient_id}/immunizations", response_model=Page[s.ImmunizationRead])
async def list_immunizations(
    patient_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, page: PageDep
) -> Page[s.ImmunizationRead]:
    rows, total = await service.list_filtered(
        session, principal, service.IMMUNIZATIONS, patient_id, limit=page.limit, offset=page.offset
    )
    return _page([s.ImmunizationRead.model_validate(r) for r in rows], total, page)


@router.post(
    "/{patient_id}/immunizations", response_model=s.ImmunizationRead, status_code=status.HTTP_201_CREATED
)
async def add_immunization(
    patient_id: uuid.UUID, body: s.ImmunizationCreate, principal: PrincipalDep, session: SessionDep
) -> s.ImmunizationRead:
    return s.ImmunizationRead.model_validate(
        await service.add_immunization(session, principal, patient_id, body)
    )


@router.get("/{patient_id}/immunizations/{immunization_id}", response_model=s.ImmunizationRead)
async def get_immunization(
    patient_id: uuid.UUID, immunization_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> s.ImmunizationRead:
    row = await service.get_resource(session, principal, service.IMMUNIZATIONS, patient_id, immunization_id)
    return s.ImmunizationRead.model_validate(row)


# --- procedures ------------------------------------------------------------------------


@router.get("/{patient_id}/procedures", response_model=Page[s.ProcedureRead])
async def list_procedures(
    patient_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, page: PageDep
) -> Page[s.ProcedureRead]:
    rows, total = await service.list_filtered(
        session, principal, service.PROCEDURES, patient_id, limit=page.limit, offset=page.offset
    )
    return _page([s.ProcedureRead.model_validate(r) for r in rows], total, page)


@router.post("/{patient_id}/procedures", response_model=s.ProcedureRead, status_code=status.HTTP_201_CREATED)
async def add_procedure(
    patient_id: uuid.UUID, body: s.ProcedureCreate, principal: PrincipalDep, session: SessionDep
) -> s.ProcedureRead:
    return s.ProcedureRead.model_validate(await service.add_procedure(session, principal, patient_id, body))


@router.get("/{patient_id}/procedures/{procedure_id}", response_model=s.ProcedureRead)
async def get_procedure(
    patient_id: uuid.UUID, procedure_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> s.ProcedureRead:
    row = await service.get_resource(session, principal, service.PROCEDURES, patient_id, procedure_id)
    return s.ProcedureRead.model_validate(row)


# --- encounters ------------------------------------------------------------------------


@router.get("/{patient_id}/encounters", response_model=Page[s.EncounterRead])
async def list_encounters(
    patient_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    status_: Annotated[s.EncounterStatus | None, Query(alias="status")] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> Page[s.EncounterRead]:
    rows, total = await service.list_filtered(
        session,
        principal,
        service.ENCOUNTERS,
        patient_id,
        limit=page.limit,
        offset=page.offset,
        status=status_,
        period_start__ge=date_from,
        period_start__le=date_to,
    )
    return _page([s.EncounterRead.model_validate(r) for r in rows], total, page)


@router.post("/{patient_id}/encounters", response_model=s.EncounterRead, status_code=status.HTTP_201_CREATED)
async def add_encounter(
    patient_id: uuid.UUID, body: s.EncounterCreate, principal: PrincipalDep, session: SessionDep
) -> s.EncounterRead:
    return s.EncounterRead.model_validate(await service.add_encounter(session, principal, patient_id, body))


@router.get("/{patient_id}/encounters/{encounter_id}", response_model=s.EncounterRead)
async def get_encounter(
    patient_id: uuid.UUID, encounter_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> s.EncounterRead:
    row = await service.get_resource(session, principal, service.ENCOUNTERS, patient_id, encounter_id)
    return s.EncounterRead.model_validate(row)


@router.patch("/{patient_id}/encounters/{encounter_id}", response_model=s.EncounterRead)
async def update_encounter(
    patient_id: uuid.UUID,
    encounter_id: uuid.UUID,
    body: s.EncounterUpdate,
    principal: PrincipalDep,
    session: SessionDep,
) -> s.EncounterRead:
    row = await service.update_encounter(session, principal, patient_id, encounter_id, body)
    return s.EncounterRead.model_validate(row)


@router.post(
    "/{patient_id}/encounters/{encounter_id}/notes",
    response_model=s.EncounterNoteRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a clinical note (append-only)",
)
async def add_encounter_note(
    patient_id: uuid.UUID,
    encounter_id: uuid.UUID,
    body: s.EncounterNoteCreate,
    principal: PrincipalDep,
    session: SessionDep,
) -> s.EncounterNoteRead:
    note = await service.add_encounter_note(session, principal, patient_id, encounter_id, body)
    return s.EncounterNoteRead.model_validate(note)


# --- observations ----------------------------------------------------------------------


@router.get("/{patient_id}/observations", response_model=Page[s.ObservationRead])
async def list_observations(
    patient_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    code: Annotated[list[str] | None, Query(max_length=20, description="LOINC codes (any of)")] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> Page[s.ObservationRead]:
    rows, total = await service.list_filtered(
        session,
        principal,
        service.OBSERVATIONS,
        patient_id,
        limit=page.limit,
        offset=page.offset,
        code_code__in=code,
        category=category,
        effective_at__ge=date_from,
        effective_at__le=date_to,
    )
    return _page([s.ObservationRead.model_validate(r) for r in rows], total, page)


@router.post(
    "/{patient_id}/observations", response_model=s.ObservationRead, status_code=status.HTTP_201_CREATED
)
async def add_observation(
    patient_id: uuid.UUID, body: s.ObservationCreate, principal: PrincipalDep, session: SessionDep
) -> s.ObservationRead:
    return s.ObservationRead.model_validate(
        await service.add_observation(session, principal, patient_id, body)
    )


@router.get("/{patient_id}/observations/{observation_id}", response_model=s.ObservationRead)
async def get_observation(
    patient_id: uuid.UUID, observation_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> s.ObservationRead:
    row = await service.get_resource(session, principal, service.OBSERVATIONS, patient_id, observation_id)
    return s.ObservationRead.model_validate(row)


@router.patch(
    "/{patient_id}/observations/{observation_id}",
    response_model=s.ObservationRead,
    summary="Correct an observation (status, value, range, interpretation, components, note)",
)
async def update_observation(
    patient_id: uuid.UUID,
    observation_id: uuid.UUID,
    body: s.ObservationUpdate,
    principal: PrincipalDep,
    session: SessionDep,
) -> s.ObservationRead:
    row = await service.update_observation(session, principal, patient_id, observation_id, body)
    return s.ObservationRead.model_validate(row)


# --- care plans ------------------------------------------------------------------------


@router.get("/{patient_id}/care-plans", response_model=Page[s.CarePlanRead])
async def list_care_plans(
    patient_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    status_: Annotated[str | None, Query(alias="status", max_length=24)] = None,
) -> Page[s.CarePlanRead]:
    rows, total = await service.list_filtered(
        session,
        principal,
        service.CARE_PLANS,
        patient_id,
        limit=page.limit,
        offset=page.offset,
        status=status_,
    )
    return _page([s.CarePlanRead.model_validate(r) for r in rows], total, page)


@router.post("/{patient_id}/care-plans", response_model=s.CarePlanRead, status_code=status.HTTP_201_CREATED)
async def add_care_plan(
    patient_id: uuid.UUID, body: s.CarePlanCreate, principal: PrincipalDep, session: SessionDep
) -> s.CarePlanRead:
    return s.CarePlanRead.model_validate(await service.add_care_plan(session, principal, patient_id, body))


@router.get("/{patient_id}/care-plans/{care_plan_id}", response_model=s.CarePlanRead)
async def get_care_plan(
    patient_id: uuid.UUID, care_plan_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> s.CarePlanRead:
    row = await service.get_resource(session, principal, service.CARE_PLANS, patient_id, care_plan_id)
    return s.CarePlanRead.model_validate(row)


# --- medication requests ---------------------------------------------------------------


@router.get("/{patient_id}/medication-requests", response_model=Page[s.MedicationRequestRead])
async def list_medication_requests(
    patient_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    status_: Annotated[s.MedicationRequestStatus | None, Query(alias="status")] = None,
) -> Page[s.MedicationRequestRead]:
    rows, total = await service.list_filtered(
        session,
        principal,
        service.MEDICATION_REQUESTS,
        patient_id,
        limit=page.limit,
        offset=page.offset,
        status=status_,
    )
    return _page([s.MedicationRequestRead.model_validate(r) for r in rows], total, page)


@router.post(
    "/{patient_id}/medication-requests",
    response_model=s.MedicationRequestCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Prescribe (checked against recorded allergies by code and by name: 409 allergy_conflict"
    " unless override_reason is sent; the answer's allergy_check says what was compared;"
    " Idempotency-Key supported)",
)
async def prescribe(
    patient_id: uuid.UUID,
    body: s.MedicationRequestCreate,
    principal: PrincipalDep,
    session: SessionDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> s.MedicationRequestCreated | Response:
    async def work() -> s.MedicationRequestCreated:
        done = await service.prescribe_checked(session, principal, patient_id, body)
        read = s.MedicationRequestRead.model_validate(done.row)
        return s.MedicationRequestCreated(
            **read.model_dump(), allergy_check=s.AllergyCheck.model_validate(done.allergy_check)
        )

    return await _idempotent(
        session,
        principal,
        request,
        idempotency_key,
        body,
        patient_id=patient_id,
        access=Access.PRESCRIBE,
        resource_type="MedicationRequest",
        work=work,
    )


@router.get("/{patient_id}/medication-requests/{request_id}", response_model=s.MedicationRequestRead)
async def get_medication_request(
    patient_id: uuid.UUID, request_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> s.MedicationRequestRead:
    row = await service.get_resource(session, principal, service.MEDICATION_REQUESTS, patient_id, request_id)
    return s.MedicationRequestRead.model_validate(row)


@router.patch(
    "/{patient_id}/medication-requests/{request_id}",
    response_model=s.MedicationRequestRead,
    summary="Stop, cancel or complete a prescription (stop and cancel need a reason)",
)
async def change_medication_request_status(
    patient_id: uuid.UUID,
    request_id: uuid.UUID,
    body: s.MedicationRequestStatusChange,
    principal: PrincipalDep,
    session: SessionDep,
) -> s.MedicationRequestRead:
    row = await service.change_medication_request_status(session, principal, patient_id, request_id, body)
    return s.MedicationRequestRead.model_validate(row)
