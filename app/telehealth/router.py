"""HTTP endpoints of video consultations under /api/telehealth: thin; the service decides access."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import AwareDatetime

from app.broker import Broker
from app.deps import PrincipalDep, SessionDep, SettingsDep
from app.errors import BadRequest
from app.kit.time import utcnow
from app.telehealth import channels, service
from app.telehealth import schemas as s
from app.telehealth.launcher import Launcher

router = APIRouter(prefix="/api/telehealth", tags=["telehealth"])

MAX_LIST_DAYS = 62


def _broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


def _ws_base(request: Request) -> str:
    scheme = "wss" if request.url.scheme == "https" else "ws"
    return f"{scheme}://{request.url.netloc}"


@router.get("/consultations", response_model=list[s.ConsultationRead], summary="My video consultations")
async def list_consultations(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: Annotated[AwareDatetime | None, Query()] = None,
    end: Annotated[AwareDatetime | None, Query()] = None,
    staff_id: Annotated[uuid.UUID | None, Query()] = None,
) -> list[s.ConsultationRead]:
    now = utcnow()
    start = start or now - timedelta(days=1)
    end = end or start + timedelta(days=14)
    if end <= start or end - start > timedelta(days=MAX_LIST_DAYS):
        raise BadRequest(
            f"end must be after start, at most {MAX_LIST_DAYS} days later", code="invalid_window"
        )
    return await service.list_consultations(
        session, principal, settings, start=start, end=end, staff_id=staff_id
    )


@router.get(
    "/appointments/{appointment_id}/consultation",
    response_model=s.ConsultationDetail,
    summary="The consultation of a video appointment",
)
async def for_appointment(
    appointment_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> s.ConsultationDetail:
    return await service.for_appointment(session, principal, settings, appointment_id)


@router.get("/consultations/{consultation_id}", response_model=s.ConsultationDetail, summary="A consultation")
async def get_consultation(
    consultation_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> s.ConsultationDetail:
    return await service.get_consultation(session, principal, settings, consultation_id)


@router.post(
    "/consultations/{consultation_id}/join",
    response_model=s.JoinResponse,
    summary="A join token, the signaling URL and ICE servers",
)
async def join(
    consultation_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> s.JoinResponse:
    return await service.join(session, principal, settings, consultation_id)


@router.post("/guest/join", response_model=s.JoinResponse, summary="Join as a guest with a one-time link")
async def guest_join(body: s.GuestJoin, session: SessionDep, settings: SettingsDep) -> s.JoinResponse:
    return await service.guest_join(session, settings, body)


@router.post(
    "/consultations/{consultation_id}/invites",
    response_model=s.InviteCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Invite a guest (interpreter, family) with a one-time link",
)
async def create_invite(
    consultation_id: uuid.UUID,
    body: s.InviteCreate,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> s.InviteCreated:
    return await service.create_invite(session, principal, settings, consultation_id, body)


@router.get(
    "/consultations/{consultation_id}/invites", response_model=list[s.InviteRead], summary="Guest invitations"
)
async def list_invites(
    consultation_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> list[s.InviteRead]:
    rows = await service.list_invites(session, principal, settings, consultation_id)
    return [s.InviteRead.model_validate(r) for r in rows]


@router.get(
    "/consultations/{consultation_id}/chat", response_model=list[s.ChatMessageRead], summary="The call's chat"
)
async def chat(
    consultation_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> list[s.ChatMessageRead]:
    rows = await service.chat_history(session, principal, settings, consultation_id)
    return [s.ChatMessageRead.model_validate(r) for r in rows]


async def _announce_end(broker: Broker, room: str) -> None:
    await broker.publish(channels.room_channel(room), {"event": "ended"})


@router.post(
    "/consultations/{consultation_id}/end", response_model=s.ConsultationRead, summary="End the consultation"
)
async def end(
    consultation_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> s.ConsultationRead:
    result = await service.end_consultation(session, principal, settings, consultation_id)
    row = await service.room_of(session, consultation_id)
    # After the commit (background tasks run once the response is sent): every socket of the
    # room gets `ended` and closes.
    background.add_task(_announce_end, _broker(request), row)
    return result


@router.post(
    "/consultations/{consultation_id}/recordings",
    response_model=s.RecordingRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start recording (every participant must have consented)",
)
async def start_recording(
    consultation_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> s.RecordingRead:
    recording, order = await service.start_recording(session, principal, settings, consultation_id)
    launcher: Launcher = request.app.state.media_launcher
    url = settings.media_signaling_url or service.signaling_url(settings, _ws_base(request))
    if url.startswith("/"):
        url = _ws_base(request) + url
    background.add_task(launcher.launch, order, url)
    return s.RecordingRead.model_validate(recording)


@router.post(
    "/consultations/{consultation_id}/recordings/{recording_id}/stop",
    response_model=s.RecordingRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Stop a recording (the recorder closes the file)",
)
async def stop_recording(
    consultation_id: uuid.UUID,
    recording_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> s.RecordingRead:
    recording, peer_id = await service.stop_recording(
        session, principal, settings, consultation_id, recording_id
    )
    if peer_id is not None:
        background.add_task(
            _broker(request).publish,
            channels.peer_channel(peer_id),
            {"type": "recording-stop", "recording_id": str(recording.id)},
        )
    return s.RecordingRead.model_validate(recording)


@router.get(
    "/recordings/{recording_id}/file",
    response_class=FileResponse,
    summary="Play or download a recording (audited)",
    responses={200: {"content": {"video/x-matroska": {}}}},
)
async def recording_file(
    recording_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    download: Annotated[bool, Query()] = False,
) -> FileResponse:
    recording, path = await service.recording_file(
        session, principal, settings, recording_id, purpose="download" if download else "play"
    )
    return FileResponse(
        path,
        media_type=recording.content_type,
        filename=f"consultation-recording-{recording.id}.mkv" if download else None,
        content_disposition_type="attachment" if download else "inline",
        headers={"Cache-Control": "no-store"},
    )
