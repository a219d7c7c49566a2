"""Importing FHIR R4 data: Bundles (transaction, batch, collection) and NDJSON, from files (the
``hospital import-fhir`` command) or from a request (``POST /fhir``, see ``transaction.py``).

One code path for both. A bundle is imported by ``BundleImport`` acting as a ``Principal``
through the module services (patients, staff, facilities), so access rules and the audit trail
are those of any other write:

- *Order.* Organizations and Practitioners first (they are referenced), then the Patient, then
  Encounters (other resources point at them), then everything else in bundle order.
- *References.* ``urn:uuid:`` full URLs inside the bundle, literal ``Patient/{id}`` and
  ``Encounter/{id}`` (our ids, or source ids imported earlier), and conditional references
  ``Type?identifier=system|value`` (Patient, Encounter, Practitioner, Organization; URL-encoded
  or not) to resources imported earlier, in the same run or further up the same bundle or NDJSON
  file, are resolved before mapping (batch lookups, then what each import adds), so the
  mappers' ``ReferenceResolver`` stays in memory.
- *Idempotency.* Patients are matched on their identifiers (Synthea's id is one), practitioners
  and organizations on theirs (the NPI), clinical rows on ``source_system``/``source_id``, raw
  resources on (type, source system, id): one lookup per type per bundle. Re-importing the same
  file writes nothing and reports everything as unchanged.
- *Atomicity.* transaction and collection bundles are all-or-nothing (the caller commits once or
  rolls back); batch bundles and NDJSON files are per entry (a savepoint each).
- *Nothing dropped silently.* Types we do not map (Claim, ExplanationOfBenefit, CareTeam,
  DiagnosticReport, DocumentReference, Provenance, Location, ...) are kept verbatim in
  ``fhir_raw_resources`` for the modules that will adopt them; entries we cannot keep (a GET or
  DELETE in a bundle, a resource without a type) are skipped, and the summary says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.audit.service import PendingEvent
from app.auth.permissions import Perm, Role
from app.context import current_context
from app.db import Database
from app.deps import Principal
from app.errors import AppError, Conflict
from app.facilities import service as facilities
from app.facilities.schemas import FacilityIdentifier
from app.fhir import directory, jsonio
from app.fhir.bookkeeping import FhirRawResource
from app.fhir.mappers import MAPPERS
from app.fhir.mappers import base as b
from app.patients import models as pm
from app.patients import service as patients
from app.staff import service as staff
from app.staff.schemas import StaffIdentifier

log = logging.getLogger("app.fhir.import")

SYNTHEA = "https://github.com/synthetichealth/synthea"
# The system under which a resource's own ``id`` is recorded when the file says nothing better.
IMPORT_ID_SYSTEM = "urn:hospital-hub:fhir-import:id"
CONTENT_HASH_SYSTEM = "urn:hospital-hub:fhir-import:sha256"
SYSTEM_USERNAME = "system-import"

DIRECTORY_TYPES = ("Organization", "Practitioner")
CLINICAL_TYPES = (
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "MedicationRequest",
    "Procedure",
    "Immunization",
    "CarePlan",
)
MAPPED_TYPES = (*DIRECTORY_TYPES, "Patient", *CLINICAL_TYPES)
_RAW_REASONS = {
    "Claim": "kept raw for the billing module (no mapping yet)",
    "ExplanationOfBenefit": "kept raw for the insurance module (no mapping yet)",
}
_TYPE_PATTERN = re.compile(r'"resourceType"\s*:\s*"([A-Za-z]+)"')
_SUPPORTED_METHODS = ("POST", "PUT", None)


# --- results ---------------------------------------------------------------------------

CREATED = "imported"
UNCHANGED = "unchanged"
KEPT_RAW = "kept-raw"
SKIPPED = "skipped"
FAILED = "failed"
OUTCOMES = (CREATED, UNCHANGED, KEPT_RAW, SKIPPED, FAILED)


@dataclass
class EntryResult:
    index: int  # position in the bundle (entry index) or NDJSON line number
    resource_type: str
    outcome: str
    location: str | None = None  # Type/id of our resource (imported, unchanged)
    message: str | None = None  # why skipped / kept raw / failed
    status: int = 201


@dataclass
class Problem:
    file: str
    position: str  # "entry 12", "line 7", "line 3 column 15"
    resource_type: str | None
    message: str

    def __str__(self) -> str:
        kind = f" {self.resource_type}" if self.resource_type else ""
        return f"{self.file}: {self.position}{kind}: {self.message}"


@dataclass
class ImportReport:
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # type -> outcome -> n
    reasons: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)  # (type, outcome) -> why
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    bundles_failed: int = 0

    def add(self, result: EntryResult) -> None:
        self.counts.setdefault(result.resource_type, Counter())[result.outcome] += 1
        if result.outcome in (KEPT_RAW, SKIPPED) and result.message:
            self.reasons.setdefault((result.resource_type, result.outcome), Counter())[result.message] += 1

    def total(self, outcome: str) -> int:
        return sum(c[outcome] for c in self.counts.values())

    @property
    def ok(self) -> bool:
        return not self.problems

    def rows(self) -> list[tuple[str, int, int, int, int, int]]:
        return [
            (t, *(self.counts[t][o] for o in OUTCOMES))  # type: ignore[misc]
            for t in sorted(self.counts, key=lambda t: (t not in MAPPED_TYPES, t))
        ]


class BundleFailed(AppError):
    """An entry of an all-or-nothing bundle failed: the whole bundle is rolled back."""

    status_code = 400
    code = "bundle_failed"

    def __init__(
        self, index: int, resource_type: str, message: str, status: int = 400, code: str = ""
    ) -> None:
        super().__init__(
            f"entry {index} ({resource_type}): {message}",
            details={"entry": index, "resource_type": resource_type, "error": code or None},
        )
        self.index = index
        self.resource_type = resource_type
        self.reason = message
        self.status_code = status


# --- the acting principal --------------------------------------------------------------

IMPORT_PERMISSIONS = frozenset(
    {
        Perm.PATIENTS_READ,
        Perm.PATIENTS_WRITE,
        Perm.CLINICAL_READ,
        Perm.CLINICAL_WRITE,
        Perm.PRESCRIBE,
        Perm.STAFF_READ,
        Perm.STAFF_WRITE,
    }
)


async def system_principal(session: AsyncSession) -> Principal:
    """The importer's identity: the user ``system-import``, created on first use with a random
    password nobody knows and deactivated at once, so it can never sign in. Its permissions are
    granted here, not by a role: no human role should carry this combination."""
    from app.auth import service as auth_service
    from app.auth.schemas import UserCreate, UserUpdate

    user = await auth_service.find_user(session, SYSTEM_USERNAME)
    if user is None:
        user = await auth_service.create_user(
            session,
            UserCreate(
                username=SYSTEM_USERNAME,
                password=secrets.token_urlsafe(48),
                full_name="FHIR import (system)",
                roles=[Role.DOCTOR],
            ),
        )
        await auth_service.update_user(session, user.id, UserUpdate(is_active=False), acting_user_id=None)
    return Principal(
        user_id=user.id,
        username=SYSTEM_USERNAME,
        full_name=user.full_name,
        email=None,
        roles=("system",),
        permissions=IMPORT_PERMISSIONS,
        patient_id=None,
        session_id=uuid.uuid4(),
    )


# --- reference resolution --------------------------------------------------------------


def _references(value: Any) -> Iterator[str]:
    """Every ``reference`` string anywhere in a resource (contained resources included)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            elif isinstance(item, (Mapping, list)):
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _conditional(reference: str) -> tuple[str, str, str] | None:
    """``Type?identifier=system|value`` -> (Type, system, value); the query may be URL-encoded."""
    kind, sep, query = reference.partition("?")
    if not sep or not query.startswith("identifier="):
        return None
    system, bar, value = unquote(query[len("identifier=") :]).partition("|")
    if not bar or not value:
        return None
    return kind, system, value


@dataclass
class _Directory:
    """A practitioner known to this import: how clinical rows refer to it."""

    identifier: str | None
    display: str | None


@dataclass
class RunCache:
    """What one import run has learnt, shared by its bundles (conditional references)."""

    practitioners: dict[tuple[str, str], _Directory] = field(default_factory=dict)
    organizations: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)


class Resolver:
    """The mappers' ``ReferenceResolver`` for one bundle: everything resolved beforehand."""

    def __init__(self, source_system: str | None, cache: RunCache) -> None:
        self._source_system = source_system
        self.cache = cache
        self.local: dict[str, tuple[str, uuid.UUID]] = {}  # fullUrl or Type/id -> (type, our id)
        self.practitioners: dict[str, _Directory] = {}  # fullUrl -> practitioner
        self.patients: dict[str, uuid.UUID] = {}  # literal reference -> patient
        self.encounters: dict[str, uuid.UUID] = {}
        # Conditional references (``Type?identifier=system|value``), by (system, value): found
        # among earlier imports, or imported by this bundle (an NDJSON line further up).
        self.patients_by_identifier: dict[tuple[str, str], uuid.UUID] = {}
        self.encounters_by_identifier: dict[tuple[str, str], uuid.UUID] = {}

    @property
    def source_system(self) -> str | None:
        return self._source_system

    def patient_id(self, reference: str) -> uuid.UUID:
        found = self.local.get(reference)
        if found is not None and found[0] == "Patient":
            return found[1]
        if reference in self.patients:
            return self.patients[reference]
        cond = _conditional(reference)
        if cond is not None and cond[0] == "Patient" and (cond[1], cond[2]) in self.patients_by_identifier:
            return self.patients_by_identifier[(cond[1], cond[2])]
        raise b.MappingError(f"unresolved patient reference {reference!r}", path="subject")

    def encounter_id(self, reference: str) -> uuid.UUID | None:
        found = self.local.get(reference)
        if found is not None and found[0] == "Encounter":
            return found[1]
        cond = _conditional(reference)
        if cond is not None and cond[0] == "Encounter":
            return self.encounters_by_identifier.get((cond[1], cond[2]))
        return self.encounters.get(reference)

    def practitioner(self, reference: Mapping[str, Any]) -> tuple[str | None, str | None]:
        display = b._clip(reference.get("display"), 200)
        target = str(reference.get("reference") or "")
        known = self.practitioners.get(target)
        if known is None and (cond := _conditional(target)) is not None:
            known = self.cache.practitioners.get((cond[1], cond[2])) or _Directory(
                f"{cond[1]}|{cond[2]}", None
            )
        if known is None and isinstance(reference.get("identifier"), Mapping):
            ident = reference["identifier"]
            if ident.get("value"):
                system = ident.get("system")
                known = _Directory(f"{system}|{ident['value']}" if system else str(ident["value"]), None)
        if known is None:
            return None, display
        return known.identifier, display or known.display


# --- one bundle ------------------------------------------------------------------------


@dataclass
class Entry:
    index: int
    resource: dict[str, Any]
    full_url: str | None = None
    method: str | None = None

    @property
    def resource_type(self) -> str:
        rt = self.resource.get("resourceType") if isinstance(self.resource, Mapping) else None
        return str(rt) if rt else "(unknown)"


def entries_of(bundle: Mapping[str, Any]) -> list[Entry]:
    entries = bundle.get("entry")
    if entries is not None and not isinstance(entries, list):
        raise b.MappingError("Bundle.entry must be an array", path="Bundle.entry")
    out = []
    for i, e in enumerate(entries or []):
        if not isinstance(e, Mapping):
            out.append(Entry(i, {}))
            continue
        request = e.get("request") if isinstance(e.get("request"), Mapping) else {}
        resource = e.get("resource")
        out.append(
            Entry(
                i,
                dict(resource) if isinstance(resource, Mapping) else {},
                full_url=str(e["fullUrl"]) if e.get("fullUrl") else None,
                method=str(request.get("method")).upper() if request and request.get("method") else None,
            )
        )
    return out


def _source_system_for(entries: Sequence[Entry], default: str | None) -> str | None:
    """Synthea's ids are stable UUIDs: record them under Synthea's system, like its identifiers."""
    for e in entries:
        if e.resource_type == "Patient" and isinstance(e.resource.get("identifier"), list):
            for ident in e.resource["identifier"]:
                if isinstance(ident, Mapping) and ident.get("system") == SYNTHEA:
                    return SYNTHEA
    return default


def _label(e: Entry) -> str:
    return f"{e.resource_type}/{e.resource.get('id')}" if e.resource.get("id") else e.resource_type


class BundleImport:
    """Imports the entries of one bundle on ``session`` as ``principal``; flushes, never commits."""

    def __init__(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        atomic: bool,
        default_source_system: str | None,
        cache: RunCache | None = None,
    ) -> None:
        self.session = session
        self.principal = principal
        self.atomic = atomic
        self.default_source_system = default_source_system
        self.cache = cache or RunCache()
        self.results: dict[int, EntryResult] = {}

    # -- driver --

    async def run(self, entries: Sequence[Entry]) -> list[EntryResult]:
        refs = Resolver(_source_system_for(entries, self.default_source_system), self.cache)
        self.refs = refs
        todo: list[Entry] = []
        for e in entries:
            problem = self._unsupported(e)
            if problem is not None:
                self._done(EntryResult(e.index, e.resource_type, SKIPPED, message=problem, status=200))
            else:
                todo.append(e)
        by_type: dict[str, list[Entry]] = {}
        for e in todo:
            by_type.setdefault(e.resource_type if e.resource_type in MAPPED_TYPES else "*raw", []).append(e)
        await self._directory(by_type.get("Organization", []), "Organization")
        await self._directory(by_type.get("Practitioner", []), "Practitioner")
        await self._prefetch_references(todo)
        for e in by_type.get("Patient", []):
            await self._guard(e, partial(self._patient, e))
        await self._clinical(by_type.get("Encounter", []))
        rest = [e for e in todo if e.resource_type in CLINICAL_TYPES and e.resource_type != "Encounter"]
        await self._clinical(rest)
        await self._raw(by_type.get("*raw", []))
        return [self.results[e.index] for e in entries]

    def _unsupported(self, e: Entry) -> str | None:
        if not e.resource:
            return "entry has no resource"
        if not isinstance(e.resource.get("resourceType"), str):
            return "resource has no resourceType"
        if e.method not in _SUPPORTED_METHODS:
            return f"request method {e.method} is not supported by import"
        return None

    def _done(self, result: EntryResult) -> None:
        self.results[result.index] = result

    async def _guard(self, e: Entry, work: Callable[[], Awaitable[EntryResult]]) -> None:
        """Run one entry: all-or-nothing bundles stop at the first failure; batches keep going,
        each entry in its own savepoint (and its audit events discarded with it)."""
        if self.atomic:
            try:
                self._done(await work())
            except AppError as exc:
                raise BundleFailed(e.index, e.resource_type, exc.message, exc.status_code, exc.code) from exc
            return
        try:
            async with self.session.begin_nested():
                result = await work()
        except AppError as exc:
            # The savepoint's rollback also dropped the audit events recorded inside it.
            audit.record(
                self.session,
                action="fhir.import_entry_failed",
                resource_type=e.resource_type,
                outcome="failure",
                details={"entry": e.index, "error": exc.code, "message": exc.message[:300]},
            )
            result = EntryResult(
                e.index, e.resource_type, FAILED, message=exc.message, status=exc.status_code
            )
        self._done(result)

    # -- references --

    async def _prefetch_references(self, entries: Sequence[Entry]) -> None:
        """Resolve every reference that does not point inside the bundle, in a few queries."""
        patient_literals: set[str] = set()
        patient_conditionals: set[tuple[str, str]] = set()
        encounter_literals: set[str] = set()
        encounter_conditionals: set[tuple[str, str]] = set()
        practitioner_conditionals: set[tuple[str, str]] = set()
        for e in entries:
            for ref in _references(e.resource):
                if ref in self.refs.local or ref.startswith(("urn:", "#")):
                    continue
                cond = _conditional(ref)
                if cond is not None:
                    if cond[0] == "Patient":
                        patient_conditionals.add((cond[1], cond[2]))
                    elif cond[0] == "Encounter":
                        encounter_conditionals.add((cond[1], cond[2]))
                    elif cond[0] == "Practitioner":
                        practitioner_conditionals.add((cond[1], cond[2]))
                    continue
                kind, _, rid = ref.rpartition("/")
                kind = kind.rsplit("/", 1)[-1]
                if kind == "Patient" and rid:
                    patient_literals.add(rid)
                elif kind == "Encounter" and rid:
                    encounter_literals.add(rid)
        for rid in sorted(patient_literals):
            found = await self._find_patient_by_literal(rid)
            if found is not None:
                self.refs.patients[f"Patient/{rid}"] = found
        for system, value in sorted(patient_conditionals):
            found = await self._find_patient([(system, value)])
            if found is not None:
                self.refs.patients_by_identifier[(system, value)] = found
        if encounter_literals:
            await self._find_encounters(sorted(encounter_literals))
        if encounter_conditionals:  # an encounter's first identifier is its source id
            existing = await patients.existing_sources(
                self.session, "Encounter", sorted(encounter_conditionals)
            )
            self.refs.encounters_by_identifier.update({pair: row.id for pair, row in existing.items()})
        missing = [p for p in practitioner_conditionals if p not in self.cache.practitioners]
        if missing:
            owners = await staff.find_by_identifiers(self.session, self.principal, missing)
            for pair in owners:
                self.cache.practitioners[pair] = _Directory(f"{pair[0]}|{pair[1]}", None)

    async def _find_patient(self, pairs: Sequence[tuple[str, str]]) -> uuid.UUID | None:
        for system, value in pairs:
            found, _, _ = await patients.search_patients(
                self.session, self.principal, identifier=f"{system}|{value}", limit=1, offset=0
            )
            if found:
                return found[0].id
        return None

    async def _find_patient_by_literal(self, rid: str) -> uuid.UUID | None:
        """``Patient/{rid}``: our own id, else a patient imported with that source id."""
        try:
            own = uuid.UUID(rid)
        except ValueError:
            own = None
        if own is not None:
            try:
                await patients.get_patient(self.session, self.principal, own)
                return own
            except AppError:
                pass
        systems = [s for s in (self.refs.source_system, SYNTHEA) if s]
        return await self._find_patient([(s, rid) for s in dict.fromkeys(systems)])

    async def _find_encounters(self, rids: Sequence[str]) -> None:
        for rid in rids:
            with contextlib.suppress(ValueError):
                # Our own id; the service checks it belongs to the patient when a row uses it.
                self.refs.encounters[f"Encounter/{rid}"] = uuid.UUID(rid)
        systems = [s for s in (self.refs.source_system, SYNTHEA) if s]
        for system in dict.fromkeys(systems):
            existing = await patients.existing_sources(self.session, "Encounter", [(system, r) for r in rids])
            for (_, rid), row in existing.items():
                self.refs.encounters.setdefault(f"Encounter/{rid}", row.id)

    def _register_local(self, e: Entry, kind: str, our_id: uuid.UUID) -> None:
        if e.full_url:
            self.refs.local[e.full_url] = (kind, our_id)
        rid = e.resource.get("id")
        if rid:
            self.refs.local[f"{kind}/{rid}"] = (kind, our_id)
        identifiers = e.resource.get("identifier")
        if kind == "Encounter" and isinstance(identifiers, list):
            for ident in identifiers:
                if isinstance(ident, Mapping) and ident.get("system") and ident.get("value"):
                    key = (str(ident["system"])[:190], str(ident["value"])[:190])
                    self.refs.encounters_by_identifier[key] = our_id

    # -- directory: organizations and practitioners --

    async def _directory(self, entries: Sequence[Entry], kind: str) -> None:
        if not entries:
            return
        mapped: dict[int, Any] = {}
        pairs: list[tuple[str, str]] = []
        for e in entries:
            data: Any
            try:
                data = (
                    directory.organization_from_fhir(e.resource)
                    if kind == "Organization"
                    else directory.practitioner_from_fhir(e.resource)
                )
            except AppError as exc:
                if self.atomic:
                    raise BundleFailed(e.index, kind, exc.message, exc.status_code, exc.code) from exc
                self._done(EntryResult(e.index, kind, FAILED, message=exc.message, status=exc.status_code))
                continue
            if not data.identifiers and e.resource.get("id") and self.refs.source_system:
                # Without an identifier a re-import could not find it again: use the source id.
                ident = {"system": self.refs.source_system[:190], "value": str(e.resource["id"])[:190]}
                data.identifiers.append(
                    FacilityIdentifier.model_validate(ident)
                    if kind == "Organization"
                    else StaffIdentifier.model_validate(ident)
                )
            mapped[e.index] = data
            pairs.extend((i.system, i.value) for i in data.identifiers)
        lookup = facilities.find_by_identifiers if kind == "Organization" else staff.find_by_identifiers
        existing = await lookup(self.session, self.principal, pairs) if pairs else {}
        for e in entries:
            if e.index in mapped:
                await self._guard(e, partial(self._directory_one, e, kind, mapped[e.index], existing))

    async def _directory_one(
        self, e: Entry, kind: str, data: Any, existing: dict[tuple[str, str], uuid.UUID]
    ) -> EntryResult:
        pairs = [(i.system, i.value) for i in data.identifiers]
        our_id = next((existing[p] for p in pairs if p in existing), None)
        outcome, status = UNCHANGED, 200
        if our_id is None:
            if kind == "Organization":
                our_id = (await facilities.create_facility(self.session, self.principal, data)).id
            else:
                our_id = (await staff.create_staff(self.session, self.principal, data)).id
            for p in pairs:
                existing[p] = our_id
            outcome, status = CREATED, 201
        self._register_local(e, kind, our_id)
        if kind == "Practitioner":
            npi = next((p for p in pairs if p[0] == directory.NPI), pairs[0] if pairs else None)
            entry = _Directory(f"{npi[0]}|{npi[1]}" if npi else None, staff.display_name(data))
            if e.full_url:
                self.refs.practitioners[e.full_url] = entry
            for p in pairs:
                self.cache.practitioners[p] = entry
        else:
            for p in pairs:
                self.cache.organizations[p] = our_id
        return EntryResult(e.index, kind, outcome, location=f"{kind}/{our_id}", status=status)

    # -- patients --

    async def _patient(self, e: Entry) -> EntryResult:
        data = MAPPERS["Patient"].from_fhir(e.resource, self.refs)
        found = await self._find_patient([(i.system, i.value) for i in data.identifiers])
        outcome, status = UNCHANGED, 200
        if found is None:
            found = (await patients.register_patient(self.session, self.principal, data)).id
            outcome, status = CREATED, 201
        self._register_local(e, "Patient", found)
        for ident in data.identifiers:  # later entries may name the patient by any identifier
            self.refs.patients_by_identifier[(ident.system, ident.value)] = found
        return EntryResult(e.index, "Patient", outcome, location=f"Patient/{found}", status=status)

    # -- clinical rows --

    async def _clinical(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        wanted: dict[str, list[tuple[str, str]]] = {}
        keys: dict[int, tuple[str, str] | None] = {}
        for e in entries:
            prov = b.provenance(e.resource, self.refs)
            key = (prov["source_system"], prov["source_id"]) if prov else None
            keys[e.index] = key
            if key is not None:
                wanted.setdefault(e.resource_type, []).append(key)
        existing: dict[str, dict[tuple[str, str], patients.SourceRow]] = {}
        for kind, pairs in wanted.items():
            existing[kind] = await patients.existing_sources(self.session, kind, pairs)
        for e in entries:
            await self._guard(
                e, partial(self._clinical_one, e, keys[e.index], existing.setdefault(e.resource_type, {}))
            )

    async def _clinical_one(
        self, e: Entry, key: tuple[str, str] | None, existing: dict[tuple[str, str], patients.SourceRow]
    ) -> EntryResult:
        kind = e.resource_type
        if key is not None and key in existing:
            seen = existing[key]
            self._check_same_patient(e, key, seen)
            self._register_local(e, kind, seen.id)
            return EntryResult(e.index, kind, UNCHANGED, location=f"{kind}/{seen.id}", status=200)
        data = MAPPERS[kind].from_fhir(e.resource, self.refs)
        patient_id = b.patient_of(e.resource, self.refs)
        row = await self._write(kind, patient_id, data)
        if key is not None:
            existing[key] = patients.SourceRow(row.id, patient_id)
        self._register_local(e, kind, row.id)
        return EntryResult(e.index, kind, CREATED, location=f"{kind}/{row.id}", status=201)

    def _check_same_patient(self, e: Entry, key: tuple[str, str], seen: patients.SourceRow) -> None:
        """A record imported before belongs to the patient this entry names. If it does not, the
        patient it names is not the one it was imported for (its identifiers were changed since,
        so this import found no patient and registered a new one): refuse rather than report
        "unchanged" beside a duplicate patient."""
        try:
            patient_id = b.patient_of(e.resource, self.refs)
        except AppError:
            return  # nothing to compare with: the record is there, unchanged
        if patient_id != seen.patient_id:
            raise Conflict(
                f"{e.resource_type} {key[0]}|{key[1]} was imported before for Patient/{seen.patient_id},"
                f" not for the patient this entry names (Patient/{patient_id}): that patient's"
                " identifiers no longer match the source's; restore them (or merge the records)"
                " before importing again",
                code="source_patient_mismatch",
                details={"imported_for": str(seen.patient_id), "named": str(patient_id)},
            )

    async def _write(self, kind: str, patient_id: uuid.UUID, data: Any) -> pm.ClinicalRow:
        s, p = self.session, self.principal
        if kind == "Encounter":
            return await patients.add_encounter(s, p, patient_id, data)
        if kind == "Condition":
            return await patients.add_condition(s, p, patient_id, data)
        if kind == "AllergyIntolerance":
            return await patients.add_allergy(s, p, patient_id, data)
        if kind == "Observation":
            return await patients.add_observation(s, p, patient_id, data)
        if kind == "Procedure":
            return await patients.add_procedure(s, p, patient_id, data)
        if kind == "Immunization":
            return await patients.add_immunization(s, p, patient_id, data)
        if kind == "CarePlan":
            return await patients.add_care_plan(s, p, patient_id, data)
        assert kind == "MedicationRequest"
        try:
            return await patients.prescribe(s, p, patient_id, data)
        except Conflict as exc:
            if exc.code != "allergy_conflict" or p.username != SYSTEM_USERNAME:
                raise
            # A prescription the source system already made: record it as it happened, with the
            # override made explicit (and audited) rather than refusing history.
            reason = "Imported from the source record as prescribed there; allergy check overridden by import"
            return await patients.prescribe(
                s, p, patient_id, data.model_copy(update={"override_reason": reason})
            )

    # -- raw resources --

    def _raw_key(self, e: Entry) -> tuple[str, str, str]:
        rid = e.resource.get("id")
        if rid and self.refs.source_system:
            return e.resource_type, self.refs.source_system[:190], str(rid)[:190]
        if e.full_url:
            return e.resource_type, "urn:ietf:rfc:3986", e.full_url[:190]
        if rid:
            return e.resource_type, IMPORT_ID_SYSTEM, str(rid)[:190]
        digest = hashlib.sha256(json.dumps(e.resource, sort_keys=True).encode()).hexdigest()
        return e.resource_type, CONTENT_HASH_SYSTEM, digest

    def _raw_patient(self, resource: Mapping[str, Any]) -> uuid.UUID | None:
        for key in ("subject", "patient", "beneficiary"):
            ref = resource.get(key)
            if isinstance(ref, Mapping) and ref.get("reference"):
                try:
                    return self.refs.patient_id(str(ref["reference"]))
                except b.MappingError:
                    return None  # kept raw all the same, without a patient
        return None

    async def _raw(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        keys = {e.index: self._raw_key(e) for e in entries}
        existing = await _existing_raw(self.session, list(keys.values()))
        patients_touched: Counter[uuid.UUID | None] = Counter()
        new_rows: list[FhirRawResource] = []
        for e in entries:
            key = keys[e.index]
            reason = _RAW_REASONS.get(e.resource_type, f"kept raw: no {e.resource_type} mapping yet")
            if key in existing:
                self._done(EntryResult(e.index, e.resource_type, UNCHANGED, message=reason, status=200))
                continue
            patient_id = self._raw_patient(e.resource)
            row = FhirRawResource(
                resource_type=key[0][:64],
                source_system=key[1],
                source_id=key[2],
                patient_id=patient_id,
                resource_json=json.dumps(e.resource, ensure_ascii=False, separators=(",", ":")),
                reason=reason[:200],
                imported_by=self.principal.user_id,
            )
            existing[key] = row.id
            new_rows.append(row)
            patients_touched[patient_id] += 1
            self._done(EntryResult(e.index, e.resource_type, KEPT_RAW, message=reason, status=201))
        if not new_rows:
            return
        self.session.add_all(new_rows)
        await self.session.flush()
        for patient_id, n in patients_touched.items():
            audit.record(
                self.session,
                action="fhir.raw_kept",
                resource_type="FhirRawResource",
                patient_id=patient_id,
                details={
                    "count": n,
                    "types": dict(Counter(r.resource_type for r in new_rows if r.patient_id == patient_id)),
                },
            )


# --- lookups of earlier imports (one query per type per bundle) -------------------------


async def _existing_raw(
    session: AsyncSession, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], uuid.UUID]:
    found: dict[tuple[str, str, str], uuid.UUID] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 500):
        groups: dict[tuple[str, str], list[str]] = {}
        for kind, system, value in unique[start : start + 500]:
            groups.setdefault((kind, system), []).append(value)
        query = select(
            FhirRawResource.resource_type,
            FhirRawResource.source_system,
            FhirRawResource.source_id,
            FhirRawResource.id,
        ).where(
            or_(
                *(
                    and_(
                        FhirRawResource.resource_type == kind,
                        FhirRawResource.source_system == system,
                        FhirRawResource.source_id.in_(values),
                    )
                    for (kind, system), values in groups.items()
                )
            )
        )
        for kind, system, value, row_id in (await session.execute(query)).all():
            found[(kind, system, value)] = row_id
    return found


# --- files -----------------------------------------------------------------------------

DIRECTORY_FILE = re.compile(r"^(hospitalInformation|practitionerInformation)", re.IGNORECASE)


def discover(paths: Sequence[Path]) -> list[Path]:
    """Files to import: the paths given, folders searched recursively for *.json and *.ndjson;
    organisations, then practitioners, then everything else (patients), each group by name."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".json", ".ndjson")
            )
        else:
            files.append(path)
    unique = list(dict.fromkeys(files))
    return sorted(unique, key=lambda p: (_phase(p), str(p)))


def _phase(path: Path) -> int:
    name = path.name
    if name.lower().startswith("hospitalinformation"):
        return 0
    if name.lower().startswith("practitionerinformation"):
        return 1
    try:
        with path.open("rb") as f:
            head = f.read(4_000_000).decode("utf-8", "replace")
    except OSError:
        return 3
    types = set(_TYPE_PATTERN.findall(head)) - {"Bundle"}
    if types and types <= {"Organization", "Location"}:
        return 0
    if types and types <= {"Organization", "Location", "Practitioner", "PractitionerRole"}:
        return 1
    if "Patient" in types:
        return 2
    return 3


@dataclass
class Unit:
    """One all-or-nothing or per-entry unit of import: a bundle, a bare resource, or an NDJSON file."""

    file: Path
    entries: list[Entry]
    atomic: bool
    position: str  # "entry" or "line"


def read_units(path: Path, report: ImportReport) -> list[Unit]:
    """Parse one file; a malformed one is reported with its position and yields nothing."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte order mark (Windows) is no JSON
    except (OSError, UnicodeDecodeError) as exc:
        report.problems.append(Problem(label, "file", None, f"cannot read: {exc}"))
        report.bundles_failed += 1
        return []
    if path.suffix.lower() == ".ndjson":
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                resource = jsonio.loads(line)
            except jsonio.JsonError as exc:
                where = f"line {number}" + (f" column {exc.column}" if exc.column is not None else "")
                report.problems.append(Problem(label, where, None, f"malformed JSON: {exc.message}"))
                report.add(EntryResult(number, "(malformed)", FAILED, message=exc.message))
                continue
            entries.append(Entry(number, resource if isinstance(resource, dict) else {}))
        return [Unit(path, entries, atomic=False, position="line")]
    try:
        document = jsonio.loads(text)
    except jsonio.JsonError as exc:
        report.problems.append(Problem(label, exc.position or "file", None, f"malformed JSON: {exc.message}"))
        report.add(EntryResult(0, "(malformed file)", FAILED, message=exc.message))
        report.bundles_failed += 1
        return []
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        report.problems.append(Problem(label, "file", None, "not a FHIR resource or Bundle"))
        report.add(EntryResult(0, "(not FHIR)", FAILED))
        report.bundles_failed += 1
        return []
    if document["resourceType"] != "Bundle":
        return [Unit(path, [Entry(0, document)], atomic=True, position="resource")]
    kind = document.get("type")
    try:
        entries = entries_of(document)
    except AppError as exc:
        report.problems.append(Problem(label, "file", "Bundle", exc.message))
        report.add(EntryResult(0, "Bundle", FAILED, message=exc.message))
        report.bundles_failed += 1
        return []
    return [Unit(path, entries, atomic=kind != "batch", position="entry")]


Progress = Callable[[Path, int, int], None]  # file, entries done in it, entries in it


async def import_unit(
    db: Database, principal: Principal, unit: Unit, report: ImportReport, cache: RunCache
) -> None:
    """One unit in its own session and transaction: committed whole, or rolled back whole."""
    async with db.sessionmaker() as session:
        work = BundleImport(
            session, principal, atomic=unit.atomic, default_source_system=IMPORT_ID_SYSTEM, cache=cache
        )
        try:
            results = await work.run(unit.entries)
            await session.commit()
        except BundleFailed as exc:
            audit.take_pending(session)
            await session.rollback()
            position = f"{unit.position} {exc.index}"
            _unit_failed(report, unit, Problem(str(unit.file), position, exc.resource_type, exc.reason))
            await _audit_unit_failed(db, principal, unit, position, exc.reason, exc.code)
            return
        except Exception as exc:
            # Not a refusal of the data but a defect or a lost database: this unit is rolled back
            # and reported, the run goes on with the next one (and exits 1).
            audit.take_pending(session)
            await session.rollback()
            log.exception("import of %s failed unexpectedly", unit.file)
            message = f"unexpected error ({type(exc).__name__}); nothing of it was kept, the error is logged"
            _unit_failed(report, unit, Problem(str(unit.file), unit.position, None, message))
            with contextlib.suppress(Exception):
                await _audit_unit_failed(db, principal, unit, unit.position, message, "internal_error")
            return
        except BaseException:
            audit.take_pending(session)
            await session.rollback()
            raise
    for r in results:
        report.add(r)
        if r.outcome == FAILED:
            report.problems.append(
                Problem(str(unit.file), f"{unit.position} {r.index}", r.resource_type, r.message or "")
            )


def _unit_failed(report: ImportReport, unit: Unit, problem: Problem) -> None:
    report.problems.append(problem)
    report.bundles_failed += 1
    for e in unit.entries:
        report.add(EntryResult(e.index, e.resource_type, FAILED, message="bundle rolled back"))


async def _audit_unit_failed(
    db: Database, principal: Principal, unit: Unit, position: str, message: str, code: str
) -> None:
    event = PendingEvent(
        action="fhir.import_bundle_failed",
        resource_type="Bundle",
        resource_id=None,
        patient_id=None,
        outcome="failure",
        details={"file": unit.file.name, "position": position, "message": message[:300]},
        actor_id=principal.user_id,
        actor_username=principal.username,
    )
    await audit.write_failed(db.sessionmaker, [event], "failure", code)


async def import_paths(
    db: Database, paths: Sequence[Path], *, progress: Callable[[Path], None] | None = None
) -> ImportReport:
    """Import files and folders (see ``discover``) as the system principal."""
    report = ImportReport()
    ctx = current_context()
    async with db.sessionmaker() as session:
        principal = await system_principal(session)
        await session.commit()
    ctx.actor_id = principal.user_id
    ctx.actor_username = principal.username
    ctx.actor_roles = principal.roles
    cache = RunCache()
    for path in discover(paths):
        report.files += 1
        for unit in read_units(path, report):
            await import_unit(db, principal, unit, report, cache)
        if progress is not None:
            progress(path)
    return report


# --- the summary -----------------------------------------------------------------------


def summary_lines(report: ImportReport) -> list[str]:
    """The summary as plain text: a table per resource type, then the reasons, then problems."""
    header = ("resource type", "imported", "unchanged", "kept raw", "skipped", "failed")
    rows = [tuple(str(c) for c in row) for row in report.rows()]
    totals = ("total", *(str(report.total(o)) for o in OUTCOMES))
    widths = [max(len(r[i]) for r in [header, *rows, totals]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        )

    out = [line(header), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    out.append("  ".join("-" * w for w in widths))
    out.append(line(totals))
    if report.reasons:
        out.append("")
        out.append("not mapped, and why:")
        for (kind, outcome), reasons in sorted(report.reasons.items()):
            for reason, n in reasons.most_common():
                out.append(f"  {kind} ({outcome}, {n}): {reason}")
    out.append("")
    out.append(
        f"{report.files} file(s); {report.bundles_failed} bundle(s) or file(s) rolled back or unreadable"
    )
    if report.problems:
        out.append("")
        out.append(f"problems ({len(report.problems)}):")
        out.extend(f"  {p}" for p in report.problems[:200])
        if len(report.problems) > 200:
            out.append(f"  ... and {len(report.problems) - 200} more")
    return out
