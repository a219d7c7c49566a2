"""Video consultations' business rules: the only entry other modules, signaling and media may call.

Who may join a consultation: the appointment's patient (their portal account), its clinician
(the account linked to the appointment's staff record) and guests the clinician invited with a
one-time link. Anyone else is refused: another patient gets 404 (ids disclose nothing), other
staff 403. Joining is open from ``telehealth_join_early_minutes`` before the start until the end
plus ``telehealth_join_grace_minutes`` (409 ``outside_join_window`` otherwise, with the window).

Two kinds of callers:
- the HTTP API, with the request's ``Principal`` (list, join, invite, end, recordings);
- signaling and the media recorder, with verified ``JoinClaims`` (room events: connect,
  disconnect, admit, chat, consent, end) or a recording id. The join token was minted by
  :func:`join` after the checks above, so the claims are the authority; these functions still
  check that the consultation is open and the participant belongs to it.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.appointments import service as appointments
from app.appointments.schemas import AppointmentRead
from app.audit import service as audit
from app.auth import service as auth_service
from app.auth.permissions import Perm
from app.config import Settings
from app.deps import Principal
from app.errors import BadRequest, Conflict, Forbidden, NotFound
from app.kit.time import utcnow
from app.patients import schemas as patient_schemas
from app.patients import service as patients
from app.staff import service as staff
from app.telehealth import schemas as s
from app.telehealth import tokens
from app.telehealth.models import (
    CLINICIAN,
    ENDED,
    GUEST,
    IN_PROGRESS,
    MEDIA,
    MISSED,
    OPEN,
    PATIENT,
    REC_COMPLETED,
    REC_FAILED,
    REC_RECORDING,
    REC_STARTING,
    SCHEDULED,
    WAITING,
    ChatMessage,
    Consultation,
    GuestInvite,
    Participant,
    Recording,
)

CONSULTATION = "Consultation"
JOINABLE_APPOINTMENTS = ("booked", "checked_in")
VIRTUAL = "VR"  # v3 ActCode "virtual"
TELEHEALTH_TYPE = patient_schemas.Coding(
    system="http://snomed.info/sct", code="448337001", display="Telemedicine consultation with patient"
)
INVITE_BYTES = 24
RECORDING_SUFFIX = ".mkv"


# --- helpers ------------------------------------------------------------------------------------


def _require_join(session: AsyncSession, principal: Principal) -> None:
    if principal.has(Perm.TELEHEALTH_JOIN):
        return
    audit.record(
        session,
        action="consultation.access_denied",
        resource_type=CONSULTATION,
        outcome="denied",
        details={"missing": [Perm.TELEHEALTH_JOIN.value]},
    )
    raise Forbidden(
        "You do not have permission for this action", details={"missing": [Perm.TELEHEALTH_JOIN.value]}
    )


def window(settings: Settings, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    return (
        start - timedelta(minutes=settings.telehealth_join_early_minutes),
        end + timedelta(minutes=settings.telehealth_join_grace_minutes),
    )


def _refresh(
    row: Consultation, appointment: AppointmentRead | None, settings: Settings, now: datetime
) -> None:
    """Follow the appointment (a reschedule moves the call) and mark a call nobody started in its
    window as missed."""
    if appointment is not None:
        row.start_at, row.end_at = appointment.start, appointment.end
    _, closes = window(settings, row.start_at, row.end_at)
    if row.status in (SCHEDULED, WAITING) and now > closes:
        row.status = MISSED


async def _ensure(session: AsyncSession, appointment: AppointmentRead) -> Consultation:
    """The appointment's consultation, created on first use (a unique appointment_id decides a race)."""
    found = await session.scalar(select(Consultation).where(Consultation.appointment_id == appointment.id))
    if found is not None:
        return found
    if appointment.mode != "video" or not appointment.room_id:
        raise Conflict("This appointment is not a video consultation", code="not_a_video_appointment")
    row = Consultation(
        appointment_id=appointment.id,
        patient_id=appointment.patient.id,
        staff_id=appointment.staff.id,
        room_id=appointment.room_id,
        start_at=appointment.start,
        end_at=appointment.end,
        status=SCHEDULED,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        found = await session.scalar(
            select(Consultation).where(Consultation.appointment_id == appointment.id)
        )
        if found is None:
            raise
        return found
    return row


async def _my_role(session: AsyncSession, principal: Principal, row: Consultation) -> str | None:
    if principal.patient_id is not None and principal.patient_id == row.patient_id:
        return PATIENT
    if principal.has(Perm.TELEHEALTH_JOIN) and row.staff_id == await staff.staff_id_for_user(
        session, principal.user_id
    ):
        return CLINICIAN
    return None


def _read(
    row: Consultation,
    appointment: AppointmentRead,
    settings: Settings,
    now: datetime,
    role: str | None,
) -> s.ConsultationRead:
    opens, closes = window(settings, row.start_at, row.end_at)
    can_join = (
        role is not None
        and row.status in OPEN
        and appointment.status in JOINABLE_APPOINTMENTS
        and opens <= now <= closes
    )
    return s.ConsultationRead(
        id=row.id,
        appointment_id=row.appointment_id,
        status=row.status,
        start=row.start_at,
        end=row.end_at,
        local_start=row.start_at.astimezone(ZoneInfo(settings.facility_timezone)).isoformat(),
        timezone=settings.facility_timezone,
        join_opens_at=opens,
        join_closes_at=closes,
        can_join=can_join,
        my_role=role,
        patient=s.PersonBrief(id=appointment.patient.id, display_name=appointment.patient.display_name),
        clinician=s.PersonBrief(id=appointment.staff.id, display_name=appointment.staff.display_name),
        type_name=appointment.type.name,
        encounter_id=row.encounter_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


async def _appointment(
    session: AsyncSession, principal: Principal, settings: Settings, appointment_id: uuid.UUID
) -> AppointmentRead:
    row = await appointments.get_appointment(session, principal, appointment_id)
    return (await appointments.present(session, principal, [row], settings=settings))[0]


async def _load(session: AsyncSession, consultation_id: uuid.UUID) -> Consultation:
    row = await session.get(Consultation, consultation_id)
    if row is None:
        raise NotFound("Consultation not found", code="consultation_not_found")
    return row


async def _for_principal(
    session: AsyncSession, principal: Principal, settings: Settings, consultation_id: uuid.UUID
) -> tuple[Consultation, AppointmentRead, str | None]:
    """The consultation with its appointment, as ``principal`` may see it: a patient their own
    only (another's is 404), staff with appointments:read any."""
    _require_join_or_staff(session, principal)
    row = await session.get(Consultation, consultation_id)
    if row is None or (not principal.has(Perm.APPOINTMENTS_READ) and principal.patient_id != row.patient_id):
        if row is not None:
            audit.record(
                session,
                action="consultation.access_denied",
                resource_type=CONSULTATION,
                resource_id=consultation_id,
                patient_id=row.patient_id,
                outcome="denied",
            )
        raise NotFound("Consultation not found", code="consultation_not_found")
    appointment = await _appointment(session, principal, settings, row.appointment_id)
    _refresh(row, appointment, settings, utcnow())
    return row, appointment, await _my_role(session, principal, row)


def _require_join_or_staff(session: AsyncSession, principal: Principal) -> None:
    if principal.has(Perm.TELEHEALTH_JOIN) or principal.has(Perm.APPOINTMENTS_READ):
        return
    _require_join(session, principal)


# --- reading --------------------------------------------------------------------------------------


async def list_consultations(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    start: datetime,
    end: datetime,
    staff_id: uuid.UUID | None = None,
) -> list[s.ConsultationRead]:
    """The caller's video consultations between ``start`` and ``end``: a patient's own; a
    clinician's own (or, with appointments:read, another clinician's via ``staff_id``)."""
    _require_join_or_staff(session, principal)
    if principal.patient_id is not None and not principal.has(Perm.APPOINTMENTS_READ):
        rows, _ = await appointments.list_appointments(
            session,
            principal,
            start=start,
            end=end,
            statuses=[*JOINABLE_APPOINTMENTS, "completed"],
            limit=200,
        )
    else:
        staff_id = staff_id or await staff.staff_id_for_user(session, principal.user_id)
        if staff_id is None:
            return []
        rows, _ = await appointments.list_appointments(
            session,
            principal,
            staff_id=staff_id,
            start=start,
            end=end,
            statuses=[*JOINABLE_APPOINTMENTS, "completed"],
            limit=200,
        )
    videos = [r for r in rows if r.mode == "video" and r.room_id]
    presented = await appointments.present(session, principal, videos, settings=settings)
    now = utcnow()
    out = []
    for appointment in presented:
        row = await _ensure(session, appointment)
        _refresh(row, appointment, settings, now)
        out.append(_read(row, appointment, settings, now, await _my_role(session, principal, row)))
    await session.flush()
    return out


async def for_appointment(
    session: AsyncSession, principal: Principal, settings: Settings, appointment_id: uuid.UUID
) -> s.ConsultationDetail:
    _require_join_or_staff(session, principal)
    appointment = await _appointment(session, principal, settings, appointment_id)
    row = await _ensure(session, appointment)
    return await get_consultation(session, principal, settings, row.id)


async def get_consultation(
    session: AsyncSession, principal: Principal, settings: Settings, consultation_id: uuid.UUID
) -> s.ConsultationDetail:
    row, appointment, role = await _for_principal(session, principal, settings, consultation_id)
    await session.flush()
    audit.record(
        session,
        action="consultation.read",
        resource_type=CONSULTATION,
        resource_id=row.id,
        patient_id=row.patient_id,
    )
    people = list(
        await session.scalars(
            select(Participant).where(Participant.consultation_id == row.id).order_by(Participant.created_at)
        )
    )
    recordings = list(
        await session.scalars(
            select(Recording).where(Recording.consultation_id == row.id).order_by(Recording.created_at)
        )
    )
    base = _read(row, appointment, settings, utcnow(), role)
    return s.ConsultationDetail(
        **base.model_dump(),
        participants=[s.ParticipantRead.model_validate(p) for p in people],
        recordings=[s.RecordingRead.model_validate(r) for r in recordings],
        all_consented=_all_consented(people),
    )


def _all_consented(people: Sequence[Participant]) -> bool:
    humans = [p for p in people if p.role != MEDIA and p.joined_at is not None]
    return bool(humans) and all(p.consent_to_record for p in humans)


async def chat_history(
    session: AsyncSession, principal: Principal, settings: Settings, consultation_id: uuid.UUID
) -> list[ChatMessage]:
    row, _, _ = await _for_principal(session, principal, settings, consultation_id)
    audit.record(
        session,
        action="consultation.chat_read",
        resource_type=CONSULTATION,
        resource_id=row.id,
        patient_id=row.patient_id,
    )
    return list(
        await session.scalars(
            select(ChatMessage).where(ChatMessage.consultation_id == row.id).order_by(ChatMessage.sent_at)
        )
    )


# --- joining ------------------------------------------------------------------------------------------


def _check_joinable(
    row: Consultation, appointment_status: str | None, settings: Settings, now: datetime
) -> None:
    if row.status == ENDED:
        raise Conflict("This consultation has ended", code="consultation_ended")
    if appointment_status is not None and appointment_status not in JOINABLE_APPOINTMENTS:
        raise Conflict(
            "This appointment is not booked any more",
            code="appointment_not_joinable",
            details={"appointment_status": appointment_status},
        )
    opens, closes = window(settings, row.start_at, row.end_at)
    if not opens <= now <= closes or row.status == MISSED:
        raise Conflict(
            "The consultation can be joined from "
            f"{settings.telehealth_join_early_minutes} minutes before its start until "
            f"{settings.telehealth_join_grace_minutes} minutes after its end",
            code="outside_join_window",
            details={"opens_at": opens.isoformat(), "closes_at": closes.isoformat()},
        )


async def _participant(
    session: AsyncSession,
    row: Consultation,
    *,
    identity: str,
    role: str,
    display_name: str,
    user_id: uuid.UUID | None = None,
    invite_id: uuid.UUID | None = None,
) -> Participant:
    """The participant row of ``identity`` (created on its first join: unique per consultation)."""
    query = select(Participant).where(Participant.consultation_id == row.id, Participant.identity == identity)
    found = await session.scalar(query)
    if found is not None:
        return found
    person = Participant(
        consultation_id=row.id,
        identity=identity,
        user_id=user_id,
        invite_id=invite_id,
        role=role,
        display_name=display_name,
        peer_id=secrets.token_urlsafe(12),
        connections=0,
        # The clinician and the recorder are in the call from the start; others wait to be let in.
        admitted_at=utcnow() if role in (CLINICIAN, MEDIA) else None,
    )
    try:
        async with session.begin_nested():
            session.add(person)
            await session.flush()
    except IntegrityError:
        found = await session.scalar(query)
        if found is None:
            raise
        return found
    return person


def signaling_url(settings: Settings, base_ws_url: str | None = None) -> str:
    if settings.signaling_url:
        return settings.signaling_url
    return f"{base_ws_url.rstrip('/')}/ws/signaling" if base_ws_url else "/ws/signaling"


def _response(
    settings: Settings,
    row: Consultation,
    person: Participant,
    *,
    user_id: uuid.UUID | None,
    session_id: uuid.UUID | None,
    now: datetime,
    resume_key: str | None = None,
) -> s.JoinResponse:
    token, expires = tokens.issue_join_token(
        settings,
        consultation_id=row.id,
        room=row.room_id,
        participant_id=person.id,
        peer_id=person.peer_id,
        role=person.role,
        display_name=person.display_name,
        user_id=user_id,
        session_id=session_id,
        now=now,
    )
    turn_user = str(user_id) if user_id else f"participant-{person.id}"
    return s.JoinResponse(
        token=token,
        expires_at=expires,
        signaling_url=signaling_url(settings),
        ice_servers=[s.IceServer.model_validate(x) for x in tokens.ice_servers(settings, turn_user, now)],
        consultation_id=row.id,
        participant_id=person.id,
        peer_id=person.peer_id,
        role=person.role,
        display_name=person.display_name,
        encounter_id=row.encounter_id if person.role == CLINICIAN else None,
        resume_key=resume_key,
    )


async def join(
    session: AsyncSession, principal: Principal, settings: Settings, consultation_id: uuid.UUID
) -> s.JoinResponse:
    """A join token for the caller (the patient or the clinician of this consultation), inside
    the join window. The clinician's first join opens the virtual Encounter on the chart."""
    _require_join(session, principal)
    row = await session.get(Consultation, consultation_id)
    role = await _my_role(session, principal, row) if row is not None else None
    if row is None or role is None:
        if row is not None:
            audit.record(
                session,
                action="consultation.join_denied",
                resource_type=CONSULTATION,
                resource_id=consultation_id,
                patient_id=row.patient_id,
                outcome="denied",
            )
        if row is not None and principal.patient_id is None:
            raise Forbidden(
                "Only this consultation's patient and clinician may join it", code="not_a_participant"
            )
        raise NotFound("Consultation not found", code="consultation_not_found")
    appointment = await _appointment(session, principal, settings, row.appointment_id)
    now = utcnow()
    _refresh(row, appointment, settings, now)
    _check_joinable(row, appointment.status, settings, now)
    display = appointment.patient.display_name if role == PATIENT else appointment.staff.display_name
    person = await _participant(
        session,
        row,
        identity=f"user:{principal.user_id}",
        role=role,
        display_name=display or principal.full_name,
        user_id=principal.user_id,
    )
    if role == CLINICIAN and row.encounter_id is None:
        encounter = await patients.add_encounter(
            session,
            principal,
            row.patient_id,
            patient_schemas.EncounterCreate(
                class_code=VIRTUAL,
                status="in-progress",
                type=TELEHEALTH_TYPE,
                period_start=now,
                practitioner_display=appointment.staff.display_name or principal.full_name,
                location_display="Video consultation",
            ),
        )
        row.encounter_id = encounter.id
    await session.flush()
    audit.record(
        session,
        action="consultation.join",
        resource_type=CONSULTATION,
        resource_id=row.id,
        patient_id=row.patient_id,
        details={"role": role, "participant": str(person.id)},
    )
    return _response(
        settings, row, person, user_id=principal.user_id, session_id=principal.session_id, now=now
    )


# --- guests ------------------------------------------------------------------------------------------


async def _as_clinician(
    session: AsyncSession, principal: Principal, settings: Settings, consultation_id: uuid.UUID
) -> tuple[Consultation, AppointmentRead]:
    row, appointment, role = await _for_principal(session, principal, settings, consultation_id)
    if role != CLINICIAN:
        audit.record(
            session,
            action="consultation.access_denied",
            resource_type=CONSULTATION,
            resource_id=row.id,
            patient_id=row.patient_id,
            outcome="denied",
            details={"needs": "clinician"},
        )
        raise Forbidden("Only this consultation's clinician may do this", code="not_the_clinician")
    return row, appointment


async def create_invite(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    consultation_id: uuid.UUID,
    data: s.InviteCreate,
) -> s.InviteCreated:
    row, _ = await _as_clinician(session, principal, settings, consultation_id)
    if row.status not in OPEN:
        raise Conflict("This consultation is over", code="consultation_ended")
    secret = secrets.token_urlsafe(INVITE_BYTES)
    _, closes = window(settings, row.start_at, row.end_at)
    invite = GuestInvite(
        consultation_id=row.id,
        display_name=data.display_name,
        relationship=data.relationship,
        token_hash=tokens.secret_hash(secret),
        created_by=principal.user_id,
        expires_at=closes,
    )
    session.add(invite)
    await session.flush()
    audit.record(
        session,
        action="consultation.invite_create",
        resource_type=CONSULTATION,
        resource_id=row.id,
        patient_id=row.patient_id,
        details={"invite": str(invite.id), "relationship": data.relationship},
    )
    return s.InviteCreated(
        **s.InviteRead.model_validate(invite).model_dump(), token=secret, path=f"/visit/guest#{secret}"
    )


async def list_invites(
    session: AsyncSession, principal: Principal, settings: Settings, consultation_id: uuid.UUID
) -> list[GuestInvite]:
    row, _ = await _as_clinician(session, principal, settings, consultation_id)
    return list(
        await session.scalars(
            select(GuestInvite).where(GuestInvite.consultation_id == row.id).order_by(GuestInvite.created_at)
        )
    )


async def guest_join(session: AsyncSession, settings: Settings, data: s.GuestJoin) -> s.JoinResponse:
    """Redeem a one-time guest link. The first redemption wins (a conditional update decides a
    race) and gets a ``resume_key``; later ones are refused (410 ``invite_used``) unless they
    bring that key back (the same browser rejoining after its join token expired)."""
    invite = await session.scalar(
        select(GuestInvite).where(GuestInvite.token_hash == tokens.secret_hash(data.token))
    )
    now = utcnow()
    if invite is None or invite.revoked_at is not None:
        audit.record(
            session, action="consultation.invite_invalid", resource_type=CONSULTATION, outcome="denied"
        )
        raise NotFound("This invitation link is not valid", code="invite_not_found")
    row = await _load(session, invite.consultation_id)
    _refresh(row, None, settings, now)
    if invite.expires_at < now:
        raise Conflict("This invitation has expired", code="invite_expired")
    resume_key: str | None = None
    if invite.used_at is None:
        resume_key = secrets.token_urlsafe(INVITE_BYTES)
        claimed = await session.execute(
            update(GuestInvite)
            .where(GuestInvite.id == invite.id, GuestInvite.used_at.is_(None))
            .values(used_at=now, resume_hash=tokens.secret_hash(resume_key))
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            resume_key = None
            await session.refresh(invite)
    if resume_key is None and (
        data.resume_key is None or invite.resume_hash != tokens.secret_hash(data.resume_key)
    ):
        audit.record(
            session,
            action="consultation.invite_reused",
            resource_type=CONSULTATION,
            resource_id=row.id,
            patient_id=row.patient_id,
            outcome="denied",
            details={"invite": str(invite.id)},
        )
        raise Conflict("This invitation link has already been used", code="invite_used")
    _check_joinable(row, None, settings, now)
    person = await _participant(
        session,
        row,
        identity=f"guest:{invite.id}",
        role=GUEST,
        display_name=invite.display_name,
        invite_id=invite.id,
    )
    await session.flush()
    audit.record(
        session,
        action="consultation.guest_join",
        resource_type=CONSULTATION,
        resource_id=row.id,
        patient_id=row.patient_id,
        details={"invite": str(invite.id), "participant": str(person.id)},
        actor_username=f"guest:{invite.display_name}"[:100],
    )
    return _response(settings, row, person, user_id=None, session_id=None, now=now, resume_key=resume_key)


# --- ending ------------------------------------------------------------------------------------------


async def _finish(session: AsyncSession, principal: Principal, row: Consultation, now: datetime) -> bool:
    """End ``row`` (a conditional update: ending twice is a no-op); True if this call ended it."""
    ended = await session.execute(
        update(Consultation)
        .where(Consultation.id == row.id, Consultation.status.in_(OPEN))
        .values(status=ENDED, ended_at=now, ended_by=principal.user_id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(row)
    if ended.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if row.encounter_id is not None:
        await patients.update_encounter(
            session,
            principal,
            row.patient_id,
            row.encounter_id,
            patient_schemas.EncounterUpdate(status="finished", period_end=now),
        )
    await session.execute(
        update(Participant)
        .where(
            Participant.consultation_id == row.id,
            Participant.left_at.is_(None),
            Participant.joined_at.is_not(None),
        )
        .values(left_at=now)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        action="consultation.end",
        resource_type=CONSULTATION,
        resource_id=row.id,
        patient_id=row.patient_id,
    )
    return True


async def end_consultation(
    session: AsyncSession, principal: Principal, settings: Settings, consultation_id: uuid.UUID
) -> s.ConsultationRead:
    row, appointment = await _as_clinician(session, principal, settings, consultation_id)
    if row.status == MISSED:
        raise Conflict("This consultation was missed", code="consultation_missed")
    now = utcnow()
    await _finish(session, principal, row, now)
    return _read(row, appointment, settings, now, CLINICIAN)


async def room_of(session: AsyncSession, consultation_id: uuid.UUID) -> str:
    return (await _load(session, consultation_id)).room_id


# --- room events (signaling) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomEntry:
    state: str  # "waiting" | "admitted"
    consultation_status: str


async def _room_participant(
    session: AsyncSession, claims: tokens.JoinClaims, *, lock: bool = False
) -> tuple[Consultation, Participant]:
    row = await _load(session, claims.consultation_id)
    person = await session.get(Participant, claims.participant_id, with_for_update=lock)
    if (
        person is None
        or person.consultation_id != row.id
        or person.peer_id != claims.peer_id
        or row.room_id != claims.room
    ):
        raise Forbidden("This token does not belong to this consultation", code="not_a_participant")
    return row, person


def _room_audit(
    session: AsyncSession, claims: tokens.JoinClaims, row: Consultation, action: str, **details: Any
) -> None:
    audit.record(
        session,
        action=f"consultation.{action}",
        resource_type=CONSULTATION,
        resource_id=row.id,
        patient_id=row.patient_id,
        details={"participant": str(claims.participant_id), "role": claims.role, **details},
        actor_id=claims.user_id,
        actor_username=(claims.display_name if claims.user_id else f"{claims.role}:{claims.display_name}")[
            :100
        ],
    )


async def room_connect(session: AsyncSession, settings: Settings, claims: tokens.JoinClaims) -> RoomEntry:
    """A participant's socket opened: note the time; a patient or guest not yet admitted waits
    (and puts a scheduled consultation into ``waiting``)."""
    row, person = await _room_participant(session, claims)
    now = utcnow()
    _refresh(row, None, settings, now)
    if row.status == ENDED:
        raise Conflict("This consultation has ended", code="consultation_ended")
    if row.status == MISSED:
        raise Conflict("This consultation was missed", code="consultation_missed")
    person.joined_at = person.joined_at or now
    person.left_at = None
    person.connections += 1
    admitted = person.admitted_at is not None
    if not admitted and row.status == SCHEDULED:
        row.status = WAITING
    await session.flush()
    _room_audit(session, claims, row, "connect", connection=person.connections)
    return RoomEntry("admitted" if admitted else "waiting", row.status)


async def room_disconnect(session: AsyncSession, claims: tokens.JoinClaims) -> None:
    row, person = await _room_participant(session, claims)
    person.left_at = utcnow()
    await session.flush()
    _room_audit(session, claims, row, "disconnect")


async def room_admit(session: AsyncSession, claims: tokens.JoinClaims, peer_id: str) -> Participant:
    """The clinician lets a waiting participant (by peer id) in; the first admission starts the call."""
    if claims.role != CLINICIAN:
        raise Forbidden("Only the clinician admits participants", code="not_the_clinician")
    row, _ = await _room_participant(session, claims)
    if row.status not in OPEN:
        raise Conflict("This consultation has ended", code="consultation_ended")
    target = await session.scalar(
        select(Participant).where(Participant.consultation_id == row.id, Participant.peer_id == peer_id)
    )
    if target is None:
        raise NotFound("No such participant in this consultation", code="unknown_peer")
    now = utcnow()
    if target.admitted_at is None:
        target.admitted_at = now
        target.admitted_by = claims.user_id
    if row.status in (SCHEDULED, WAITING):
        row.status = IN_PROGRESS
        row.started_at = row.started_at or now
    await session.flush()
    _room_audit(session, claims, row, "admit", admitted=str(target.id), admitted_role=target.role)
    return target


async def room_chat(session: AsyncSession, claims: tokens.JoinClaims, text: str) -> ChatMessage:
    row, person = await _room_participant(session, claims)
    if row.status not in OPEN:
        raise Conflict("This consultation has ended", code="consultation_ended")
    if person.admitted_at is None:
        raise Forbidden("Chat opens once you are admitted", code="not_admitted")
    text = text.strip()
    if not text or len(text) > s.CHAT_MAX_CHARS or any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise BadRequest(
            f"A chat message is 1 to {s.CHAT_MAX_CHARS} printable characters", code="invalid_chat"
        )
    message = ChatMessage(
        consultation_id=row.id,
        participant_id=person.id,
        sender_display=person.display_name,
        text=text,
        sent_at=utcnow(),
    )
    session.add(message)
    await session.flush()
    _room_audit(session, claims, row, "chat", message=str(message.id))
    return message


async def room_consent(session: AsyncSession, claims: tokens.JoinClaims, given: bool) -> bool:
    """Record the participant's consent to recording; returns whether everyone who joined consented."""
    row, person = await _room_participant(session, claims)
    person.consent_to_record = given
    person.consent_at = utcnow()
    await session.flush()
    _room_audit(session, claims, row, "consent", given=given)
    people = list(await session.scalars(select(Participant).where(Participant.consultation_id == row.id)))
    return _all_consented(people)


async def room_end(session: AsyncSession, claims: tokens.JoinClaims) -> bool:
    """The clinician ends the call from the room; True if this ended it (False: already over)."""
    if claims.role != CLINICIAN or claims.user_id is None or claims.session_id is None:
        raise Forbidden("Only the clinician ends the consultation", code="not_the_clinician")
    row, _ = await _room_participant(session, claims)
    principal = await auth_service.principal_for_session(session, claims.user_id, claims.session_id)
    return await _finish(session, principal, row, utcnow())


# --- recordings ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordingOrder:
    """What the media launcher needs to start a recorder (after the request committed)."""

    recording_id: uuid.UUID
    consultation_id: uuid.UUID
    token: str
    output: str  # absolute path of the file to write


async def start_recording(
    session: AsyncSession, principal: Principal, settings: Settings, consultation_id: uuid.UUID
) -> tuple[Recording, RecordingOrder]:
    """Start recording: only the clinician, only in a call in progress, only once every
    participant who joined (everyone in the room) consented; one recording at a time."""
    row, _ = await _as_clinician(session, principal, settings, consultation_id)
    if row.status != IN_PROGRESS:
        raise Conflict("Recording starts once the call is in progress", code="not_in_progress")
    people = list(await session.scalars(select(Participant).where(Participant.consultation_id == row.id)))
    missing = [
        p.display_name
        for p in people
        if p.role != MEDIA and p.joined_at is not None and not p.consent_to_record
    ]
    if missing or not _all_consented(people):
        raise Conflict(
            "Every participant must consent to recording first",
            code="consent_missing",
            details={"without_consent": missing},
        )
    active = await session.scalar(
        select(Recording.id).where(
            Recording.consultation_id == row.id, Recording.status.in_([REC_STARTING, REC_RECORDING])
        )
    )
    if active is not None:
        raise Conflict(
            "A recording is already running", code="recording_active", details={"recording": str(active)}
        )
    recording = Recording(
        consultation_id=row.id,
        status=REC_STARTING,
        started_by=principal.user_id,
        file_name=f"{row.id}-{uuid.uuid4().hex[:12]}{RECORDING_SUFFIX}",
    )
    session.add(recording)
    await session.flush()
    person = await _participant(
        session, row, identity=f"media:{recording.id}", role=MEDIA, display_name="Recorder"
    )
    now = utcnow()
    token, _ = tokens.issue_join_token(
        settings,
        consultation_id=row.id,
        room=row.room_id,
        participant_id=person.id,
        peer_id=person.peer_id,
        role=MEDIA,
        display_name=person.display_name,
        user_id=None,
        session_id=None,
        now=now,
        lifetime=timedelta(minutes=5),
    )
    audit.record(
        session,
        action="recording.start",
        resource_type="Recording",
        resource_id=recording.id,
        patient_id=row.patient_id,
        details={"consultation": str(row.id)},
    )
    output = str(settings.recordings_dir.resolve() / recording.file_name)
    return recording, RecordingOrder(recording.id, row.id, token, output)


async def stop_recording(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    consultation_id: uuid.UUID,
    recording_id: uuid.UUID,
) -> tuple[Recording, str | None]:
    """Ask for a stop: the recorder finishes the file when it sees the request (through the
    broker) and reports the result with :func:`recording_finished`."""
    row, _ = await _as_clinician(session, principal, settings, consultation_id)
    recording = await session.get(Recording, recording_id)
    if recording is None or recording.consultation_id != row.id:
        raise NotFound("Recording not found", code="recording_not_found")
    audit.record(
        session,
        action="recording.stop",
        resource_type="Recording",
        resource_id=recording.id,
        patient_id=row.patient_id,
    )
    recorder = await session.scalar(
        select(Participant.peer_id).where(
            Participant.consultation_id == row.id, Participant.identity == f"media:{recording.id}"
        )
    )
    return recording, recorder


async def recording_progress(
    session: AsyncSession,
    recording_id: uuid.UUID,
    *,
    status: str,
    size_bytes: int | None = None,
    error: str | None = None,
) -> Recording:
    """The media recorder reports: ``recording`` (media flows), ``completed`` (file closed) or
    ``failed``. Principal-free: only the media process calls it."""
    recording = await session.get(Recording, recording_id)
    if recording is None:
        raise NotFound("Recording not found", code="recording_not_found")
    now = utcnow()
    recording.status = status
    if status == REC_RECORDING:
        recording.started_at = recording.started_at or now
    if status in (REC_COMPLETED, REC_FAILED):
        recording.ended_at = now
        recording.size_bytes = size_bytes
        recording.error = (error or "")[:500] or None
    await session.flush()
    row = await _load(session, recording.consultation_id)
    audit.record(
        session,
        action=f"recording.{status}",
        resource_type="Recording",
        resource_id=recording.id,
        patient_id=row.patient_id,
        actor_username="media-recorder",
        details={"size_bytes": size_bytes} if size_bytes is not None else None,
    )
    return recording


async def recording_file(
    session: AsyncSession, principal: Principal, settings: Settings, recording_id: uuid.UUID, *, purpose: str
) -> tuple[Recording, str]:
    """The file of a completed recording, for playback or download (audited each time): the
    consultation's clinician, or staff who may read clinical records."""
    recording = await session.get(Recording, recording_id)
    if recording is None:
        raise NotFound("Recording not found", code="recording_not_found")
    row = await _load(session, recording.consultation_id)
    allowed = principal.has(Perm.CLINICAL_READ) or (await _my_role(session, principal, row)) == CLINICIAN
    if not allowed:
        audit.record(
            session,
            action="recording.access_denied",
            resource_type="Recording",
            resource_id=recording.id,
            patient_id=row.patient_id,
            outcome="denied",
        )
        raise NotFound("Recording not found", code="recording_not_found")
    if recording.status != REC_COMPLETED:
        raise Conflict(
            "The recording is not finished", code="recording_not_ready", details={"status": recording.status}
        )
    path = settings.recordings_dir.resolve() / recording.file_name
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("The recording's file is missing", code="recording_file_missing")
    audit.record(
        session,
        action=f"recording.{purpose}",
        resource_type="Recording",
        resource_id=recording.id,
        patient_id=row.patient_id,
    )
    return recording, str(path)
