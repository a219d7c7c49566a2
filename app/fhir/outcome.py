"""OperationOutcome errors and the FHIR response type for everything under ``/fhir``.

The app-wide handlers of ``app.errors`` answer any error on a ``/fhir`` path through
``fhir_error_response``: every ``AppError`` (raised by a service, a mapper or a dependency such
as the bearer-token check), request validation errors, routing errors (unknown path 404, wrong
method 405), integrity errors and unexpected ones all become an OperationOutcome with the status
the native API would answer. Handling them there (not in a route wrapper) keeps the order of
the native API: the error unwinds through the unit of work first (rollback, failure audited).
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from app.errors import register_error_renderer

log = logging.getLogger("app.fhir")

FHIR_JSON = "application/fhir+json"
ERROR_CODE_SYSTEM = "https://hospital-hub.example/fhir/CodeSystem/error-code"

# HTTP status -> IssueType (http://hl7.org/fhir/issue-type).
_ISSUE_TYPE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class FHIRResponse(JSONResponse):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode()


def outcome(
    status: int,
    diagnostics: str,
    *,
    code: str | None = None,
    expression: list[str] | None = None,
    details: Any = None,
    severity: str = "error",
) -> dict[str, Any]:
    """An OperationOutcome with one issue (more when ``details`` lists ``issues`` with paths)."""
    issue_type = _ISSUE_TYPE.get(status, "exception" if status >= 500 else "processing")
    base: dict[str, Any] = {"severity": severity, "code": issue_type, "diagnostics": diagnostics}
    if code:
        base["details"] = {"coding": [{"system": ERROR_CODE_SYSTEM, "code": code}], "text": code}
    issues = [dict(base, expression=expression) if expression else base]
    extra = details.get("issues") if isinstance(details, dict) else None
    if isinstance(extra, list):
        for item in extra[:50]:
            if isinstance(item, dict) and item.get("path"):
                issues.append(
                    {
                        "severity": severity,
                        "code": "invalid" if status < 500 else issue_type,
                        "diagnostics": str(item.get("message", "")),
                        "expression": [str(item["path"])],
                    }
                )
    elif isinstance(details, dict) and details.get("path"):
        issues[0]["expression"] = [str(details["path"])]
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_response(
    status: int,
    diagnostics: str,
    *,
    code: str | None = None,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> FHIRResponse:
    return FHIRResponse(
        outcome(status, diagnostics, code=code, details=details), status_code=status, headers=headers
    )


def fhir_error_response(
    status: int, code: str, message: str, details: Any, headers: dict[str, str] | None
) -> FHIRResponse:
    """The OperationOutcome twin of ``app.errors.error_response`` (same status, code, message)."""
    if status == 404 and code == "not_found" and message in ("Not Found", "not found"):
        message = "Unknown resource type or interaction (see GET /fhir/metadata)"
    elif status == 405:
        message = "This interaction is not supported on this resource (see GET /fhir/metadata)"
    elif status == 422 and isinstance(details, list):  # request validation: name the locations
        details = {
            "issues": [
                {"path": ".".join(str(p) for p in d.get("loc", ())), "message": d.get("msg", "")}
                for d in details
            ]
        }
    return outcome_response(status, message, code=code, details=details, headers=headers)


class FHIRRoute(APIRoute):
    """The route class of /fhir routers. Errors need nothing route-specific: the app-wide handlers
    answer OperationOutcome for every /fhir path (see the module docstring); this class stays as
    the one place to hook FHIR route behaviour (routers already name it)."""


# Errors raised anywhere under /fhir come back as OperationOutcomes.
register_error_renderer("/fhir", fhir_error_response)
