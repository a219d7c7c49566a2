"""Free slots from weekly hours: daylight saving (Europe/London), the busy filter, paging."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest

from app.appointments import schemas as s
from app.appointments import service
from app.appointments import slots as sl
from app.auth.permissions import Perm
from tests.appointments.helpers import LONDON, add_hours, clinic, make_clinician, staff_principal
from tests.patients.helpers import assert_error

SPRING = date(2026, 3, 29)  # 01:00 GMT -> 02:00 BST
AUTUMN = date(2026, 10, 25)  # 02:00 BST -> 01:00 GMT


def hours(start: str, end: str, *days: date, staff_id: uuid.UUID | None = None) -> list[sl.WeeklyHours]:
    sid = staff_id or uuid.UUID(int=1)
    return [
        sl.WeeklyHours(
            staff_id=sid,
            weekday=weekday,
            start_time=time.fromisoformat(start),
            end_time=time.fromisoformat(end),
            valid_from=date(2026, 1, 1),
            valid_to=None,
            admits=True,
        )
        for weekday in sorted({d.weekday() for d in days})
    ]


def slots_on(rules: list[sl.WeeklyHours], day: date, minutes: int) -> list[sl.Slot]:
    found = list(sl.candidate_slots(rules, [day], timedelta(minutes=minutes), LONDON))
    return sl.free_slots(
        found,
        busy=sl.Busy({}),
        not_before=datetime(2000, 1, 1, tzinfo=UTC),
        window_start=datetime(2000, 1, 1, tzinfo=UTC),
        window_end=datetime(2100, 1, 1, tzinfo=UTC),
        bookable=lambda _sid, _day: True,
        tz=LONDON,
    )


def wall(slot: sl.Slot) -> str:
    return slot.start.astimezone(LONDON).strftime("%H:%M")


def assert_real_and_unique(found: list[sl.Slot], minutes: int) -> None:
    starts = [x.start for x in found]
    assert starts == sorted(set(starts)), "an instant offered twice, or out of order"
    labels = [
        (x.start.astimezone(LONDON).strftime("%F %H:%M"), x.start.astimezone(LONDON).utcoffset())
        for x in found
    ]
    assert len(labels) == len(set(labels)), "the same local time (with its offset) twice"
    for x in found:
        local = x.start.astimezone(LONDON)
        # The wall time exists: read back on the facility's clock it is the same instant.
        back = datetime.combine(local.date(), local.time(), tzinfo=LONDON).replace(fold=local.fold)
        assert back.astimezone(UTC) == x.start
        assert x.end - x.start == timedelta(minutes=minutes)
    for a, b in itertools.pairwise(found):
        assert b.start >= a.end, "slots overlap"


@pytest.mark.parametrize(
    "days",
    [
        (SPRING - timedelta(1), SPRING, SPRING + timedelta(1)),
        (AUTUMN - timedelta(1), AUTUMN, AUTUMN + timedelta(1)),
    ],
)
def test_a_morning_clinic_keeps_its_local_times_across_the_change(days):
    rules = hours("09:00", "12:00", *days)
    per_day = {d: slots_on(rules, d, 30) for d in days}
    expected = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    for d, found in per_day.items():
        assert [wall(x) for x in found] == expected, d
        assert_real_and_unique(found, 30)
        assert all(x.start.astimezone(LONDON).date() == d for x in found)
    before, change, after = days
    # The instants move by the hour the clocks moved: that is what keeps 09:00 at 09:00.
    assert per_day[before][0].start.hour != per_day[after][0].start.hour
    assert per_day[change][0].start.hour == per_day[after][0].start.hour


def test_a_night_clinic_on_spring_forward_has_no_slot_in_the_missing_hour():
    found = slots_on(hours("00:30", "02:30", SPRING), SPRING, 30)
    # 00:30 GMT .. 02:30 BST is one real hour: two slots, neither in the hour that does not exist.
    assert [x.start.astimezone(LONDON).isoformat() for x in found] == [
        "2026-03-29T00:30:00+00:00",
        "2026-03-29T02:00:00+01:00",
    ]
    assert_real_and_unique(found, 30)
    fifteen = slots_on(hours("00:30", "02:30", SPRING), SPRING, 15)
    assert [wall(x) for x in fifteen] == ["00:30", "00:45", "02:00", "02:15"]
    assert_real_and_unique(fifteen, 15)
    # Hours wholly inside the gap offer nothing at all.
    assert slots_on(hours("01:00", "02:00", SPRING), SPRING, 15) == []


def test_a_night_clinic_on_fall_back_offers_each_instant_once():
    found = slots_on(hours("00:30", "02:30", AUTUMN), AUTUMN, 30)
    # 00:30 BST .. 02:30 GMT is three real hours; 01:00-02:00 happens twice, each offered once.
    assert [x.start.astimezone(LONDON).isoformat() for x in found] == [
        "2026-10-25T00:30:00+01:00",
        "2026-10-25T01:00:00+01:00",
        "2026-10-25T01:30:00+01:00",
        "2026-10-25T01:00:00+00:00",
        "2026-10-25T01:30:00+00:00",
        "2026-10-25T02:00:00+00:00",
    ]
    assert_real_and_unique(found, 30)
    assert found[-1].end == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)


def test_overlapping_hours_never_offer_a_slot_twice():
    day = date(2026, 6, 1)
    rules = hours("09:00", "12:00", day) + hours("10:00", "13:00", day)
    found = slots_on(rules, day, 30)
    assert [wall(x) for x in found] == [
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "11:00",
        "11:30",
        "12:00",
        "12:30",
    ]


def test_busy_intervals_leave_and_bookings_remove_overlapping_slots():
    day = date(2026, 6, 1)  # BST: 09:00 local is 08:00 UTC
    sid = uuid.UUID(int=7)
    rules = hours("09:00", "11:00", day, staff_id=sid)
    busy = sl.Busy({sid: [(datetime(2026, 6, 1, 8, 40, tzinfo=UTC), datetime(2026, 6, 1, 9, 5, tzinfo=UTC))]})
    found = sl.free_slots(
        sl.candidate_slots(rules, [day], timedelta(minutes=30), LONDON),
        busy=busy,
        not_before=datetime(2026, 6, 1, 8, 0, tzinfo=UTC),
        window_start=datetime(2026, 6, 1, tzinfo=UTC),
        window_end=datetime(2026, 6, 2, tzinfo=UTC),
        bookable=lambda _s, _d: True,
        tz=LONDON,
    )
    assert [wall(x) for x in found] == ["09:00", "10:30"]
    assert (
        sl.free_slots(
            sl.candidate_slots(rules, [day], timedelta(minutes=30), LONDON),
            busy=sl.Busy({}),
            not_before=datetime(2026, 6, 1, 9, 0, tzinfo=UTC),  # 10:00 local: earlier ones are past
            window_start=datetime(2026, 6, 1, tzinfo=UTC),
            window_end=datetime(2026, 6, 2, tzinfo=UTC),
            bookable=lambda _s, d: d != day,  # e.g. the licence lapsed that day
            tz=LONDON,
        )
        == []
    )


def test_granules_and_cursors():
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    assert sl.granules(start, start + timedelta(minutes=20)) == [
        start + timedelta(minutes=m) for m in (0, 5, 10, 15)
    ]
    slot = sl.Slot(start=start, staff_id=uuid.uuid4(), end=start + timedelta(minutes=20))
    key, scope = b"k" * 32, "type|-|-"
    cursor = sl.encode_cursor(slot, key=key, scope=scope)
    assert sl.decode_cursor(cursor, key=key, scope=scope) == (slot.start, slot.staff_id)
    flipped = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    for bad in ("", "!!!", "bm90LWEtY3Vyc29y", cursor[:-3], cursor + "A", flipped, "!" * len(cursor)):
        with pytest.raises(ValueError):
            sl.decode_cursor(bad, key=key, scope=scope)
    # Only for the key and the search it was made for.
    for other_key, other_scope in ((b"x" * 32, scope), (key, "type|staff|-")):
        with pytest.raises(ValueError):
            sl.decode_cursor(cursor, key=other_key, scope=other_scope)


async def _dst_setup(db):
    """A clinician with 09:00-12:00 and 00:30-02:30 hours every day, through the services."""
    staff_id = await make_clinician(db, family="Night")
    admin = staff_principal(Perm.SETTINGS_ADMIN, Perm.ROTA_WRITE, Perm.APPOINTMENTS_READ)
    async with db.sessionmaker() as session:
        kind = await service.create_type(
            session,
            admin,
            s.AppointmentTypeCreate(
                code=f"N30-{uuid.uuid4().hex[:6]}", name="Night", duration_minutes=30, mode="in_person"
            ),
        )
        for start, end in (("09:00", "12:00"), ("00:30", "02:30")):
            for weekday in range(7):
                await service.create_hours(
                    session,
                    admin,
                    s.ClinicHoursCreate(
                        staff_id=staff_id,
                        weekday=weekday,
                        start_time=start,
                        end_time=end,
                        valid_from=date(2026, 1, 1),
                    ),
                )
        await session.commit()
    return staff_id, kind.id, admin


@pytest.mark.parametrize("change", [SPRING, AUTUMN])
async def test_the_slot_search_across_a_change_of_clocks(db, settings, change):
    staff_id, type_id, admin = await _dst_setup(db)
    first = datetime.combine(change - timedelta(days=1), time(0), tzinfo=LONDON)
    last = datetime.combine(change + timedelta(days=2), time(0), tzinfo=LONDON)
    async with db.sessionmaker() as session:
        page = await service.search_slots(
            session,
            admin,
            type_id=type_id,
            staff_id=staff_id,
            start=first,
            end=last,
            limit=200,
            settings=settings,
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    found = [sl.Slot(start=x.start, staff_id=x.staff_id, end=x.end) for x in page.items]
    assert_real_and_unique(found, 30)
    by_day: dict[date, list[str]] = {}
    for x in page.items:
        local = datetime.fromisoformat(x.local_start)
        assert local == x.start  # the same instant, on the facility's clock
        by_day.setdefault(local.date(), []).append(local.strftime("%H:%M"))
    morning = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    for d, labels in by_day.items():
        assert labels[-6:] == morning, d
    night = {d: labels[:-6] for d, labels in by_day.items()}
    assert (
        night[change - timedelta(days=1)]
        == night[change + timedelta(days=1)]
        == ["00:30", "01:00", "01:30", "02:00"]
    )
    if change == SPRING:
        assert night[change] == ["00:30", "02:00"]
    else:
        assert night[change] == ["00:30", "01:00", "01:30", "01:00", "01:30", "02:00"]
    assert page.next_cursor is None and page.timezone == "Europe/London"


async def test_paging_walks_every_slot_once_in_order(client, db):
    c = await clinic(client, db, start="09:00", end="11:00")
    other = await make_clinician(db, family="Second")
    await add_hours(client, c.reception, other, start="09:00", end="11:00")
    params = {"type_id": c.consult["id"], "start": "2027-02-01T00:00:00Z", "end": "2027-02-03T00:00:00Z"}
    everything = await client.get(
        "/api/appointments/slots", params={**params, "limit": 200}, headers=c.doctor
    )
    assert everything.status_code == 200, everything.text
    full = [(x["start"], x["staff_id"]) for x in everything.json()["items"]]
    assert len(full) == 2 * 2 * 4  # two days, two clinicians, four half-hours
    assert full == sorted(full)
    walked, cursor, pages = [], None, 0
    while True:
        r = await client.get(
            "/api/appointments/slots",
            params={**params, "limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=c.doctor,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        walked += [(x["start"], x["staff_id"]) for x in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert walked == full and pages == 6
    # A department's search covers its clinicians only; a clinician's, that one.
    one = await client.get(
        "/api/appointments/slots", params={**params, "staff_id": str(other), "limit": 200}, headers=c.doctor
    )
    assert {x["staff_id"] for x in one.json()["items"]} == {str(other)} and len(one.json()["items"]) == 8


async def test_future_daylight_saving_days_through_the_api(client, db):
    c = await clinic(client, db, start="09:00", end="12:00")
    # 2027-03-28 and 2027-10-31 are the change days; the window is the local days around them.
    for first, change, last in (
        ("2027-03-27", "2027-03-28", "2027-03-30"),
        ("2027-10-30", "2027-10-31", "2027-11-02"),
    ):
        r = await client.get(
            "/api/appointments/slots",
            params={
                "type_id": c.consult["id"],
                "staff_id": str(c.staff_id),
                "limit": 200,
                "start": f"{first}T00:00:00+00:00",
                "end": f"{last}T00:00:00+00:00",
            },
            headers=c.doctor,
        )
        assert r.status_code == 200, r.text
        locals_ = [x["local_start"] for x in r.json()["items"]]
        days = sorted({x[:10] for x in locals_})
        assert change in days and len(days) == 3
        for d in days:
            assert [x[11:16] for x in locals_ if x.startswith(d)] == [
                "09:00",
                "09:30",
                "10:00",
                "10:30",
                "11:00",
                "11:30",
            ]


async def test_bad_searches_are_clear_4xx(client, db):
    c = await clinic(client, db)
    url = "/api/appointments/slots"
    base = {"type_id": c.consult["id"]}
    cases = [
        ({**base, "start": "2027-01-02T00:00:00Z", "end": "2027-01-01T00:00:00Z"}, 400, "invalid_window"),
        ({**base, "start": "2027-01-01T00:00:00Z", "end": "2027-06-01T00:00:00Z"}, 400, "window_too_long"),
        ({**base, "cursor": "garbage"}, 400, "invalid_cursor"),
        ({"type_id": str(uuid.uuid4())}, 404, "type_not_found"),
        ({**base, "staff_id": str(uuid.uuid4())}, 404, "staff_not_found"),
        ({**base, "start": "2027-01-01T00:00:00"}, 422, "validation_error"),  # no offset
        ({}, 422, "validation_error"),
    ]
    for params, status, code in cases:
        assert_error(await client.get(url, params=params, headers=c.doctor), status, code)
    retire = await client.patch(
        f"/api/appointments/types/{c.consult['id']}", json={"active": False}, headers=c.admin
    )
    assert retire.status_code == 200
    assert_error(await client.get(url, params=base, headers=c.doctor), 409, "type_inactive")
