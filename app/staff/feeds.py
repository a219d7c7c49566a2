"""Personal iCalendar feeds (RFC 5545): a secret, revocable URL per staff member that calendar
apps subscribe to. The URL's token is the only credential, so only its SHA-256 is stored; a new
token replaces the old one (rotation) and revoking deletes it. Each read is audited.

A feed holds the person's shifts and leave and the events of the registered calendar sources
(``service.register_calendar_source``) from 30 days back to 180 days ahead.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.permissions import Perm
from app.config import Settings
from app.deps import Principal
from app.errors import Forbidden, NotFound
from app.kit.ical import CalendarEvent, calendar_bytes
from app.kit.time import utcnow
from app.staff import repository as repo
from app.staff import schedule, service
from app.staff import schemas as s
from app.staff.models import CalendarFeed

log = logging.getLogger("app.staff.feeds")

FEED = "StaffCalendarFeed"
WINDOW_BACK = timedelta(days=30)
WINDOW_AHEAD = timedelta(days=180)
FEED_PATH = "/api/staff/calendar-feeds/{token}.ics"
_LEAVE_SUMMARY = {
    "annual": "Annual leave",
    "sick": "Sick leave",
    "training": "Training",
    "unavailable": "Unavailable",
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _may_manage(session: AsyncSession, principal: Principal, staff_id: uuid.UUID) -> None:
    """The person themself (their user account) or whoever may write staff records."""
    row = await repo.get(session, staff_id)
    if principal.has(Perm.STAFF_WRITE) or (row.user_id is not None and row.user_id == principal.user_id):
        return
    audit.record(
        session,
        action="staff.access_denied",
        resource_type=FEED,
        resource_id=staff_id,
        outcome="denied",
        details={"missing": [Perm.STAFF_WRITE.value], "reason": "not the staff member"},
    )
    raise Forbidden("Only the staff member or a staff administrator can manage this feed")


async def create_feed(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID
) -> tuple[str, CalendarFeed]:
    """A new secret token for the person's feed (any previous URL stops working)."""
    await _may_manage(session, principal, staff_id)
    token = secrets.token_urlsafe(32)
    row = await repo.feed_by_staff(session, staff_id)
    rotated = row is not None
    if row is None:
        row = CalendarFeed(staff_id=staff_id, token_hash=token_hash(token))
        session.add(row)
    else:
        row.token_hash = token_hash(token)
        row.created_at = utcnow()
        row.last_read_at = None
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # two first creations at once: the other one's row is there now
        row = await repo.feed_by_staff(session, staff_id)
        if row is None:
            raise
        row.token_hash, row.created_at, row.last_read_at = token_hash(token), utcnow(), None
        await session.flush()
        rotated = True
    audit.record(
        session,
        action="staff.calendar_feed.rotate" if rotated else "staff.calendar_feed.create",
        resource_type=FEED,
        resource_id=staff_id,
    )
    return token, row


async def feed_status(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID
) -> s.CalendarFeedStatus:
    await _may_manage(session, principal, staff_id)
    row = await repo.feed_by_staff(session, staff_id)
    if row is None:
        return s.CalendarFeedStatus(active=False, created_at=None, last_read_at=None)
    return s.CalendarFeedStatus(active=True, created_at=row.created_at, last_read_at=row.last_read_at)


async def revoke_feed(session: AsyncSession, principal: Principal, staff_id: uuid.UUID) -> None:
    await _may_manage(session, principal, staff_id)
    row = await repo.feed_by_staff(session, staff_id)
    if row is None:
        raise NotFound("This staff member has no calendar feed", code="calendar_feed_not_found")
    await session.delete(row)
    await session.flush()
    audit.record(session, action="staff.calendar_feed.revoke", resource_type=FEED, resource_id=staff_id)


async def read_feed(session: AsyncSession, settings: Settings, token: str) -> bytes:
    """The .ics of the feed behind ``token``; unknown or revoked tokens are 404 (no hint which)."""
    row = await repo.feed_by_hash(session, token_hash(token)) if 16 <= len(token) <= 128 else None
    if row is None:
        raise NotFound("No such calendar feed", code="calendar_feed_not_found")
    staff_id = row.staff_id
    person = await repo.get(session, staff_id)
    tz = schedule.zone(settings)
    now = utcnow()
    start, end = now - WINDOW_BACK, now + WINDOW_AHEAD
    shifts = await repo.shifts_between(session, start, end, staff_ids=[staff_id])
    away = await repo.leave_between(session, [staff_id], start, end)
    names = await schedule.lookup_names(session, shifts, away, [staff_id])
    events: list[CalendarEvent] = []
    for x in shifts:
        read = schedule.shift_read(x, names, tz)
        title = read.definition_name or "Shift"
        events.append(
            CalendarEvent(
                uid=f"shift-{x.id}",
                start=x.starts_at,
                end=x.ends_at,
                summary=f"{title} shift" + (f" · {read.department_name}" if read.department_name else ""),
                description=x.note,
                location=read.department_name,
                sequence=int(x.updated_at.timestamp()),
                updated=x.updated_at,
            )
        )
    for lv in away:
        events.append(
            CalendarEvent(
                uid=f"leave-{lv.id}",
                start=lv.starts_at,
                end=lv.ends_at,
                summary=_LEAVE_SUMMARY.get(lv.kind, lv.kind.title()),
                description=lv.note,
                sequence=int(lv.updated_at.timestamp()),
                updated=lv.updated_at,
            )
        )
    for source in service.calendar_sources():
        try:
            events.extend(await source(session, staff_id, start, end))
        except Exception:  # one broken source must not take the whole feed down
            log.exception("calendar source %r failed for staff %s", source, staff_id)
    events.sort(key=lambda e: (e.start, e.uid))
    row.last_read_at = now
    await session.flush()
    audit.record(
        session,
        action="staff.calendar_feed.read",
        resource_type=FEED,
        resource_id=staff_id,
        details={"events": len(events)},
    )
    return calendar_bytes(events, name=f"{person.display_name} · Hospital Hub")
