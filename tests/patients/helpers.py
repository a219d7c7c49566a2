"""Plain factory functions for the patients suites."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.db import Database
from app.main import create_app
from tests.conftest import bearer, login, make_settings, make_user

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
CVX = "http://hl7.org/fhir/sid/cvx"
SSN = "http://hl7.org/fhir/sid/us-ssn"


async def headers_for(client: httpx.AsyncClient, db: Any, role: str, **extra: Any) -> dict[str, str]:
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    await make_user(db, role=role, username=username, full_name=f"{role.title()} Tester", **extra)
    return bearer(await login(client, username))


def patient_body(family: str = "Doe", given: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "names": [{"use": "official", "family": family, "given": given or ["Jane"]}],
        "gender": "female",
        "birth_date": "1980-05-17",
    }
    body.update(extra)
    return body


async def register(client: httpx.AsyncClient, headers: dict[str, str], **kw: Any) -> dict[str, Any]:
    r = await client.post("/api/patients", json=patient_body(**kw), headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    err: dict[str, Any] = body["error"]
    return err


async def audit_events(db: Any, **where: Any) -> list[AuditEvent]:
    async with db.sessionmaker() as s:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        return list((await s.execute(query)).scalars())


@contextlib.asynccontextmanager
async def fresh_app(database_url: str, broker: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """An app on its own migrated database, with real commits and a connection pool: for
    concurrency tests (the default fixtures share one connection)."""
    settings = make_settings(database_url)
    database = Database.from_settings(settings)
    app = create_app(settings, database=database, broker=broker)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
                yield c, database
    finally:
        await database.dispose()
