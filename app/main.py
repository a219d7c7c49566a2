"""The API application factory: routers, middleware, lifespan (engine, broker), the web app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Route
from starlette.types import Scope

from app.appointments.router import router as appointments_router
from app.appointments.worker import OfferSweeper
from app.audit.router import router as audit_router
from app.auth.router import router as auth_router
from app.auth.router import users_router
from app.broker import Broker, create_broker
from app.config import Settings, get_settings
from app.db import Database
from app.errors import ERROR_RESPONSES, error_response, install_error_handlers
from app.facilities.router import router as facilities_router
from app.fhir.directory import router as fhir_directory_router
from app.fhir.monitoring import router as fhir_monitoring_router
from app.fhir.router import router as fhir_router
from app.fhir.scheduling import router as fhir_scheduling_router
from app.fhir.transaction import router as fhir_transaction_router
from app.health import router as health_router
from app.middleware import RequestContextMiddleware
from app.monitoring.pipeline import Pipeline
from app.monitoring.router import router as monitoring_router
from app.monitoring.worker import MonitoringWorker
from app.monitoring.ws import build_routes as monitoring_routes
from app.notifications.router import router as notifications_router
from app.notifications.worker import NotificationWorker
from app.patients.router import router as patients_router
from app.staff.router import router as staff_router
from app.telehealth.launcher import Launcher
from app.telehealth.router import router as telehealth_router
from media.vitals import close_all as close_vitals_peers
from media.vitals import router as vitals_router

log = logging.getLogger("app")

API_PREFIXES = ("api/", "fhir/", "fhir", "ws/", "health", "ready", "signaling/")


def create_app(
    settings: Settings | None = None, *, database: Database | None = None, broker: Broker | None = None
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_db = database is None
        own_broker = broker is None
        app.state.db = database or Database.from_settings(settings)
        app.state.broker = broker or create_broker(settings.redis_url)
        if own_broker:
            await app.state.broker.start()
        # Recorders run as their own processes (aiortc stays off this event loop).
        app.state.media_launcher = Launcher(settings, app.state.broker)
        # The outbox dispatcher (the CLI's `notifications dispatch` does the same from a timer).
        app.state.notifications_worker = None
        if settings.notifications_worker:
            app.state.notifications_worker = NotificationWorker(app.state.db, settings)
            app.state.notifications_worker.start()
        # Waitlist offers past their hold move on even when no request touches them; it runs
        # with the other background work of the API process (off in tests).
        app.state.offer_sweeper = None
        if settings.notifications_worker:
            app.state.offer_sweeper = OfferSweeper(app.state.db, settings)
            app.state.offer_sweeper.start()
        # Remote monitoring: the one ingestion pipeline (its writer and broker fan-out), and
        # the alarm-escalation and retention sweeps.
        app.state.monitoring = Pipeline(app.state.db, app.state.broker, settings)
        app.state.monitoring.start()
        app.state.monitoring_worker = None
        if settings.monitoring_worker:
            app.state.monitoring_worker = MonitoringWorker(app.state.db, settings, app.state.monitoring)
            app.state.monitoring_worker.start()
        try:
            yield
        finally:
            await app.state.media_launcher.close()
            await close_vitals_peers(app.state)
            if app.state.monitoring_worker is not None:
                await app.state.monitoring_worker.stop()
            await app.state.monitoring.stop()
            if app.state.offer_sweeper is not None:
                await app.state.offer_sweeper.stop()
            if app.state.notifications_worker is not None:
                await app.state.notifications_worker.stop()
            if own_broker:
                await app.state.broker.close()
            if own_db:
                await app.state.db.dispose()

    app = FastAPI(
        title="Hospital Hub",
        version="0.1.0",
        lifespan=lifespan,
        # Swagger UI would load from a CDN (no network here, and a CSP hole); the OpenAPI
        # document itself is served and the typed clients are generated from it.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        limits_by_path={"/fhir": settings.max_bundle_bytes},
    )

    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(audit_router)
    app.include_router(patients_router)
    app.include_router(fhir_router)
    app.include_router(fhir_directory_router)
    app.include_router(fhir_scheduling_router)
    app.include_router(fhir_transaction_router)
    app.include_router(fhir_monitoring_router)
    app.include_router(staff_router)
    app.include_router(appointments_router)
    app.include_router(facilities_router)
    app.include_router(notifications_router)
    app.include_router(telehealth_router)
    app.include_router(monitoring_router)
    app.include_router(vitals_router)

    from signaling.main import build_routes

    app.router.routes.extend(build_routes())
    app.router.routes.extend(monitoring_routes())
    _mount_web(app, settings.web_dist)
    return app


class _WebRoute(Route):
    """The single-page-app fallback. It never matches API paths, so an unknown API path is a
    plain 404 and a known one with the wrong method a 405, instead of the web page."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].lstrip("/").startswith(API_PREFIXES):
            return Match.NONE, {}
        return super().matches(scope)


def _mount_web(app: FastAPI, dist: Path) -> None:
    """Serve the built web app with a single-page-app fallback; API paths never fall back."""
    assets = dist / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")
    index = dist / "index.html"
    root = dist.resolve()

    async def web(request: Request) -> Response:
        if not index.is_file():
            return JSONResponse(
                {"message": "Hospital Hub API. The web app is not built: run `make web` (or `make run`)."}
            )
        path: str = request.path_params["path"]
        if path:
            try:
                candidate = (dist / path).resolve()
                is_file = candidate.is_file() and candidate.is_relative_to(root)
            except (ValueError, OSError):  # NUL bytes, names longer than the filesystem allows
                return error_response(404, "not_found", "No such page")
            if is_file:
                return FileResponse(candidate)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.router.routes.append(_WebRoute("/{path:path}", endpoint=web, methods=["GET", "HEAD"]))
