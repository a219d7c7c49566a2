"""The demo patients have a (fake, example.org) e-mail address, so the demo `patient` login's
online booking is confirmed like a real one; seeding adds it to demo records made before it had
one, and changes nothing the second time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select

from app.demo import DEMO_SYSTEM, write_demo_bundles
from app.notifications.models import NotificationMessage
from app.patients.models import PatientIdentifier, PatientTelecom
from tests.conftest import login, run_cli
from tests.patients.helpers import fresh_app


def test_every_demo_patient_has_an_example_org_address(tmp_path: Path) -> None:
    addresses = []
    for path in write_demo_bundles(tmp_path, datetime.now(UTC).date()):
        bundle = json.loads(path.read_text())
        (patient,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
        emails = [t["value"] for t in patient["telecom"] if t["system"] == "email"]
        assert len(emails) == 1, patient["telecom"]
        addresses.append(emails[0])
    assert len(set(addresses)) == len(addresses) == 5
    assert all(a.endswith("@example.org") for a in addresses), addresses


async def _demo_emails(db) -> dict[str, str]:
    async with db.sessionmaker() as session:
        rows = await session.execute(
            select(PatientIdentifier.value, PatientTelecom.value)
            .join(PatientTelecom, PatientTelecom.patient_id == PatientIdentifier.patient_id)
            .where(PatientIdentifier.system == DEMO_SYSTEM, PatientTelecom.system == "email")
        )
        return {key: email for key, email in rows}


async def test_the_demo_patient_books_online_and_is_confirmed(fresh_database_url, broker) -> None:
    seeded = await run_cli(fresh_database_url, "seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    async with fresh_app(fresh_database_url, broker) as (client, db):
        emails = await _demo_emails(db)
        assert emails["patient-zoe"].endswith("@example.org") and len(emails) == 5
        # A demo database seeded before the addresses existed gets them on the next seed.
        async with db.sessionmaker() as session:
            await session.execute(delete(PatientTelecom).where(PatientTelecom.system == "email"))
            await session.commit()
        assert await _demo_emails(db) == {}
        again = await run_cli(fresh_database_url, "seed-demo")
        assert again.returncode == 0, again.stderr
        assert "e-mail address added to 5 demo patients" in again.stdout, again.stdout
        assert await _demo_emails(db) == emails
        third = await run_cli(fresh_database_url, "seed-demo")
        assert third.returncode == 0 and "e-mail address added" not in third.stdout, third.stdout
        assert await _demo_emails(db) == emails

        me = {"Authorization": f"Bearer {(await login(client, 'patient', 'hospital-demo'))['access_token']}"}
        types = {t["code"]: t for t in (await client.get("/api/appointments/types", headers=me)).json()}
        slots = await client.get(
            "/api/appointments/slots", params={"type_id": types["VIDEO15"]["id"]}, headers=me
        )
        assert slots.status_code == 200 and slots.json()["items"], slots.text
        slot = slots.json()["items"][0]
        booked = await client.post(
            "/api/appointments",
            json={"type_id": types["VIDEO15"]["id"], "staff_id": slot["staff_id"], "start": slot["start"]},
            headers=me,
        )
        assert booked.status_code == 201, booked.text
        async with db.sessionmaker() as session:
            sent = list(
                await session.scalars(
                    select(NotificationMessage).where(
                        NotificationMessage.related == f"appointment:{booked.json()['id']}",
                        NotificationMessage.kind == "appointment.confirmation",
                    )
                )
            )
        assert [m.to_email for m in sent] == [emails["patient-zoe"]]
