"""The monitoring suites' harness: the real app served by uvicorn on a free loopback port, on a
database of its own (real commits: the pipeline's writer has its own connections), with the
broker of the run (memory, or Redis under make test-services)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import connect

from app.broker import Broker
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.monitoring.pipeline import Pipeline
from tests.conftest import bearer, login, make_settings, make_user

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
TIMEOUT = 20.0


@dataclass
class Live:
    app: FastAPI
    db: Database
    settings: Settings
    host: str
    http: httpx.AsyncClient

    @property
    def pipeline(self) -> Pipeline:
        pipeline: Pipeline = self.app.state.monitoring
        return pipeline

    def ws(self, path: str, token: str) -> Any:
        return connect(
            f"ws://{self.host}{path}?token={token}",
            open_timeout=TIMEOUT,
            close_timeout=TIMEOUT,
            max_size=2**22,
        )

    async def staff(self, role: str = "nurse") -> tuple[dict[str, str], str]:
        username = f"{role}-{uuid.uuid4().hex[:8]}"
        await make_user(self.db, role=role, username=username, full_name=f"{role.title()} {username[-4:]}")
        tokens = await login(self.http, username)
        return bearer(tokens), tokens["access_token"]

    async def patient(self, headers: dict[str, str], family: str = "Monitored") -> str:
        r = await self.http.post(
            "/api/patients",
            json={
                "names": [{"use": "official", "family": family, "given": ["Pat"]}],
                "gender": "female",
                "birth_date": "1950-02-03",
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def device(
        self, headers: dict[str, str], patient_id: str, label: str = "Bedside monitor"
    ) -> dict[str, Any]:
        r = await self.http.post(
            f"/api/monitoring/patients/{patient_id}/devices", json={"label": label}, headers=headers
        )
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data


@contextlib.asynccontextmanager
async def serve(database_url: str, broker: Broker, **overrides: Any) -> AsyncIterator[Live]:
    settings = make_settings(database_url, monitoring_worker=False, **overrides)
    db = Database.from_settings(settings)
    app = create_app(settings, database=db, broker=broker)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", ws_max_size=2**22))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("the app failed to start")
            assert asyncio.get_running_loop().time() < deadline, "the app did not start in time"
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=TIMEOUT) as http:
            yield Live(app, db, settings, f"{host}:{port}", http)
    finally:
        server.should_exit = True
        await asyncio.wait({task}, timeout=TIMEOUT)
        sock.close()
        await db.dispose()


def now() -> datetime:
    return datetime.now(UTC)


def vital(
    code: str,
    value: float | None,
    unit: str,
    at: datetime,
    ident: str | None = None,
    patient_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": at.isoformat(),
    }
    if value is None:
        body["dataAbsentReason"] = {"coding": [{"code": "error"}]}
    else:
        body["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    if ident:
        body["identifier"] = [{"system": "urn:test:device", "value": ident}]
    if patient_id:
        body["subject"] = {"reference": f"Patient/{patient_id}"}
    return body


def bp(systolic: float, diastolic: float, at: datetime, ident: str | None = None) -> dict[str, Any]:
    body = vital("85354-9", None, "mm[Hg]", at, ident)
    body.pop("dataAbsentReason")
    body["component"] = [
        {
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
            "valueQuantity": {"value": systolic, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
        },
        {
            "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
            "valueQuantity": {"value": diastolic, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
        },
    ]
    return body


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"resource": r, "request": {"method": "POST", "url": "Observation"}} for r in resources],
    }


def device_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}


async def recv_until(ws: Any, predicate: Any, within: float = TIMEOUT) -> list[dict[str, Any]]:
    """Frames received until one satisfies ``predicate`` (included)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            seen.append(frame)
            if predicate(frame):
                return seen


def ago(**kw: float) -> datetime:
    return now() - timedelta(**kw)
