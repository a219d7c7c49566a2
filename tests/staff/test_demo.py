"""`hospital seed-demo` gives the demo doctor and nurse staff records with valid licences,
departments and shift definitions; running it again changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from app.auth import service as auth_service
from app.db import Database
from app.staff import service
from app.staff.models import Department, ShiftDefinition, StaffMember
from tests.conftest import make_settings, run_cli


async def _counts(db: Database) -> tuple[int, int, int]:
    async with db.sessionmaker() as s:
        return (
            (await s.execute(select(func.count()).select_from(StaffMember))).scalar_one(),
            (await s.execute(select(func.count()).select_from(Department))).scalar_one(),
            (await s.execute(select(func.count()).select_from(ShiftDefinition))).scalar_one(),
        )


async def test_seed_demo_staff_is_idempotent(fresh_database_url: str) -> None:
    first = await run_cli(fresh_database_url, "seed-demo")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "demo staff: 2 created" in first.stdout
    db = Database.from_settings(make_settings(fresh_database_url))
    try:
        counts = await _counts(db)
        assert counts == (2, 2, 3)
        today = datetime.now(UTC).date()
        async with db.sessionmaker() as s:
            for username, dept in (("doctor", "General Medicine"), ("nurse", "General Medicine")):
                user = await auth_service.find_user(s, username)
                assert user is not None
                staff_id = await service.staff_id_for_user(s, user.id)
                assert staff_id is not None, username
                facts = (await service.eligibility(s, [staff_id]))[staff_id]
                assert facts.bookable_on(today), username
                summary = (await service.staff_summaries(s, [staff_id]))[staff_id]
                assert summary.department_name == dept and summary.email == f"{username}@hospital-hub.local"
            names = sorted((await s.execute(select(ShiftDefinition.name))).scalars())
            assert names == ["Early", "Late", "Night"]
        second = await run_cli(fresh_database_url, "seed-demo")
        assert second.returncode == 0, second.stdout + second.stderr
        assert "demo staff: 0 created, 2 already there" in second.stdout
        assert await _counts(db) == counts
    finally:
        await db.dispose()
