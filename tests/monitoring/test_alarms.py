"""Alarms through the real pipeline: thresholds, NEWS2 (urgent/emergency), technical alarms for
zero/absent/impossible values that never become clinical ones, the lifecycle with who and when,
no flooding on repeats, escalation to the next role."""

from __future__ import annotations

import uuid
from datetime import timedelta

from app.broker import Broker
from app.kit.time import utcnow
from app.monitoring import service
from tests.monitoring.helpers import ago, bp, bundle, device_headers, serve, vital


async def _alarms(live, headers, pid, *states):
    q = "".join(f"&state={s}" for s in states)
    r = await live.http.get(f"/api/monitoring/alarms?patient={pid}{q}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _send(live, token, *resources):
    r = await live.http.post("/fhir", json=bundle(*resources), headers=device_headers(token))
    assert r.status_code == 200, r.text


async def test_threshold_alarm_lifecycle_without_flooding(monitoring_database_url: str, broker: Broker):
    async with serve(monitoring_database_url, broker) as live:
        doctor, _ = await live.staff("doctor")
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(doctor)
        token = (await live.device(nurse, pid))["token"]
        r = await live.http.put(
            f"/api/monitoring/patients/{pid}/thresholds",
            json={"thresholds": [{"series": "hr", "low": 45, "high": 120}]},
            headers=doctor,
        )
        assert r.status_code == 200, r.text
        bad = await live.http.put(
            f"/api/monitoring/patients/{pid}/thresholds",
            json={"thresholds": [{"series": "hr", "low": 130, "high": 120}]},
            headers=doctor,
        )
        assert bad.status_code == 422

        # 122-127/min: above the limit, and only 2 NEWS2 points (no NEWS2 alarm).
        await _send(live, token, vital("8867-4", 122, "/min", ago(seconds=30), "a1"))
        for i in range(5):  # the condition goes on: one alarm, counted
            await _send(live, token, vital("8867-4", 123 + i, "/min", ago(seconds=29 - i), f"a{i + 2}"))
        alarms = await _alarms(live, nurse, pid)
        assert len(alarms) == 1
        alarm = alarms[0]
        assert (alarm["kind"], alarm["key"], alarm["state"], alarm["trigger_count"]) == (
            "clinical",
            "threshold:hr:high",
            "raised",
            6,
        )
        assert alarm["notify_role"] == "nurse" and alarm["value"] == "127"

        r = await live.http.post(f"/api/monitoring/alarms/{alarm['id']}/acknowledge", headers=nurse)
        assert r.status_code == 200, r.text
        acked = r.json()
        assert acked["state"] == "acknowledged" and acked["acknowledged_by_name"].startswith("Nurse")
        assert acked["acknowledged_at"]

        await _send(live, token, vital("8867-4", 80, "/min", ago(seconds=10), "a9"))
        (resolved,) = await _alarms(live, nurse, pid, "resolved")
        assert resolved["id"] == alarm["id"] and resolved["resolved_by_name"] == "system"
        assert not await _alarms(live, nurse, pid, "raised", "acknowledged")
        # Acknowledging a resolved alarm is a conflict; a portal user or receptionist cannot.
        r = await live.http.post(f"/api/monitoring/alarms/{alarm['id']}/acknowledge", headers=nurse)
        assert r.status_code == 409
        reception, _ = await live.staff("receptionist")
        r = await live.http.post(f"/api/monitoring/alarms/{alarm['id']}/resolve", headers=reception)
        assert r.status_code == 403


async def test_zero_absent_and_impossible_values_raise_technical_alarms_only(
    monitoring_database_url: str, broker: Broker
):
    async with serve(monitoring_database_url, broker) as live:
        doctor, _ = await live.staff("doctor")
        pid = await live.patient(doctor)
        token = (await live.device(doctor, pid))["token"]
        await live.http.put(
            f"/api/monitoring/patients/{pid}/thresholds",
            json={"thresholds": [{"series": "hr", "low": 45}, {"series": "spo2", "low": 90}]},
            headers=doctor,
        )
        await _send(
            live,
            token,
            vital("8867-4", 0, "/min", ago(seconds=20), "z1"),  # probe off, the ICU way
            vital("59408-5", None, "%", ago(seconds=20), "z2"),  # no value, dataAbsentReason
            vital("9279-1", 400, "/min", ago(seconds=20), "z3"),  # impossible
            bp(60, 80, ago(seconds=20), "z4"),  # diastolic above systolic: artefact
        )
        alarms = await _alarms(live, doctor, pid)
        assert {(a["kind"], a["key"], a["severity"]) for a in alarms} == {
            ("technical", "signal_loss:hr", "technical"),
            ("technical", "signal_loss:spo2", "technical"),
            ("technical", "artefact:rr", "technical"),
            ("technical", "artefact:bp", "technical"),
        }
        overview = (await live.http.get(f"/api/monitoring/overview?patient={pid}", headers=doctor)).json()
        tile = overview["patients"][0]
        assert tile["news2"] is None and tile["latest"] == {}  # nothing of it entered NEWS2
        # Signal back: the technical alarms clear themselves.
        await _send(
            live,
            token,
            vital("8867-4", 72, "/min", ago(seconds=5), "z5"),
            vital("59408-5", 97, "%", ago(seconds=5), "z6"),
        )
        open_keys = {a["key"] for a in await _alarms(live, doctor, pid, "raised", "acknowledged")}
        assert open_keys == {"artefact:rr", "artefact:bp"}


async def test_news2_alarm_urgent_then_emergency_and_escalation(monitoring_database_url: str, broker: Broker):
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse)
        token = (await live.device(nurse, pid))["token"]
        r = await live.http.patch(
            f"/api/monitoring/patients/{pid}/profile",
            json={"consciousness": "A", "on_oxygen": False, "ward": "Ward 7", "bed": "3"},
            headers=nurse,
        )
        assert r.status_code == 200, r.text
        await _send(
            live,
            token,
            vital("8867-4", 70, "/min", ago(seconds=60), "n1"),
            vital("9279-1", 16, "/min", ago(seconds=60), "n2"),
            vital("59408-5", 97, "%", ago(seconds=60), "n3"),
            bp(125, 80, ago(seconds=60), "n4"),
            vital("8310-5", 37.0, "Cel", ago(seconds=60), "n5"),
        )
        assert not await _alarms(live, nurse, pid)
        tile = (await live.http.get("/api/monitoring/overview?ward=Ward 7", headers=nurse)).json()["patients"]
        assert [t["patient_id"] for t in tile] == [pid] and tile[0]["news2"]["total"] == 0
        assert tile[0]["news2"]["missing"] == []

        # RR 25 scores 3 on its own: urgent.
        await _send(live, token, vital("9279-1", 25, "/min", ago(seconds=50), "n6"))
        (alarm,) = await _alarms(live, nurse, pid)
        assert (alarm["key"], alarm["severity"], alarm["news2_score"]) == ("news2", "urgent", 3)
        # Worse: RR 25 (3) + SpO2 91 (3) + pulse 111 (2) = 8: emergency, the same alarm.
        await _send(
            live,
            token,
            vital("59408-5", 91, "%", ago(seconds=40), "n7"),
            vital("8867-4", 111, "/min", ago(seconds=40), "n8"),
        )
        (alarm,) = await _alarms(live, nurse, pid)
        assert (alarm["severity"], alarm["news2_score"]) == ("emergency", 8)

        # Nobody acknowledges: after the escalation time it goes to the doctor.
        async with live.db.sessionmaker() as s:
            early = await service.escalate_due(s, live.settings, utcnow() + timedelta(minutes=2))
            assert uuid.UUID(pid) not in {e.patient_id for e in early}
            events = await service.escalate_due(s, live.settings, utcnow() + timedelta(minutes=6))
            await s.commit()
        assert [e.patient_id for e in events].count(uuid.UUID(pid)) == 1
        (alarm,) = await _alarms(live, nurse, pid)
        assert (alarm["notify_role"], alarm["escalation_level"]) == ("doctor", 1)
        async with live.db.sessionmaker() as s:  # the last role: no further escalation
            later = await service.escalate_due(s, live.settings, utcnow() + timedelta(minutes=30))
            assert uuid.UUID(pid) not in {e.patient_id for e in later}

        # Better again: the NEWS2 alarm stays latched (unacknowledged) but marked inactive;
        # acknowledging it then resolves it.
        await _send(
            live,
            token,
            vital("9279-1", 16, "/min", ago(seconds=20), "n9"),
            vital("59408-5", 97, "%", ago(seconds=20), "n10"),
            vital("8867-4", 70, "/min", ago(seconds=20), "n11"),
        )
        (alarm,) = await _alarms(live, nurse, pid)
        assert alarm["state"] == "raised" and alarm["condition_active"] is False
        r = await live.http.post(f"/api/monitoring/alarms/{alarm['id']}/acknowledge", headers=nurse)
        assert r.json()["state"] == "resolved"
