"""Devices, tokens and the ingestion pipeline over FHIR REST: what a device may and may not do,
what gets stored, duplicates, batched writes, audit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.broker import Broker
from app.monitoring.models import MonitoringDevice, VitalReading
from tests.monitoring.helpers import ago, bp, bundle, device_headers, serve, vital


async def _count(live: Any, patient_id: str) -> int:
    import uuid

    async with live.db.sessionmaker() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(VitalReading)
                .where(VitalReading.patient_id == uuid.UUID(patient_id))
            )
            or 0
        )


async def test_device_writes_observations_and_bundles_for_its_patient(
    monitoring_database_url: str, broker: Broker
):
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse)
        device = await live.device(nurse, pid)
        assert device["token"].startswith("hhd_") and device["patient_id"] == pid
        headers = device_headers(device["token"])

        r = await live.http.post(
            "/fhir/Observation", json=vital("8867-4", 72, "/min", ago(seconds=5), "hr-1"), headers=headers
        )
        assert r.status_code == 201, r.text
        assert r.headers["location"].endswith(r.json()["id"]) and r.json()["id"].startswith("mon-")

        # The same identifier again: acknowledged as a duplicate, not stored twice.
        again = await live.http.post(
            "/fhir/Observation", json=vital("8867-4", 72, "/min", ago(seconds=5), "hr-1"), headers=headers
        )
        assert again.status_code == 200, again.text
        assert again.json()["id"] == r.json()["id"]

        batch = bundle(
            vital("9279-1", 16, "/min", ago(seconds=4), "rr-1"),
            vital("59408-5", 97, "%", ago(seconds=4), "spo2-1"),
            bp(128, 82, ago(seconds=4), "bp-1"),
            vital("8310-5", 37.2, "Cel", ago(seconds=4), "t-1"),
            vital("8867-4", 72, "/min", ago(seconds=5), "hr-1"),  # a resend inside a bundle
        )
        r = await live.http.post("/fhir", json=batch, headers=headers)
        assert r.status_code == 200, r.text
        statuses = [e["response"]["status"] for e in r.json()["entry"]]
        assert statuses == ["201 Created"] * 4 + ["200 OK"]
        assert await _count(live, pid) == 5

        # What a clinician reads back through FHIR: the device's readings, BP as a panel.
        doctor, _ = await live.staff("doctor")
        found = await live.http.get(f"/fhir/Observation?patient=Patient/{pid}&code=85354-9", headers=doctor)
        assert found.status_code == 200, found.text
        entries = [e["resource"] for e in found.json().get("entry", [])]
        assert len(entries) == 1 and found.json()["total"] == 1
        components = {
            c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in entries[0]["component"]
        }
        assert components == {"8480-6": 128, "8462-4": 82}
        assert entries[0]["device"]["reference"] == f"Device/{device['id']}"
        one = await live.http.get(f"/fhir/Observation/{entries[0]['id']}", headers=doctor)
        assert one.status_code == 200 and one.json()["id"] == entries[0]["id"]
        dev = await live.http.get(f"/fhir/Device/{device['id']}", headers=doctor)
        assert dev.status_code == 200 and dev.json()["patient"]["reference"] == f"Patient/{pid}"
        listed = await live.http.get(f"/fhir/Device?patient=Patient/{pid}", headers=doctor)
        assert listed.json()["total"] == 1

        # Audited: the device's writes (one entry per batch and patient), the clinician's reads.
        async with live.db.sessionmaker() as s:
            import uuid

            writes = list(
                await s.scalars(
                    select(AuditEvent).where(
                        AuditEvent.patient_id == uuid.UUID(pid),
                        AuditEvent.action == "monitoring.readings_write",
                    )
                )
            )
            reads = list(
                await s.scalars(
                    select(AuditEvent).where(
                        AuditEvent.patient_id == uuid.UUID(pid),
                        AuditEvent.action == "monitoring.readings_read",
                    )
                )
            )
        # A device's stream is audited once per window (the first write), not per message.
        assert len(writes) == 1
        first = __import__("json").loads(writes[0].details)
        assert first == {
            "source": f"device:{device['id']}",
            "stored": 1,
            "duplicates": 0,
            "window_seconds": 60.0,
        }
        assert writes[0].actor_username == "device:Bedside monitor"
        assert reads


async def test_device_token_writes_only_for_its_patient_and_reads_nothing(
    monitoring_database_url: str, broker: Broker
):
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        mine = await live.patient(nurse)
        other = await live.patient(nurse, family="Other")
        device = await live.device(nurse, mine)
        headers = device_headers(device["token"])

        wrong = vital("8867-4", 80, "/min", ago(seconds=2), "x-1", patient_id=other)
        r = await live.http.post("/fhir/Observation", json=wrong, headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["resourceType"] == "OperationOutcome"
        r = await live.http.post(
            "/fhir", json=bundle(vital("8867-4", 80, "/min", ago(seconds=2), "x-2"), wrong), headers=headers
        )
        assert r.status_code == 400  # the whole message is refused, nothing half-stored
        assert await _count(live, other) == 0 and await _count(live, mine) == 0

        for method, path in [
            ("GET", f"/fhir/Observation?patient=Patient/{mine}"),
            ("GET", f"/fhir/Patient/{mine}"),
            ("GET", f"/api/patients/{mine}"),
            ("GET", f"/api/monitoring/patients/{mine}/history?series=hr"),
            ("GET", "/api/monitoring/overview"),
            ("POST", "/fhir/Condition"),
            ("POST", f"/api/monitoring/patients/{mine}/devices"),
        ]:
            r = await live.http.request(method, path, headers=headers, json={})
            assert r.status_code == 401, (method, path, r.status_code, r.text)

        # Revoked: nothing more is written.
        doctor, _ = await live.staff("doctor")
        r = await live.http.post(f"/api/monitoring/devices/{device['id']}/revoke", headers=doctor)
        assert r.status_code == 200 and r.json()["revoked_at"]
        r = await live.http.post(
            "/fhir/Observation", json=vital("8867-4", 80, "/min", ago(seconds=1), "y"), headers=headers
        )
        assert r.status_code == 401
        assert await _count(live, mine) == 0


async def test_bad_device_input_is_a_clear_4xx(monitoring_database_url: str, broker: Broker):
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse)
        headers = device_headers((await live.device(nurse, pid))["token"])
        cases = [
            vital("8867-4", 72, "beats", ago(seconds=1)),  # not UCUM /min
            vital("1234-5", 72, "/min", ago(seconds=1)),  # not a vital sign we monitor
            {**vital("8867-4", 72, "/min", ago(seconds=1)), "effectiveDateTime": "yesterday"},
            vital("8867-4", 72, "/min", ago(seconds=-3600)),  # an hour in the future
            {
                **vital("8867-4", 72, "/min", ago(seconds=1)),
                "valueQuantity": {"value": "NaN", "code": "/min"},
            },
        ]
        for body in cases:
            r = await live.http.post("/fhir/Observation", json=body, headers=headers)
            assert r.status_code == 400, (body, r.text)
            assert r.json()["resourceType"] == "OperationOutcome"
        r = await live.http.post("/fhir/Observation", content=b"{", headers=headers)
        assert r.status_code == 400
        r = await live.http.post(
            "/fhir/Observation",
            json=vital("8867-4", 72, "/min", ago(seconds=1)),
            headers=device_headers("hhd_not-a-real-token"),
        )
        assert r.status_code == 401
        assert await _count(live, pid) == 0
        async with live.db.sessionmaker() as s:
            assert await s.scalar(select(func.count()).select_from(MonitoringDevice)) >= 1
