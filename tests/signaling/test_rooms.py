"""The signaling protocol over real WebSockets against real servers (see conftest): waiting room,
admission, relay with ``from``, chat stored, consent, presence, reconnect and supersede, end,
heartbeats, and every refusal answered with an ``error`` frame while the room carries on.
On Redis the patient and the clinician sit on two different signaling instances."""

from __future__ import annotations

import asyncio
import json

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from media.client import SignalingClient, SignalingError
from signaling.main import SignalingOptions
from signaling.main import create_app as create_signaling
from tests.signaling.conftest import TIMEOUT, Stack, serve
from tests.telehealth.helpers import Visit, join, video_visit


async def _visit(stack: Stack) -> Visit:
    return await video_visit(stack.client, stack.db)


async def _tokens(stack: Stack, visit: Visit) -> tuple[dict, dict]:
    return await join(stack.client, visit, visit.patient_headers), await join(
        stack.client, visit, visit.clinician
    )


async def _raw(url: str, token: str):
    return connect(f"{url}?token={token}", open_timeout=TIMEOUT, close_timeout=TIMEOUT)


async def _recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def test_waiting_room_admit_relay_chat_and_leave(stack: Stack):
    visit = await _visit(stack)
    patient_join, clinician_join = await _tokens(stack, visit)
    async with SignalingClient(stack.ws(stack.last), clinician_join["token"]) as doctor:
        assert doctor.welcome["state"] == "admitted" and doctor.welcome["role"] == "clinician"
        assert (await doctor.wait_for("peers"))["peers"] == []
        async with SignalingClient(stack.ws(0), patient_join["token"]) as patient:
            assert patient.welcome["state"] == "waiting"
            assert patient.welcome["peer_id"] == patient_join["peer_id"]
            assert (await patient.wait_for("peers"))["peers"] == []
            # The clinician sees who is waiting.
            waiting = await doctor.wait_for("peer-joined")
            assert waiting["peer_id"] == patient.peer_id and waiting["state"] == "waiting"
            assert waiting["role"] == "patient" and waiting["display_name"]
            r = await stack.client.get(
                f"/api/telehealth/consultations/{visit.consultation_id}", headers=visit.clinician
            )
            assert r.json()["status"] == "waiting"

            # Waiting patients can neither signal nor chat.
            await patient.send({"type": "offer", "to": doctor.peer_id, "sdp": "v=0"})
            assert (await patient.wait_for("error"))["code"] == "not_admitted"
            await patient.send({"type": "chat", "text": "hello?"})
            assert (await patient.wait_for("error"))["code"] == "not_admitted"
            # Nor admit themselves or end the call.
            await patient.send({"type": "admit", "peer_id": patient.peer_id})
            assert (await patient.wait_for("error"))["code"] == "not_the_clinician"
            await patient.send({"type": "end"})
            assert (await patient.wait_for("error"))["code"] == "not_the_clinician"

            await doctor.send({"type": "admit", "peer_id": patient.peer_id})
            assert (await patient.wait_for("admitted"))["peer_id"] == patient.peer_id
            peers = (await patient.wait_for("peers"))["peers"]
            assert [(p["peer_id"], p["role"], p["state"]) for p in peers] == [
                (doctor.peer_id, "clinician", "admitted")
            ]
            seen = await doctor.wait_for("admitted")
            assert seen["peer_id"] == patient.peer_id
            r = await stack.client.get(
                f"/api/telehealth/consultations/{visit.consultation_id}", headers=visit.clinician
            )
            body = r.json()
            assert body["status"] == "in_progress" and body["started_at"]
            assert {p["role"]: p["admitted_at"] is not None for p in body["participants"]} == {
                "patient": True,
                "clinician": True,
            }

            # Offer, answer and candidates are relayed with `from` (across instances on Redis).
            await patient.send({"type": "offer", "to": doctor.peer_id, "sdp": "v=0 offer ✓"})
            offer = await doctor.wait_for("offer")
            assert offer == {"type": "offer", "from": patient.peer_id, "sdp": "v=0 offer ✓"}
            await doctor.send({"type": "answer", "to": patient.peer_id, "sdp": "v=0 answer"})
            assert (await patient.wait_for("answer"))["from"] == doctor.peer_id
            candidate = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host", "sdpMid": "0"}
            await doctor.send({"type": "candidate", "to": patient.peer_id, "candidate": candidate})
            assert (await patient.wait_for("candidate"))["candidate"] == candidate
            # Messages to peers outside the room get an error; the room carries on.
            await doctor.send({"type": "offer", "to": "nobody-here", "sdp": "v=0"})
            assert (await doctor.wait_for("error"))["code"] == "unknown_peer"
            other = await _visit(stack)
            elsewhere = await join(stack.client, other, other.patient_headers)
            await doctor.send({"type": "offer", "to": elsewhere["peer_id"], "sdp": "v=0"})
            assert (await doctor.wait_for("error"))["code"] == "unknown_peer"

            # Chat: fanned out to the room and stored on the consultation.
            await patient.send({"type": "chat", "text": "  Can you hear me?  "})
            said = await doctor.wait_for("chat")
            assert said["text"] == "Can you hear me?" and said["from"] == patient.peer_id
            assert (await patient.wait_for("chat"))["id"] == said["id"]
            r = await stack.client.get(
                f"/api/telehealth/consultations/{visit.consultation_id}/chat", headers=visit.clinician
            )
            assert [(m["text"], m["id"]) for m in r.json()] == [("Can you hear me?", said["id"])]
            await patient.send({"type": "chat", "text": ""})
            assert (await patient.wait_for("error"))["code"] == "invalid_chat"

            await patient.send({"type": "leave"})
            assert (await doctor.wait_for("peer-left"))["peer_id"] == patient.peer_id
        r = await stack.client.get(
            f"/api/telehealth/consultations/{visit.consultation_id}", headers=visit.clinician
        )
        people = {p["role"]: p for p in r.json()["participants"]}
        assert people["patient"]["joined_at"] and people["patient"]["left_at"]
        assert people["clinician"]["left_at"] is None


async def test_consent_is_recorded_per_participant_and_announced(stack: Stack):
    visit = await _visit(stack)
    patient_join, clinician_join = await _tokens(stack, visit)
    async with (
        SignalingClient(stack.ws(stack.last), clinician_join["token"]) as doctor,
        SignalingClient(stack.ws(0), patient_join["token"]) as patient,
    ):
        await doctor.wait_for("peer-joined")
        await doctor.send({"type": "admit", "peer_id": patient.peer_id})
        await patient.wait_for("peers")
        await patient.send({"type": "consent", "given": True})
        first = await doctor.wait_for("consent")
        assert first == {"type": "consent", "peer_id": patient.peer_id, "given": True, "all_consented": False}
        await doctor.send({"type": "consent", "given": "yes"})
        assert (await doctor.wait_for("error"))["code"] == "invalid_message"
        await doctor.send({"type": "consent", "given": True})
        assert (await patient.wait_for("consent", lambda f: f["peer_id"] == doctor.peer_id))["all_consented"]
        r = await stack.client.get(
            f"/api/telehealth/consultations/{visit.consultation_id}", headers=visit.clinician
        )
        assert r.json()["all_consented"] is True
        assert all(p["consent_to_record"] is True for p in r.json()["participants"])


async def test_bad_messages_get_errors_and_the_socket_stays_usable(stack: Stack):
    visit = await _visit(stack)
    _, clinician_join = await _tokens(stack, visit)
    limit = SignalingOptions().max_message_bytes
    cases: list[tuple[str | bytes, str]] = [
        ("{not json", "malformed_json"),
        ("[1, 2]", "invalid_message"),
        ('{"type": 5}', "invalid_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "error", "code": "spoofed"}', "unknown_type"),
        ('{"type": "offer", "sdp": "v=0"}', "invalid_message"),
        ('{"type": "offer", "to": "x", "sdp": 5}', "invalid_message"),
        ('{"type": "admit"}', "invalid_message"),
        ('{"type": "chat", "text": 7}', "invalid_message"),
        (b"\x00\x01", "unsupported_frame"),
        (json.dumps({"type": "ping", "pad": "x" * limit}), "message_too_large"),
        (json.dumps({"type": "ping", "pad": "é" * (limit // 2)}, ensure_ascii=False), "message_too_large"),
    ]
    async with await _raw(stack.ws(), clinician_join["token"]) as ws:
        assert (await _recv(ws))["type"] == "welcome"
        assert (await _recv(ws))["type"] == "peers"
        for frame, code in cases:
            await ws.send(frame)
            reply = await _recv(ws)
            assert (reply["type"], reply["code"]) == ("error", code), frame[:40]
            assert reply["message"]
            await ws.send('{"type": "ping"}')
            assert await _recv(ws) == {"type": "pong"}


async def test_expired_tampered_and_foreign_tokens_are_refused_with_4401(stack: Stack):
    visit = await _visit(stack)
    patient_join, _ = await _tokens(stack, visit)
    payload = jwt.decode(patient_join["token"], options={"verify_signature": False})
    expired = jwt.encode(
        {**payload, "iat": payload["iat"] - 7200, "exp": payload["iat"] - 3600},
        stack.settings.secret_key,
        "HS256",
    )
    promoted = jwt.encode({**payload, "role": "clinician"}, "someone-elses-secret-0123456789abcdef", "HS256")
    head, body, sig = patient_join["token"].split(".")
    cases = {
        expired: "token_expired",
        promoted: "invalid_token",
        f"{head}.{body}.{sig[::-1]}": "invalid_token",
        "": "invalid_token",
        "not-a-jwt": "invalid_token",
    }
    for token, code in cases.items():
        with pytest.raises(SignalingError) as refused:
            async with SignalingClient(stack.ws(), token):
                pass
        assert refused.value.code == code
        assert refused.value.close_code == 4401


async def test_a_reconnect_resumes_the_place_and_supersedes_the_old_socket(stack: Stack):
    visit = await _visit(stack)
    patient_join, clinician_join = await _tokens(stack, visit)
    async with SignalingClient(stack.ws(stack.last), clinician_join["token"]) as doctor:
        first = SignalingClient(stack.ws(0), patient_join["token"])
        await first.connect()
        await doctor.wait_for("peer-joined")
        await doctor.send({"type": "admit", "peer_id": first.peer_id})
        await first.wait_for("peers")
        # The same participant connects again (a dropped network, a reload) with a new token:
        # admitted at once, same peer id, and the old socket is closed (4409).
        fresh = await join(stack.client, visit, visit.patient_headers)
        assert fresh["token"] != patient_join["token"]
        async with SignalingClient(stack.ws(stack.last), fresh["token"]) as second:
            assert second.welcome["state"] == "admitted"
            assert second.peer_id == first.peer_id
            assert [p["peer_id"] for p in (await second.wait_for("peers"))["peers"]] == [doctor.peer_id]
            assert (await first.wait_for("error"))["code"] == "superseded"
            while await first.recv(TIMEOUT) is not None:
                pass
            assert first.close_code == 4409
            await first.close()
            # The clinician still has the patient in the room and can signal to it.
            await doctor.send({"type": "offer", "to": second.peer_id, "sdp": "v=0 again"})
            assert (await second.wait_for("offer"))["sdp"] == "v=0 again"


async def test_the_clinician_ends_the_call_for_everyone(stack: Stack):
    visit = await _visit(stack)
    patient_join, clinician_join = await _tokens(stack, visit)
    async with (
        SignalingClient(stack.ws(stack.last), clinician_join["token"]) as doctor,
        SignalingClient(stack.ws(0), patient_join["token"]) as patient,
    ):
        await doctor.wait_for("peer-joined")
        await doctor.send({"type": "admit", "peer_id": patient.peer_id})
        await patient.wait_for("peers")
        await doctor.send({"type": "end"})
        assert (await patient.wait_for("ended"))["type"] == "ended"
        assert (await doctor.wait_for("ended"))["type"] == "ended"
        while await patient.recv(TIMEOUT) is not None:
            pass
        assert patient.close_code == 4410
    r = await stack.client.get(
        f"/api/telehealth/consultations/{visit.consultation_id}", headers=visit.clinician
    )
    assert r.json()["status"] == "ended" and r.json()["ended_at"]
    r = await stack.client.get(
        f"/api/patients/{visit.patient['id']}/encounters/{clinician_join['encounter_id']}",
        headers=visit.clinician,
    )
    assert r.json()["status"] == "finished"
    # Rejoining an ended consultation: refused on the socket too.
    with pytest.raises(SignalingError) as refused:
        async with SignalingClient(stack.ws(0), patient_join["token"]):
            pass
    assert refused.value.code == "consultation_ended" and refused.value.close_code == 4410


async def test_ending_through_the_api_closes_the_sockets(stack: Stack):
    visit = await _visit(stack)
    _, clinician_join = await _tokens(stack, visit)
    async with SignalingClient(stack.ws(stack.last), clinician_join["token"]) as doctor:
        await doctor.wait_for("peers")
        r = await stack.client.post(
            f"/api/telehealth/consultations/{visit.consultation_id}/end", headers=visit.clinician
        )
        assert r.status_code == 200, r.text
        assert (await doctor.wait_for("ended"))["type"] == "ended"


async def test_heartbeats_drop_a_silent_peer_and_presence_follows(live_database, tmp_path):
    from tests.signaling.conftest import build_stack

    async with build_stack(live_database, None) as api_stack:
        visit = await _visit(api_stack)
        patient_join, clinician_join = await _tokens(api_stack, visit)
        options = SignalingOptions(idle_timeout_seconds=1.0, heartbeat_seconds=0.2, presence_ttl_seconds=1.0)
        app = create_signaling(api_stack.settings, options=options, database=api_stack.db)
        async with serve(app) as host:
            url = f"ws://{host}/ws/signaling"
            async with SignalingClient(url, clinician_join["token"], ping_seconds=0.3) as doctor:
                await doctor.wait_for("peers")
                # A client that never pings (its network died without a FIN) is closed 4408.
                async with await _raw(url, patient_join["token"]) as silent:
                    assert (await _recv(silent))["type"] == "welcome"
                    left = await doctor.wait_for("peer-joined")
                    assert left["peer_id"] == patient_join["peer_id"]
                    with pytest.raises(ConnectionClosed) as closed:
                        while True:
                            await _recv(silent)
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
                assert (await doctor.wait_for("peer-left"))["peer_id"] == patient_join["peer_id"]
                # The pinging clinician stays, past several presence TTLs.
                await asyncio.sleep(2.5)
                members = await app.state.broker.presence_list(
                    f"signaling:room:{visit.appointment['room_id']}"
                )
                assert list(members) == [doctor.peer_id]


async def test_the_module_level_app_runs_standalone():
    from signaling import main as signaling_main

    async with serve(signaling_main.app) as host:
        async with connect(f"ws://{host}/ws/signaling?token=bad", open_timeout=TIMEOUT) as ws:
            assert (await _recv(ws))["code"] == "invalid_token"
