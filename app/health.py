from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health", summary="The process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="The database and the broker are reachable")
async def ready(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in (("database", request.app.state.db.ping), ("broker", request.app.state.broker.ping)):
        try:
            await asyncio.wait_for(probe(), timeout=3)
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; say which
            checks[name] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    if ok:
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(
        {"error": {"code": "not_ready", "message": "A dependency is unreachable", "details": checks}},
        status_code=503,
    )


# Load balancers often probe with HEAD.
router.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/ready", ready, methods=["HEAD"], include_in_schema=False)
