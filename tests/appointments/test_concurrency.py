"""Never a double booking, decided by the database, under real concurrent requests through the
app on a fresh database (SQLite here, MariaDB with HOSPITAL_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

import pytest

from app.appointments.models import Appointment, AppointmentLock
from tests.appointments.helpers import (
    add_hours,
    booking,
    clinic,
    count,
    make_clinician,
    make_patient,
    next_local,
)
from tests.patients.helpers import fresh_app, patient_body

CONTENDERS = 200


async def _patients(client, headers, n: int) -> list[str]:
    async def one(i: int) -> str:
        r = await client.post("/api/patients", json=patient_body(family=f"Contender{i}"), headers=headers)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    ids: list[str] = []
    for start in range(0, n, 25):
        ids += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 25))))
    return ids


async def test_200_simultaneous_bookings_of_one_slot_give_one_appointment(fresh_database_url, broker):
    async with fresh_app(fresh_database_url, broker) as (client, database):
        c = await clinic(client, database)
        patients = await _patients(client, c.reception, CONTENDERS)
        assert len(set(patients)) == CONTENDERS
        slot = next_local(4, "10:00")
        responses = await asyncio.gather(
            *(
                client.post("/api/appointments", json=booking(c, pid, slot), headers=c.reception)
                for pid in patients
            )
        )
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {201: 1, 409: CONTENDERS - 1}, [
            r.text for r in responses if r.status_code not in (201, 409)
        ]
        refusals = Counter(r.json()["error"]["code"] for r in responses if r.status_code == 409)
        assert refusals == {"slot_taken": CONTENDERS - 1}
        winner = next(r.json() for r in responses if r.status_code == 201)
        assert await count(database, Appointment) == 1
        assert await count(database, AppointmentLock) == 12
        assert await count(database, AppointmentLock, appointment_id=uuid.UUID(winner["id"])) == 12
        # And the slot is then reported taken, plainly.
        late = await client.post("/api/appointments", json=booking(c, patients[0], slot), headers=c.reception)
        assert late.status_code == 409


async def test_one_patient_cannot_be_in_two_places_at_once(fresh_database_url, broker):
    async with fresh_app(fresh_database_url, broker) as (client, database):
        c = await clinic(client, database)
        clinicians = [c.staff_id]
        for n in range(9):
            sid = await make_clinician(database, family=f"Clinician{n}", email=f"c{n}@hospital.test")
            await add_hours(client, c.reception, sid)
            clinicians.append(sid)
        patient, me = await make_patient(client, database, c.reception)
        ten = next_local(4, "10:00")
        # Nine at exactly 10:00 and one video visit at 10:20 that overlaps their last ten minutes.
        bodies = [booking(c, None, ten, staff_id=sid) for sid in clinicians[:9]]
        bodies.append(booking(c, None, ten + timedelta(minutes=20), staff_id=clinicians[9], kind=c.video))
        responses = await asyncio.gather(
            *(client.post("/api/appointments", json=b, headers=me) for b in bodies)
        )
        statuses = Counter(r.status_code for r in responses)
        assert statuses[201] == 1 and statuses[409] == len(bodies) - 1, [r.text for r in responses]
        codes = Counter(r.json()["error"]["code"] for r in responses if r.status_code == 409)
        assert codes == {"patient_busy": len(bodies) - 1}
        assert await count(database, Appointment, patient_id=uuid.UUID(patient["id"])) == 1
        assert await count(database, AppointmentLock, kind="patient") in (6, 4)


class _FakeMySQLError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code, "simulated")


async def test_a_deadlock_or_lock_timeout_is_a_clean_409_never_a_500(client, db, monkeypatch):
    """MariaDB may answer a contended insert with a deadlock (1213) or a lock wait timeout (1205)
    instead of a duplicate key: the booking is refused like a taken slot, and nothing is kept."""
    from sqlalchemy.exc import OperationalError

    from app.appointments import repository

    c = await clinic(client, db)
    patient, _ = await make_patient(client, db, c.reception)
    for n, code in enumerate((1213, 1205)):

        async def contended(session, rows, _code=code):
            raise OperationalError("INSERT INTO appointment_locks ...", {}, _FakeMySQLError(_code))

        monkeypatch.setattr(repository, "insert_locks", contended)
        r = await client.post(
            "/api/appointments",
            json=booking(c, patient["id"], next_local(4, f"1{n}:00")),
            headers=c.reception,
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "slot_taken", r.text
    monkeypatch.undo()
    assert await count(db, Appointment) == 0

    async def broken(session, rows):
        raise OperationalError("INSERT INTO appointment_locks ...", {}, _FakeMySQLError(2006))  # server gone

    monkeypatch.setattr(repository, "insert_locks", broken)
    # Other database failures are not dressed up as conflicts (the app answers them with a 500;
    # the test transport re-raises the exception instead).
    with pytest.raises(OperationalError):
        await client.post(
            "/api/appointments", json=booking(c, patient["id"], next_local(4, "12:00")), headers=c.reception
        )
