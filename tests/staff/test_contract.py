"""The lookups the appointments module calls: booking_problem, unavailable_intervals,
eligibility, department_staff_ids, staff_id_for_user, staff_summaries."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound
from app.staff import schemas as s
from app.staff import service
from app.staff.models import Leave
from tests.conftest import make_user
from tests.staff.helpers import licence, make_staff, principal

T = lambda text: datetime.fromisoformat(text).replace(tzinfo=UTC)  # noqa: E731


async def _leave(
    session: AsyncSession, staff_id: uuid.UUID, start: str, end: str, kind: str = "annual"
) -> None:
    session.add(Leave(staff_id=staff_id, kind=kind, starts_at=T(start), ends_at=T(end)))
    await session.flush()


async def test_booking_problem_codes(session: AsyncSession) -> None:
    ok = await make_staff(session, "Able")
    await service.booking_problem(session, ok, T("2026-06-01T09:00"), T("2026-06-01T09:30"))

    with pytest.raises(NotFound) as nf:
        await service.booking_problem(session, uuid.uuid4(), T("2026-06-01T09:00"), T("2026-06-01T09:30"))
    assert nf.value.code == "staff_not_found"

    inactive = await make_staff(session, "Gone", active=False)
    clerk = await make_staff(session, "Clerk", clinical=False)
    lapsed = await make_staff(session, "Lapsed", licences=[licence("2020-01-01", "2026-05-31")])
    unlicensed = await make_staff(session, "Nolicence", licences=[licence(kind="qualification")])
    away = await make_staff(session, "Away")
    await _leave(session, away, "2026-06-01T00:00", "2026-06-03T00:00")
    for staff_id, code in [
        (inactive, "staff_inactive"),
        (clerk, "not_clinical"),
        (lapsed, "licence_expired"),
        (unlicensed, "licence_expired"),
        (away, "staff_on_leave"),
    ]:
        with pytest.raises(Conflict) as exc:
            await service.booking_problem(session, staff_id, T("2026-06-01T09:00"), T("2026-06-01T09:30"))
        assert exc.value.code == code, staff_id
    # The licence ran to 31 May inclusive: a booking that day is fine.
    await service.booking_problem(session, lapsed, T("2026-05-31T09:00"), T("2026-05-31T09:30"))
    # Leave ends at 3 June 00:00: a booking right after is fine.
    await service.booking_problem(session, away, T("2026-06-03T00:00"), T("2026-06-03T00:30"))


async def test_licence_day_is_the_facility_local_day(session: AsyncSession) -> None:
    # Licence valid from 1 June (London). 31 May 23:30 UTC is 1 June 00:30 BST: licensed.
    sid = await make_staff(session, "Early", licences=[licence("2026-06-01", None)])
    await service.booking_problem(
        session, sid, T("2026-05-31T23:30"), T("2026-06-01T00:00"), tz="Europe/London"
    )
    with pytest.raises(Conflict):
        await service.booking_problem(session, sid, T("2026-05-31T23:30"), T("2026-06-01T00:00"), tz="UTC")


async def test_unavailable_intervals_clipped_and_merged(session: AsyncSession) -> None:
    a = await make_staff(session, "Alpha")
    b = await make_staff(session, "Beta")
    await _leave(session, a, "2026-06-01T00:00", "2026-06-05T00:00")
    await _leave(session, a, "2026-06-04T12:00", "2026-06-06T00:00", "sick")
    await _leave(session, a, "2026-07-01T00:00", "2026-07-02T00:00")
    got = await service.unavailable_intervals(session, [a, b], T("2026-06-02T00:00"), T("2026-06-10T00:00"))
    assert got == {a: [(T("2026-06-02T00:00"), T("2026-06-06T00:00"))], b: []}
    assert all(x.tzinfo is not None for pair in got[a] for x in pair)


async def test_eligibility(session: AsyncSession) -> None:
    a = await make_staff(
        session, "Alpha", licences=[licence("2026-01-01", "2026-06-30"), licence("2026-08-01", None)]
    )
    clerk = await make_staff(session, "Clerk", clinical=False)
    got = await service.eligibility(session, [a, clerk, uuid.uuid4()])
    assert set(got) == {a, clerk}
    e = got[a]
    assert e.display_name == "Grace Alpha" and e.active and e.clinical
    assert e.bookable_on(date(2026, 6, 30)) and not e.bookable_on(date(2026, 7, 15))
    assert e.bookable_on(date(2030, 1, 1)) and not e.bookable_on(date(2025, 12, 31))
    assert not got[clerk].bookable_on(date(2026, 6, 1))
    with pytest.raises(AttributeError):
        e.active = False  # type: ignore[misc]


async def test_department_members_user_link_and_summaries(session: AsyncSession, db: object) -> None:
    dept = await service.create_department(
        session, principal(), s.DepartmentCreate(code="CARD", name="Cardiology")
    )
    other = await service.create_department(
        session, principal(), s.DepartmentCreate(code="ED", name="Emergency")
    )
    user_id = await make_user(db, role="doctor")  # type: ignore[arg-type]
    a = await make_staff(session, "Alpha", department_id=dept.id, user_id=user_id)
    b = await make_staff(session, "Beta", department_id=other.id)
    await make_staff(session, "Gamma", department_id=dept.id, active=False)
    assert await service.department_staff_ids(session, dept.id) == [a]
    assert await service.department_staff_ids(session, other.id) == [b]
    assert await service.staff_id_for_user(session, user_id) == a
    assert await service.staff_id_for_user(session, uuid.uuid4()) is None
    got = await service.staff_summaries(session, [a, b, uuid.uuid4()])
    assert set(got) == {a, b}
    assert got[a] == service.StaffSummary(
        id=a,
        display_name="Grace Alpha",
        department_id=dept.id,
        department_name="Cardiology",
        user_id=user_id,
        email="alpha@hospital.test",
    )
    assert got[b].user_id is None
