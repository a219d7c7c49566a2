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

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.orm.interfaces import LoaderOption
from sqlalchemy.sql import Subquery
from sqlalchemy.sql.elements import True_

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
    PatientNameTokenPair,
    Procedure,
)
from app.patients.names import SearchTerm

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
    if for_update:  # the name index rows too: a change of names or birth date rewrites them
        query = query.options(
            selectinload(Patient.name_tokens), selectinload(Patient.name_token_pairs)
        ).with_for_update()
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


def _prefix_bounds(
    session: AsyncSession, column: Any, prefix: str, *, lower: bool = True
) -> list[ColumnElement[bool]]:
    """``column`` starts with ``prefix``, as an index range. ``lower=False`` leaves out the lower
    bound, for a caller that has a tighter one (SQLite uses only one lower bound of a range)."""
    like = column.like(prefix + "%")
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE is case-insensitive and so cannot use a BINARY index; a range can. Tokens
        # are normalised, so the range is exact; LIKE keeps it honest for any collation.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return [column >= prefix, column < upper, like] if lower else [column < upper, like]
    # MariaDB turns a prefix LIKE into an index range.
    return [column >= prefix, like] if lower else [like]


def _prefix_match(session: AsyncSession, column: Any, prefix: str) -> ColumnElement[bool]:
    return and_(*_prefix_bounds(session, column, prefix))


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
"""A name search counts over at most this many rows of its index range(s) (plus one, to know the
cap was passed): beyond it, ``total`` is a lower bound and the search says so, instead of counting
every match."""

ANCHOR_VOCABULARY_CAP = 32
"""A search of several words anchors the pair index on the distinct tokens one of its words
matches ("gar": garcia, garcialopez, ...), one index range each; a word matching more distinct
tokens than this (one or two letters) is not used as an anchor."""


def _patient_filters(
    *,
    scope: ColumnElement[bool],
    mrn: str | None,
    identifier: tuple[str | None, str] | None,
    birth_dates: Sequence[tuple[str, date]],
    gender: str | None,
) -> list[ColumnElement[bool]]:
    # Staff see every patient: no condition at all, rather than a constant one that would still
    # cost a probe of the patients table per index row of a name search.
    filters = [] if isinstance(scope, True_) else [scope]
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
    name_terms: Sequence[SearchTerm] = (),
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
    With a name (``name_terms``, as ``names.search_terms`` makes them): see ``_search_by_name``."""
    filters = _patient_filters(
        scope=scope, mrn=mrn, identifier=identifier, birth_dates=birth_dates, gender=gender
    )
    if name_terms:
        cap = SEARCH_COUNT_CAP if count_cap is None else count_cap
        page_ids, total, lower_bound = await _search_by_name(
            session, filters, name_terms, limit=limit, offset=offset, cap=cap
        )
        return await _load_in_order(session, page_ids), total, lower_bound
    query: Select[Patient] = select(Patient).where(*filters)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.options(*PATIENT_LOAD)
        .order_by(Patient.sort_family, Patient.sort_given, Patient.birth_date, Patient.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), total, False


async def _load_in_order(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Patient]:
    if not ids:
        return []
    loaded = await session.execute(select(Patient).where(Patient.id.in_(ids)).options(*PATIENT_LOAD))
    by_id = {p.id: p for p in loaded.scalars()}
    return [by_id[pid] for pid in ids]


# --- name search -----------------------------------------------------------------------
#
# Order of a name search: the patient's smallest token matching the *driving* word (the longest
# of the query; ties: the first), then family, given, birth date, id. Every patient once, on
# that token. Two access paths give that order straight from an index, so that a search reads
# about one page of index rows whatever the size of the registry (bench/README.md, "search"):
#
# - one word (or words that cannot anchor a pair): ``ix_patient_name_tokens_token`` (token, sort
#   key, id) walked over the driving word's range; the other words are EXISTS filters;
# - several words: ``ix_patient_name_token_pairs_anchor`` (anchor, token, sort key, id), one
#   range per distinct token the anchor word matches (anchor = that token, token over the
#   driving word's range), each already in result order, merged. "maria gar" reads the Marías
#   whose other token is a García, not every María whose family name sorts before García.


def _part_is(row: Any, part: str) -> ColumnElement[bool]:
    flag: ColumnElement[bool] = row.in_family if part == "family" else row.in_given
    return flag


def _matches(session: AsyncSession, row: Any, term: SearchTerm) -> list[ColumnElement[bool]]:
    """A token row (of ``patient_name_tokens``) matching this term."""
    conditions = [_prefix_match(session, row.token, term.prefix)]
    if term.part != "any":
        conditions.append(_part_is(row, term.part))
    return conditions


def _is_smallest(
    session: AsyncSession, patient_id: Any, token_value: Any, term: SearchTerm
) -> ColumnElement[bool]:
    """No token of this patient smaller than ``token_value`` matches the term (a primary-key
    range on patient_name_tokens per row, which keeps an index walk in order, where GROUP BY /
    MIN would read every match)."""
    smaller = aliased(PatientNameToken)
    return ~_token_exists(
        smaller,
        smaller.patient_id == patient_id,
        *_matches(session, smaller, term),
        smaller.token < token_value,
    )


def _in_part(
    session: AsyncSession, patient_id: Any, token_value: Any, term: SearchTerm
) -> list[ColumnElement[bool]]:
    """The patient's token ``token_value`` occurs in the term's name part (a primary-key probe;
    nothing for a term of any part)."""
    if term.part == "any":
        return []
    same = aliased(PatientNameToken)
    return [
        _token_exists(
            same, same.patient_id == patient_id, same.token == token_value, _part_is(same, term.part)
        )
    ]


def _has_match(session: AsyncSession, patient_id: Any, term: SearchTerm) -> ColumnElement[bool]:
    also = aliased(PatientNameToken)
    return _token_exists(also, also.patient_id == patient_id, *_matches(session, also, term))


def _token_exists(row: Any, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    # EXISTS (SELECT patient_id ...), not EXISTS (SELECT * ...): SQLite then answers from the
    # primary-key index alone when the conditions need no other column.
    return select(row.patient_id).where(*conditions).exists()


def _patient_kept(patient_id: Any, filters: Sequence[ColumnElement[bool]]) -> list[ColumnElement[bool]]:
    return [exists().where(Patient.id == patient_id, *filters)] if filters else []


async def _count(
    session: AsyncSession,
    window: Subquery,
    conditions: Sequence[ColumnElement[bool]],
    page_len: int,
    *,
    limit: int,
    offset: int,
    cap: int,
) -> tuple[int, bool]:
    """The total from at most ``cap`` + 1 index rows (``window``, with its patient_id): the
    distinct patients among them that meet ``conditions``; exact when the range was shorter,
    else a lower bound. DISTINCT rather than the page's smallest-token probes: without other
    criteria the count reads the index entries and nothing else."""
    patient = window.c.patient_id
    counted_ids = case((and_(*conditions), patient)) if conditions else patient
    query = select(func.count(), func.count(func.distinct(counted_ids))).select_from(window)
    scanned, counted = (await session.execute(query)).one()
    if scanned <= cap:
        return counted, False
    if 0 < page_len < limit:  # this page is the last one: the total is known after all
        return offset + page_len, False
    return max(counted, offset + page_len), True


async def _search_by_name(
    session: AsyncSession,
    filters: Sequence[ColumnElement[bool]],
    terms: Sequence[SearchTerm],
    *,
    limit: int,
    offset: int,
    cap: int,
) -> tuple[list[uuid.UUID], int, bool]:
    """The ids of one page of a name search, the total and whether it is a lower bound.

    The total is counted over at most ``cap`` + 1 rows of the index range(s) walked: exact when
    they are fewer, else the matches among those rows, a lower bound (the flag). So the count
    costs the same whatever the size of the registry and however few of the rows the other
    criteria keep."""
    driving = max(terms, key=lambda t: len(t.prefix))  # ties: the first, the terms come sorted
    others = [t for t in terms if t != driving]
    # Two distinct tokens per pair: words that one token could match together ("mar" and
    # "maria" as family and given name) cannot use the pairs. ``search_terms`` drops a word
    # that another implies, so this is rare.
    related = any(a != b and b.prefix.startswith(a.prefix) for a in terms for b in terms)
    if others and not related:
        anchor, vocabulary = await _choose_anchor(session, others)
        if anchor is not None:
            if not vocabulary:  # a word that no token starts with: nothing matches
                return [], 0, False
            rest = [t for t in others if t != anchor]
            return await _search_by_pairs(
                session, filters, driving, anchor, vocabulary, rest, limit=limit, offset=offset, cap=cap
            )
    return await _search_by_tokens(session, filters, driving, others, limit=limit, offset=offset, cap=cap)


async def _choose_anchor(
    session: AsyncSession, candidates: Sequence[SearchTerm]
) -> tuple[SearchTerm | None, list[str]]:
    """The word matching the fewest distinct tokens (at most ``ANCHOR_VOCABULARY_CAP``), and
    those tokens; (None, []) when every word matches more."""
    best: tuple[SearchTerm | None, list[str]] = (None, [])
    for term in sorted(candidates, key=lambda t: -len(t.prefix)):  # longer: usually fewer tokens
        found = await _vocabulary(session, term.prefix, ANCHOR_VOCABULARY_CAP + 1)
        if len(found) <= ANCHOR_VOCABULARY_CAP and (best[0] is None or len(found) < len(best[1])):
            best = (term, found)
        if best[0] is not None and len(best[1]) <= 1:
            break
    return best


async def _vocabulary(session: AsyncSession, prefix: str, most: int) -> list[str]:
    """The distinct tokens starting with ``prefix``, at most ``most``, in order: a loose index
    scan of ``ix_patient_name_tokens_token``, one seek per distinct token however many patients
    carry it. MariaDB does that for a DISTINCT on the index's first column ("Using index for
    group-by"); SQLite reads every row of the range for that, so there a recursive CTE seeks
    from one token to the next."""
    if session.get_bind().dialect.name != "sqlite":
        row = aliased(PatientNameToken)
        distinct = (
            select(row.token)
            .where(_prefix_match(session, row.token, prefix))
            .group_by(row.token)
            .order_by(row.token)
            .limit(most)
        )
        return list((await session.execute(distinct)).scalars())
    first_row = aliased(PatientNameToken)
    first = select(func.min(first_row.token)).where(_prefix_match(session, first_row.token, prefix))
    vocabulary = select(first.scalar_subquery().label("token"), literal(1).label("n")).cte(
        "vocabulary", recursive=True
    )
    next_row = aliased(PatientNameToken)
    # The previous token as the only lower bound: SQLite seeks with one lower bound per range.
    following = select(func.min(next_row.token)).where(
        next_row.token > vocabulary.c.token, *_prefix_bounds(session, next_row.token, prefix, lower=False)
    )
    vocabulary = vocabulary.union_all(
        select(following.scalar_subquery(), vocabulary.c.n + 1).where(
            vocabulary.c.token.is_not(None), vocabulary.c.n < most
        )
    )
    query = select(vocabulary.c.token).where(vocabulary.c.token.is_not(None)).order_by(vocabulary.c.n)
    return list((await session.execute(query)).scalars())


async def _search_by_tokens(
    session: AsyncSession,
    filters: Sequence[ColumnElement[bool]],
    driving: SearchTerm,
    others: Sequence[SearchTerm],
    *,
    limit: int,
    offset: int,
    cap: int,
) -> tuple[list[uuid.UUID], int, bool]:
    """Walk ``ix_patient_name_tokens_token`` over the driving word's range, in index order (the
    result order); the other words and criteria are EXISTS filters; LIMIT/OFFSET end the walk
    after the page."""

    def kept(patient_id: Any) -> list[ColumnElement[bool]]:
        return [*_patient_kept(patient_id, filters), *(_has_match(session, patient_id, o) for o in others)]

    token = aliased(PatientNameToken, name="driving_token")
    in_range = _matches(session, token, driving)
    page_query = (
        select(token.patient_id)
        .where(
            *in_range, _is_smallest(session, token.patient_id, token.token, driving), *kept(token.patient_id)
        )
        .order_by(token.token, token.sort_family, token.sort_given, token.birth_date, token.patient_id)
        .limit(limit)
        .offset(offset)
    )
    page_ids = list((await session.execute(page_query)).scalars())
    window = select(token.patient_id).where(*in_range).limit(cap + 1).subquery()
    total, lower_bound = await _count(
        session, window, kept(window.c.patient_id), len(page_ids), limit=limit, offset=offset, cap=cap
    )
    return page_ids, total, lower_bound


async def _search_by_pairs(
    session: AsyncSession,
    filters: Sequence[ColumnElement[bool]],
    driving: SearchTerm,
    anchor: SearchTerm,
    vocabulary: Sequence[str],
    rest: Sequence[SearchTerm],
    *,
    limit: int,
    offset: int,
    cap: int,
) -> tuple[list[uuid.UUID], int, bool]:
    """One range of ``ix_patient_name_token_pairs_anchor`` per anchor token (anchor = it, token
    over the driving word's range), each walked in result order and cut at offset + limit; the
    ranges merged in that order. A patient counts on the pair of their smallest token matching
    the anchor word and their smallest matching the driving word: one row each. Any further
    words and criteria are EXISTS filters."""

    def kept(row: Any) -> list[ColumnElement[bool]]:
        return [
            *_patient_kept(row.patient_id, filters),
            *_in_part(session, row.patient_id, row.token, driving),
            *_in_part(session, row.patient_id, row.anchor, anchor),
            *(_has_match(session, row.patient_id, other) for other in rest),
        ]

    def merged(arms: Sequence[Subquery]) -> Subquery:
        # Each arm as a derived table: SQLite takes no LIMIT inside a bare UNION ALL arm.
        return arms[0] if len(arms) == 1 else union_all(*(select(arm) for arm in arms)).subquery()

    # One alias and one set of conditions shared by every arm (each arm is its own SELECT, so
    # they do not clash): building them once per arm made a search of ten arms cost more in
    # Python than in the database.
    pair = aliased(PatientNameTokenPair, name="pair")
    in_range = _prefix_match(session, pair.token, driving.prefix)
    conditions = (
        in_range,
        _is_smallest(session, pair.patient_id, pair.token, driving),
        _is_smallest(session, pair.patient_id, pair.anchor, anchor),
        *kept(pair),
    )
    columns = (pair.patient_id, pair.token, pair.sort_family, pair.sort_given, pair.birth_date)
    order = (pair.token, pair.sort_family, pair.sort_given, pair.birth_date, pair.patient_id)
    arms = [
        select(*columns)
        .where(pair.anchor == value, *conditions)
        .order_by(*order)
        .limit(offset + limit)
        .subquery()
        for value in vocabulary
    ]
    windows = [
        select(pair.patient_id, pair.anchor, pair.token)
        .where(pair.anchor == value, in_range)
        .limit(cap + 1)
        .subquery()
        for value in vocabulary
    ]
    page = merged(arms)
    page_query = (
        select(page.c.patient_id)
        .order_by(page.c.token, page.c.sort_family, page.c.sort_given, page.c.birth_date, page.c.patient_id)
        .limit(limit)
        .offset(offset)
    )
    page_ids = list((await session.execute(page_query)).scalars())
    window = select(merged(windows)).limit(cap + 1).subquery()
    total, lower_bound = await _count(
        session, window, kept(window.c), len(page_ids), limit=limit, offset=offset, cap=cap
    )
    return page_ids, total, lower_bound


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
