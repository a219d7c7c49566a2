"""FHIR search parameters -> patients service calls, and searchset Bundles with paging links.

Strict: an unknown parameter, a modifier (``name:exact``) or a repeated parameter that we do not
combine is a 400 OperationOutcome, never silently ignored (FHIR lets a server ignore unknown
parameters only if it reports them; refusing is the clearer contract for integrators).
Paging: ``_count`` (default 50, at most 200; larger values are lowered to 200) and ``_offset``;
the ``next``/``previous`` links carry both. Results keep the native API's stable order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from app.errors import BadRequest
from app.fhir.mappers import base as mb
from app.patients import service as ps

DEFAULT_COUNT = 50
MAX_COUNT = 200
MAX_OFFSET = 1_000_000
PAGING = ("_count", "_offset", "_format")


def bad(message: str, code: str = "invalid_search") -> BadRequest:
    return BadRequest(message, code=code)


@dataclass(frozen=True)
class Paging:
    count: int
    offset: int


def paging(params: QueryParams) -> Paging:
    def number(name: str, default: int, high: int) -> int:
        values = params.getlist(name)
        if not values:
            return default
        if len(values) > 1 or not values[0].isdigit():
            raise bad(f"{name} must be one non-negative integer")
        return min(int(values[0]), high)

    fmt = params.get("_format")
    if fmt is not None and fmt not in ("json", "application/json", "application/fhir+json"):
        raise bad("_format: only JSON is supported", code="unsupported_format")
    return Paging(count=number("_count", DEFAULT_COUNT, MAX_COUNT), offset=number("_offset", 0, MAX_OFFSET))


def check_known(params: QueryParams, allowed: Sequence[str], resource_type: str) -> None:
    unknown = sorted({k for k in params if k not in allowed and k not in PAGING})
    if unknown:
        raise bad(
            f"Unsupported search parameter(s) for {resource_type}: {', '.join(unknown)}. "
            f"Supported: {', '.join(sorted(allowed))}, _count, _offset (see GET /fhir/metadata)",
            code="unsupported_search_parameter",
        )


def single(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise bad(f"{name} may be given once (use commas for OR)")
    if not values[0].strip():
        raise bad(f"{name} is empty")
    return values[0].strip()


# --- dates -----------------------------------------------------------------------------

_PREFIXES = ("eq", "ge", "le", "gt", "lt")


def _date_range(raw: str, name: str) -> tuple[datetime, datetime]:
    """The range a FHIR date value stands for: a day, month or year is all of it."""
    try:
        if len(raw) == 4:
            start = datetime(int(raw), 1, 1, tzinfo=UTC)
            return start, datetime(start.year + 1, 1, 1, tzinfo=UTC)
        if len(raw) == 7:
            y, m = (int(p) for p in raw.split("-"))
            start = datetime(y, m, 1, tzinfo=UTC)
            return start, datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC)
        if len(raw) == 10:
            start = datetime.combine(date.fromisoformat(raw), time(), UTC)
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment, moment + timedelta(microseconds=1)
    except ValueError as exc:
        raise bad(f"{name}: {raw!r} is not a date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)") from exc


def date_filters(values: Sequence[str], column: str, name: str) -> dict[str, datetime]:
    """``[ge|le|gt|lt|eq]date`` values -> ``column__ge`` / ``column__le`` bounds (intersected)."""
    low: datetime | None = None
    high: datetime | None = None  # inclusive upper bound
    for value in values:
        op, raw = ("eq", value)
        if value[:2] in _PREFIXES:
            op, raw = value[:2], value[2:]
        start, end = _date_range(raw, name)
        last = end - timedelta(microseconds=1)
        lows = {"eq": start, "ge": start, "gt": end}
        highs = {"eq": last, "le": last, "lt": start - timedelta(microseconds=1)}
        if op in lows:
            low = max(low, lows[op]) if low else lows[op]
        if op in highs:
            high = min(high, highs[op]) if high else highs[op]
    out: dict[str, datetime] = {}
    if low is not None:
        out[f"{column}__ge"] = low
    if high is not None:
        out[f"{column}__le"] = high
    return out


# --- tokens ----------------------------------------------------------------------------


def code_filters(value: str, prefix: str, name: str) -> dict[str, Any]:
    """``system|code``, ``|code`` (no system) or ``code``, comma-separated for OR (one system)."""
    systems: set[str | None] = set()
    codes: list[str] = []
    any_system = False
    for part in value.split(","):
        if "|" in part:
            named, _, code = part.partition("|")
            systems.add(named or None)
        else:
            code = part
            any_system = True
        if not code:
            raise bad(f"{name}: a token needs a code (system|code or code)")
        codes.append(code)
    if len(systems) > 1 or (systems and any_system):
        raise bad(f"{name}: OR-ed tokens must all name the same system (or none)")
    out: dict[str, Any] = {}
    if len(codes) == 1:
        out[f"{prefix}_code"] = codes[0]
    else:
        out[f"{prefix}_code__in"] = codes
    if systems:
        system: str | None = next(iter(systems))
        if system is None:
            raise bad(f"{name}: |code (a code without a system) is not supported; give system|code or code")
        out[f"{prefix}_system"] = system
    return out


def plain_filters(value: str, column: str, allowed: Sequence[str] | None, name: str) -> dict[str, Any]:
    """A token on a plain column (status-like): ``code`` or ``system|code``, comma for OR."""
    codes = [part.rpartition("|")[2] for part in value.split(",")]
    if allowed is not None:
        wrong = [c for c in codes if c not in allowed]
        if wrong:
            raise bad(f"{name}: {', '.join(wrong)} is not one of {', '.join(allowed)}")
    return {column: codes[0]} if len(codes) == 1 else {f"{column}__in": codes}


# --- clinical searches -----------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    kind: str  # "code" (composite system/code columns), "token" (plain column), "date"
    target: str  # composite prefix or column name
    doc: str
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ClinicalType:
    resource_type: str
    kind: ps.Kind[Any]
    params: dict[str, Param] = field(default_factory=dict)
    patient_params: tuple[str, ...] = ("patient", "subject")


_DATE_DOC = "ge/le/gt/lt/eq prefixes; YYYY, YYYY-MM, YYYY-MM-DD or dateTime"
_CODE_DOC = "token: system|code or code; comma for OR"

CLINICAL: dict[str, ClinicalType] = {
    t.resource_type: t
    for t in (
        ClinicalType(
            "Encounter",
            ps.ENCOUNTERS,
            {
                "date": Param("date", "period_start", f"Encounter start; {_DATE_DOC}"),
                "status": Param("token", "status", "Encounter status"),
                "class": Param("token", "class_code", "v3 ActCode, e.g. AMB"),
                "type": Param("code", "type", _CODE_DOC),
            },
        ),
        ClinicalType(
            "Condition",
            ps.CONDITIONS,
            {
                "code": Param("code", "code", _CODE_DOC),
                "clinical-status": Param("token", "clinical_status", "active, resolved, ..."),
                "category": Param("token", "category", "problem-list-item or encounter-diagnosis"),
                "onset-date": Param("date", "onset_at", _DATE_DOC),
            },
        ),
        ClinicalType(
            "AllergyIntolerance",
            ps.ALLERGIES,
            {
                "code": Param("code", "code", _CODE_DOC),
                "clinical-status": Param("token", "clinical_status", "active, inactive, resolved"),
                "criticality": Param("token", "criticality", "low, high, unable-to-assess"),
                "category": Param("token", "category", "food, medication, environment, biologic"),
            },
            ("patient",),
        ),
        ClinicalType(
            "Observation",
            ps.OBSERVATIONS,
            {
                "code": Param("code", "code", _CODE_DOC),
                "category": Param("token", "category", "vital-signs, laboratory, survey, ..."),
                "date": Param("date", "effective_at", f"effective time; {_DATE_DOC}"),
                "status": Param("token", "status", "final, amended, ..."),
            },
        ),
        ClinicalType(
            "MedicationRequest",
            ps.MEDICATION_REQUESTS,
            {
                "code": Param("code", "medication", f"the medication; {_CODE_DOC}"),
                "status": Param("token", "status", "active, completed, stopped, ..."),
                "intent": Param("token", "intent", "order, plan, ..."),
                "authoredon": Param("date", "authored_at", _DATE_DOC),
            },
        ),
        ClinicalType(
            "Procedure",
            ps.PROCEDURES,
            {
                "code": Param("code", "code", _CODE_DOC),
                "status": Param("token", "status", "completed, ..."),
                "date": Param("date", "performed_start", f"performed start; {_DATE_DOC}"),
            },
        ),
        ClinicalType(
            "Immunization",
            ps.IMMUNIZATIONS,
            {
                "vaccine-code": Param("code", "vaccine", f"CVX; {_CODE_DOC}"),
                "status": Param("token", "status", "completed, not-done, entered-in-error"),
                "date": Param("date", "occurrence_at", _DATE_DOC),
            },
            ("patient",),
        ),
        ClinicalType(
            "CarePlan",
            ps.CARE_PLANS,
            {
                "category": Param("code", "category", _CODE_DOC),
                "status": Param("token", "status", "active, completed, ..."),
                "intent": Param("token", "intent", "plan, order, ..."),
                "date": Param("date", "period_start", f"period start; {_DATE_DOC}"),
            },
        ),
    )
}


def patient_reference(value: str) -> uuid.UUID | None:
    """``Patient/{id}``, ``{id}`` or a full URL ending so; None when it cannot be one of ours."""
    tail = value.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] != "Patient":
        return None
    try:
        return uuid.UUID(tail[-1])
    except ValueError:
        return None


def clinical_filters(spec: ClinicalType, params: QueryParams) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    for name, param in spec.params.items():
        if param.kind == "date":
            values = params.getlist(name)
            if values:
                filters.update(date_filters(values, param.target, name))
            continue
        value = single(params, name)
        if value is None:
            continue
        if param.kind == "code":
            filters.update(code_filters(value, param.target, name))
        else:
            filters.update(plain_filters(value, param.target, param.allowed, name))
    return filters


# --- bundles ---------------------------------------------------------------------------


def searchset(
    base: str,
    path: str,
    params: QueryParams,
    page: Paging,
    total: int,
    resources: Sequence[dict[str, Any]],
    *,
    bundle_type: str = "searchset",
    total_is_lower_bound: bool = False,
) -> dict[str, Any]:
    """A Bundle of one page. ``total`` is omitted when it is only a lower bound (a capped count:
    FHIR allows leaving it out); a next link is then given while pages come back full."""
    criteria = [(k, v) for k, v in params.multi_items() if k not in ("_count", "_offset")]

    def link(relation: str, offset: int) -> dict[str, str]:
        query = urlencode([*criteria, ("_count", str(page.count)), ("_offset", str(offset))])
        return {"relation": relation, "url": f"{base}{path}?{query}"}

    links = [link("self", page.offset)]
    more = total_is_lower_bound and len(resources) == page.count
    if page.count and (page.offset + page.count < total or more):
        links.append(link("next", page.offset + page.count))
    if page.offset > 0:
        links.append(link("previous", max(page.offset - page.count, 0)))
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
        if bundle_type == "searchset":
            entry["search"] = {"mode": "match"}
        entries.append(entry)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": mb.fhir_instant(datetime.now(UTC))},
        "type": bundle_type,
        "total": total,
        "link": links,
        "entry": entries,
    }
    if total_is_lower_bound:
        del bundle["total"]
    return bundle
