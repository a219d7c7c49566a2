"""Every query of the patients module, and the one access rule every one of them goes through.

Access rule (``authorize`` / ``visible_patients``):
- staff need the permission of the kind of access: demographics (patients:read / patients:write),
  clinical data (clinical:read / clinical:write) or prescribing (clinical:prescribe);
- a portal user (portal:self) may read their own record, demographics and clinical, and write
  nothing (patient-entered data needs a clinician's review workflow first); any other patient's
  record answers 404, exactly as a record that does not exist, so ids disclose nothing;
- everything else is 403.
Denials are audited with the patient id they aimed at.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from app.audit import service as audit
from app.auth.permissions import Perm
from app.deps import Principal
from app.errors import Forbidden, NotFound
from app.patients.models import (
    Allergy,
    CarePlan,
    ClinicalRow,
    Condition,
    Encounter,
    Immunization,
    MedicationRequest,
    MrnCounter,
    Observation,
    Patient,
    PatientIdentifier,
    PatientNameToken,
    Procedure,
)

MRN_SYSTEM = "urn:hospital-hub:mrn"


class Access(StrEnum):
    DEMOGRAPHICS_READ = "demographics:read"
    DEMOGRAPHICS_WRITE = "demographics:write"
    CLINICAL_READ = "clinical:read"
    CLINICAL_WRITE = "clinical:write"
    PRESCRIBE = "prescribe"


_STAFF_PERMISSION = {
    Access.DEMOGRAPHICS_READ: Perm.PATIENTS_READ,
    Access.DEMOGRAPHICS_WRITE: Perm.PATIENTS_WRITE,
    Access.CLINICAL_READ: Perm.CLINICAL_READ,
    Access.CLINICAL_WRITE: Perm.CLINICAL_WRITE,
    Access.PRESCRIBE: Perm.PRESCRIBE,
}
_PORTAL_ACCESS = {Access.DEMOGRAPHICS_READ, Access.CLINICAL_READ}


def _deny(
    session: AsyncSession, principal: Principal, access: Access, patient_id: uuid.UUID | None, *, hide: bool
) -> None:
    audit.record(
        session,
        action="patient.access_denied",
        resource_type="Patient",
        resource_id=patient_id,
        patient_id=patient_id,
        outcome="denied",
        details={"access": access.value},
    )
    if hide:
        raise NotFound("Patient not found")
    perm = _STAFF_PERMISSION[access]
    raise Forbidden("You do not have permission for this action", details={"missing": [perm.value]})


def authorize(
    session: AsyncSession, principal: Principal, patient_id: uuid.UUID | None, access: Access
) -> None:
    """Raise unless ``principal`` may have ``access`` to this patient's record (None: any record,
    e.g. registering a new patient)."""
    if _STAFF_PERMISSION[access] in principal.permissions:
        return
    if principal.has(Perm.SELF_SERVICE):
        own = principal.patient_id is not None and patient_id == principal.patient_id
        if own and access in _PORTAL_ACCESS:
            return
        _deny(session, principal, access, patient_id, hide=not own and patient_id is not None)
    _deny(session, principal, access, patient_id, hide=False)


def visible_patients(session: AsyncSession, principal: Principal, access: Access) -> ColumnElement[bool]:
    """The same rule as a filter for queries over many patients (search)."""
    if _STAFF_PERMISSION[access] in principal.permissions:
        return true()
    if principal.has(Perm.SELF_SERVICE) and access in _PORTAL_ACCESS:
        if principal.patient_id is None:
            return Patient.id.is_(None)  # matches nothing
        return Patient.id == principal.patient_id
    _deny(session, principal, access, None, hide=False)
    raise AssertionError("unreachable")  # pragma: no cover


# --- patients --------------------------------------------------------------------------

PATIENT_LOAD: tuple[LoaderOption, ...] = (
    selectinload(Patient.names),
    selectinload(Patient.identifiers),
    selectinload(Patient.telecoms),
    selectinload(Patient.addresses),
    selectinload(Patient.contacts),
)


async def get_patient(session: AsyncSession, patient_id: uuid.UUID, *, for_update: bool = False) -> Patient:
    query = select(Patient).where(Patient.id == patient_id).options(*PATIENT_LOAD)
    if for_update:
        query = query.options(selectinload(Patient.name_tokens)).with_for_update()
    patient = (await session.execute(query)).scalar_one_or_none()
    if patient is None:
        raise NotFound("Patient not found")
    return patient


async def require_patient(session: AsyncSession, patient_id: uuid.UUID) -> None:
    found = (await session.execute(select(Patient.id).where(Patient.id == patient_id))).first()
    if found is None:
        raise NotFound("Patient not found")


async def identifier_owners(
    session: AsyncSession, pairs: Sequence[tuple[str, str]], *, exclude: uuid.UUID | None = None
) -> list[tuple[str, str, uuid.UUID]]:
    if not pairs:
        return []
    query = select(PatientIdentifier.system, PatientIdentifier.value, PatientIdentifier.patient_id).where(
        or_(*(and_(PatientIdentifier.system == s, PatientIdentifier.value == v) for s, v in pairs))
    )
    if exclude is not None:
        query = query.where(PatientIdentifier.patient_id != exclude)
    return [(s, v, p) for s, v, p in (await session.execute(query)).all()]


async def next_mrn_sequence(session: AsyncSession) -> int:
    """Increment the counter row. The UPDATE holds its row lock until commit, so concurrent
    registrations queue there (SQLite: the writer lock) and each gets its own number."""
    bump = update(MrnCounter).where(MrnCounter.id == 1).values(last_value=MrnCounter.last_value + 1)
    result = await session.execute(bump.execution_options(synchronize_session=False))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        try:
            async with session.begin_nested():
                await session.execute(insert(MrnCounter).values(id=1, last_value=0))
        except IntegrityError:
            pass  # another registration created it first
        await session.execute(bump.execution_options(synchronize_session=False))
    value: int = (await session.execute(select(MrnCounter.last_value).where(MrnCounter.id == 1))).scalar_one()
    return value


def _prefix_match(session: AsyncSession, column: Any, prefix: str) -> ColumnElement[bool]:
    like = column.like(prefix + "%")
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE is case-insensitive and so cannot use a BINARY index; a range can. Tokens
        # are normalised, so the range is exact; LIKE keeps it honest for any collation.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return and_(column >= prefix, column < upper, like)
    return and_(column >= prefix, like)  # MariaDB turns a prefix LIKE into an index range


def _date_filters(values: Sequence[tuple[str, date]]) -> list[ColumnElement[bool]]:
    ops = {
        "eq": Patient.birth_date.__eq__,
        "ge": Patient.birth_date.__ge__,
        "le": Patient.birth_date.__le__,
        "gt": Patient.birth_date.__gt__,
        "lt": Patient.birth_date.__lt__,
    }
    return [ops[op](value) for op, value in values]


SEARCH_COUNT_CAP = 1000
"""A name search counts over at most this many rows of its token range (plus one, to know the cap
was passed): beyond it, ``total`` is a lower bound and the search says so, instead of counting
every match."""


def _patient_filters(
    *,
    scope: ColumnElement[bool],
    mrn: str | None,
    identifier: tuple[str | None, str] | None,
    birth_dates: Sequence[tuple[str, date]],
    gender: str | None,
) -> list[ColumnElement[bool]]:
    filters = [scope]
    if gender is not None:
        filters.append(Patient.gender == gender)
    if mrn is not None:
        filters.append(Patient.mrn == mrn)
    if identifier is not None:
        system, value = identifier
        by_identifier = select(PatientIdentifier.patient_id).where(PatientIdentifier.value == value)
        if system is not None:
            by_identifier = by_identifier.where(PatientIdentifier.system == system)
        if system == MRN_SYSTEM:
            filters.append(Patient.mrn == value)
        elif system is None:
            filters.append(or_(Patient.mrn == value, Patient.id.in_(by_identifier)))
        else:
            filters.append(Patient.id.in_(by_identifier))
    filters.extend(_date_filters(birth_dates))
    return filters


async def search_patients(
    session: AsyncSession,
    *,
    scope: ColumnElement[bool],
    name_tokens: Sequence[str] = (),
    mrn: str | None = None,
    identifier: tuple[str | None, str] | None = None,
    birth_dates: Sequence[tuple[str, date]] = (),
    gender: str | None = None,
    limit: int,
    offset: int,
    count_cap: int | None = None,
) -> tuple[list[Patient], int, bool]:
    """One page of patients and the total; the flag says the total is only a lower bound.

    Without a name: every match counted, ordered by (family, given, birth date, id).
    With a name: see ``_search_by_name``."""
    filters = _patient_filters(
        scope=scope, mrn=mrn, identifier=identifier, birth_dates=birth_dates, gender=gender
    )
    if name_tokens:
        cap = SEARCH_COUNT_CAP if count_cap is None else count_cap
        return await _search_by_name(session, filters, name_tokens, limit=limit, offset=offset, cap=cap)
    query: Select[Patient] = select(Patient).where(*filters)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.options(*PATIENT_LOAD)
        .order_by(Patient.sort_family, Patient.sort_given, Patient.birth_date, Patient.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), total, False


async def _search_by_name(
    session: AsyncSession,
    filters: Sequence[ColumnElement[bool]],
    name_tokens: Sequence[str],
    *,
    limit: int,
    offset: int,
    cap: int,
) -> tuple[list[Patient], int, bool]:
    """Name search driven by the token index of one query token (the longest: usually the most
    selective), so its cost is the page, not the number of matches.

    Every patient appears once, on the row of their smallest token matching the driving prefix
    (``NOT EXISTS`` a smaller one: a primary-key range per row, which keeps the scan in index
    order, where ``GROUP BY patient_id`` / ``MIN(token)`` would read every match). The other
    query tokens and criteria are ``EXISTS`` filters on the same walk. Order: that matched token,
    then (family, given, birth date, id), i.e. exactly ``ix_patient_name_tokens_token``, which
    holds a copy of the patient's sort key; LIMIT/OFFSET stop the walk after the page.

    The total is counted over at most ``cap`` + 1 rows of the driving prefix's index range: exact
    when the range is shorter, else the matches among those rows, a lower bound (the flag). So
    the count costs the same whatever the size of the registry and however few of the rows the
    other criteria keep ("maria gar": a few percent of the "maria" rows)."""
    driving = max(name_tokens, key=len)  # ties: the first, the tokens come sorted

    def keeps(patient_id: Any, token_value: Any) -> list[ColumnElement[bool]]:
        """The conditions on one row of the driving range (given its patient id and token)."""
        smaller = aliased(PatientNameToken)
        conditions = [
            exists().where(Patient.id == patient_id, *filters),
            ~exists().where(
                smaller.patient_id == patient_id,
                _prefix_match(session, smaller.token, driving),
                smaller.token < token_value,
            ),
        ]
        for other in name_tokens:
            if other != driving:
                also = aliased(PatientNameToken)
                conditions.append(
                    exists().where(also.patient_id == patient_id, _prefix_match(session, also.token, other))
                )
        return conditions

    token = aliased(PatientNameToken, name="driving_token")
    in_range = _prefix_match(session, token.token, driving)
    page_query = (
        select(token.patient_id)
        .where(in_range, *keeps(token.patient_id, token.token))
        .order_by(token.token, token.sort_family, token.sort_given, token.birth_date, token.patient_id)
        .limit(limit)
        .offset(offset)
    )
    page_ids = list((await session.execute(page_query)).scalars())

    window = select(token.patient_id, token.token).where(in_range).limit(cap + 1).subquery()
    kept = case((and_(*keeps(window.c.patient_id, window.c.token)), 1))
    scanned, counted = (
        await session.execute(select(func.count(), func.count(kept)).select_from(window))
    ).one()
    if scanned <= cap:
        total, lower_bound = counted, False
    elif 0 < len(page_ids) < limit:  # this page is the last one: the total is known after all
        total, lower_bound = offset + len(page_ids), False
    else:
        total, lower_bound = max(counted, offset + len(page_ids)), True
    patients: list[Patient] = []
    if page_ids:
        loaded = await session.execute(select(Patient).where(Patient.id.in_(page_ids)).options(*PATIENT_LOAD))
        by_id = {p.id: p for p in loaded.scalars()}
        patients = [by_id[pid] for pid in page_ids]
    return patients, total, lower_bound


# --- clinical resources ----------------------------------------------------------------

R = TypeVar("R", bound=ClinicalRow)


async def list_for_patient(
    session: AsyncSession,
    model: type[R],
    patient_id: uuid.UUID,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any],
    options: Sequence[LoaderOption] = (),
    limit: int,
    offset: int,
) -> tuple[list[R], int]:
    query = select(model).where(model.patient_id == patient_id, *where)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.options(*options).order_by(*order_by, model.id).limit(limit).offset(offset)
    )
    return list(rows.scalars()), total


async def get_for_patient(
    session: AsyncSession,
    model: type[R],
    patient_id: uuid.UUID,
    resource_id: uuid.UUID,
    *,
    options: Sequence[LoaderOption] = (),
    for_update: bool = False,
) -> R:
    query = select(model).where(model.id == resource_id, model.patient_id == patient_id).options(*options)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{model.__name__} not found")
    return row


async def patient_of(session: AsyncSession, model: type[R], resource_id: uuid.UUID) -> uuid.UUID:
    """The patient a clinical row belongs to (for reads by resource id alone, e.g. FHIR)."""
    found = (
        await session.execute(select(model.patient_id).where(model.id == resource_id))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"{model.__name__} not found")
    return found


async def reload(
    session: AsyncSession, model: type[R], resource_id: uuid.UUID, options: Sequence[LoaderOption]
) -> R:
    """Fetch a row fresh with its children (after a write), bypassing the identity map's state."""
    query = (
        select(model)
        .where(model.id == resource_id)
        .options(*options)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one()


async def active_allergies(
    session: AsyncSession, patient_id: uuid.UUID, *, limit: int | None = None
) -> list[Allergy]:
    query = (
        select(Allergy)
        .where(
            Allergy.patient_id == patient_id,
            Allergy.clinical_status == "active",
            Allergy.verification_status.not_in(("refuted", "entered-in-error")),
        )
        .options(selectinload(Allergy.reactions))
        .order_by(Allergy.recorded_at.desc(), Allergy.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list((await session.execute(query)).scalars())


async def active_problems(session: AsyncSession, patient_id: uuid.UUID, *, limit: int) -> list[Condition]:
    query = (
        select(Condition)
        .where(
            Condition.patient_id == patient_id,
            Condition.clinical_status.in_(("active", "recurrence", "relapse")),
            Condition.verification_status.not_in(("refuted", "entered-in-error")),
        )
        .order_by(Condition.onset_at.desc(), Condition.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def active_medications(
    session: AsyncSession, patient_id: uuid.UUID, *, limit: int
) -> list[MedicationRequest]:
    query = (
        select(MedicationRequest)
        .where(
            MedicationRequest.patient_id == patient_id, MedicationRequest.status.in_(("active", "on-hold"))
        )
        .options(selectinload(MedicationRequest.ingredients))
        .order_by(MedicationRequest.authored_at.desc(), MedicationRequest.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def latest_observations(
    session: AsyncSession, patient_id: uuid.UUID, codes: Sequence[str]
) -> list[Observation]:
    """The newest observation per code, in one statement (a window over the code index), so the
    rows fetched are bounded by the number of codes, not by the length of the history."""
    rank = (
        func.row_number()
        .over(
            partition_by=Observation.code_code,
            order_by=(Observation.effective_at.desc(), Observation.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(Observation.id, rank)
        .where(
            Observation.patient_id == patient_id,
            Observation.code_code.in_(codes),
            Observation.status.not_in(("cancelled", "entered-in-error")),
        )
        .subquery()
    )
    query = (
        select(Observation)
        .join(ranked, ranked.c.id == Observation.id)
        .where(ranked.c.rank == 1)
        .options(selectinload(Observation.components))
        .order_by(Observation.code_code)
    )
    return list((await session.execute(query)).scalars())


COUNTED: dict[str, type[ClinicalRow]] = {
    "encounters": Encounter,
    "conditions": Condition,
    "allergies": Allergy,
    "immunizations": Immunization,
    "procedures": Procedure,
    "observations": Observation,
    "care_plans": CarePlan,
    "medication_requests": MedicationRequest,
}


async def history_counts(session: AsyncSession, patient_id: uuid.UUID) -> dict[str, int]:
    """Every history count in one statement (index-only counts on patient_id)."""
    columns = [
        select(func.count())
        .select_from(model)
        .where(model.patient_id == patient_id)
        .scalar_subquery()
        .label(name)
        for name, model in COUNTED.items()
    ]
    row = (await session.execute(select(*columns))).one()
    return {name: int(row._mapping[name]) for name in COUNTED}
