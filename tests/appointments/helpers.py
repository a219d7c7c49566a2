"""Plain factories for the appointments suites: a clinic with a clinician, types and hours, and
patients with portal logins. Everything goes through the services or the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select

from app.appointments.models import Appointment, AppointmentLock
from app.auth.permissions import Perm
from app.config import Settings
from app.db import Database
from app.deps import Principal
from app.notifications.models import NotificationMessage
from app.staff import schemas as staff_schemas
from app.staff import service as staff_service
from tests.conftest import bearer, login, make_user
from tests.patients.helpers import headers_for, patient_body

LONDON = ZoneInfo("Europe/London")


def staff_principal(*perms: Perm) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username="tester",
        full_name="Tester",
        email=None,
        roles=("admin",),
        permissions=frozenset(perms or (Perm.STAFF_READ, Perm.STAFF_WRITE, Perm.ROTA_WRITE)),
        patient_id=None,
        session_id=uuid.uuid4(),
    )


def licence(valid_to: str = "2035-12-31", valid_from: str = "2020-01-01") -> dict[str, Any]:
    return {
        "kind": "licence",
        "code": {"system": "urn:test:licence", "code": "GMC", "display": "Registration"},
        "number": f"L-{uuid.uuid4().hex[:8]}",
        "valid_from": valid_from,
        "valid_to": valid_to,
    }


async def make_clinician(
    db: Database,
    family: str = "Okafor",
    *,
    email: str | None = "clinician@hospital.test",
    licences: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> uuid.UUID:
    body: dict[str, Any] = {
        "family": family,
        "given": ["Grace"],
        "prefix": ["Dr."],
        "clinical": True,
        "telecoms": [{"system": "email", "value": email, "use": "work"}] if email else [],
        "qualifications": [licence()] if licences is None else licences,
        **extra,
    }
    async with db.sessionmaker() as session:
        row = await staff_service.create_staff(
            session, staff_principal(), staff_schemas.StaffCreate.model_validate(body)
        )
        await session.commit()
        return row.id


@dataclass
class Clinic:
    admin: dict[str, str]
    reception: dict[str, str]
    doctor: dict[str, str]
    staff_id: uuid.UUID
    consult: dict[str, Any]  # 30 min, in person
    video: dict[str, Any]  # 20 min, video
    hours: list[dict[str, Any]] = field(default_factory=list)


async def add_type(
    client: httpx.AsyncClient, admin: dict[str, str], code: str, minutes: int, mode: str, **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/api/appointments/types",
        json={
            "code": code,
            "name": extra.pop("name", code.title()),
            "duration_minutes": minutes,
            "mode": mode,
            **extra,
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def add_hours(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    staff_id: uuid.UUID,
    *,
    weekdays: range | list[int] = range(7),
    start: str = "09:00",
    end: str = "17:00",
    valid_from: str | None = None,
    type_ids: list[str] | None = None,
) -> list[dict[str, Any]]:
    out = []
    for weekday in weekdays:
        r = await client.post(
            "/api/appointments/hours",
            json={
                "staff_id": str(staff_id),
                "weekday": weekday,
                "start_time": start,
                "end_time": end,
                "valid_from": valid_from or "2026-01-01",
                "type_ids": type_ids or [],
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


async def clinic(client: httpx.AsyncClient, db: Database, **hours: Any) -> Clinic:
    admin = await headers_for(client, db, "admin")
    reception = await headers_for(client, db, "receptionist")
    doctor = await headers_for(client, db, "doctor")
    staff_id = await make_clinician(db)
    suffix = uuid.uuid4().hex[:6]
    consult = await add_type(client, admin, f"GP30-{suffix}", 30, "in_person", name="GP consultation")
    video = await add_type(client, admin, f"VID20-{suffix}", 20, "video", name="Video consultation")
    added = await add_hours(client, reception, staff_id, **hours)
    return Clinic(admin, reception, doctor, staff_id, consult, video, added)


async def make_patient(
    client: httpx.AsyncClient,
    db: Database,
    headers: dict[str, str],
    *,
    email: str | None = "zoe@example.org",
    family: str = "Martín",
) -> tuple[dict[str, Any], dict[str, str]]:
    """A patient record (with an e-mail telecom unless None) and its portal login's headers."""
    telecoms = [{"system": "email", "value": email}] if email else []
    r = await client.post(
        "/api/patients", json=patient_body(family=family, telecoms=telecoms), headers=headers
    )
    assert r.status_code == 201, r.text
    patient: dict[str, Any] = r.json()
    username = f"patient-{uuid.uuid4().hex[:8]}"
    await make_user(db, role="patient", username=username, patient_id=uuid.UUID(patient["id"]))
    return patient, bearer(await login(client, username))


def next_local(day_offset: int, at: str, tz: ZoneInfo = LONDON) -> datetime:
    """An aware UTC instant: facility-local ``at`` (HH:MM) ``day_offset`` days from today."""
    today = datetime.now(tz).date()
    hh, mm = (int(x) for x in at.split(":"))
    day = today + timedelta(days=day_offset)
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=tz).astimezone(UTC)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def booking(
    c: Clinic,
    patient_id: str | None,
    start: datetime,
    *,
    kind: dict[str, Any] | None = None,
    staff_id: uuid.UUID | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "type_id": (kind or c.consult)["id"],
        "staff_id": str(staff_id or c.staff_id),
        "start": iso(start),
        **extra,
    }
    if patient_id is not None:
        body["patient_id"] = patient_id
    return body


async def count(db: Database, model: Any, **where: Any) -> int:
    async with db.sessionmaker() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(await session.scalar(query) or 0)


async def appointment_rows(db: Database) -> int:
    return await count(db, Appointment)


async def lock_rows(db: Database, appointment_id: str | uuid.UUID) -> list[AppointmentLock]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(
            select(AppointmentLock)
            .where(AppointmentLock.appointment_id == uuid.UUID(str(appointment_id)))
            .order_by(AppointmentLock.kind, AppointmentLock.granule_start)
        )
        return list(rows)


async def messages(db: Database, appointment_id: str | uuid.UUID) -> list[NotificationMessage]:
    from sqlalchemy.orm import selectinload

    async with db.sessionmaker() as session:
        rows = await session.scalars(
            select(NotificationMessage)
            .where(NotificationMessage.related == f"appointment:{appointment_id}")
            .options(selectinload(NotificationMessage.attachments))
            .order_by(NotificationMessage.created_at)
        )
        return list(rows)


def settings_of(client: httpx.AsyncClient) -> Settings:
    app = client._transport.app  # type: ignore[attr-defined]
    settings: Settings = app.state.settings
    return settings


def day(text: str) -> date:
    return date.fromisoformat(text)


async def free_slots(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    kind: dict[str, Any],
    *,
    staff_id: uuid.UUID | None = None,
    days_ahead: int = 3,
    limit: int = 20,
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {
        "type_id": kind["id"],
        "start": iso(next_local(days_ahead, "00:00")),
        "limit": limit,
    }
    if staff_id is not None:
        params["staff_id"] = str(staff_id)
    r = await client.get("/api/appointments/slots", params=params, headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    assert items, "no free slots"
    return items
