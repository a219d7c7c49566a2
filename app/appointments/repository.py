"""Every query of the appointments module, and the one access rule its endpoints go through.

Access rule (``authorize``):
- staff: appointments:read to read, appointments:write to change anything, for anyone;
- a portal user (portal:self) may read and change the appointments and waitlist entries of their
  own patient record only; another patient's answers 404, exactly like one that does not exist
  (the house rule of app/patients: ids disclose nothing);
- everything else is 403.
Denials are audited with the patient id they aimed at.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.appointments.models import (
    OCCUPYING,
    OFFERED,
    WAITING,
    WL_LIVE,
    Appointment,
    AppointmentLock,
    AppointmentType,
    ClinicHours,
    WaitlistEntry,
)
from app.appointments.slots import granules
from app.audit import service as audit
from app.auth.permissions import Perm
from app.deps import Principal
from app.errors import Forbidden, NotFound
from app.kit.time import utcnow


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


_STAFF_PERMISSION = {Access.READ: Perm.APPOINTMENTS_READ, Access.WRITE: Perm.APPOINTMENTS_WRITE}


def is_staff(principal: Principal, access: Access) -> bool:
    return _STAFF_PERMISSION[access] in principal.permissions


def is_patient(principal: Principal) -> bool:
    return principal.has(Perm.SELF_SERVICE) and principal.patient_id is not None


def authorize(
    session: AsyncSession,
    principal: Principal,
    patient_id: uuid.UUID | None,
    access: Access,
    *,
    resource_type: str = "Appointment",
    resource_id: uuid.UUID | None = None,
    not_found: str = "appointment_not_found",
) -> None:
    """Raise unless ``principal`` may have ``access`` to the appointments of ``patient_id``
    (None: of anyone, e.g. a clinician's calendar)."""
    if is_staff(principal, access):
        return
    if principal.has(Perm.SELF_SERVICE):
        if patient_id is not None and patient_id == principal.patient_id:
            return
        _deny(session, principal, access, patient_id, resource_type, resource_id)
        if patient_id is not None:
            message = "Patient not found" if not_found == "patient_not_found" else "Not found"
            raise NotFound(message, code=not_found)
    else:
        _deny(session, principal, access, patient_id, resource_type, resource_id)
    perm = _STAFF_PERMISSION[access]
    raise Forbidden("You do not have permission for this action", details={"missing": [perm.value]})


def _deny(
    session: AsyncSession,
    principal: Principal,
    access: Access,
    patient_id: uuid.UUID | None,
    resource_type: str,
    resource_id: uuid.UUID | None,
) -> None:
    audit.record(
        session,
        action="appointment.access_denied",
        resource_type=resource_type,
        resource_id=resource_id,
        patient_id=patient_id,
        outcome="denied",
        details={"access": access.value},
    )


# --- types ------------------------------------------------------------------------------------


async def get_type(session: AsyncSession, type_id: uuid.UUID) -> AppointmentType:
    row = await session.get(AppointmentType, type_id)
    if row is None:
        raise NotFound("Appointment type not found", code="type_not_found")
    return row


async def types_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, AppointmentType]:
    if not ids:
        return {}
    rows = await session.scalars(select(AppointmentType).where(AppointmentType.id.in_(set(ids))))
    return {r.id: r for r in rows}


async def list_types(
    session: AsyncSession, *, active: bool | None, mode: str | None, department_id: uuid.UUID | None
) -> list[AppointmentType]:
    query = select(AppointmentType).order_by(AppointmentType.name, AppointmentType.id)
    if active is not None:
        query = query.where(AppointmentType.active == active)
    if mode is not None:
        query = query.where(AppointmentType.mode == mode)
    if department_id is not None:
        query = query.where(AppointmentType.department_id == department_id)
    return list(await session.scalars(query))


async def type_code_taken(session: AsyncSession, code: str, *, exclude: uuid.UUID | None = None) -> bool:
    query = select(AppointmentType.id).where(AppointmentType.code == code)
    if exclude is not None:
        query = query.where(AppointmentType.id != exclude)
    return (await session.scalar(query)) is not None


# --- weekly hours -----------------------------------------------------------------------------


async def get_hours(session: AsyncSession, hours_id: uuid.UUID, *, latest: bool = False) -> ClinicHours:
    """``latest``: a locking read of the row as last committed (not the transaction's snapshot)."""
    if latest:
        query = (
            select(ClinicHours)
            .where(ClinicHours.id == hours_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = (await session.scalars(query)).one_or_none()
    else:
        row = await session.get(ClinicHours, hours_id)
    if row is None:
        raise NotFound("Clinic hours not found", code="hours_not_found")
    return row


async def list_hours(
    session: AsyncSession,
    *,
    staff_ids: Sequence[uuid.UUID] | None,
    first_day: date | None = None,
    last_day: date | None = None,
) -> list[ClinicHours]:
    """Weekly hours, of these staff (None: everyone), valid on some day of [first_day, last_day]."""
    query = select(ClinicHours).order_by(
        ClinicHours.staff_id, ClinicHours.weekday, ClinicHours.start_time, ClinicHours.id
    )
    if staff_ids is not None:
        if not staff_ids:
            return []
        query = query.where(ClinicHours.staff_id.in_(set(staff_ids)))
    if last_day is not None:
        query = query.where(ClinicHours.valid_from <= last_day)
    if first_day is not None:
        query = query.where(or_(ClinicHours.valid_to.is_(None), ClinicHours.valid_to >= first_day))
    return list(await session.scalars(query))


async def weekday_hours(
    session: AsyncSession, staff_id: uuid.UUID, weekday: int, *, exclude: uuid.UUID | None = None
) -> list[ClinicHours]:
    """A clinician's hours on one weekday, any validity, as last committed (a locking read: the
    caller holds the clinician's row lock, so a concurrent change is seen, not a snapshot)."""
    query = (
        select(ClinicHours)
        .where(ClinicHours.staff_id == staff_id, ClinicHours.weekday == weekday)
        .order_by(ClinicHours.start_time, ClinicHours.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if exclude is not None:
        query = query.where(ClinicHours.id != exclude)
    return list(await session.scalars(query))


# --- appointments -----------------------------------------------------------------------------


async def get_appointment(
    session: AsyncSession, appointment_id: uuid.UUID, *, for_update: bool = False
) -> Appointment:
    query = select(Appointment).where(Appointment.id == appointment_id)
    if for_update:
        # Always read the latest committed row (an older snapshot could miss a concurrent change).
        query = query.with_for_update()
    row = (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()
    if row is None:
        raise NotFound("Appointment not found", code="appointment_not_found")
    return row


def _overlapping(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(Appointment.start_at < end, Appointment.end_at > start)


async def occupying(
    session: AsyncSession,
    *,
    staff_ids: Sequence[uuid.UUID] | None = None,
    patient_id: uuid.UUID | None = None,
    start: datetime,
    end: datetime,
    exclude: uuid.UUID | None = None,
) -> list[Appointment]:
    """Appointments that hold time in [start, end) for these clinicians or this patient."""
    query = select(Appointment).where(Appointment.status.in_(OCCUPYING), _overlapping(start, end))
    if staff_ids is not None:
        if not staff_ids:
            return []
        query = query.where(Appointment.staff_id.in_(set(staff_ids)))
    if patient_id is not None:
        query = query.where(Appointment.patient_id == patient_id)
    if exclude is not None:
        query = query.where(Appointment.id != exclude)
    return list(await session.scalars(query.order_by(Appointment.start_at, Appointment.id)))


async def busy_intervals(
    session: AsyncSession, staff_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, list[tuple[datetime, datetime]]]:
    if not staff_ids:
        return {}
    rows = await session.execute(
        select(Appointment.staff_id, Appointment.start_at, Appointment.end_at).where(
            Appointment.staff_id.in_(set(staff_ids)),
            Appointment.status.in_(OCCUPYING),
            _overlapping(start, end),
        )
    )
    out: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for staff_id, s, e in rows:
        out.setdefault(staff_id, []).append((s, e))
    return out


async def search_appointments(
    session: AsyncSession,
    *,
    staff_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    start: datetime | None,
    end: datetime | None,
    statuses: Sequence[str] | None,
    limit: int,
    offset: int,
) -> tuple[list[Appointment], int]:
    where: list[ColumnElement[bool]] = []
    if staff_id is not None:
        where.append(Appointment.staff_id == staff_id)
    if patient_id is not None:
        where.append(Appointment.patient_id == patient_id)
    if start is not None:
        where.append(Appointment.end_at > start)
    if end is not None:
        where.append(Appointment.start_at < end)
    if statuses:
        where.append(Appointment.status.in_(list(statuses)))
    total = int(await session.scalar(select(func.count()).select_from(Appointment).where(*where)) or 0)
    rows = await session.scalars(
        select(Appointment)
        .where(*where)
        .order_by(Appointment.start_at, Appointment.staff_id, Appointment.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


async def expired_offers(
    session: AsyncSession,
    now: datetime,
    *,
    staff_ids: Sequence[uuid.UUID] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
) -> list[uuid.UUID]:
    query = select(Appointment.id).where(Appointment.status == OFFERED, Appointment.offer_expires_at <= now)
    if staff_ids is not None:
        if not staff_ids:
            return []
        query = query.where(Appointment.staff_id.in_(set(staff_ids)))
    if start is not None and end is not None:
        query = query.where(_overlapping(start, end))
    return list(await session.scalars(query.order_by(Appointment.offer_expires_at).limit(limit)))


def set_committed(obj: object, key: str, value: object) -> None:
    """Record on the instance a value an UPDATE statement already wrote (without marking it dirty)."""
    set_committed_value(obj, key, value)


# --- locks ------------------------------------------------------------------------------------


def lock_rows(
    appointment_id: uuid.UUID, kind: str, resource_id: uuid.UUID, start: datetime, end: datetime
) -> list[dict[str, object]]:
    return [
        {"kind": kind, "resource_id": resource_id, "granule_start": g, "appointment_id": appointment_id}
        for g in granules(start, end)
    ]


async def insert_locks(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """One multi-row insert, in key order (waiters queue on the same first row instead of
    crossing each other)."""
    rows = sorted(rows, key=lambda r: (str(r["kind"]), str(r["resource_id"]), r["granule_start"]))
    await session.execute(insert(AppointmentLock), rows)


async def release_locks(session: AsyncSession, appointment_id: uuid.UUID) -> None:
    await session.execute(delete(AppointmentLock).where(AppointmentLock.appointment_id == appointment_id))


async def lock_holders(
    session: AsyncSession, kind: str, resource_id: uuid.UUID, start: datetime, end: datetime
) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(AppointmentLock.appointment_id)
        .where(
            AppointmentLock.kind == kind,
            AppointmentLock.resource_id == resource_id,
            AppointmentLock.granule_start.in_(granules(start, end)),
        )
        .distinct()
    )
    return list(rows)


# --- waitlist ---------------------------------------------------------------------------------


async def get_waitlist_entry(
    session: AsyncSession, entry_id: uuid.UUID, *, for_update: bool = False
) -> WaitlistEntry:
    query = select(WaitlistEntry).where(WaitlistEntry.id == entry_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()
    if row is None:
        raise NotFound("Waitlist entry not found", code="waitlist_entry_not_found")
    return row


async def list_waitlist(
    session: AsyncSession,
    *,
    patient_id: uuid.UUID | None,
    type_id: uuid.UUID | None,
    staff_id: uuid.UUID | None,
    statuses: Sequence[str] | None,
    limit: int,
    offset: int,
) -> tuple[list[WaitlistEntry], int]:
    where: list[ColumnElement[bool]] = []
    if patient_id is not None:
        where.append(WaitlistEntry.patient_id == patient_id)
    if type_id is not None:
        where.append(WaitlistEntry.type_id == type_id)
    if staff_id is not None:
        where.append(WaitlistEntry.staff_id == staff_id)
    if statuses:
        where.append(WaitlistEntry.status.in_(list(statuses)))
    total = int(await session.scalar(select(func.count()).select_from(WaitlistEntry).where(*where)) or 0)
    rows = await session.scalars(
        select(WaitlistEntry)
        .where(*where)
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


async def waiting_entries(
    session: AsyncSession, *, first_day: date, last_day: date, limit: int
) -> list[WaitlistEntry]:
    """Waiting entries whose date range covers a day in [first_day, last_day], first come first."""
    rows = await session.scalars(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.status == WAITING,
            WaitlistEntry.earliest <= last_day,
            WaitlistEntry.latest >= first_day,
        )
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        .limit(limit)
    )
    return list(rows)


async def claim_waitlist_entry(session: AsyncSession, entry: WaitlistEntry, expected: str, new: str) -> bool:
    """Move ``entry`` from ``expected`` to ``new`` if it is still ``expected``; an entry that is
    over gives up its ``live_key`` (the same wish may be joined again)."""
    values: dict[str, object] = {"status": new, "updated_at": utcnow()}
    if new not in WL_LIVE:
        values["live_key"] = None
    result = await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.id == entry.id, WaitlistEntry.status == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    for key, value in values.items():
        set_committed(entry, key, value)
    return True


async def live_waitlist_entry(
    session: AsyncSession, live_key: str, *, latest: bool = False
) -> WaitlistEntry | None:
    """The live entry with this key. ``latest``: a locking read in share mode, which sees the
    latest committed row (not the transaction's snapshot) and is compatible with the shared lock
    InnoDB leaves on a key after a duplicate-key error (an exclusive one would deadlock the
    losers of a race with each other)."""
    query = select(WaitlistEntry).where(WaitlistEntry.live_key == live_key)
    if latest:
        query = query.with_for_update(read=True)
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


async def entry_appointments(
    session: AsyncSession, entry_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The appointment each of these waitlist entries was offered and still holds (a live offer,
    or the booking it became), for the entries that have one."""
    if not entry_ids:
        return {}
    rows = await session.execute(
        select(Appointment.waitlist_entry_id, Appointment.id)
        .where(Appointment.status.in_(OCCUPYING), Appointment.waitlist_entry_id.in_(set(entry_ids)))
        .order_by(Appointment.created_at)
    )
    return {entry_id: appointment_id for entry_id, appointment_id in rows if entry_id is not None}


async def offers_for_entries(
    session: AsyncSession, entry_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    if not entry_ids:
        return {}
    rows = await session.execute(
        select(Appointment.waitlist_entry_id, Appointment.id).where(
            Appointment.status == OFFERED, Appointment.waitlist_entry_id.in_(set(entry_ids))
        )
    )
    return {entry_id: appointment_id for entry_id, appointment_id in rows if entry_id is not None}
