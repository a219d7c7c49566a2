"""Typed application errors and the one JSON error shape.

Every 4xx/5xx leaves the service as ``{"error": {"code", "message", "details"}}``. Services raise
``AppError`` subclasses; routers never build error responses by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("app.errors")


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self, message: str = "Authentication required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The one shape of every error response."""

    error: ErrorDetail


# Declared on every route so the generated clients know the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Bad request (malformed JSON, a business rule)",
        401: "Not authenticated",
        403: "Not permitted",
        404: "Not found",
        409: "Conflict",
        413: "Payload too large",
        422: "Validation error",
        429: "Too many requests",
    }.items()
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def _clean_validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    # Pydantic's ``input`` and ``ctx`` may echo secrets (passwords) or unserialisable objects back.
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors
    ]


ErrorRenderer = Callable[[int, str, str, Any, "dict[str, str] | None"], JSONResponse]
_renderers: dict[str, ErrorRenderer] = {}


def register_error_renderer(prefix: str, renderer: ErrorRenderer) -> None:
    """Let a surface with its own error format (FHIR's OperationOutcome under /fhir) render the
    same typed errors, with the same status codes, for the paths under ``prefix``."""
    _renderers[prefix.rstrip("/")] = renderer


def _respond(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    path = request.url.path
    for prefix, render in _renderers.items():
        if path == prefix or path.startswith(prefix + "/"):
            return render(status, code, message, details, headers)
    return error_response(status, code, message, details, headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return _respond(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_validation_errors(list(exc.errors()))
        if any(e["type"] == "json_invalid" for e in errors):
            return _respond(request, 400, "malformed_json", "The request body is not valid JSON", errors)
        where = {str(e["loc"][0]) for e in errors if e["loc"]}
        message = "The request body is invalid" if where <= {"body"} else "The request is invalid"
        return _respond(request, 422, "validation_error", message, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return _respond(request, exc.status_code, code, message, None, getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Services turn the constraints they expect into precise errors; this is the safety net
        # for a race they did not foresee: the database refused, so nothing was written.
        log.warning("integrity error on %s %s: %s", request.method, request.url.path, exc.orig)
        return _respond(
            request, 409, "conflict", "The change conflicts with existing data; nothing was saved"
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _respond(request, 500, "internal_error", "An unexpected error occurred; it has been logged")
