"""Plain factories for the telehealth suites: a clinician whose account is linked to their staff
record, clinic hours around the clock, a short video type, and a patient with a portal login
booked into the next free slot (which starts within 5 minutes, so inside the join window) or
days ahead (outside it). Everything goes through the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.db import Database
from tests.appointments.helpers import add_hours, add_type, iso, make_clinician, make_patient
from tests.conftest import bearer, login, make_user
from tests.patients.helpers import headers_for


@dataclass
class Visit:
    admin: dict[str, str]
    reception: dict[str, str]
    clinician: dict[str, str]  # the appointment's clinician (account linked to the staff record)
    clinician_user: uuid.UUID
    staff_id: uuid.UUID
    patient: dict[str, Any]
    patient_headers: dict[str, str]
    video_type: dict[str, Any]
    appointment: dict[str, Any]
    consultation: dict[str, Any]

    @property
    def consultation_id(self) -> str:
        return str(self.consultation["id"])


async def clinician_account(
    db: Database, client: httpx.AsyncClient, family: str = "Okafor"
) -> tuple[uuid.UUID, uuid.UUID, dict[str, str]]:
    username = f"doctor-{uuid.uuid4().hex[:8]}"
    user_id = await make_user(db, role="doctor", username=username, full_name=f"Dr {family}")
    staff_id = await make_clinician(db, family, user_id=str(user_id))
    return user_id, staff_id, bearer(await login(client, username))


async def book_video(
    client: httpx.AsyncClient,
    reception: dict[str, str],
    video_type: dict[str, Any],
    staff_id: uuid.UUID,
    patient_id: str,
    *,
    days_ahead: float = 0,
) -> dict[str, Any]:
    """Book the first free video slot from ``days_ahead`` days from now. A minute of margin: a
    slot starting within seconds could be in the past by the time a loaded machine books it."""
    start = datetime.now(UTC) + timedelta(days=days_ahead, minutes=1)
    r = await client.get(
        "/api/appointments/slots",
        params={"type_id": video_type["id"], "staff_id": str(staff_id), "start": iso(start), "limit": 1},
        headers=reception,
    )
    assert r.status_code == 200, r.text
    slot = r.json()["items"][0]
    r = await client.post(
        "/api/appointments",
        json={
            "type_id": video_type["id"],
            "staff_id": str(staff_id),
            "patient_id": patient_id,
            "start": slot["start"],
        },
        headers=reception,
    )
    assert r.status_code == 201, r.text
    booked: dict[str, Any] = r.json()
    assert booked["room_id"]
    return booked


async def video_visit(client: httpx.AsyncClient, db: Database, *, days_ahead: float = 0) -> Visit:
    admin = await headers_for(client, db, "admin")
    reception = await headers_for(client, db, "receptionist")
    user_id, staff_id, clinician = await clinician_account(db, client)
    kind = await add_type(client, admin, f"TELE5-{uuid.uuid4().hex[:6]}", 5, "video", name="Video check-in")
    await add_hours(client, reception, staff_id, start="00:00", end="23:55", valid_from="2020-01-01")
    patient, patient_headers = await make_patient(client, db, reception)
    appointment = await book_video(client, reception, kind, staff_id, patient["id"], days_ahead=days_ahead)
    r = await client.get(f"/api/telehealth/appointments/{appointment['id']}/consultation", headers=clinician)
    assert r.status_code == 200, r.text
    return Visit(
        admin, reception, clinician, user_id, staff_id, patient, patient_headers, kind, appointment, r.json()
    )


async def join(client: httpx.AsyncClient, visit: Visit, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.post(f"/api/telehealth/consultations/{visit.consultation_id}/join", headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data
