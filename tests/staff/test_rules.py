"""The pure rota rules: local time to UTC across daylight-saving changes, intervals, checks."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.errors import BadRequest
from app.staff import rules

LONDON = ZoneInfo("Europe/London")
H = timedelta(hours=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "start", "end", "hours", "starts_utc"),
    [
        # An ordinary night: 22:00 GMT -> 07:30 GMT.
        ("2026-01-10", "22:00", "07:30", 9.5, "2026-01-10T22:00"),
        # Clocks go forward at 01:00 GMT on 29 March: the night before is an hour shorter.
        ("2026-03-28", "22:00", "07:30", 8.5, "2026-03-28T22:00"),
        # The day shifts of 29 March keep their length and start at 07:00 BST (06:00 UTC).
        ("2026-03-29", "07:00", "15:00", 8.0, "2026-03-29T06:00"),
        ("2026-03-29", "14:30", "22:30", 8.0, "2026-03-29T13:30"),
        # Clocks go back at 02:00 BST on 25 October: the night before is an hour longer.
        ("2026-10-24", "22:00", "07:30", 10.5, "2026-10-24T21:00"),
        ("2026-10-25", "07:00", "15:00", 8.0, "2026-10-25T07:00"),
        ("2026-10-25", "22:00", "07:30", 9.5, "2026-10-25T22:00"),
    ],
)
def test_shift_lengths_across_dst(day: str, start: str, end: str, hours: float, starts_utc: str) -> None:
    s, e = rules.shift_bounds(
        date.fromisoformat(day), time.fromisoformat(start), time.fromisoformat(end), LONDON
    )
    assert s == utc(starts_utc)
    assert (e - s) == timedelta(hours=hours)
    assert s.tzinfo is UTC and e.tzinfo is UTC


def test_a_week_of_early_shifts_over_the_change_neither_moves_nor_doubles() -> None:
    # Early 07:00-15:00 every day from 23 to 31 March: one shift per local day, each 8 hours,
    # always 07:00 on the wall (06:00 UTC after the change), never two on one day.
    days = [date(2026, 3, 23) + timedelta(days=i) for i in range(9)]
    shifts = [rules.shift_bounds(d, time(7), time(15), LONDON) for d in days]
    assert all(e - s == 8 * H for s, e in shifts)
    assert [s.astimezone(LONDON).time() for s, _ in shifts] == [time(7)] * 9
    assert [s.astimezone(LONDON).date() for s, _ in shifts] == days
    assert shifts[5][0] == utc("2026-03-28T07:00") and shifts[6][0] == utc("2026-03-29T06:00")


def test_gap_and_repeated_times() -> None:
    # 01:30 does not exist on 29 March: it lands just after the gap (02:30 BST).
    assert rules.local_instant(date(2026, 3, 29), time(1, 30), LONDON) == utc("2026-03-29T01:30")
    # 01:30 happens twice on 25 October: the first (BST) one.
    assert rules.local_instant(date(2026, 10, 25), time(1, 30), LONDON) == utc("2026-10-25T00:30")


def test_local_days_and_bounds() -> None:
    s, e = rules.shift_bounds(date(2026, 6, 1), time(22), time(7, 30), LONDON)
    assert rules.local_days(s, e, LONDON) == [date(2026, 6, 1), date(2026, 6, 2)]
    s, e = rules.shift_bounds(date(2026, 6, 1), time(16), time(0), LONDON)  # ends at midnight
    assert rules.local_days(s, e, LONDON) == [date(2026, 6, 1)]
    lo, hi = rules.day_bounds(date(2026, 3, 29), date(2026, 3, 29), LONDON)
    assert hi - lo == 23 * H
    assert rules.week_start(date(2026, 3, 29)) == date(2026, 3, 23)


def test_unknown_zone_is_a_clear_error() -> None:
    with pytest.raises(BadRequest) as exc:
        rules.zone("Mars/Olympus_Mons")
    assert exc.value.code == "invalid_timezone"


def test_clip_intervals_merges() -> None:
    got = rules.clip_intervals(
        [
            (utc("2026-01-01T00:00"), utc("2026-01-03T00:00")),
            (utc("2026-01-02T00:00"), utc("2026-01-04T00:00")),
        ],
        utc("2026-01-02T12:00"),
        utc("2026-01-10T00:00"),
    )
    assert got == [(utc("2026-01-02T12:00"), utc("2026-01-04T00:00"))]


def _facts(**kw: object) -> rules.PersonFacts:
    base: dict[str, object] = {
        "staff_id": uuid.uuid4(),
        "display_name": "Ann",
        "active": True,
        "clinical": True,
        "licence_periods": ((None, None),),
    }
    base.update(kw)
    return rules.PersonFacts(**base)  # type: ignore[arg-type]


def test_check_shift_codes() -> None:
    person = _facts()
    sid = person.staff_id
    cand = rules.Interval(None, sid, utc("2026-06-02T07:00"), utc("2026-06-02T15:00"))
    before = rules.Interval(uuid.uuid4(), sid, utc("2026-06-01T22:00"), utc("2026-06-02T02:00"))  # 5 h rest
    clash = rules.Interval(uuid.uuid4(), sid, utc("2026-06-02T14:00"), utc("2026-06-02T20:00"))
    leave = rules.Interval(uuid.uuid4(), sid, utc("2026-06-02T00:00"), utc("2026-06-03T00:00"), kind="annual")

    def codes(**kw: object) -> list[str]:
        args: dict[str, object] = {
            "clinical_shift": True,
            "person": person,
            "others": [],
            "leave": [],
            "min_rest": 8 * H,
            "tz": LONDON,
        }
        args.update(kw)
        return [v.code for v in rules.check_shift(cand, **args)]  # type: ignore[arg-type]

    assert codes() == []
    assert codes(others=[clash]) == ["shift_overlap"]
    assert codes(others=[before]) == ["insufficient_rest"]
    assert codes(others=[before], min_rest=4 * H) == []
    assert codes(leave=[leave]) == ["on_leave"]
    assert codes(person=_facts(staff_id=sid, licence_periods=((None, date(2026, 6, 1)),))) == [
        "licence_expired"
    ]
    assert codes(person=_facts(staff_id=sid, licence_periods=())) == ["licence_expired"]
    assert codes(person=_facts(staff_id=sid, licence_periods=()), clinical_shift=False) == []
    assert codes(person=_facts(staff_id=sid, licence_periods=(), clinical=False)) == []
    assert codes(person=_facts(staff_id=sid, active=False)) == ["staff_inactive"]
    # A shift right after another with exactly the minimum rest is fine.
    exact = rules.Interval(uuid.uuid4(), sid, utc("2026-06-01T15:00"), utc("2026-06-01T23:00"))
    assert codes(others=[exact]) == []
    violation = rules.check_shift(
        cand, clinical_shift=True, person=person, others=[clash], leave=[], min_rest=8 * H, tz=LONDON
    )[0]
    assert violation.as_dict()["conflicts_with"][0]["id"] == str(clash.id)


# --- the checks scale: a timeline answers with binary searches ------------------------------------


def _brute_overlapping(items: list[rules.Interval], c: rules.Interval) -> list[rules.Interval]:
    return sorted(
        (o for o in items if o != c and o.end > o.start and rules.overlaps(o.start, o.end, c.start, c.end)),
        key=lambda o: (o.start, o.end),
    )


def _brute_close(items: list[rules.Interval], c: rules.Interval, rest: timedelta) -> list[rules.Interval]:
    return [
        o
        for o in items
        if o.end > o.start
        and (timedelta(0) <= c.start - o.end < rest or timedelta(0) <= o.start - c.end < rest)
    ]


def test_timeline_agrees_with_brute_force() -> None:
    import random

    rng = random.Random(4)
    sid = uuid.uuid4()
    base = utc("2026-06-01T00:00")
    items = []
    for i in range(400):
        start = base + timedelta(minutes=15 * rng.randrange(0, 7 * 96))
        length = timedelta(minutes=15 * rng.randrange(-1, 60))  # some empty or inverted
        items.append(rules.Interval(None, sid, start, start + length, ref=i))
    line = rules.Timeline(items)
    rest = 8 * H
    for c in items[:150]:
        if c.end <= c.start:
            continue
        listed, total = line.overlapping(c.start, c.end, skip=c)
        expected = _brute_overlapping(items, c)
        assert total == len(expected)
        assert listed == expected[: rules.MAX_LISTED]
        near, n_near = line.too_close(c.start, c.end, rest)
        close = _brute_close(items, c, rest)
        assert n_near == len(close)
        assert len(near) == min(len(close), rules.MAX_LISTED) and all(o in close for o in near)


def test_a_thousand_identical_shifts_give_short_violations() -> None:
    person = _facts()
    start, end = utc("2026-06-02T07:00"), utc("2026-06-02T15:00")
    same = [rules.Interval(None, person.staff_id, start, end, label="Early", ref=i) for i in range(2000)]
    line = rules.Timeline(same)
    found = rules.check_shift(
        same[7], clinical_shift=True, person=person, others=line, leave=[], min_rest=8 * H, tz=LONDON
    )
    assert [v.code for v in found] == ["shift_overlap"]
    d = found[0].as_dict()
    assert d["conflicts_total"] == 1999
    assert len(d["conflicts_with"]) == rules.MAX_LISTED
    assert 7 not in [x["index"] for x in d["conflicts_with"]]  # never the shift itself


# --- local times that do not exist or happen twice ------------------------------------------------


def test_a_shift_time_inside_the_spring_gap_is_refused_with_its_own_code() -> None:
    # 28 March 2027: London's clocks jump from 01:00 GMT to 02:00 BST; 01:30 never happens.
    assert not rules.exists_locally(date(2027, 3, 28), time(1, 30), LONDON)
    assert rules.exists_locally(date(2027, 3, 28), time(2, 30), LONDON)
    with pytest.raises(rules.NonexistentLocalTime) as exc:
        rules.shift_bounds(date(2027, 3, 28), time(1, 30), time(2, 30), LONDON, strict=True)
    assert exc.value.code == "nonexistent_local_time" and exc.value.status_code == 400
    assert exc.value.details == {"date": "2027-03-28", "time": "01:30", "timezone": "Europe/London"}
    # The end of a night shift can fall in the gap too.
    with pytest.raises(rules.NonexistentLocalTime):
        rules.shift_bounds(date(2027, 3, 27), time(22), time(1, 15), LONDON, strict=True)
    # A night across the gap is fine: an hour shorter.
    s, e = rules.shift_bounds(date(2027, 3, 27), time(22), time(7), LONDON, strict=True)
    assert e - s == 8 * H


def test_a_repeated_autumn_time_is_its_first_occurrence() -> None:
    # 31 October 2027: 01:00-02:00 happens twice; 01:30 is read on summer time (00:30 UTC).
    s, e = rules.shift_bounds(date(2027, 10, 31), time(1, 30), time(3), LONDON, strict=True)
    assert s == utc("2027-10-31T00:30") and e == utc("2027-10-31T03:00")
    assert e - s == timedelta(hours=2, minutes=30)
