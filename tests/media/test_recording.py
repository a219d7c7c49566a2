"""Recording end to end: a call between two aiortc peers, refused until every participant has
consented, then the API starts the real recorder process (``python -m media.recorder``), which
joins through signaling, records both sides into a Matroska file, and reports; the file,
downloaded through the audited endpoint, decodes with PyAV (video and audio frames)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import MediaStreamTrack
from sqlalchemy import select

from app.audit.models import AuditEvent
from media.client import SignalingClient
from media.peer import CallPeer
from media.sources import TestPatternTrack, ToneTrack
from tests.patients.helpers import assert_error
from tests.signaling.conftest import REDIS_URL, Stack, build_stack
from tests.telehealth.helpers import join, video_visit

TIMEOUT = 90.0


@pytest.fixture(params=["memory", "redis"] if REDIS_URL else ["memory"])
async def rec_stack(request, live_database: str, tmp_path: Path) -> AsyncIterator[Stack]:
    redis = REDIS_URL if request.param == "redis" else None
    async with build_stack(live_database, redis, recordings_dir=tmp_path / "recordings") as s:
        yield s


class Frames:
    """What a CallPeer's run loop saw (it owns the connection's frames; tests must not read them)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    def __call__(self, frame: dict[str, Any]) -> None:
        self.seen.append(frame)
        self.changed.set()

    async def wait(self, kind: str, predicate=lambda f: True) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while True:
            for frame in self.seen:
                if frame.get("type") == kind and predicate(frame):
                    return frame
            self.changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"no {kind} frame"
            await asyncio.wait_for(self.changed.wait(), remaining)


async def _drain(track: MediaStreamTrack, seen: asyncio.Event) -> None:
    while True:
        try:
            await track.recv()
        except Exception:
            return
        seen.set()


async def _recording(stack: Stack, visit, headers, want: set[str]) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        r = await stack.client.get(f"/api/telehealth/consultations/{visit.consultation_id}", headers=headers)
        recordings = r.json()["recordings"]
        if recordings and recordings[-1]["status"] in want:
            found: dict[str, Any] = recordings[-1]
            return found
        assert recordings and recordings[-1]["status"] not in ("failed",), recordings
        assert asyncio.get_running_loop().time() < deadline, f"recording never reached {want}: {recordings}"
        await asyncio.sleep(0.5)


async def test_recording_only_with_consent_produces_a_playable_file(rec_stack: Stack):
    stack = rec_stack
    visit = await video_visit(stack.client, stack.db)
    patient_join = await join(stack.client, visit, visit.patient_headers)
    clinician_join = await join(stack.client, visit, visit.clinician)
    media_at_doctor, media_at_patient = asyncio.Event(), asyncio.Event()
    at_doctor, at_patient = Frames(), Frames()
    start_url = f"/api/telehealth/consultations/{visit.consultation_id}/recordings"

    async with (
        SignalingClient(stack.ws(stack.last), clinician_join["token"]) as doctor_link,
        SignalingClient(stack.ws(0), patient_join["token"]) as patient_link,
    ):
        doctor = CallPeer(
            doctor_link,
            local_tracks=lambda: [TestPatternTrack(), ToneTrack(330)],
            on_track=lambda _, t: _drain(t, media_at_doctor),
            on_frame=at_doctor,
            auto_admit=True,
        )
        patient = CallPeer(
            patient_link,
            local_tracks=lambda: [TestPatternTrack(), ToneTrack(440)],
            on_track=lambda _, t: _drain(t, media_at_patient),
            on_frame=at_patient,
        )
        runs = [asyncio.create_task(doctor.run()), asyncio.create_task(patient.run())]
        try:
            await asyncio.wait_for(asyncio.gather(media_at_doctor.wait(), media_at_patient.wait()), TIMEOUT)
            # Without consent: refused; with the patient's only: still refused.
            err = assert_error(
                await stack.client.post(start_url, headers=visit.clinician), 409, "consent_missing"
            )
            assert len(err["details"]["without_consent"]) == 2
            await patient_link.send({"type": "consent", "given": True})
            await at_doctor.wait("consent")
            err = assert_error(
                await stack.client.post(start_url, headers=visit.clinician), 409, "consent_missing"
            )
            assert len(err["details"]["without_consent"]) == 1
            # The patient cannot start a recording at all.
            assert_error(
                await stack.client.post(start_url, headers=visit.patient_headers), 403, "not_the_clinician"
            )

            await doctor_link.send({"type": "consent", "given": True})
            await at_patient.wait("consent", lambda f: f["all_consented"])
            r = await stack.client.post(start_url, headers=visit.clinician)
            assert r.status_code == 202, r.text
            recording = r.json()
            assert recording["status"] == "starting"
            assert_error(await stack.client.post(start_url, headers=visit.clinician), 409, "recording_active")

            await _recording(stack, visit, visit.clinician, {"recording"})
            announced = await at_doctor.wait("recording")
            assert announced["status"] == "recording"
            await asyncio.sleep(4)  # a few seconds of both sides
            r = await stack.client.post(f"{start_url}/{recording['id']}/stop", headers=visit.clinician)
            assert r.status_code == 202, r.text
            done = await _recording(stack, visit, visit.clinician, {"completed"})
        finally:
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
            await doctor.close()
            await patient.close()

    assert done["size_bytes"] > 10_000
    # The patient may not download it; the clinician may (audited).
    file_url = f"/api/telehealth/recordings/{recording['id']}/file"
    assert_error(await stack.client.get(file_url, headers=visit.patient_headers), 404, "recording_not_found")
    r = await stack.client.get(file_url, params={"download": "true"}, headers=visit.clinician)
    assert r.status_code == 200, r.text[:200]
    assert r.headers["content-type"] == "video/x-matroska"
    assert "attachment" in r.headers["content-disposition"]
    with av.open(io.BytesIO(r.content), format="matroska") as container:
        kinds = sorted(s.type for s in container.streams)
        assert kinds.count("video") == 2 and kinds.count("audio") == 2, kinds
        video = audio = 0
        for frame in container.decode(*container.streams):
            if isinstance(frame, av.VideoFrame):
                video += 1
            else:
                audio += 1
    assert video >= 20 and audio >= 20, (video, audio)
    async with stack.db.sessionmaker() as session:
        actions = set(
            await session.scalars(select(AuditEvent.action).where(AuditEvent.resource_id == recording["id"]))
        )
    assert {"recording.start", "recording.recording", "recording.completed", "recording.download"} <= actions
