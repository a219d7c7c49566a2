"""``POST /fhir``: a transaction Bundle (all-or-nothing) or a batch Bundle (each entry on its
own), through the importer's code path, as the caller (clinical:write needed).

A transaction's entries succeed together or the request fails with the failing entry's
OperationOutcome and nothing is kept (the request's unit of work rolls back). A batch answers
every entry with its own status; a failed entry is rolled back to its savepoint alone.
Resources we do not map are kept raw (see ``importer``) and answered 201 without a location.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from app.audit import service as audit
from app.auth.permissions import Perm
from app.deps import SessionDep, SettingsDep, get_principal, oauth2_scheme
from app.errors import BadRequest, Forbidden
from app.fhir import importer, jsonio
from app.fhir import monitoring as fm
from app.fhir.mappers import MappingError
from app.fhir.outcome import FHIRResponse, FHIRRoute, outcome

router = APIRouter(prefix="/fhir", tags=["fhir"], route_class=FHIRRoute, default_response_class=FHIRResponse)

_STATUS_TEXT = {200: "200 OK", 201: "201 Created"}


def _entry(request: Request, result: importer.EntryResult) -> dict[str, Any]:
    status = _STATUS_TEXT.get(result.status, str(result.status))
    response: dict[str, Any] = {"status": status}
    if result.location:
        response["location"] = result.location
    if result.outcome == importer.FAILED:
        response["outcome"] = outcome(result.status, result.message or "failed")
    elif result.outcome in (importer.KEPT_RAW, importer.SKIPPED) and result.message:
        response["outcome"] = outcome(result.status, result.message, severity="information")
    return {"response": response}


async def _bundle_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/fhir+json", "application/json"):
        raise BadRequest("Send the Bundle as application/fhir+json", code="unsupported_media_type")
    try:
        body = jsonio.loads(await request.body())
    except jsonio.JsonError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc.message}", code="malformed_json") from exc
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise MappingError("POST /fhir takes a Bundle", path="resourceType")
    return body


@router.post(
    "", summary="Process a transaction or batch Bundle (a device token sends vital-sign Observations)"
)
async def process_bundle(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> FHIRResponse:
    device = await fm.device_of(request)
    if device is not None:
        return await fm.device_bundle(request, device, await _bundle_body(request))
    principal = await get_principal(session, settings, token)
    if not principal.has(Perm.CLINICAL_WRITE):
        audit.record(
            session,
            action="access_denied",
            resource_type="Bundle",
            outcome="denied",
            details={"method": "POST", "path": "/fhir", "missing": [Perm.CLINICAL_WRITE.value]},
        )
        raise Forbidden(
            "You do not have permission for this action", details={"missing": [Perm.CLINICAL_WRITE.value]}
        )
    body = await _bundle_body(request)
    kind = body.get("type")
    if kind not in ("transaction", "batch"):
        raise MappingError("Bundle.type must be transaction or batch", path="Bundle.type")
    entries = importer.entries_of(body)
    atomic = kind == "transaction"
    if atomic:
        for e in entries:
            if e.method not in ("POST", "PUT"):
                raise importer.BundleFailed(
                    e.index, e.resource_type, f"request method {e.method} is not supported in a transaction"
                )
    work = importer.BundleImport(session, principal, atomic=atomic, default_source_system=None)
    results = await work.run(entries)
    audit.record(
        session,
        action=f"fhir.{kind}",
        resource_type="Bundle",
        details={o: sum(r.outcome == o for r in results) for o in importer.OUTCOMES},
    )
    return FHIRResponse(
        {
            "resourceType": "Bundle",
            "type": f"{kind}-response",
            "entry": [_entry(request, r) for r in results],
        }
    )
