"""Patient <-> PatientCreate / PatientRead.

Kept: names (use, text, family, given, prefix, suffix), identifiers (every one with a system; our
MRN is emitted as the first identifier, and ignored inbound: it is assigned on registration),
gender, birthDate, deceased[x], maritalStatus, telecom, address (with the geolocation extension),
contact (name, relationship, phone, email), communication (the preferred language), active.
Ignored inbound: race/ethnicity/birthsex/birthPlace and other extensions, multipleBirth[x],
photo, generalPractitioner, managingOrganization, link (we have nowhere to keep them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.fhir.mappers import base as b
from app.patients import schemas as s
from app.patients.repository import MRN_SYSTEM

RESOURCE_TYPE = "Patient"
GEOLOCATION = "http://hl7.org/fhir/StructureDefinition/geolocation"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
BCP47 = "urn:ietf:bcp:47"
_NAME_USES = ("usual", "official", "temp", "nickname", "anonymous", "old", "maiden")


def _names(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    names = []
    for n in resource.get("name") or []:
        if not isinstance(n, Mapping):
            continue
        name = {
            "use": n.get("use") if n.get("use") in _NAME_USES else None,
            "text": b._clip(n.get("text"), 255),
            "family": b._clip(n.get("family"), 100),
            "given": b.strings(n.get("given"), 100)[:10],
            "prefix": b.strings(n.get("prefix"), 32)[:5],
            "suffix": b.strings(n.get("suffix"), 32)[:5],
        }
        if name["family"] or name["given"] or name["text"]:
            names.append(name)
    if not names:
        raise b.MappingError(
            "Patient.name needs at least one name with a family, given or text", path="Patient.name"
        )
    names = names[:20]
    # The primary name: the first current official one, else the first usual, else the first.
    for wanted in ("official", "usual", None):
        pick = next((n for n in names if wanted is None or n["use"] == wanted), None)
        if pick is not None:
            pick["is_primary"] = True
            break
    return names


def _identifiers(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for i in resource.get("identifier") or []:
        if not isinstance(i, Mapping) or not i.get("system") or not i.get("value"):
            continue  # an identifier without a system identifies nothing across systems
        system, value = str(i["system"]).strip(), str(i["value"]).strip()
        if system == MRN_SYSTEM or (system, value) in seen:
            continue  # our MRN is assigned on registration, never taken from a client
        seen.add((system, value))
        out.append(
            {
                "system": system,
                "value": value,
                "use": i.get("use") if i.get("use") in b.IDENTIFIER_USES else None,
                "type": b.concept(i.get("type")),
            }
        )
    return out[:20]


def _geo(address: Mapping[str, Any]) -> dict[str, Any]:
    for ext in address.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == GEOLOCATION:
            parts = {e.get("url"): e.get("valueDecimal") for e in ext.get("extension") or []}
            return {
                "latitude": b.decimal(parts.get("latitude"), "Address.geolocation.latitude", 7),
                "longitude": b.decimal(parts.get("longitude"), "Address.geolocation.longitude", 7),
            }
    return {}


def _addresses(items: Any) -> list[dict[str, Any]]:
    out = []
    for a in items or []:
        if not isinstance(a, Mapping):
            continue
        out.append(
            {
                "use": a.get("use") if a.get("use") in b.ADDRESS_USES else None,
                "text": b._clip(a.get("text"), 255),
                "line": b.strings(a.get("line"), 255)[:4],
                "city": b._clip(a.get("city"), 100),
                "district": b._clip(a.get("district"), 100),
                "state": b._clip(a.get("state"), 100),
                "postal_code": b._clip(a.get("postalCode"), 20),
                "country": b._clip(a.get("country"), 100),
                **_geo(a),
            }
        )
    return out[:10]


def _contact_name(c: Mapping[str, Any]) -> str | None:
    n = c.get("name")
    if isinstance(n, Mapping):
        text = n.get("text") or " ".join(
            [*b.strings(n.get("prefix"), 32), *b.strings(n.get("given"), 100), n.get("family") or ""]
        )
        return b._clip(text, 200)
    org = c.get("organization")
    return b._clip(org.get("display"), 200) if isinstance(org, Mapping) else None


def _contacts(items: Any) -> list[dict[str, Any]]:
    out = []
    for c in items or []:
        if not isinstance(c, Mapping):
            continue
        name = _contact_name(c)
        if not name:
            continue  # a contact we cannot name is of no use at the bedside
        telecoms = [t for t in c.get("telecom") or [] if isinstance(t, Mapping)]
        phone = next((t.get("value") for t in telecoms if t.get("system") in ("phone", "sms")), None)
        email = next((t.get("value") for t in telecoms if t.get("system") == "email"), None)
        out.append(
            {
                "relationship": b.concept(b.first(c.get("relationship"))),
                "name": name,
                "phone": b._clip(phone, 64),
                "email": email,
            }
        )
    return out[:10]


def _language(resource: Mapping[str, Any]) -> str | None:
    comms = [c for c in resource.get("communication") or [] if isinstance(c, Mapping)]
    comms.sort(key=lambda c: not c.get("preferred"))
    for c in comms:
        lang = c.get("language") or {}
        for cd in lang.get("coding") or []:
            code = str(cd.get("code") or "")
            if code and (cd.get("system") in (None, BCP47)) and len(code) <= 35:
                return code
    return None


def _fields(resource: Mapping[str, Any]) -> dict[str, Any]:
    deceased_at = b.when(resource.get("deceasedDateTime"), "Patient.deceasedDateTime")
    gender = resource.get("gender")
    return {
        "names": _names(resource),
        "identifiers": _identifiers(resource),
        "gender": b.one_of(gender, ("male", "female", "other", "unknown"), "Patient.gender", "unknown"),
        "birth_date": b.day(resource.get("birthDate"), "Patient.birthDate"),
        "deceased": bool(resource.get("deceasedBoolean")) or deceased_at is not None,
        "deceased_at": deceased_at,
        "preferred_language": _language(resource),
        "marital_status": b.concept(resource.get("maritalStatus")),
        "telecoms": b.telecoms(resource.get("telecom")),
        "addresses": _addresses(resource.get("address")),
        "contacts": _contacts(resource.get("contact")),
        "active": resource.get("active") is not False,
    }


@b.reads_fhir
def from_fhir(resource: Mapping[str, Any], refs: b.ReferenceResolver | None = None) -> s.PatientCreate:
    """A FHIR Patient -> PatientCreate. Provenance: the source ids are kept as identifiers (Synthea
    sends its own); a resource ``id`` without any identifier is kept under ``refs.source_system``
    so that re-importing the same patient finds the identifier taken (409, ``duplicate_identifier``)."""
    b.check_type(resource, RESOURCE_TYPE)
    data = _fields(resource)
    if refs is not None and refs.source_system and resource.get("id"):
        pair = (refs.source_system, str(resource["id"]))
        if pair not in {(i["system"], i["value"]) for i in data["identifiers"]}:
            data["identifiers"].append({"system": pair[0], "value": pair[1], "use": "secondary"})
    return b.build(s.PatientCreate, data, RESOURCE_TYPE)


@b.reads_fhir
def update_from_fhir(resource: Mapping[str, Any]) -> s.PatientUpdate:
    """PUT semantics: the resource replaces what we keep (absent lists become empty)."""
    b.check_type(resource, RESOURCE_TYPE)
    data = _fields(resource)
    return b.build(s.PatientUpdate, data, RESOURCE_TYPE)


# --- outbound --------------------------------------------------------------------------


def _name_out(n: s.HumanNameRead) -> dict[str, Any]:
    return {
        "use": n.use,
        "text": n.text,
        "family": n.family,
        "given": n.given,
        "prefix": n.prefix,
        "suffix": n.suffix,
    }


def _address_out(a: s.AddressRead) -> dict[str, Any]:
    geo = None
    if a.latitude is not None and a.longitude is not None:
        geo = [
            {
                "url": GEOLOCATION,
                "extension": [
                    {"url": "latitude", "valueDecimal": b.fhir_number(a.latitude)},
                    {"url": "longitude", "valueDecimal": b.fhir_number(a.longitude)},
                ],
            }
        ]
    return {
        "extension": geo,
        "use": a.use,
        "text": a.text,
        "line": a.line,
        "city": a.city,
        "district": a.district,
        "state": a.state,
        "postalCode": a.postal_code,
        "country": a.country,
    }


def _contact_out(c: s.PatientContactRead) -> dict[str, Any]:
    telecom = []
    if c.phone:
        telecom.append({"system": "phone", "value": c.phone})
    if c.email:
        telecom.append({"system": "email", "value": c.email})
    return {
        "relationship": [b.fhir_concept(c.relationship)] if c.relationship else None,
        "name": {"text": c.name},
        "telecom": telecom,
    }


def to_fhir(obj: Any) -> dict[str, Any]:
    p = b.as_read(s.PatientRead, obj)
    mrn = {
        "use": "usual",
        "type": {"coding": [{"system": V2_0203, "code": "MR", "display": "Medical record number"}]},
        "system": MRN_SYSTEM,
        "value": p.mrn,
    }
    names = sorted(p.names, key=lambda n: not n.is_primary)  # the primary name first
    resource: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(p.id),
        "meta": b.meta(p),
        "identifier": [
            mrn,
            *(
                {"use": i.use, "type": b.fhir_concept(i.type), "system": i.system, "value": i.value}
                for i in p.identifiers
            ),
        ],
        "active": p.active,
        "name": [_name_out(n) for n in names],
        "telecom": [{"system": t.system, "value": t.value, "use": t.use, "rank": t.rank} for t in p.telecoms],
        "gender": p.gender,
        "birthDate": p.birth_date.isoformat() if p.birth_date else None,
        "maritalStatus": b.fhir_concept(p.marital_status),
        "address": [_address_out(a) for a in p.addresses],
        "contact": [_contact_out(c) for c in p.contacts],
        "communication": (
            [{"language": {"coding": [{"system": BCP47, "code": p.preferred_language}]}, "preferred": True}]
            if p.preferred_language
            else None
        ),
    }
    if p.deceased_at is not None:
        resource["deceasedDateTime"] = b.fhir_instant(p.deceased_at)
    elif p.deceased:
        resource["deceasedBoolean"] = True
    result: dict[str, Any] = b.clean(resource)
    return result
