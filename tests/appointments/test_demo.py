"""The demo seed: appointment types and the demo doctor's hours, so the portal can book at once."""

from __future__ import annotations

from datetime import UTC, datetime

from app.appointments import service
from app.appointments.models import AppointmentType, ClinicHours
from app.auth import service as auth_service
from app.auth.permissions import Perm
from app.demo import seed_demo_appointments, seed_demo_staff
from app.notifications import service as notifications
from app.staff import service as staff
from tests.appointments.helpers import count, staff_principal
from tests.conftest import make_user


async def test_the_demo_doctor_can_be_booked_and_seeding_twice_changes_nothing(db, settings):
    for username, role in (("admin", "admin"), ("doctor", "doctor"), ("nurse", "nurse")):
        await make_user(db, role=role, username=username)
    today = datetime.now(UTC).date()
    async with db.sessionmaker() as session:
        await seed_demo_staff(session, today)
        first = await seed_demo_appointments(session, today)
        await session.commit()
    assert first == "3 types created; 11 weekly clinic hours for the demo doctor"
    async with db.sessionmaker() as session:
        again = await seed_demo_appointments(session, today)
        await session.commit()
    assert again.startswith("0 types created") and "already there" in again
    assert await count(db, ClinicHours) == 11
    reader = staff_principal(Perm.APPOINTMENTS_READ)
    async with db.sessionmaker() as session:
        types = {t.code: t for t in await service.list_types(session, reader)}
        assert set(types) >= {"GP20", "FU10", "VIDEO15"}
        for code in ("GP20", "VIDEO15"):
            page = await service.search_slots(session, reader, type_id=types[code].id, settings=settings)
            assert page.items, f"no free {code} slots for the demo doctor"
            assert {x.staff_name for x in page.items} == {"Dr. Grace Okafor"}
    assert await count(db, AppointmentType) >= 3
    # The notice of an online booking (with its .ics) has somewhere to go.
    async with db.sessionmaker() as session:
        doctor = await auth_service.find_user(session, "doctor")
        assert doctor is not None
        staff_id = await staff.staff_id_for_user(session, doctor.id)
        assert staff_id is not None
        email = (await staff.staff_summaries(session, [staff_id]))[staff_id].email
    assert email == "doctor@hospital-hub.local" and notifications.is_valid_address(email)
