"""Shared pieces of the FHIR mappers: the reference resolver, errors, and data-type helpers.

Inbound (``from_fhir``): a FHIR R4 JSON dict (as parsed by ``json``: numbers may be ``float``,
``int`` or ``Decimal``) becomes a patients ``...Create`` schema. References to the patient, the
encounter and practitioners are resolved by the caller's ``ReferenceResolver`` (the importer
resolves ``urn:uuid:`` and conditional references; the REST API resolves ``Patient/{id}``).
Unknown or unsupported elements are ignored; a missing required element or a value we cannot
store raises ``MappingError`` (an ``AppError``: 400 ``invalid_resource``), naming the FHIR path.

Outbound (``to_fhir``): one of our rows or read schemas becomes a FHIR R4 JSON dict that
validates against ``fhir.resources.R4B``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, ParamSpec, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from app.errors import AppError, BadRequest
from app.kit.time import as_utc
from app.patients import schemas as s

# Our own extensions and code systems (documented in the CapabilityStatement).
HUB_BASE = "https://hospital-hub.example/fhir"
EXT_ALLERGY_OVERRIDE = f"{HUB_BASE}/StructureDefinition/allergy-override-reason"
EXT_PROVENANCE = f"{HUB_BASE}/StructureDefinition/source-identifier"
UCUM = "http://unitsofmeasure.org"
PATIENT_KEYED = ("Immunization", "AllergyIntolerance")  # the patient is ``.patient``, not ``.subject``

log = logging.getLogger("app.fhir")


class MappingError(BadRequest):
    """A FHIR resource we cannot map: missing required element or a value we cannot store."""

    code = "invalid_resource"

    def __init__(self, message: str, *, path: str | None = None, issues: list[dict[str, Any]] | None = None):
        details: dict[str, Any] = {}
        if path:
            details["path"] = path
        if issues:
            details["issues"] = issues
        super().__init__(message, details=details or None)
        self.path = path
        self.issues = issues or ([{"path": path, "message": message}] if path else [])


class ReferenceResolver(Protocol):
    """Turns FHIR references inside a resource into our ids. Implemented by the importer (bundle
    ``urn:uuid:`` and conditional references) and by the REST API (``Patient/{id}``)."""

    @property
    def source_system(self) -> str | None:
        """The system recorded with a resource's own ``id`` as its provenance (e.g. the Synthea
        URL), so re-importing the same resource is recognised; None: only ``identifier`` counts."""
        ...

    def patient_id(self, reference: str) -> uuid.UUID:
        """Our patient id for ``subject.reference``; raise ``MappingError`` if unknown."""
        ...

    def encounter_id(self, reference: str) -> uuid.UUID | None:
        """Our encounter id, or None when it is not (yet) known: the link is then dropped."""
        ...

    def practitioner(self, reference: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(identifier, display) of a practitioner Reference; identifier as ``system|value``."""
        ...


# --- the shape of inbound JSON --------------------------------------------------------

# What a mapper raises when an element has another JSON type than FHIR gives it (a string where
# an object belongs, an object where an array belongs, ...). The mappers are pure functions of
# the resource, so any of these comes from the resource, never from the server's state.
_SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError, ArithmeticError)
_MAX_SHAPE_ISSUES = 10

P = ParamSpec("P")
T = TypeVar("T")


def _r4b_issues(resource: Mapping[str, Any], resource_type: str) -> list[dict[str, Any]]:
    """Where ``resource`` breaks the R4(B) structure, per the ``fhir.resources`` models: run only
    after a mapper failed on it, to name the element (validation is too slow for every write)."""
    try:
        module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
        getattr(module, resource_type).model_validate(dict(resource))
    except ValidationError as exc:
        issues = []
        for e in exc.errors()[:_MAX_SHAPE_ISSUES]:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"] if p != "")
            message = str(e["msg"])
            if message.startswith("Invalid JSON"):  # the models try a string as JSON text
                message = "must be a JSON object"
            issues.append({"path": f"{resource_type}{where}", "message": message[:200]})
        return issues
    except Exception:  # no model for the type, or the validator itself failed: no details
        log.debug("R4B validation of a %s failed", resource_type, exc_info=True)
    return []


def shape_error(resource: Any, exc: BaseException) -> MappingError:
    """The 400 for a resource a mapper could not read (see ``reads_fhir``)."""
    if isinstance(exc, ValidationError):  # one of our schemas refused a value built on the way
        issues = [
            {"path": ".".join(str(p) for p in e["loc"]) or "resource", "message": e["msg"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{i['path']}: {i['message']}" for i in issues[:5])
        return MappingError(f"a value cannot be stored: {summary}", issues=issues)
    kind = resource.get("resourceType") if isinstance(resource, Mapping) else None
    kind = kind if isinstance(kind, str) and kind.isalpha() else "resource"
    issues = _r4b_issues(resource, kind) if kind != "resource" else []
    if issues:
        first = issues[0]
        return MappingError(f"{kind} is not valid FHIR: {first['path']}: {first['message']}", issues=issues)
    # Valid by the R4B models and still unreadable here: worth a look, so log where it broke.
    log.warning("could not map a %s", kind, exc_info=exc)
    return MappingError(
        f"{kind} could not be read: an element has a type or value we do not understand"
        " (the error has been logged)"
    )


def reads_fhir(mapper: Callable[P, T]) -> Callable[P, T]:
    """Wrap an inbound mapper (its first argument: the resource) so that an element of the wrong
    JSON type is a 400 ``invalid_resource`` naming the element, never a 500."""

    @functools.wraps(mapper)
    def read(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return mapper(*args, **kwargs)
        except AppError:
            raise
        except _SHAPE_ERRORS as exc:
            raise shape_error(args[0] if args else None, exc) from exc

    return read


# --- inbound helpers -------------------------------------------------------------------


def require(resource: Mapping[str, Any], key: str, path: str) -> Any:
    value = resource.get(key)
    if value in (None, "", [], {}):
        raise MappingError(f"{path}.{key} is required", path=f"{path}.{key}")
    return value


def check_type(resource: Mapping[str, Any], expected: str) -> None:
    if not isinstance(resource, Mapping):
        raise MappingError(f"a {expected} resource must be a JSON object")
    got = resource.get("resourceType")
    if got != expected:
        raise MappingError(f"expected resourceType {expected}, got {got!r}", path="resourceType")


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = str(text).strip()
    return text[:limit] if text else None


def coding(value: Mapping[str, Any] | None) -> s.Coding | None:
    """A FHIR Coding -> our Coding (None when it has neither code nor display)."""
    if not isinstance(value, Mapping):
        return None
    code = _clip(value.get("code"), 10_000)
    display = _clip(value.get("display"), 255)
    if code is None and display is None:
        return None
    if code is not None and len(code) > 64:
        raise MappingError(f"code {code[:70]!r} is longer than 64 characters")
    system = _clip(value.get("system"), 190)
    return build(s.Coding, {"system": system, "code": code, "display": display}, "Coding")


def concept(value: Mapping[str, Any] | None, path: str = "", *, required: bool = False) -> s.Coding | None:
    """A CodeableConcept -> our one Coding: the first coding with a code, display falling back to
    ``text``; a text-only concept keeps the text as display."""
    if isinstance(value, Mapping):
        text = _clip(value.get("text"), 255)
        codings = [c for c in value.get("coding") or [] if isinstance(c, Mapping)]
        for c in sorted(codings, key=lambda c: not c.get("code")):
            found = coding({**c, "display": c.get("display") or text})
            if found is not None:
                return found
        if text:
            return build(s.Coding, {"display": text}, "CodeableConcept")
    if required:
        raise MappingError(f"{path} needs a coding or a text", path=path)
    return None


def code_of(value: Mapping[str, Any] | None) -> str | None:
    """The code of a CodeableConcept's first coding (status-like concepts)."""
    found = concept(value)
    return found.code if found is not None else None


def first(items: Any) -> Any:
    if isinstance(items, list) and items:
        return items[0]
    return None


# FHIR date / dateTime / instant: YYYY, YYYY-MM, YYYY-MM-DD, or a date with a time and a zone
# (seconds optional here; a fraction of any length, kept to the microsecond; leap second 60).
_DATE_TIME = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _zone(text: str) -> timezone:
    if text == "Z":
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59 or (hours == 14 and minutes):
        raise ValueError("a zone offset lies between -14:00 and +14:00")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def _parse_date_time(text: str) -> datetime | None:
    """A FHIR date/dateTime/instant string as an aware datetime (a partial date: its start, in
    UTC); None when it is not one. Impossible calendar values (month 13, 30 February, hour 25,
    year 0000, offset +25:00) raise ValueError."""
    match = _DATE_TIME.match(text)
    if match is None:
        return None
    g = match.groupdict()
    if g["hour"] is not None and g["zone"] is None:
        raise LookupError("a time needs a zone")
    second = int(g["second"] or 0)
    leap = second == 60  # a leap second: the instant one second after :59
    parsed = datetime(
        int(g["year"]),
        int(g["month"] or 1),
        int(g["day"] or 1),
        int(g["hour"] or 0),
        int(g["minute"] or 0),
        59 if leap else second,
        int((g["fraction"] or "0")[:6].ljust(6, "0")),
        tzinfo=_zone(g["zone"]) if g["zone"] else UTC,
    )
    return parsed + timedelta(seconds=1) if leap else parsed


def when(value: Any, path: str) -> datetime | None:
    """A FHIR date/dateTime/instant -> an aware datetime in UTC (a partial date: its start).
    Not a FHIR dateTime, an impossible calendar date, a time without a zone, or an instant with
    no UTC equivalent (the year 9999 west of Greenwich): ``MappingError`` naming ``path``."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(), UTC)
    elif not isinstance(value, str):
        raise MappingError(f"{path} is not a FHIR dateTime (a JSON string): {value!r:.40}", path=path)
    else:
        text = value.strip()
        try:
            parsed = _parse_date_time(text)
        except LookupError:
            raise MappingError(f"{path} has a time but no time zone", path=path) from None
        except (ValueError, OverflowError):
            raise MappingError(
                f"{path} is not a FHIR dateTime: {text[:40]!r} (no such date, time or zone offset)",
                path=path,
            ) from None
        if parsed is None:
            raise MappingError(f"{path} is not a FHIR dateTime: {text[:40]!r}", path=path)
    assert parsed is not None
    if parsed.tzinfo is None:
        raise MappingError(f"{path} has a time but no time zone", path=path)
    utc = as_utc(parsed)
    if utc is None:
        raise MappingError(f"{path} lies outside the dates we can keep", path=path)
    return utc


def day(value: Any, path: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10]) if len(str(value)) >= 10 else None
    except ValueError as exc:
        raise MappingError(f"{path} is not a FHIR date: {value!r}", path=path) from exc


def decimal(value: Any, path: str, places: int = 6) -> Decimal | None:
    """A JSON number (float, int, Decimal or numeric string) -> Decimal rounded to ``places``."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
        if not number.is_finite():
            raise InvalidOperation
        return number.quantize(Decimal(1).scaleb(-places)).normalize()
    except InvalidOperation as exc:
        raise MappingError(f"{path} is not a number: {value!r}", path=path) from exc


def quantity_unit(q: Mapping[str, Any]) -> str | None:
    """The UCUM code when the quantity is UCUM-coded, else its human unit."""
    if q.get("system") == UCUM and q.get("code"):
        return _clip(q.get("code"), 64)
    return _clip(q.get("unit") or q.get("code"), 64)


def texts(notes: Any) -> str | None:
    """Annotation[] -> one text (paragraphs)."""
    parts = [str(n.get("text")).strip() for n in notes or [] if isinstance(n, Mapping) and n.get("text")]
    return "\n\n".join(parts)[:20_000] or None


def provenance(resource: Mapping[str, Any], refs: ReferenceResolver) -> dict[str, str]:
    """source_system/source_id: the resource's first identifier with system and value (a
    business key), else its ``id`` under the resolver's source system; empty when neither."""
    identifiers = resource.get("identifier")
    for ident in identifiers if isinstance(identifiers, list) else []:
        if isinstance(ident, Mapping) and ident.get("system") and ident.get("value"):
            return {"source_system": str(ident["system"])[:190], "source_id": str(ident["value"])[:190]}
    rid = resource.get("id")
    system = refs.source_system
    if rid and system:
        return {"source_system": system[:190], "source_id": str(rid)[:190]}
    return {}


def subject(resource: Mapping[str, Any], refs: ReferenceResolver, key: str = "subject") -> uuid.UUID:
    ref = resource.get(key)
    kind = resource.get("resourceType", "resource")
    if not isinstance(ref, Mapping) or not ref.get("reference"):
        raise MappingError(f"{kind}.{key} must reference the patient", path=f"{kind}.{key}")
    return refs.patient_id(str(ref["reference"]))


def patient_of(resource: Mapping[str, Any], refs: ReferenceResolver) -> uuid.UUID:
    """Our patient id for a clinical resource (``patient`` on Immunization and
    AllergyIntolerance, ``subject`` elsewhere)."""
    key = "patient" if resource.get("resourceType") in PATIENT_KEYED else "subject"
    return subject(resource, refs, key)


def encounter(resource: Mapping[str, Any], refs: ReferenceResolver) -> uuid.UUID | None:
    ref = resource.get("encounter") or resource.get("context")
    if isinstance(ref, Mapping) and ref.get("reference"):
        return refs.encounter_id(str(ref["reference"]))
    return None


M = TypeVar("M", bound=BaseModel)


def build(schema: type[M], data: dict[str, Any], resource_type: str) -> M:
    """Validate the mapped fields into our schema; a refusal names the fields."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        issues = [
            {"path": ".".join(str(p) for p in e["loc"]) or resource_type, "message": e["msg"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{i['path']}: {i['message']}" for i in issues[:5])
        raise MappingError(f"{resource_type} cannot be stored: {summary}", issues=issues) from exc


def one_of(value: Any, allowed: Iterable[str], path: str, default: str | None = None) -> str | None:
    if value in (None, ""):
        return default
    allowed = tuple(allowed)
    if value not in allowed:
        raise MappingError(f"{path} {value!r} is not supported (one of: {', '.join(allowed)})", path=path)
    return str(value)


# --- outbound helpers ------------------------------------------------------------------


def fhir_instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fhir_number(value: Decimal | None) -> float | int | None:
    """FHIR decimals travel as JSON numbers. Our quantities have at most 18 digits, which a
    float's shortest repr writes back exactly ("120.5" stays 120.5)."""
    if value is None:
        return None
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return int(normal)
    return float(normal)


def fhir_coding(c: s.Coding | Any | None) -> dict[str, Any] | None:
    if c is None:
        return None
    out = {k: getattr(c, k, None) for k in ("system", "code", "display")}
    out = {k: v for k, v in out.items() if v is not None}
    return out or None


def fhir_concept(c: s.Coding | Any | None, text: str | None = None) -> dict[str, Any] | None:
    coded = fhir_coding(c)
    if coded is None:
        return {"text": text} if text else None
    if set(coded) == {"display"}:  # a text-only concept
        return {"text": coded["display"]}
    out: dict[str, Any] = {"coding": [coded]}
    if coded.get("display"):
        out["text"] = coded["display"]
    return out


def system_concept(system: str, code: str | None) -> dict[str, Any] | None:
    return {"coding": [{"system": system, "code": code}]} if code else None


def ref(resource_type: str, rid: uuid.UUID | None, display: str | None = None) -> dict[str, Any] | None:
    if rid is None:
        return None
    out: dict[str, Any] = {"reference": f"{resource_type}/{rid}"}
    if display:
        out["display"] = display
    return out


def practitioner_ref(identifier: str | None, display: str | None) -> dict[str, Any] | None:
    """A logical reference: we keep the practitioner's identifier (``system|value``), not a row."""
    if not identifier and not display:
        return None
    out: dict[str, Any] = {"type": "Practitioner"}
    if identifier:
        system, sep, value = identifier.partition("|")
        out["identifier"] = {"system": system, "value": value} if sep and system else {"value": identifier}
    if display:
        out["display"] = display
    return out


def source_identifier(obj: Any) -> list[dict[str, Any]]:
    if getattr(obj, "source_system", None) and getattr(obj, "source_id", None):
        return [{"system": obj.source_system, "value": obj.source_id}]
    return []


def meta(obj: Any) -> dict[str, Any]:
    return {"lastUpdated": fhir_instant(obj.updated_at)}


def clean(value: Any) -> Any:
    """Drop None, empty lists and empty objects (FHIR forbids empty elements)."""
    if isinstance(value, dict):
        out = {k: clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        items = [clean(v) for v in value]
        return [v for v in items if v not in (None, [], {}, "")]
    return value


R = TypeVar("R", bound=BaseModel)


def as_read(schema: type[R], obj: Any) -> R:
    """Accept a read schema or an ORM row."""
    return obj if isinstance(obj, schema) else schema.model_validate(obj)


Mapper = Callable[[Any], dict[str, Any]]


# --- datatypes shared by the Patient, Practitioner and Organization mappers -------------

TELECOM_SYSTEMS = ("phone", "fax", "email", "pager", "url", "sms", "other")
TELECOM_USES = ("home", "work", "temp", "old", "mobile")
ADDRESS_USES = ("home", "work", "temp", "old", "billing")
IDENTIFIER_USES = ("usual", "official", "temp", "secondary", "old")


def strings(values: Any, limit: int) -> list[str]:
    """The non-blank strings of a FHIR string array, trimmed to ``limit`` characters."""
    return [str(v).strip()[:limit] for v in values or [] if isinstance(v, str) and v.strip()]


def telecoms(items: Any) -> list[dict[str, Any]]:
    """FHIR ContactPoints -> our telecom dicts; entries we cannot store are dropped."""
    out = []
    for t in items or []:
        if isinstance(t, Mapping) and t.get("value") and t.get("system") in TELECOM_SYSTEMS:
            rank = t.get("rank")
            out.append(
                {
                    "system": t["system"],
                    "value": str(t["value"]).strip()[:255],
                    "use": t.get("use") if t.get("use") in TELECOM_USES else None,
                    "rank": rank if isinstance(rank, int) and 1 <= rank <= 100 else None,
                }
            )
    return out[:20]
