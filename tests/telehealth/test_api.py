"""Consultations over the HTTP API: who may join and when, join tokens, TURN credentials, the
virtual Encounter, guest invites (one use), ending, and the errors of each refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import select

from app.db import Database
from app.telehealth import service
from app.telehealth.models import Participant
from app.telehealth.tokens import decode_join_token, turn_credentials
from tests.conftest import make_settings
from tests.patients.helpers import assert_error, headers_for
from tests.telehealth.helpers import clinician_account, join, video_visit


async def test_the_patient_and_the_clinician_get_join_tokens_bound_to_them(client, db, settings):
    visit = await video_visit(client, db)
    assert visit.consultation["status"] == "scheduled"
    assert visit.consultation["can_join"] is True
    assert visit.consultation["my_role"] == "clinician"

    patient = await join(client, visit, visit.patient_headers)
    clinician = await join(client, visit, visit.clinician)
    assert patient["role"] == "patient" and clinician["role"] == "clinician"
    assert patient["peer_id"] != clinician["peer_id"]
    assert patient["signaling_url"] == "/ws/signaling"
    claims = decode_join_token(settings, patient["token"])
    assert str(claims.consultation_id) == visit.consultation_id
    assert claims.role == "patient" and claims.peer_id == patient["peer_id"]
    assert claims.room == visit.appointment["room_id"]
    # Short-lived, and joining again is the same participant (same peer id: a resumed place).
    assert claims.expires_at - datetime.now(UTC) <= timedelta(seconds=settings.telehealth_join_token_seconds)
    again = await join(client, visit, visit.patient_headers)
    assert again["peer_id"] == patient["peer_id"] and again["participant_id"] == patient["participant_id"]
    # An API access token is no join token, and a join token no access token.
    r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {patient['token']}"})
    assert r.status_code == 401


async def test_the_room_id_reveals_nothing_about_the_patient(client, db):
    visit = await video_visit(client, db)
    room = visit.appointment["room_id"]
    assert len(room) >= 32
    assert visit.patient["id"] not in room and visit.patient["id"].replace("-", "") not in room


async def test_the_clinicians_first_join_opens_a_virtual_encounter_on_the_chart(client, db):
    visit = await video_visit(client, db)
    joined = await join(client, visit, visit.clinician)
    encounter_id = joined["encounter_id"]
    assert encounter_id
    r = await client.get(f"/api/patients/{visit.patient['id']}/encounters", headers=visit.clinician)
    assert r.status_code == 200, r.text
    found = [e for e in r.json()["items"] if e["id"] == encounter_id]
    assert found and found[0]["class_code"] == "VR" and found[0]["status"] == "in-progress"
    # Notes and a prescription during the call, on that encounter, through the patients API.
    r = await client.post(
        f"/api/patients/{visit.patient['id']}/encounters/{encounter_id}/notes",
        json={"text": "Seen by video. Sore throat for 3 days."},
        headers=visit.clinician,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/patients/{visit.patient['id']}/medication-requests",
        json={
            "medication": {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "308182",
                "display": "Amoxicillin 250 MG Oral Capsule",
            },
            "encounter_id": encounter_id,
        },
        headers=visit.clinician,
    )
    assert r.status_code == 201, r.text
    # A second join keeps the same encounter; FHIR shows it as a virtual Encounter.
    assert (await join(client, visit, visit.clinician))["encounter_id"] == encounter_id
    r = await client.get(f"/fhir/Encounter/{encounter_id}", headers=visit.clinician)
    assert r.status_code == 200, r.text
    assert r.json()["class"]["code"] == "VR"
    # Ending finishes it.
    r = await client.post(
        f"/api/telehealth/consultations/{visit.consultation_id}/end", headers=visit.clinician
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ended"
    r = await client.get(f"/fhir/Encounter/{encounter_id}", headers=visit.clinician)
    assert r.json()["status"] == "finished"
    assert_error(
        await client.post(
            f"/api/telehealth/consultations/{visit.consultation_id}/join", headers=visit.patient_headers
        ),
        409,
        "consultation_ended",
    )


async def test_wrong_users_are_refused(client, db):
    visit = await video_visit(client, db)
    other_patient = await video_visit(client, db)
    # Another patient: 404, as if it did not exist.
    assert_error(
        await client.post(
            f"/api/telehealth/consultations/{visit.consultation_id}/join",
            headers=other_patient.patient_headers,
        ),
        404,
        "consultation_not_found",
    )
    assert_error(
        await client.get(
            f"/api/telehealth/consultations/{visit.consultation_id}", headers=other_patient.patient_headers
        ),
        404,
        "consultation_not_found",
    )
    # Another clinician: 403; a receptionist (no telehealth:join): 403.
    _, _, stranger = await clinician_account(db, client, "Stranger")
    assert_error(
        await client.post(f"/api/telehealth/consultations/{visit.consultation_id}/join", headers=stranger),
        403,
        "not_a_participant",
    )
    assert_error(
        await client.post(
            f"/api/telehealth/consultations/{visit.consultation_id}/join", headers=visit.reception
        ),
        403,
        "forbidden",
    )
    # Not signed in: 401; an unknown id: 404.
    assert (
        await client.post(f"/api/telehealth/consultations/{visit.consultation_id}/join")
    ).status_code == 401
    assert_error(
        await client.post(f"/api/telehealth/consultations/{uuid.uuid4()}/join", headers=visit.clinician),
        404,
        "consultation_not_found",
    )
    # A patient cannot invite guests.
    assert_error(
        await client.post(
            f"/api/telehealth/consultations/{visit.consultation_id}/invites",
            json={"display_name": "Cousin"},
            headers=visit.patient_headers,
        ),
        403,
        "not_the_clinician",
    )


async def test_join_is_refused_outside_the_window(client, db, monkeypatch):
    later = await video_visit(client, db, days_ahead=3)
    assert later.consultation["can_join"] is False
    err = assert_error(
        await client.post(
            f"/api/telehealth/consultations/{later.consultation_id}/join", headers=later.patient_headers
        ),
        409,
        "outside_join_window",
    )
    opens = datetime.fromisoformat(err["details"]["opens_at"])
    assert opens == datetime.fromisoformat(later.appointment["start"]) - timedelta(minutes=15)

    # Past the end plus the grace: refused, and a call nobody started is marked missed.
    now = visit_end = datetime.fromisoformat(later.appointment["end"])
    monkeypatch.setattr(service, "utcnow", lambda: now + timedelta(minutes=31))
    assert_error(
        await client.post(
            f"/api/telehealth/consultations/{later.consultation_id}/join", headers=later.clinician
        ),
        409,
        "outside_join_window",
    )
    r = await client.get(f"/api/telehealth/consultations/{later.consultation_id}", headers=later.clinician)
    assert r.json()["status"] == "missed"
    # Inside the grace period it was still open.
    monkeypatch.setattr(service, "utcnow", lambda: visit_end + timedelta(minutes=29))
    fresh = await video_visit(client, db, days_ahead=3)
    end = datetime.fromisoformat(fresh.appointment["end"])
    monkeypatch.setattr(service, "utcnow", lambda: end + timedelta(minutes=29))
    assert (await join(client, fresh, fresh.patient_headers))["role"] == "patient"


async def test_a_cancelled_appointment_cannot_be_joined(client, db):
    visit = await video_visit(client, db)
    r = await client.post(
        f"/api/appointments/{visit.appointment['id']}/cancel",
        json={"reason": "unwell"},
        headers=visit.reception,
    )
    assert r.status_code == 200, r.text
    assert_error(
        await client.post(
            f"/api/telehealth/consultations/{visit.consultation_id}/join", headers=visit.patient_headers
        ),
        409,
        "appointment_not_joinable",
    )


async def test_guest_invite_is_single_use(client, db, settings):
    visit = await video_visit(client, db)
    r = await client.post(
        f"/api/telehealth/consultations/{visit.consultation_id}/invites",
        json={"display_name": "Ana (interpreter)", "relationship": "interpreter"},
        headers=visit.clinician,
    )
    assert r.status_code == 201, r.text
    invite = r.json()
    assert invite["path"] == f"/visit/guest#{invite['token']}"
    first = await client.post("/api/telehealth/guest/join", json={"token": invite["token"]})
    assert first.status_code == 200, first.text
    guest = first.json()
    assert guest["role"] == "guest" and guest["display_name"] == "Ana (interpreter)"
    assert guest["resume_key"]
    claims = decode_join_token(settings, guest["token"])
    assert claims.user_id is None and claims.role == "guest"
    # The same link again: refused; with the resume key from the first use: the same place.
    assert_error(
        await client.post("/api/telehealth/guest/join", json={"token": invite["token"]}), 409, "invite_used"
    )
    again = await client.post(
        "/api/telehealth/guest/join", json={"token": invite["token"], "resume_key": "x" * 32}
    )
    assert_error(again, 409, "invite_used")
    resumed = await client.post(
        "/api/telehealth/guest/join", json={"token": invite["token"], "resume_key": guest["resume_key"]}
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["peer_id"] == guest["peer_id"] and resumed.json()["resume_key"] is None
    # A made-up link.
    assert_error(
        await client.post("/api/telehealth/guest/join", json={"token": "y" * 32}), 404, "invite_not_found"
    )
    r = await client.get(
        f"/api/telehealth/consultations/{visit.consultation_id}/invites", headers=visit.clinician
    )
    assert [i["used_at"] is not None for i in r.json()] == [True]
    assert "token" not in r.json()[0]


async def test_ice_servers_carry_turn_rest_credentials(client, db, app):
    app.state.settings = make_settings(
        app.state.settings.database_url,
        turn_secret="turn-shared-secret",
        turn_urls=["turn:turn.example.org:3478?transport=udp"],
        stun_urls=["stun:turn.example.org:3478"],
    )
    visit = await video_visit(client, db)
    joined = await join(client, visit, visit.patient_headers)
    stun, turn = joined["ice_servers"]
    assert stun == {"urls": ["stun:turn.example.org:3478"], "username": None, "credential": None}
    expiry, user = turn["username"].split(":", 1)
    assert user == str(decode_join_token(app.state.settings, joined["token"]).user_id)
    assert 0 < int(expiry) - datetime.now(UTC).timestamp() <= app.state.settings.turn_credential_seconds
    expected = base64.b64encode(
        hmac.new(b"turn-shared-secret", turn["username"].encode(), hashlib.sha1).digest()
    )
    assert turn["credential"] == expected.decode()


def test_turn_credentials_match_the_rest_api_convention():
    now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    username, credential = turn_credentials("north", "alice", now, timedelta(hours=1))
    assert username == f"{int(now.timestamp()) + 3600}:alice"
    # base64(HMAC-SHA1("north", username)), computed independently.
    assert credential == base64.b64encode(hmac.new(b"north", username.encode(), "sha1").digest()).decode()


async def test_tampered_and_foreign_join_tokens_are_invalid(client, db, settings):
    visit = await video_visit(client, db)
    token = (await join(client, visit, visit.patient_headers))["token"]
    payload = jwt.decode(token, options={"verify_signature": False})
    payload["role"] = "clinician"
    forged = jwt.encode(payload, "not-the-secret-key-0123456789abcdef", algorithm="HS256")
    with pytest.raises(Exception) as raised:
        decode_join_token(settings, forged)
    assert getattr(raised.value, "code", None) == "invalid_token"
    head, body, sig = token.split(".")
    with pytest.raises(Exception) as raised:
        decode_join_token(settings, f"{head}.{body}.{sig[:-2]}AA")
    assert getattr(raised.value, "code", None) == "invalid_token"


async def test_listing_shows_each_side_its_consultations(client, db):
    visit = await video_visit(client, db)
    r = await client.get("/api/telehealth/consultations", headers=visit.patient_headers)
    assert r.status_code == 200, r.text
    mine = [c for c in r.json() if c["id"] == visit.consultation_id]
    assert mine and mine[0]["my_role"] == "patient" and mine[0]["can_join"] is True
    r = await client.get("/api/telehealth/consultations", headers=visit.clinician)
    assert [c["id"] for c in r.json()] == [visit.consultation_id]
    assert_error(
        await client.get(
            "/api/telehealth/consultations",
            params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            headers=visit.clinician,
        ),
        400,
        "invalid_window",
    )


async def test_recording_needs_everyones_consent(client, db: Database):
    visit = await video_visit(client, db)
    await join(client, visit, visit.clinician)
    assert_error(
        await client.post(
            f"/api/telehealth/consultations/{visit.consultation_id}/recordings", headers=visit.clinician
        ),
        409,
        "not_in_progress",
    )
    async with db.sessionmaker() as session:
        people = list(await session.scalars(select(Participant)))
        assert {p.role for p in people if str(p.consultation_id) == visit.consultation_id} == {"clinician"}


async def test_bad_input_gets_clear_errors(client, db):
    visit = await video_visit(client, db)
    r = await client.post(
        f"/api/telehealth/consultations/{visit.consultation_id}/invites",
        json={"display_name": "", "relationship": "boss"},
        headers=visit.clinician,
    )
    assert_error(r, 422, "validation_error")
    assert_error(await client.post("/api/telehealth/guest/join", json={"token": 5}), 422, "validation_error")
    assert_error(
        await client.post("/api/telehealth/consultations/not-a-uuid/join", headers=visit.clinician),
        422,
        "validation_error",
    )
    r = await client.post(
        "/api/telehealth/guest/join", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert_error(r, 400, "malformed_json")
    outsider = await headers_for(client, db, "nurse")
    assert_error(
        await client.get(f"/api/telehealth/recordings/{uuid.uuid4()}/file", headers=outsider),
        404,
        "recording_not_found",
    )


async def test_non_video_appointments_have_no_consultation(client, db):
    visit = await video_visit(client, db)
    in_person = await client.post(
        "/api/appointments/types",
        json={
            "code": f"IP-{uuid.uuid4().hex[:6]}",
            "name": "Clinic",
            "duration_minutes": 5,
            "mode": "in_person",
        },
        headers=visit.admin,
    )
    assert in_person.status_code == 201, in_person.text
    slots = await client.get(
        "/api/appointments/slots",
        params={"type_id": in_person.json()["id"], "staff_id": str(visit.staff_id), "limit": 3},
        headers=visit.reception,
    )
    booked = await client.post(
        "/api/appointments",
        json={
            "type_id": in_person.json()["id"],
            "staff_id": str(visit.staff_id),
            "patient_id": visit.patient["id"],
            "start": slots.json()["items"][2]["start"],
        },
        headers=visit.reception,
    )
    assert booked.status_code == 201, booked.text
    assert_error(
        await client.get(
            f"/api/telehealth/appointments/{booked.json()['id']}/consultation", headers=visit.clinician
        ),
        409,
        "not_a_video_appointment",
    )
