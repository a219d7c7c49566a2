"""Rota rules under concurrency: many receptionists putting one person on overlapping shifts at
the same moment, on a real connection pool (SQLite or MariaDB): exactly one wins, the others
get a clear 409 and nothing else is written."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from app.staff.models import Shift
from tests.conftest import bearer, login, make_user
from tests.patients.helpers import fresh_app
from tests.staff.helpers import api_definitions, api_department, api_staff

N = 20


async def test_simultaneous_overlapping_shifts_one_wins(fresh_database_url: str, broker: Any) -> None:
    async with fresh_app(fresh_database_url, broker) as (client, database):
        await make_user(database, role="admin", username="boss")
        await make_user(database, role="receptionist", username="desk")
        admin = bearer(await login(client, "boss"))
        desk = bearer(await login(client, "desk"))
        dept = await api_department(client, admin, "WARD", "Ward")
        defs = await api_definitions(client, desk)
        ann = (await api_staff(client, admin, "Ashby"))["id"]
        ben = (await api_staff(client, admin, "Bello"))["id"]

        def body(i: int) -> dict[str, Any]:
            # Every one overlaps every other: starts between 07:00 and 07:19, 8 hours long.
            return {
                "staff_id": ann,
                "department_id": dept["id"],
                "date": "2026-06-01",
                "start_time": f"07:{i:02d}",
                "end_time": f"15:{i:02d}",
            }

        # Ben's week saved at the same moment must not be disturbed by Ann's contention.
        week = {
            "department_id": dept["id"],
            "week_start": "2026-06-01",
            "shifts": [
                {"staff_id": ben, "date": f"2026-06-0{d}", "definition_id": defs["Early"]}
                for d in range(1, 6)
            ],
        }
        results = await asyncio.gather(
            *(client.post("/api/staff/shifts", json=body(i), headers=desk) for i in range(N)),
            client.post("/api/staff/rota/week", json=week, headers=desk),
        )
        shifts, week_result = results[:N], results[N]
        assert week_result.status_code == 201, week_result.text
        outcomes = Counter(
            (r.status_code, r.json().get("error", {}).get("code") if r.status_code != 201 else None)
            for r in shifts
        )
        assert outcomes == {(201, None): 1, (409, "shift_overlap"): N - 1}, outcomes
        async with database.sessionmaker() as s:
            rows = await s.execute(select(Shift.staff_id, func.count()).group_by(Shift.staff_id))
            per_person = {staff_id: n for staff_id, n in rows.all()}
        assert per_person == {uuid.UUID(ann): 1, uuid.UUID(ben): 5}
