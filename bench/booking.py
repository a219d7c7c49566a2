"""`python -m bench booking`: booking throughput, and 200 bookings racing for one slot.

One SQLite database migrated by the real migrations holds a clinician with weekly hours every
day (00:00-23:50, 10-minute visits), an appointment type, and patients registered through
``app.patients.service`` (each with an e-mail address, so every booking queues its confirmation
with an .ics and its reminder in the outbox, as in production). Two cases, each as a ratio
against a plain insert into the same table (``appointments``) measured in the same run:

1. **distinct slots**: bookings one after the other, each of a different free slot for a
   different patient, through ``app.appointments.service.book`` as a receptionist, each in its
   own unit of work (session, book, commit; on failure rollback and the failure's audit entry,
   as ``app.deps`` does for a request). The baseline: one ``INSERT INTO appointments`` of an
   equivalent row per unit of work (session, insert, commit). Ratio = bookings/s / inserts/s.
2. **contention**: ``--contenders`` (200) bookings of one slot by as many patients, started at
   once (``asyncio.gather``, each its own unit of work). Exactly one must succeed and the rest
   be refused with 409 ``slot_taken``, or the run is invalid. The baseline: as many plain inserts
   started at once. Ratio = inserts' wall time / contention's wall time.

Rounds alternate booking then baseline so a noisy neighbour hits both alike. The ratios are of
the medians over rounds. Nothing here is an assertion on time; see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments import schemas as appt_schemas
from app.appointments import service as appointments
from app.appointments.models import Appointment
from app.audit import service as audit
from app.auth import service as auth
from app.auth.permissions import Perm, permissions_for
from app.auth.schemas import UserCreate
from app.config import Settings
from app.db import Database
from app.deps import Principal
from app.errors import Conflict
from app.patients import schemas as patient_schemas
from app.patients import service as patients
from app.staff import schemas as staff_schemas
from app.staff import service as staff
from bench.common import (
    BenchError,
    bench_settings,
    finish,
    fresh_copy,
    median,
    migrated_template,
    ms,
    print_machine,
    run_bounded,
    spread_pct,
)

T = TypeVar("T")
VISIT_MINUTES = 10


def principal(
    *perms: Perm, roles: tuple[str, ...] = ("admin",), user_id: uuid.UUID | None = None
) -> Principal:
    return Principal(
        user_id=user_id or uuid.uuid4(),
        username="bench",
        full_name="Bench",
        email=None,
        roles=roles,
        permissions=frozenset(perms) if perms else permissions_for(list(roles)),
        patient_id=None,
        session_id=uuid.uuid4(),
    )


async def unit_of_work(db: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """What a request's session dependency does (app.deps): commit, or roll back and write the
    failure's audit entries in a transaction of their own."""
    async with db.sessionmaker() as session:
        try:
            result = await work(session)
            await session.commit()
            return result
        except BaseException as exc:
            pending = audit.take_pending(session)
            await session.rollback()
            if pending:
                code = getattr(exc, "code", type(exc).__name__)
                await audit.write_failed(db.sessionmaker, pending, "failure", code)
            raise


class Clinic:
    def __init__(
        self, type_id: uuid.UUID, staff_id: uuid.UUID, patient_ids: list[uuid.UUID], desk: Principal
    ) -> None:
        self.type_id = type_id
        self.staff_id = staff_id
        self.patient_ids = patient_ids
        self.desk = desk  # a receptionist with a real account (bookings name who booked)


async def build(db: Database, settings: Settings, patients_n: int) -> Clinic:
    admin = principal(
        Perm.SETTINGS_ADMIN, Perm.ROTA_WRITE, Perm.STAFF_WRITE, Perm.STAFF_READ, Perm.PATIENTS_WRITE
    )
    async with db.sessionmaker() as session:
        member = await staff.create_staff(
            session,
            admin,
            staff_schemas.StaffCreate.model_validate(
                {
                    "family": "Bench",
                    "given": ["Clinician"],
                    "clinical": True,
                    "telecoms": [{"system": "email", "value": "clinician@bench.test"}],
                    "qualifications": [{"kind": "licence", "number": "B-1", "valid_from": "2000-01-01"}],
                }
            ),
        )
        kind = await appointments.create_type(
            session,
            admin,
            appt_schemas.AppointmentTypeCreate(
                code="BENCH10", name="Bench visit", duration_minutes=VISIT_MINUTES, mode="in_person"
            ),
        )
        for weekday in range(7):
            await appointments.create_hours(
                session,
                admin,
                appt_schemas.ClinicHoursCreate(
                    staff_id=member.id,
                    weekday=weekday,
                    start_time="00:00",
                    end_time="23:50",
                    valid_from=date(2000, 1, 1),
                ),
            )
        user = await auth.create_user(
            session,
            UserCreate.model_validate(
                {
                    "username": "bench-desk",
                    "password": secrets.token_urlsafe(16),
                    "full_name": "Bench Desk",
                    "roles": ["receptionist"],
                }
            ),
        )
        await session.commit()
    desk = principal(roles=("receptionist",), user_id=user.id)
    ids: list[uuid.UUID] = []
    for start in range(0, patients_n, 200):
        async with db.sessionmaker() as session:
            for n in range(start, min(patients_n, start + 200)):
                row = await patients.register_patient(
                    session,
                    admin,
                    patient_schemas.PatientCreate.model_validate(
                        {
                            "names": [{"use": "official", "family": f"Patient{n}", "given": ["Bench"]}],
                            "gender": "unknown",
                            "telecoms": [{"system": "email", "value": f"p{n}@bench.test"}],
                        }
                    ),
                )
                ids.append(row.id)
            await session.commit()
    return Clinic(kind.id, member.id, ids, desk)


async def free_slots(db: Database, settings: Settings, clinic: Clinic, needed: int) -> list[datetime]:
    """The first ``needed`` free slots from two days ahead, found by the slot search itself."""
    reader = principal(Perm.APPOINTMENTS_READ)
    start = datetime.now(UTC) + timedelta(days=2)
    found: list[datetime] = []
    cursor = None
    async with db.sessionmaker() as session:
        while len(found) < needed:
            page = await appointments.search_slots(
                session,
                reader,
                type_id=clinic.type_id,
                staff_id=clinic.staff_id,
                start=start,
                end=start + timedelta(days=60),
                limit=200,
                cursor=cursor,
                settings=settings,
            )
            found += [slot.start for slot in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        await session.rollback()
    if len(found) < needed:
        raise BenchError(f"only {len(found)} free slots in 60 days, {needed} needed")
    return found[:needed]


def plain_row(clinic: Clinic, patient_id: uuid.UUID, start: datetime) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": uuid.uuid4(),
        "type_id": clinic.type_id,
        "staff_id": clinic.staff_id,
        "patient_id": patient_id,
        "start_at": start,
        "end_at": start + timedelta(minutes=VISIT_MINUTES),
        "status": "booked",
        "mode": "in_person",
        "booked_online": False,
        "sequence": 0,
        "created_at": now,
        "updated_at": now,
    }


async def plain_insert(db: Database, row: dict[str, Any]) -> None:
    async def work(session: AsyncSession) -> None:
        await session.execute(insert(Appointment).values(**row))

    await unit_of_work(db, work)


async def book(
    db: Database, settings: Settings, desk: Principal, clinic: Clinic, patient_id: uuid.UUID, start: datetime
) -> bool:
    """True when booked, False when refused as taken (anything else is a bench failure)."""
    body = appt_schemas.AppointmentCreate(
        type_id=clinic.type_id, staff_id=clinic.staff_id, patient_id=patient_id, start=start
    )

    async def work(session: AsyncSession) -> None:
        await appointments.book(session, desk, body, settings=settings)

    try:
        await unit_of_work(db, work)
    except Conflict as exc:
        if exc.code != "slot_taken":
            raise BenchError(f"unexpected refusal {exc.code}: {exc.message}") from exc
        return False
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench booking", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--bookings", type=int, default=200, help="sequential bookings (and inserts) per round (default 200)")
    add("--contenders", type=int, default=200, help="bookings racing for one slot (default 200)")
    add("--rounds", type=int, default=5, help="rounds of each case (default 5)")
    add("--timeout", type=float, default=600, help="bound on the whole run, seconds (default 600)")
    add("--no-save", action="store_true", help="do not write the summary under bench/results")
    args = parser.parse_args(argv)
    if args.bookings < 1 or args.contenders < 2 or args.rounds < 1:
        parser.error("need --bookings >= 1, --contenders >= 2, --rounds >= 1")
    return args


async def main_async(args: argparse.Namespace) -> int:
    info = print_machine("Hospital Hub bench: booking throughput and one-slot contention vs plain inserts")
    print(
        f"setup: one clinician, {VISIT_MINUTES}-minute visits; {args.bookings} sequential bookings of "
        f"distinct slots and {args.contenders} concurrent bookings of one slot per round, "
        f"{args.rounds} rounds; each against as many plain INSERTs into appointments",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="hospital-bench-booking-") as tmp:
        workdir = Path(tmp)
        path = fresh_copy(await migrated_template(workdir), workdir / "booking.db")
        settings = bench_settings(path)
        db = Database.from_settings(settings)
        try:
            started = time.perf_counter()
            patients_n = max(args.bookings, args.contenders)
            clinic = await build(db, settings, patients_n)
            desk = clinic.desk
            slots = await free_slots(db, settings, clinic, args.rounds * (args.bookings + 1))
            print(
                f"  {patients_n} patients and the clinic in {time.perf_counter() - started:.1f} s", flush=True
            )
            # Plain inserts go far in the future: they must not take the slots being booked.
            far = slots[-1] + timedelta(days=400)
            seq_book: list[float] = []
            seq_plain: list[float] = []
            race_book: list[float] = []
            race_plain: list[float] = []
            for r in range(args.rounds):
                batch = slots[r * (args.bookings + 1) : (r + 1) * (args.bookings + 1)]
                contested, distinct = batch[0], batch[1:]
                t0 = time.perf_counter()
                for n, start in enumerate(distinct):
                    if not await book(db, settings, desk, clinic, clinic.patient_ids[n], start):
                        raise BenchError(f"a free slot ({start.isoformat()}) was refused")
                seq_book.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                for n in range(args.bookings):
                    step = timedelta(minutes=VISIT_MINUTES * (r * args.bookings + n))
                    await plain_insert(db, plain_row(clinic, clinic.patient_ids[n], far + step))
                seq_plain.append(time.perf_counter() - t0)

                # Every contender is a different patient, so only the slot can refuse them.
                t0 = time.perf_counter()
                outcomes = await asyncio.gather(
                    *(
                        book(db, settings, desk, clinic, pid, contested)
                        for pid in clinic.patient_ids[: args.contenders]
                    )
                )
                race_book.append(time.perf_counter() - t0)
                if sum(outcomes) != 1:
                    raise BenchError(f"{sum(outcomes)} of {args.contenders} bookings of one slot succeeded")
                base = far + timedelta(days=200 + r)
                t0 = time.perf_counter()
                await asyncio.gather(
                    *(
                        plain_insert(db, plain_row(clinic, pid, base + timedelta(minutes=VISIT_MINUTES * n)))
                        for n, pid in enumerate(clinic.patient_ids[: args.contenders])
                    )
                )
                race_plain.append(time.perf_counter() - t0)
                print(
                    f"  round {r + 1}: {args.bookings / seq_book[-1]:,.0f} bookings/s vs "
                    f"{args.bookings / seq_plain[-1]:,.0f} inserts/s; race of {args.contenders}: "
                    f"{ms(race_book[-1])} ms vs {ms(race_plain[-1])} ms, 1 booked",
                    flush=True,
                )
        finally:
            await db.dispose()

    book_rate = args.bookings / median(seq_book)
    plain_rate = args.bookings / median(seq_plain)
    ratio = book_rate / plain_rate
    contention_ratio = median(race_plain) / median(race_book)
    # Per round, booking and baseline ran back to back: the most noise-resistant numbers.
    paired = [p / b for b, p in zip(seq_book, seq_plain, strict=True)]
    paired_race = [p / b for b, p in zip(race_book, race_plain, strict=True)]
    print()
    print(f"{'case':<28} {'booking':>14} {'plain insert':>14} {'ratio':>8} {'spread':>8}")
    print(
        f"{'distinct slots (per s)':<28} {book_rate:>14,.1f} {plain_rate:>14,.1f} {ratio:>8.3f} "
        f"{spread_pct(seq_book):>7}%"
    )
    print(
        f"{f'{args.contenders} racing for 1 (ms)':<28} {ms(median(race_book)):>14} "
        f"{ms(median(race_plain)):>14} {contention_ratio:>8.3f} {spread_pct(race_book):>7}%"
    )
    print()
    print(
        f"ratio booking/insert   {ratio:.3f}  (one booking costs {1 / ratio:.1f} plain inserts; per round: "
        f"median {median(paired):.3f}, range {min(paired):.3f} .. {max(paired):.3f})\n"
        f"ratio contention       {contention_ratio:.3f}  ({args.contenders} bookings of one slot take "
        f"{1 / contention_ratio:.1f}x the time of {args.contenders} plain inserts; "
        "exactly 1 booked every round; per round: "
        f"median {median(paired_race):.3f}, range {min(paired_race):.3f} .. {max(paired_race):.3f})"
    )
    summary = {
        "bench": "booking",
        "valid": True,
        "ratio": round(ratio, 4),
        "ratio_paired_median": round(median(paired), 4),
        "contention_ratio": round(contention_ratio, 4),
        "contention_ratio_paired_median": round(median(paired_race), 4),
        "bookings_per_s": round(book_rate, 1),
        "inserts_per_s": round(plain_rate, 1),
        "contention_ms": round(median(race_book) * 1000, 1),
        "contention_inserts_ms": round(median(race_plain) * 1000, 1),
        "spread_bookings_pct": spread_pct(seq_book),
        "spread_contention_pct": spread_pct(race_book),
        "bookings": args.bookings,
        "contenders": args.contenders,
        "rounds": args.rounds,
        "machine": info,
    }
    detail = {
        "sequential_booking_s": seq_book,
        "sequential_insert_s": seq_plain,
        "race_booking_s": race_book,
        "race_insert_s": race_plain,
    }
    return finish("booking", summary, detail, save=not args.no_save)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run_bounded(lambda: main_async(args), args.timeout)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
