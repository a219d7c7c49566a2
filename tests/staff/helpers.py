"""Plain factories for the staff suites."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Perm
from app.deps import Principal
from app.staff import schemas as s
from app.staff import service

ALL_STAFF_PERMS = (Perm.STAFF_READ, Perm.STAFF_WRITE, Perm.ROTA_WRITE)


def principal(*perms: Perm, user_id: uuid.UUID | None = None) -> Principal:
    return Principal(
        user_id=user_id or uuid.uuid4(),
        username="tester",
        full_name="Tester",
        email=None,
        roles=("admin",),
        permissions=frozenset(perms or ALL_STAFF_PERMS),
        patient_id=None,
        session_id=uuid.uuid4(),
    )


def licence(
    valid_from: str | None = "2020-01-01", valid_to: str | None = "2035-12-31", **extra: Any
) -> dict[str, Any]:
    return {
        "kind": "licence",
        "code": {"system": "urn:test:licence", "code": "GMC", "display": "Registration"},
        "number": extra.pop("number", f"L-{uuid.uuid4().hex[:6]}"),
        "issuer": "General Medical Council",
        "valid_from": valid_from,
        "valid_to": valid_to,
        **extra,
    }


async def make_staff(
    session: AsyncSession,
    family: str = "Okafor",
    *,
    clinical: bool = True,
    licences: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> uuid.UUID:
    body: dict[str, Any] = {
        "family": family,
        "given": extra.pop("given", ["Grace"]),
        "clinical": clinical,
        "telecoms": extra.pop(
            "telecoms", [{"system": "email", "value": f"{family.lower()}@hospital.test", "use": "work"}]
        ),
        "qualifications": [licence()] if licences is None else licences,
        **extra,
    }
    row = await service.create_staff(session, principal(), s.StaffCreate.model_validate(body))
    return row.id


def day(text: str) -> date:
    return date.fromisoformat(text)


# --- over HTTP -----------------------------------------------------------------------------------

NPI = "http://hl7.org/fhir/sid/us-npi"


async def api_staff(
    client: Any,
    headers: dict[str, str],
    family: str,
    *,
    licences: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "family": family,
        "given": extra.pop("given", ["Ann"]),
        "clinical": extra.pop("clinical", True),
        "qualifications": [licence()] if licences is None else licences,
        **extra,
    }
    r = await client.post("/api/staff", json=body, headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def api_department(client: Any, headers: dict[str, str], code: str, name: str) -> dict[str, Any]:
    r = await client.post("/api/staff/departments", json={"code": code, "name": name}, headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def api_definitions(client: Any, headers: dict[str, str]) -> dict[str, str]:
    """Early 07:00-15:00, Late 14:30-22:30, Night 22:00-07:30 (clinical), Office 09:00-17:00 (not)."""
    out = {}
    for name, start, end, clinical in [
        ("Early", "07:00", "15:00", True),
        ("Late", "14:30", "22:30", True),
        ("Night", "22:00", "07:30", True),
        ("Office", "09:00", "17:00", False),
    ]:
        r = await client.post(
            "/api/staff/shift-definitions",
            json={"name": name, "start_time": start, "end_time": end, "clinical": clinical},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        out[name] = r.json()["id"]
    return out


async def count_rows(db: Any, model: Any) -> int:
    """How many rows ``model``'s table holds, read in a session of its own."""
    async with db.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())
