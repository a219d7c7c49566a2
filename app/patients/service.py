"""The clinical record's business rules: the only entry other modules (FHIR, import) may call.

Every function takes the acting ``Principal`` and goes through ``repository.authorize`` (or
``visible_patients``) before touching data, and audits what it read or wrote with the patient id.
Services flush; the request's unit of work commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from app.audit import service as audit
from app.auth.permissions import Perm
from app.deps import Principal
from app.errors import BadRequest, Conflict, NotFound
from app.kit.time import utcnow
from app.patients import allergy_check
from app.patients import names as naming
from app.patients import repository as repo
from app.patients import schemas as s
from app.patients.models import (
    Allergy,
    AllergyReaction,
    CarePlan,
    CarePlanActivity,
    CarePlanGoal,
    ClinicalRow,
    Code,
    Condition,
    Encounter,
    EncounterNote,
    EncounterReason,
    Immunization,
    MedicationIngredient,
    MedicationRequest,
    Observation,
    ObservationComponent,
    Patient,
    PatientAddress,
    PatientContact,
    PatientIdentifier,
    PatientName,
    PatientNameToken,
    PatientNameTokenPair,
    PatientTelecom,
    Procedure,
)
from app.patients.repository import MRN_SYSTEM, Access

SUMMARY_LIMIT = 100
VITAL_SIGN_CODES = (
    "8867-4",  # heart rate
    "9279-1",  # respiratory rate
    "59408-5",  # SpO2 (pulse oximetry)
    "2708-6",  # SpO2 (arterial)
    "85354-9",  # blood pressure panel (components 8480-6 systolic, 8462-4 diastolic)
    "8310-5",  # body temperature
    "29463-7",  # body weight
    "8302-2",  # body height
    "39156-5",  # BMI
)

__all__ = ["MRN_SYSTEM", "SUMMARY_LIMIT", "VITAL_SIGN_CODES", "Access"]


def _code(c: s.Coding | None) -> Code | None:
    return Code(c.system, c.code, c.display) if c is not None else None


def _required_code(c: s.Coding) -> Code:
    return Code(c.system, c.code, c.display)


# --- patients --------------------------------------------------------------------------


def _names(data: list[s.HumanName]) -> list[PatientName]:
    primary = next((i for i, n in enumerate(data) if n.is_primary), 0)
    return [
        PatientName(
            position=i,
            use=n.use,
            is_primary=i == primary,
            text=n.text,
            family=n.family,
            given=list(n.given),
            prefix=list(n.prefix),
            suffix=list(n.suffix),
        )
        for i, n in enumerate(data)
    ]


def _apply_names(patient: Patient, data: list[s.HumanName]) -> None:
    patient.names = _names(data)
    primary = next(n for n in patient.names if n.is_primary)
    patient.sort_family = naming.sort_key(primary.family or primary.text)
    patient.sort_given = naming.sort_key(" ".join(primary.given))
    wanted = naming.patient_tokens((n.family, n.given, n.text) for n in data)
    # Keep stored rows that stay (new patients have none; updates load them eagerly): rows that
    # go are deleted, new ones inserted, and a name change touches only what it changes.
    stored = {t.token: t for t in patient.__dict__.get("name_tokens") or []}
    rows = []
    for token, where in sorted(wanted.items()):
        row = stored.get(token) or PatientNameToken(token=token)
        row.in_family, row.in_given = where.in_family, where.in_given
        rows.append(row)
    patient.name_tokens = rows
    stored_pairs = {(p.anchor, p.token): p for p in patient.__dict__.get("name_token_pairs") or []}
    patient.name_token_pairs = [
        stored_pairs.get(pair) or PatientNameTokenPair(anchor=pair[0], token=pair[1])
        for pair in sorted(naming.token_pairs(wanted))
    ]
    _sync_token_sort_keys(patient)


def _sync_token_sort_keys(patient: Patient) -> None:
    """Copy the patient's sort key onto its name tokens and token pairs (the search walks their
    indexes in that order). Called wherever names or the birth date change; unchanged values
    write nothing."""
    rows: list[PatientNameToken | PatientNameTokenPair] = [
        *(patient.__dict__.get("name_tokens") or []),
        *(patient.__dict__.get("name_token_pairs") or []),
    ]
    for row in rows:
        row.sort_family = patient.sort_family
        row.sort_given = patient.sort_given
        row.birth_date = patient.birth_date


def _apply_identifiers(patient: Patient, data: list[s.Identifier], *, new: bool) -> None:
    # Keep the rows of identifiers that stay (the unique index would refuse delete-then-insert).
    existing = {} if new else {(i.system, i.value): i for i in patient.identifiers}
    rows = []
    for position, ident in enumerate(data):
        row = existing.get((ident.system, ident.value)) or PatientIdentifier(
            system=ident.system, value=ident.value
        )
        row.position = position
        row.use = ident.use
        row.type = _code(ident.type)
        rows.append(row)
    patient.identifiers = rows


def _telecoms(data: Sequence[s.ContactPoint]) -> list[PatientTelecom]:
    return [PatientTelecom(position=i, **t.model_dump()) for i, t in enumerate(data)]


def _addresses(data: list[s.Address]) -> list[PatientAddress]:
    return [PatientAddress(position=i, **a.model_dump()) for i, a in enumerate(data)]


def _contacts(data: list[s.PatientContact]) -> list[PatientContact]:
    return [
        PatientContact(
            position=i, relationship=_code(c.relationship), name=c.name, phone=c.phone, email=c.email
        )
        for i, c in enumerate(data)
    ]


async def _refuse_taken_identifiers(
    session: AsyncSession, data: list[s.Identifier], *, patient_id: uuid.UUID | None = None
) -> None:
    for ident in data:
        if ident.system == MRN_SYSTEM:
            raise BadRequest("The hospital MRN is assigned on registration", code="mrn_not_assignable")
    taken = await repo.identifier_owners(session, [(i.system, i.value) for i in data], exclude=patient_id)
    if taken:
        system, value, owner = taken[0]
        raise Conflict(
            "A patient with this identifier is already registered",
            code="duplicate_identifier",
            details={"system": system, "value": value, "patient_id": str(owner)},
        )


async def _flush_identifiers(session: AsyncSession, data: list[s.Identifier]) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent registration took it between check and insert
        raise Conflict(
            "A patient with this identifier is already registered",
            code="duplicate_identifier",
            details={"identifiers": [{"system": i.system, "value": i.value} for i in data]},
        ) from exc


async def register_patient(session: AsyncSession, principal: Principal, data: s.PatientCreate) -> Patient:
    repo.authorize(session, principal, None, Access.DEMOGRAPHICS_WRITE)
    await _refuse_taken_identifiers(session, data.identifiers)
    sequence = await repo.next_mrn_sequence(session)
    patient = Patient(
        mrn=naming.format_mrn(sequence),
        active=data.active,
        gender=data.gender,
        birth_date=data.birth_date,
        deceased=data.deceased or data.deceased_at is not None,
        deceased_at=data.deceased_at,
        preferred_language=data.preferred_language,
        marital_status=_code(data.marital_status),
        telecoms=_telecoms(data.telecoms),
        addresses=_addresses(data.addresses),
        contacts=_contacts(data.contacts),
    )
    _apply_names(patient, data.names)
    _apply_identifiers(patient, data.identifiers, new=True)
    session.add(patient)
    await _flush_identifiers(session, data.identifiers)
    audit.record(
        session,
        action="patient.create",
        resource_type="Patient",
        resource_id=patient.id,
        patient_id=patient.id,
        details={"mrn": patient.mrn},
    )
    return patient


async def get_patient(session: AsyncSession, principal: Principal, patient_id: uuid.UUID) -> Patient:
    repo.authorize(session, principal, patient_id, Access.DEMOGRAPHICS_READ)
    patient = await repo.get_patient(session, patient_id)
    audit.record(
        session, action="patient.read", resource_type="Patient", resource_id=patient_id, patient_id=patient_id
    )
    return patient


async def update_patient(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    data: s.PatientUpdate,
    *,
    keep_identifier_systems_not_sent: bool = False,
) -> Patient:
    """Apply ``data``; a list given replaces the stored list. With
    ``keep_identifier_systems_not_sent`` (FHIR update), the identifiers sent replace the stored
    ones of their systems only: identifiers of other systems (another system's ids, which the
    sender does not manage and re-imports match on) stay."""
    repo.authorize(session, principal, patient_id, Access.DEMOGRAPHICS_WRITE)
    patient = await repo.get_patient(session, patient_id, for_update=True)
    fields = data.model_fields_set
    if data.identifiers is not None:
        identifiers = list(data.identifiers)
        if keep_identifier_systems_not_sent:
            sent = {i.system for i in identifiers}
            identifiers += [
                s.Identifier.model_validate(s.IdentifierRead.model_validate(row).model_dump())
                for row in patient.identifiers
                if row.system not in sent
            ]
        await _refuse_taken_identifiers(session, identifiers, patient_id=patient_id)
        _apply_identifiers(patient, identifiers, new=False)
    if data.names is not None:
        _apply_names(patient, data.names)
    if data.gender is not None:
        patient.gender = data.gender
    if data.active is not None:
        patient.active = data.active
    if "birth_date" in fields:  # null clears it
        patient.birth_date = data.birth_date
        _sync_token_sort_keys(patient)  # name tokens are loaded with the row (for_update)
    if "preferred_language" in fields:
        patient.preferred_language = data.preferred_language
    if "deceased" in fields and data.deceased is not None:
        patient.deceased = data.deceased
        if not data.deceased:
            patient.deceased_at = None
    if "deceased_at" in fields:
        patient.deceased_at = data.deceased_at
        if data.deceased_at is not None:
            patient.deceased = True
    if "marital_status" in fields:
        patient.marital_status = _code(data.marital_status)
    if data.telecoms is not None:
        patient.telecoms = _telecoms(data.telecoms)
    if data.addresses is not None:
        patient.addresses = _addresses(data.addresses)
    if data.contacts is not None:
        patient.contacts = _contacts(data.contacts)
    if s.deceased_before_birth(patient.birth_date, patient.deceased_at):
        raise BadRequest(
            "deceased_at is before the birth date",
            code="deceased_before_birth",
            details={"birth_date": patient.birth_date.isoformat() if patient.birth_date else None},
        )
    patient.updated_at = utcnow()
    await _flush_identifiers(session, data.identifiers or [])
    audit.record(
        session,
        action="patient.update",
        resource_type="Patient",
        resource_id=patient_id,
        patient_id=patient_id,
        details={"fields": sorted(fields)},
    )
    return patient


_DATE_PREFIXES = ("eq", "ge", "le", "gt", "lt")


def parse_date_param(value: str) -> tuple[str, date]:
    """FHIR-style date search: ``1980-05-01`` or with a prefix ``ge1980-01-01``."""
    op, raw = ("eq", value)
    if value[:2] in _DATE_PREFIXES:
        op, raw = value[:2], value[2:]
    try:
        return op, date.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest(
            "birth_date must be YYYY-MM-DD, optionally prefixed with eq, ge, le, gt or lt",
            code="invalid_search",
        ) from exc


def parse_identifier_param(value: str) -> tuple[str | None, str]:
    """``system|value`` or just ``value`` (any system, including the MRN)."""
    if "|" in value:
        system, _, ident = value.partition("|")
        if not ident:
            raise BadRequest("identifier needs a value: system|value or value", code="invalid_search")
        return (system or None), ident
    return None, value


class PatientSearch(NamedTuple):
    patients: list[Patient]
    total: int
    total_is_lower_bound: bool  # a name search stops counting at repo.SEARCH_COUNT_CAP


async def search_patients(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str | None = None,
    family: str | None = None,
    given: str | None = None,
    mrn: str | None = None,
    identifier: str | None = None,
    birth_date: Sequence[str] = (),
    gender: str | None = None,
    limit: int,
    offset: int,
    count_cap: int | None = None,
) -> PatientSearch:
    """One page of matching patients. ``name``: every word is the prefix of a token of any name
    part; ``family`` / ``given``: the same, of a family / given name part (FHIR's parameters);
    case- and accent-insensitive, all words AND-ed. With any of them, ordered by the patient's
    token matched by the longest word, then family, given, birth date and id, and ``total``
    counted up to ``repo.SEARCH_COUNT_CAP`` (``total_is_lower_bound`` past it); otherwise by
    family, given, birth date, id, counted exactly."""
    scope = repo.visible_patients(session, principal, Access.DEMOGRAPHICS_READ)
    for label, text in (("name", name), ("family", family), ("given", given)):
        if text is not None and not naming.tokens(text):
            raise BadRequest(f"{label} has no searchable letters or digits", code="invalid_search")
    name_terms = naming.search_terms(name, family=family, given=given)
    if mrn is not None:
        mrn = mrn.strip()
        if not naming.is_valid_mrn(mrn):
            raise BadRequest(
                "That is not a valid MRN (its check digit does not match): probably a typo",
                code="invalid_mrn",
            )
    patients, total, lower_bound = await repo.search_patients(
        session,
        scope=scope,
        name_terms=name_terms,
        mrn=mrn,
        identifier=parse_identifier_param(identifier) if identifier else None,
        birth_dates=[parse_date_param(v) for v in birth_date],
        gender=gender,
        limit=limit,
        offset=offset,
        count_cap=count_cap,
    )
    criteria = sorted(
        k
        for k, v in {
            "name": name,
            "family": family,
            "given": given,
            "mrn": mrn,
            "identifier": identifier,
            "birth_date": birth_date,
            "gender": gender,
        }.items()
        if v
    )
    # One event for the search, plus one per patient disclosed: "who has seen my record" is
    # answered from the patient_id index without parsing search details.
    audit.record(
        session,
        action="patient.search",
        resource_type="Patient",
        details={
            "criteria": criteria,
            "total": total,
            "total_is_lower_bound": lower_bound,
            "returned": len(patients),
            "offset": offset,
        },
    )
    for p in patients:
        audit.record(
            session,
            action="patient.search_result",
            resource_type="Patient",
            resource_id=p.id,
            patient_id=p.id,
            details={"criteria": criteria},
        )
    return PatientSearch(patients, total, lower_bound)


# --- clinical resources: shared machinery ----------------------------------------------

R = TypeVar("R", bound=ClinicalRow)


@dataclass(frozen=True)
class Kind(Generic[R]):
    model: type[R]
    resource_type: str  # the FHIR resource name, used in audit events
    options: tuple[LoaderOption, ...]
    order_by: tuple[Any, ...]  # newest first


ENCOUNTERS = Kind(
    Encounter,
    "Encounter",
    (selectinload(Encounter.reasons), selectinload(Encounter.notes)),
    (Encounter.period_start.desc(),),
)
CONDITIONS = Kind(Condition, "Condition", (), (Condition.onset_at.desc(), Condition.recorded_at.desc()))
ALLERGIES = Kind(
    Allergy, "AllergyIntolerance", (selectinload(Allergy.reactions),), (Allergy.recorded_at.desc(),)
)
IMMUNIZATIONS = Kind(Immunization, "Immunization", (), (Immunization.occurrence_at.desc(),))
PROCEDURES = Kind(Procedure, "Procedure", (), (Procedure.performed_start.desc(),))
OBSERVATIONS = Kind(
    Observation, "Observation", (selectinload(Observation.components),), (Observation.effective_at.desc(),)
)
CARE_PLANS = Kind(
    CarePlan,
    "CarePlan",
    (selectinload(CarePlan.goals), selectinload(CarePlan.activities)),
    (CarePlan.period_start.desc(),),
)
MEDICATION_REQUESTS = Kind(
    MedicationRequest,
    "MedicationRequest",
    (selectinload(MedicationRequest.ingredients),),
    (MedicationRequest.authored_at.desc(),),
)


KINDS_BY_TYPE: dict[str, Kind[Any]] = {
    k.resource_type: k
    for k in (
        ENCOUNTERS,
        CONDITIONS,
        ALLERGIES,
        IMMUNIZATIONS,
        PROCEDURES,
        OBSERVATIONS,
        CARE_PLANS,
        MEDICATION_REQUESTS,
    )
}


class SourceRow(NamedTuple):
    id: uuid.UUID
    patient_id: uuid.UUID


async def existing_sources(
    session: AsyncSession, resource_type: str, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], SourceRow]:
    """(source_system, source_id) -> (row id, its patient), for the source records imported already.

    For importers deciding "new or seen before" in one query per type instead of one per
    resource. It answers only that (ids, no clinical content), so it needs no principal; the
    importer holds clinical:write to get this far."""
    model = KINDS_BY_TYPE[resource_type].model
    found: dict[tuple[str, str], SourceRow] = {}
    unique = sorted(set(pairs))
    for start in range(0, len(unique), 500):
        by_system: dict[str, list[str]] = {}
        for system, value in unique[start : start + 500]:
            by_system.setdefault(system, []).append(value)
        query = select(model.source_system, model.source_id, model.id, model.patient_id).where(
            or_(*(and_(model.source_system == s, model.source_id.in_(v)) for s, v in by_system.items()))
        )
        for found_system, found_id, row_id, patient_id in (await session.execute(query)).all():
            found[(str(found_system), str(found_id))] = SourceRow(row_id, patient_id)
    return found


async def _check_encounter(
    session: AsyncSession, patient_id: uuid.UUID, encounter_id: uuid.UUID | None
) -> None:
    if encounter_id is None:
        return
    try:
        await repo.get_for_patient(session, Encounter, patient_id, encounter_id)
    except NotFound as exc:
        raise BadRequest(
            "encounter_id is not an encounter of this patient", code="unknown_encounter"
        ) from exc


async def _add(
    session: AsyncSession, principal: Principal, kind: Kind[R], row: R, details: dict[str, Any] | None = None
) -> R:
    row.recorded_by = principal.user_id
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A {kind.resource_type} with this source_system and source_id already exists",
            code="duplicate_source_id",
        ) from exc
    audit.record(
        session,
        action=f"{kind.resource_type}.create",
        resource_type=kind.resource_type,
        resource_id=row.id,
        patient_id=row.patient_id,
        details=details,
    )
    return row


async def _prepare_write(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    encounter_id: uuid.UUID | None = None,
    access: Access = Access.CLINICAL_WRITE,
) -> None:
    repo.authorize(session, principal, patient_id, access)
    await repo.require_patient(session, patient_id)
    await _check_encounter(session, patient_id, encounter_id)


async def list_resources(
    session: AsyncSession,
    principal: Principal,
    kind: Kind[R],
    patient_id: uuid.UUID,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    limit: int,
    offset: int,
    filters: dict[str, Any] | None = None,
) -> tuple[list[R], int]:
    repo.authorize(session, principal, patient_id, Access.CLINICAL_READ)
    await repo.require_patient(session, patient_id)
    rows, total = await repo.list_for_patient(
        session,
        kind.model,
        patient_id,
        where=where,
        order_by=kind.order_by,
        options=kind.options,
        limit=limit,
        offset=offset,
    )
    audit.record(
        session,
        action=f"{kind.resource_type}.list",
        resource_type=kind.resource_type,
        patient_id=patient_id,
        details={"returned": len(rows), "total": total, "offset": offset, "filters": filters or {}},
    )
    return rows, total


async def get_resource(
    session: AsyncSession, principal: Principal, kind: Kind[R], patient_id: uuid.UUID, resource_id: uuid.UUID
) -> R:
    repo.authorize(session, principal, patient_id, Access.CLINICAL_READ)
    row = await repo.get_for_patient(session, kind.model, patient_id, resource_id, options=kind.options)
    audit.record(
        session,
        action=f"{kind.resource_type}.read",
        resource_type=kind.resource_type,
        resource_id=resource_id,
        patient_id=patient_id,
    )
    return row


async def locate(
    session: AsyncSession, principal: Principal, kind: Kind[R], resource_id: uuid.UUID, access: Access
) -> uuid.UUID:
    """The patient of a clinical resource known only by its id (FHIR reads and updates), after
    the access check: a resource of a record the principal may not see is a plain 404."""
    try:
        patient_id = await repo.patient_of(session, kind.model, resource_id)
    except NotFound:
        if not principal.has(Perm.SELF_SERVICE):  # staff without the permission: 403, not 404
            repo.authorize(session, principal, None, access)
        raise  # a portal user gets the 404 of someone else's resource: ids disclose nothing
    repo.authorize(session, principal, patient_id, access)
    return patient_id


async def get_resource_by_id(
    session: AsyncSession, principal: Principal, kind: Kind[R], resource_id: uuid.UUID
) -> R:
    patient_id = await locate(session, principal, kind, resource_id, Access.CLINICAL_READ)
    return await get_resource(session, principal, kind, patient_id, resource_id)


def _filters_for(kind: Kind[Any], **values: Any) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    """Turn list-endpoint filters into conditions on the kind's model (None: not filtered)."""
    model = kind.model
    where: list[ColumnElement[bool]] = []
    used: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value == []:
            continue
        used[key] = value if not isinstance(value, datetime) else value.isoformat()
        column_name, _, op = key.partition("__")
        column = getattr(model, column_name)
        if op == "ge":
            where.append(column >= value)
        elif op == "le":
            where.append(column <= value)
        elif op == "in":
            where.append(column.in_(value))
        else:
            where.append(column == value)
    return where, used


async def list_filtered(
    session: AsyncSession,
    principal: Principal,
    kind: Kind[R],
    patient_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
    **filters: Any,
) -> tuple[list[R], int]:
    where, used = _filters_for(kind, **filters)
    return await list_resources(
        session, principal, kind, patient_id, where=where, limit=limit, offset=offset, filters=used
    )


# --- conditions ------------------------------------------------------------------------


async def add_condition(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.ConditionCreate
) -> Condition:
    await _prepare_write(session, principal, patient_id, data.encounter_id)
    row = Condition(
        patient_id=patient_id,
        code=_required_code(data.code),
        **data.model_dump(exclude={"code", "recorded_at"}),
        recorded_at=data.recorded_at or utcnow(),
    )
    return await _add(session, principal, CONDITIONS, row)


async def _update_fields(
    session: AsyncSession,
    principal: Principal,
    kind: Kind[R],
    patient_id: uuid.UUID,
    resource_id: uuid.UUID,
    changes: dict[str, Any],
    check: Callable[[R], None] | None = None,
) -> R:
    repo.authorize(session, principal, patient_id, Access.CLINICAL_WRITE)
    row = await repo.get_for_patient(
        session, kind.model, patient_id, resource_id, options=kind.options, for_update=True
    )
    if check is not None:
        check(row)
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        action=f"{kind.resource_type}.update",
        resource_type=kind.resource_type,
        resource_id=resource_id,
        patient_id=patient_id,
        details={"fields": sorted(changes)},
    )
    return await repo.reload(session, kind.model, resource_id, kind.options)


def _refuse_inverted_period(
    start: datetime | None, end: datetime | None, end_name: str, start_name: str
) -> None:
    if s.period_inverted(start, end):
        raise BadRequest(
            f"{end_name} is before {start_name}",
            code="period_end_before_start",
            details={"field": end_name, start_name: s.stored_utc(start).isoformat() if start else None},
        )


async def update_condition(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    condition_id: uuid.UUID,
    data: s.ConditionUpdate,
) -> Condition:
    changes = data.model_dump(exclude_unset=True)

    def after_onset(row: Condition) -> None:
        _refuse_inverted_period(row.onset_at, changes.get("abatement_at"), "abatement_at", "onset_at")

    return await _update_fields(
        session, principal, CONDITIONS, patient_id, condition_id, changes, check=after_onset
    )


# --- allergies -------------------------------------------------------------------------


def _reactions(data: list[s.AllergyReaction]) -> list[AllergyReaction]:
    return [
        AllergyReaction(
            position=i,
            manifestation=_required_code(r.manifestation),
            severity=r.severity,
            description=r.description,
            onset_at=r.onset_at,
        )
        for i, r in enumerate(data)
    ]


async def add_allergy(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.AllergyCreate
) -> Allergy:
    await _prepare_write(session, principal, patient_id, data.encounter_id)
    row = Allergy(
        patient_id=patient_id,
        code=_required_code(data.code),
        reactions=_reactions(data.reactions),
        **data.model_dump(exclude={"code", "reactions", "recorded_at"}),
        recorded_at=data.recorded_at or utcnow(),
    )
    return await _add(session, principal, ALLERGIES, row)


async def update_allergy(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    allergy_id: uuid.UUID,
    data: s.AllergyUpdate,
) -> Allergy:
    changes: dict[str, Any] = data.model_dump(exclude_unset=True, exclude={"reactions"})
    if data.reactions is not None:
        changes["reactions"] = _reactions(data.reactions)
    return await _update_fields(session, principal, ALLERGIES, patient_id, allergy_id, changes)


# --- immunizations, procedures, care plans ---------------------------------------------


async def add_immunization(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.ImmunizationCreate
) -> Immunization:
    await _prepare_write(session, principal, patient_id, data.encounter_id)
    row = Immunization(
        patient_id=patient_id, vaccine=_required_code(data.vaccine), **data.model_dump(exclude={"vaccine"})
    )
    return await _add(session, principal, IMMUNIZATIONS, row)


async def add_procedure(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.ProcedureCreate
) -> Procedure:
    await _prepare_write(session, principal, patient_id, data.encounter_id)
    row = Procedure(
        patient_id=patient_id, code=_required_code(data.code), **data.model_dump(exclude={"code"})
    )
    return await _add(session, principal, PROCEDURES, row)


async def add_care_plan(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.CarePlanCreate
) -> CarePlan:
    await _prepare_write(session, principal, patient_id, data.encounter_id)
    row = CarePlan(
        patient_id=patient_id,
        category=_code(data.category),
        goals=[
            CarePlanGoal(position=i, code=_code(g.code), **g.model_dump(exclude={"code"}))
            for i, g in enumerate(data.goals)
        ],
        activities=[
            CarePlanActivity(position=i, code=_code(a.code), **a.model_dump(exclude={"code"}))
            for i, a in enumerate(data.activities)
        ],
        **data.model_dump(exclude={"category", "goals", "activities"}),
    )
    return await _add(session, principal, CARE_PLANS, row)


# --- encounters ------------------------------------------------------------------------


async def add_encounter(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.EncounterCreate
) -> Encounter:
    await _prepare_write(session, principal, patient_id)
    row = Encounter(
        patient_id=patient_id,
        type=_code(data.type),
        reasons=[EncounterReason(position=i, code=_required_code(c)) for i, c in enumerate(data.reasons)],
        notes=[],
        **data.model_dump(exclude={"type", "reasons"}),
    )
    row.class_code = row.class_code.upper()
    return await _add(session, principal, ENCOUNTERS, row)


async def update_encounter(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    encounter_id: uuid.UUID,
    data: s.EncounterUpdate,
) -> Encounter:
    changes = data.model_dump(exclude_unset=True)

    def after_start(row: Encounter) -> None:
        _refuse_inverted_period(row.period_start, changes.get("period_end"), "period_end", "period_start")

    return await _update_fields(
        session, principal, ENCOUNTERS, patient_id, encounter_id, changes, check=after_start
    )


async def add_encounter_note(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    encounter_id: uuid.UUID,
    data: s.EncounterNoteCreate,
) -> EncounterNote:
    """Clinical notes are append-only: a correction is a new note."""
    repo.authorize(session, principal, patient_id, Access.CLINICAL_WRITE)
    await repo.get_for_patient(session, Encounter, patient_id, encounter_id)
    note = EncounterNote(
        encounter_id=encounter_id,
        author_id=principal.user_id,
        author_display=principal.full_name,
        text=data.text,
    )
    session.add(note)
    await session.flush()
    audit.record(
        session,
        action="Encounter.note_add",
        resource_type="Encounter",
        resource_id=encounter_id,
        patient_id=patient_id,
        details={"note": str(note.id)},
    )
    return note


# --- observations ----------------------------------------------------------------------


def _components(data: list[s.ObservationComponent]) -> list[ObservationComponent]:
    return [
        ObservationComponent(
            position=i,
            code=_required_code(c.code),
            value_code=_code(c.value_code),
            **c.model_dump(exclude={"code", "value_code"}),
        )
        for i, c in enumerate(data)
    ]


async def add_observation(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.ObservationCreate
) -> Observation:
    await _prepare_write(session, principal, patient_id, data.encounter_id)
    row = Observation(
        patient_id=patient_id,
        code=_required_code(data.code),
        value_code=_code(data.value_code),
        interpretation=_code(data.interpretation),
        components=_components(data.components),
        **data.model_dump(exclude={"code", "value_code", "interpretation", "components"}),
    )
    return await _add(session, principal, OBSERVATIONS, row)


_VALUE_FIELDS = ("value_quantity", "value_unit", "value_code", "value_string")


async def update_observation(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    observation_id: uuid.UUID,
    data: s.ObservationUpdate,
) -> Observation:
    """Correct an observation: status, value, range, interpretation, components, note. The code
    (and the patient) cannot change: a different code is a 400."""
    fields = data.model_fields_set
    changes: dict[str, Any] = {}
    if data.status is not None:
        changes["status"] = data.status
    if fields & set(_VALUE_FIELDS):  # the value is replaced as a whole: one kind at a time
        changes.update(
            value_quantity=data.value_quantity,
            value_unit=data.value_unit,
            value_code=_code(data.value_code),
            value_string=data.value_string,
        )
    for key in ("reference_low", "reference_high", "note"):
        if key in fields:
            changes[key] = getattr(data, key)
    if "interpretation" in fields:
        changes["interpretation"] = _code(data.interpretation)
    if "components" in fields:
        changes["components"] = _components(data.components or [])

    def same_code_and_plausible(row: Observation) -> None:
        sent = data.code
        if sent is not None and (row.code.system, row.code.code) != (sent.system, sent.code):
            raise BadRequest(
                "The code of an observation cannot change (a different code is a new observation)",
                code="immutable_field",
                details={"field": "code"},
            )
        # The schema checked what was sent; the stored values complete a partial correction.
        low = changes.get("reference_low", row.reference_low)
        high = changes.get("reference_high", row.reference_high)
        if s.range_inverted(low, high):
            raise BadRequest(
                "reference_low is above reference_high",
                code="reference_range_inverted",
                details={"reference_low": str(low), "reference_high": str(high)},
            )
        code = s.Coding(system=row.code.system, code=row.code.code, display=row.code.display)
        if s.negative_vital_sign(code, changes.get("value_quantity", row.value_quantity)):
            raise BadRequest(f"{code.display or 'This vital sign'} cannot be negative", code="negative_value")

    return await _update_fields(
        session, principal, OBSERVATIONS, patient_id, observation_id, changes, check=same_code_and_plausible
    )


# --- medication requests ---------------------------------------------------------------


def allergy_conflicts(
    allergies: Sequence[Allergy], medication: s.Coding, ingredients: Sequence[s.Coding]
) -> list[dict[str, Any]]:
    """Recorded allergies the drug matches, by code or by name (see ``allergy_check``)."""
    return allergy_check.conflicts(allergies, medication, ingredients)


_OPEN_STATUSES = ("active", "on-hold", "draft")


class Prescription(NamedTuple):
    row: MedicationRequest
    allergy_check: dict[str, Any]  # see allergy_check.outcome


async def prescribe_checked(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.MedicationRequestCreate
) -> Prescription:
    """Prescribe after the allergy check: a drug matching an active allergy (by code or by name)
    is refused (409 ``allergy_conflict``) unless ``override_reason`` is given, which is stored
    and audited. The answer says what the check did (``allergy_check``), also when it could
    compare names only."""
    await _prepare_write(session, principal, patient_id, data.encounter_id, access=Access.PRESCRIBE)
    checked = data.status in _OPEN_STATUSES
    allergies = await repo.active_allergies(session, patient_id) if checked else []
    conflicts = allergy_conflicts(allergies, data.medication, data.ingredients)
    if conflicts and not data.override_reason:
        first = conflicts[0]
        raise Conflict(
            "The patient has a recorded allergy to this medication; send override_reason to prescribe anyway",
            code="allergy_conflict",
            details={"allergy": first["allergy"], "matched": first["matched"], "conflicts": conflicts},
        )
    outcome = allergy_check.outcome(
        checked=checked,
        allergies=allergies,
        medication=data.medication,
        ingredients=data.ingredients,
        found=conflicts,
    )
    row = MedicationRequest(
        patient_id=patient_id,
        medication=_required_code(data.medication),
        route=_code(data.route),
        ingredients=[
            MedicationIngredient(position=i, code=_required_code(c)) for i, c in enumerate(data.ingredients)
        ],
        prescriber_id=principal.user_id,
        prescriber_display=principal.full_name,
        allergy_override_reason=data.override_reason if conflicts else None,
        **data.model_dump(exclude={"medication", "route", "ingredients", "override_reason", "authored_at"}),
        authored_at=data.authored_at or utcnow(),
    )
    details: dict[str, Any] = {
        "medication": row.medication_display or row.medication_code,
        "allergy_check": outcome["status"],
    }
    if outcome["compared_by_name_only"]:
        details["compared_by_name_only"] = [a["id"] for a in outcome["compared_by_name_only"]]
    await _add(session, principal, MEDICATION_REQUESTS, row, details)
    if conflicts:
        audit.record(
            session,
            action="prescription.allergy_override",
            resource_type="MedicationRequest",
            resource_id=row.id,
            patient_id=patient_id,
            details={"reason": data.override_reason, "conflicts": conflicts},
        )
    return Prescription(row, outcome)


async def prescribe(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: s.MedicationRequestCreate
) -> MedicationRequest:
    """``prescribe_checked`` for callers that need only the row (FHIR, the importer)."""
    return (await prescribe_checked(session, principal, patient_id, data)).row


async def change_medication_request_status(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID,
    request_id: uuid.UUID,
    data: s.MedicationRequestStatusChange,
) -> MedicationRequest:
    repo.authorize(session, principal, patient_id, Access.PRESCRIBE)
    # A conditional update decides between concurrent changes: only an open request moves.
    result = await session.execute(
        update(MedicationRequest)
        .where(
            MedicationRequest.id == request_id,
            MedicationRequest.patient_id == patient_id,
            MedicationRequest.status.in_(_OPEN_STATUSES),
        )
        .values(status=data.status, status_reason=data.reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = await repo.get_for_patient(session, MedicationRequest, patient_id, request_id)
        raise Conflict(
            f"This prescription is {current.status} and can no longer change",
            code="invalid_status_transition",
            details={"status": current.status},
        )
    audit.record(
        session,
        action="MedicationRequest.status_change",
        resource_type="MedicationRequest",
        resource_id=request_id,
        patient_id=patient_id,
        details={"status": data.status, "reason": data.reason},
    )
    return await repo.reload(session, MedicationRequest, request_id, MEDICATION_REQUESTS.options)


# --- chart -----------------------------------------------------------------------------


async def chart(session: AsyncSession, principal: Principal, patient_id: uuid.UUID) -> s.PatientChart:
    """The summary: a fixed number of bounded queries, whatever the length of the history."""
    repo.authorize(session, principal, patient_id, Access.CLINICAL_READ)
    patient = await repo.get_patient(session, patient_id)
    problems = await repo.active_problems(session, patient_id, limit=SUMMARY_LIMIT)
    allergies = await repo.active_allergies(session, patient_id, limit=SUMMARY_LIMIT)
    medications = await repo.active_medications(session, patient_id, limit=SUMMARY_LIMIT)
    vitals = await repo.latest_observations(session, patient_id, VITAL_SIGN_CODES)
    counts = await repo.history_counts(session, patient_id)
    audit.record(
        session,
        action="patient.chart_read",
        resource_type="Patient",
        resource_id=patient_id,
        patient_id=patient_id,
    )
    return s.PatientChart(
        patient=s.PatientRead.model_validate(patient),
        active_problems=[s.ConditionRead.model_validate(c) for c in problems],
        allergies=[s.AllergyRead.model_validate(a) for a in allergies],
        active_medications=[s.MedicationRequestRead.model_validate(m) for m in medications],
        latest_vitals=[s.ObservationRead.model_validate(o) for o in vitals],
        counts=s.HistoryCounts(**counts),
        summary_limit=SUMMARY_LIMIT,
    )


def check_access(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID | None, access: Access
) -> None:
    """The access rule, for callers that must decide before calling a service (idempotent replays)."""
    repo.authorize(session, principal, patient_id, access)


def record_replay(session: AsyncSession, patient_id: uuid.UUID | None, resource_type: str, body: Any) -> None:
    resource_id = body.get("id") if isinstance(body, dict) else None
    if patient_id is None and resource_id is not None:  # a registration: the patient is the resource
        patient_id = uuid.UUID(resource_id)
    audit.record(
        session,
        action=f"{resource_type}.create_replayed",
        resource_type=resource_type,
        resource_id=resource_id,
        patient_id=patient_id,
    )


async def contact_summaries(
    session: AsyncSession, patient_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Who a patient is and how to e-mail them, for other modules' listings and notifications
    (appointments). Principal-free and not audited: the caller checks access and audits. Unknown
    ids are left out. Each value: ``display_name`` (the primary name), ``email`` (the first e-mail
    telecom by rank, then position; None without one), ``active`` (False when inactive or
    deceased)."""
    ids = list(set(patient_ids))
    if not ids:
        return {}
    found = await session.execute(
        select(Patient.id, Patient.active, Patient.deceased).where(Patient.id.in_(ids))
    )
    out: dict[uuid.UUID, dict[str, Any]] = {
        pid: {"display_name": "", "email": None, "active": bool(active) and not deceased}
        for pid, active, deceased in found
    }
    for name in await session.scalars(
        select(PatientName).where(PatientName.patient_id.in_(list(out)), PatientName.is_primary)
    ):
        parts = [*name.prefix, *name.given, name.family or "", *name.suffix]
        out[name.patient_id]["display_name"] = name.text or " ".join(p for p in parts if p)
    emails = await session.scalars(
        select(PatientTelecom)
        .where(PatientTelecom.patient_id.in_(list(out)), PatientTelecom.system == "email")
        .order_by(
            PatientTelecom.patient_id,
            PatientTelecom.rank.is_(None),
            PatientTelecom.rank,
            PatientTelecom.position,
        )
    )
    for telecom in emails:
        if out[telecom.patient_id]["email"] is None and telecom.use != "old":
            out[telecom.patient_id]["email"] = telecom.value
    return out
