"""FHIR Practitioner <-> staff directory and Organization <-> facilities, and their read/search
endpoints (``/fhir/Practitioner``, ``/fhir/Organization``).

Kept: Practitioner name (the first official/usual one), identifiers (the NPI is the key the
importer matches on), gender, birthDate, telecom, address, qualification, active;
Organization name, identifiers, type (the first), telecom, address, partOf (when known), active.
Ignored: photos, communication, extensions (Synthea's utilisation counters).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from app.auth.permissions import Perm
from app.deps import Principal, SessionDep, require
from app.facilities import schemas as fs
from app.facilities import service as facilities
from app.fhir.mappers import base as b
from app.fhir.outcome import FHIRResponse, FHIRRoute
from app.kit.pagination import MAX_LIMIT
from app.staff import schemas as ss
from app.staff import service as staff

NPI = "http://hl7.org/fhir/sid/us-npi"
_GENDERS = ("male", "female", "other", "unknown")


def identifiers(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for i in resource.get("identifier") or []:
        if not isinstance(i, Mapping) or not i.get("system") or not i.get("value"):
            continue
        pair = (str(i["system"]).strip()[:190], str(i["value"]).strip()[:190])
        if pair in seen:
            continue
        seen.add(pair)
        use = i.get("use") if i.get("use") in b.IDENTIFIER_USES else None
        out.append({"system": pair[0], "value": pair[1], "use": use})
    return out[:20]


def _addresses(items: Any) -> list[dict[str, Any]]:
    if isinstance(items, Mapping):  # Location.address is a single Address
        items = [items]
    out = []
    for a in items or []:
        if isinstance(a, Mapping):
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
                }
            )
    return out[:10]


# --- inbound ---------------------------------------------------------------------------


@b.reads_fhir
def practitioner_from_fhir(resource: Mapping[str, Any]) -> ss.StaffCreate:
    b.check_type(resource, "Practitioner")
    names = [n for n in resource.get("name") or [] if isinstance(n, Mapping)]
    name = next((n for n in names if n.get("use") in ("official", "usual")), names[0] if names else {})
    family = b._clip(name.get("family"), 100)
    given = b.strings(name.get("given"), 100)[:10]
    if not family and not given and name.get("text"):
        family = b._clip(name.get("text"), 100)
    if not family and not given:
        raise b.MappingError("Practitioner.name needs a family or a given name", path="Practitioner.name")
    qualifications = []
    for q in resource.get("qualification") or []:
        if not isinstance(q, Mapping):
            continue
        number = b.first(identifiers(q))
        period = q.get("period") or {}
        issuer = q.get("issuer")
        qualifications.append(
            {
                # A numbered or dated qualification is a licence to practise (it can lapse);
                # a bare code (a degree) is recorded as a qualification.
                "kind": "licence" if number or period.get("start") or period.get("end") else "qualification",
                "code": b.concept(q.get("code")),
                "number": number["value"] if number else None,
                "issuer": b._clip(issuer.get("display"), 200) if isinstance(issuer, Mapping) else None,
                "valid_from": b.day(period.get("start"), "Practitioner.qualification.period.start"),
                "valid_to": b.day(period.get("end"), "Practitioner.qualification.period.end"),
            }
        )
    data = {
        "family": family,
        "given": given,
        "prefix": b.strings(name.get("prefix"), 32)[:5],
        "suffix": b.strings(name.get("suffix"), 32)[:5],
        "gender": resource.get("gender") if resource.get("gender") in _GENDERS else "unknown",
        "birth_date": b.day(resource.get("birthDate"), "Practitioner.birthDate"),
        "identifiers": identifiers(resource),
        "telecoms": b.telecoms(resource.get("telecom")),
        "addresses": _addresses(resource.get("address")),
        "qualifications": qualifications[:50],
        "active": resource.get("active") is not False,
        # A FHIR Practitioner is someone who provides care: imported ones are clinicians.
        "clinical": True,
    }
    return b.build(ss.StaffCreate, data, "Practitioner")


@b.reads_fhir
def organization_from_fhir(resource: Mapping[str, Any]) -> fs.FacilityCreate:
    b.check_type(resource, "Organization")
    name = b._clip(resource.get("name"), 255)
    if not name:
        raise b.MappingError("Organization.name is required", path="Organization.name")
    data = {
        "name": name,
        "type": b.concept(b.first(resource.get("type"))),
        "identifiers": identifiers(resource),
        "telecoms": b.telecoms(resource.get("telecom")),
        "addresses": _addresses(resource.get("address")),
        "active": resource.get("active") is not False,
    }
    return b.build(fs.FacilityCreate, data, "Organization")


# --- outbound --------------------------------------------------------------------------


def _telecom_out(t: Any) -> dict[str, Any]:
    return {"system": t.system, "value": t.value, "use": t.use, "rank": t.rank}


def _address_out(a: Any) -> dict[str, Any]:
    return {
        "use": a.use,
        "text": a.text,
        "line": a.line,
        "city": a.city,
        "district": a.district,
        "state": a.state,
        "postalCode": a.postal_code,
        "country": a.country,
    }


def practitioner_to_fhir(obj: Any) -> dict[str, Any]:
    r = b.as_read(ss.StaffRead, obj)
    out = {
        "resourceType": "Practitioner",
        "id": str(r.id),
        "meta": b.meta(r),
        "identifier": [{"system": i.system, "value": i.value, "use": i.use} for i in r.identifiers],
        "active": r.active,
        "name": [{"family": r.family, "given": r.given, "prefix": r.prefix, "suffix": r.suffix}],
        "telecom": [_telecom_out(t) for t in r.telecoms],
        "address": [_address_out(a) for a in r.addresses],
        "gender": r.gender,
        "birthDate": r.birth_date.isoformat() if r.birth_date else None,
        "qualification": [
            {
                "identifier": [{"value": q.number}] if q.number else None,
                "code": b.fhir_concept(q.code) or {"text": "qualification"},
                "period": {
                    "start": q.valid_from.isoformat() if q.valid_from else None,
                    "end": q.valid_to.isoformat() if q.valid_to else None,
                },
                "issuer": {"display": q.issuer} if q.issuer else None,
            }
            for q in r.qualifications
        ],
    }
    result: dict[str, Any] = b.clean(out)
    return result


def organization_to_fhir(obj: Any) -> dict[str, Any]:
    r = b.as_read(fs.FacilityRead, obj)
    out = {
        "resourceType": "Organization",
        "id": str(r.id),
        "meta": b.meta(r),
        "identifier": [{"system": i.system, "value": i.value, "use": i.use} for i in r.identifiers],
        "active": r.active,
        "type": [b.fhir_concept(r.type)] if r.type else None,
        "name": r.name,
        "telecom": [_telecom_out(t) for t in r.telecoms],
        "address": [_address_out(a) for a in r.addresses],
        "partOf": b.ref("Organization", r.part_of_id),
    }
    result: dict[str, Any] = b.clean(out)
    return result


# --- read / search ---------------------------------------------------------------------

router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=FHIRRoute, default_response_class=FHIRResponse)
DirectoryReader = Annotated[Principal, Depends(require(Perm.STAFF_READ))]
Count = Annotated[int, Query(alias="_count", ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Query(alias="_offset", ge=0, le=1_000_000)]


def _fhir(body: dict[str, Any], status_code: int = 200) -> FHIRResponse:
    return FHIRResponse(body, status_code=status_code)


def _searchset(
    request: Request, resources: list[dict[str, Any]], total: int, count: int, offset: int
) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/") + "/fhir"
    url = request.url

    def page(at: int) -> str:
        return str(url.include_query_params(_count=count, _offset=at))

    links = [{"relation": "self", "url": page(offset)}]
    if offset + count < total:
        links.append({"relation": "next", "url": page(offset + count)})
    if offset > 0:
        links.append({"relation": "previous", "url": page(max(0, offset - count))})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


@router.get("/Practitioner", summary="FHIR Practitioner search (staff directory)")
async def search_practitioners(
    request: Request,
    principal: DirectoryReader,
    session: SessionDep,
    name: Annotated[str | None, Query(max_length=200)] = None,
    identifier: Annotated[str | None, Query(max_length=400)] = None,
    active: bool | None = None,
    count: Count = 50,
    offset: Offset = 0,
) -> FHIRResponse:
    rows, total = await staff.search_staff(
        session, principal, name=name, identifier=identifier, active=active, limit=count, offset=offset
    )
    return _fhir(_searchset(request, [practitioner_to_fhir(r) for r in rows], total, count, offset))


@router.get("/Practitioner/{resource_id}", summary="FHIR Practitioner read")
async def read_practitioner(
    resource_id: uuid.UUID, principal: DirectoryReader, session: SessionDep
) -> FHIRResponse:
    return _fhir(practitioner_to_fhir(await staff.get_staff(session, principal, resource_id)))


@router.get("/Organization", summary="FHIR Organization search (facilities)")
async def search_organizations(
    request: Request,
    principal: DirectoryReader,
    session: SessionDep,
    name: Annotated[str | None, Query(max_length=200)] = None,
    identifier: Annotated[str | None, Query(max_length=400)] = None,
    active: bool | None = None,
    count: Count = 50,
    offset: Offset = 0,
) -> FHIRResponse:
    rows, total = await facilities.search_facilities(
        session, principal, name=name, identifier=identifier, active=active, limit=count, offset=offset
    )
    return _fhir(_searchset(request, [organization_to_fhir(r) for r in rows], total, count, offset))


@router.get("/Organization/{resource_id}", summary="FHIR Organization read")
async def read_organization(
    resource_id: uuid.UUID, principal: DirectoryReader, session: SessionDep
) -> FHIRResponse:
    return _fhir(organization_to_fhir(await facilities.get_facility(session, principal, resource_id)))
