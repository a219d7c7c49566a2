"""History with downsampling (min/max/mean per bucket, raw or from the per-minute rollups),
retention (raw ECG and readings pruned, rollups kept), the portal's home blood pressure."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from app.broker import Broker
from app.kit.time import utcnow
from app.monitoring import service
from app.monitoring.models import EcgChunk, VitalReading, VitalRollup
from tests.conftest import bearer, login, make_user
from tests.monitoring.helpers import bundle, device_headers, serve, vital


async def test_history_downsamples_hours_to_months(monitoring_database_url: str, broker: Broker):
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse)
        token = (await live.device(nurse, pid))["token"]
        base = (utcnow() - timedelta(hours=2)).replace(second=0, microsecond=0)
        # Two minutes of 1 Hz heart rate: 60..119 then 120..179 (one zero: not counted).
        values = list(range(60, 180))
        resources = [
            vital("8867-4", v, "/min", base + timedelta(seconds=i), f"h{i}") for i, v in enumerate(values)
        ]
        resources.append(vital("8867-4", 0, "/min", base + timedelta(seconds=30, milliseconds=500), "h-zero"))
        for start in range(0, len(resources), 50):
            r = await live.http.post(
                "/fhir", json=bundle(*resources[start : start + 50]), headers=device_headers(token)
            )
            assert r.status_code == 200, r.text

        url = f"/api/monitoring/patients/{pid}/history"
        start, end = base.isoformat(), (base + timedelta(minutes=2)).isoformat()
        # Raw, 30-second buckets.
        r = await live.http.get(
            url, params={"series": "hr", "start": start, "end": end, "bucket": 30}, headers=nurse
        )
        assert r.status_code == 200, r.text
        buckets = r.json()["buckets"]
        assert [(b["min"], b["max"], b["mean"], b["count"]) for b in buckets] == [
            (60, 89, 74.5, 30),
            (90, 119, 104.5, 30),
            (120, 149, 134.5, 30),
            (150, 179, 164.5, 30),
        ]
        # From the rollups: minute buckets, and a month-long range picks a coarse bucket itself.
        r = await live.http.get(
            url, params={"series": "hr", "start": start, "end": end, "bucket": 60}, headers=nurse
        )
        assert [(b["min"], b["max"], b["mean"], b["count"]) for b in r.json()["buckets"]] == [
            (60, 119, 89.5, 60),
            (120, 179, 149.5, 60),
        ]
        month = await live.http.get(
            url,
            params={
                "series": "hr",
                "start": (utcnow() - timedelta(days=30)).isoformat(),
                "end": utcnow().isoformat(),
            },
            headers=nurse,
        )
        body = month.json()
        assert body["bucket_seconds"] == 3600 and sum(b["count"] for b in body["buckets"]) == 120
        assert min(b["min"] for b in body["buckets"]) == 60 and max(b["max"] for b in body["buckets"]) == 179
        bad = await live.http.get(url, params={"series": "hr", "start": end, "end": start}, headers=nurse)
        assert bad.status_code == 400
        reception, _ = await live.staff("receptionist")
        assert (await live.http.get(url, params={"series": "hr"}, headers=reception)).status_code == 403


async def test_retention_prunes_raw_data_and_keeps_rollups(monitoring_database_url: str, broker: Broker):
    async with serve(
        monitoring_database_url, broker, monitoring_ecg_retention_hours=1, monitoring_raw_retention_days=1
    ) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse)
        token = (await live.device(nurse, pid))["token"]
        old = utcnow() - timedelta(days=2)
        ecg = {
            "resourceType": "Observation",
            "status": "final",
            "identifier": [{"value": "ecg-old"}],
            "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.24", "code": "131330"}]},
            "effectiveDateTime": (utcnow() - timedelta(hours=3)).isoformat(),
            "valueSampledData": {
                "origin": {"value": 0, "code": "mV"},
                "period": 2.777778,
                "dimensions": 1,
                "data": "0.1 0.2 0.3",
            },
        }
        fresh_ecg = {**ecg, "identifier": [{"value": "ecg-new"}], "effectiveDateTime": utcnow().isoformat()}
        r = await live.http.post(
            "/fhir",
            json=bundle(
                vital("8867-4", 70, "/min", old, "old-hr"),
                vital("8867-4", 71, "/min", utcnow(), "new-hr"),
                ecg,
                fresh_ecg,
            ),
            headers=device_headers(token),
        )
        assert r.status_code == 200, r.text
        async with live.db.sessionmaker() as s:
            done = await service.prune(s, live.settings)
            await s.commit()
        assert done["readings"] >= 1 and done["ecg"] >= 1
        async with live.db.sessionmaker() as s:
            pid_ = uuid.UUID(pid)
            left = list(
                await s.scalars(select(VitalReading.identifier).where(VitalReading.patient_id == pid_))
            )
            ecg_left = list(await s.scalars(select(EcgChunk.identifier).where(EcgChunk.patient_id == pid_)))
            rollups = await s.scalar(
                select(func.count()).select_from(VitalRollup).where(VitalRollup.patient_id == pid_)
            )
        assert left == ["urn:test:device|new-hr"] and ecg_left == ["ecg-new"] and rollups == 2


async def test_portal_home_blood_pressure(monitoring_database_url: str, broker: Broker):
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse)
        other = await live.patient(nurse, family="Someone")
        username = f"portal-{uuid.uuid4().hex[:6]}"
        await make_user(live.db, role="patient", username=username, patient_id=uuid.UUID(pid))
        me = bearer(await login(live.http, username))
        body = {"systolic": 142, "diastolic": 91, "pulse": 77, "client_id": "cuff-1"}
        r = await live.http.post(f"/api/monitoring/patients/{pid}/blood-pressure", json=body, headers=me)
        assert r.status_code == 201, r.text
        assert r.json()["stored"] == 2 and r.json()["readings"][0]["source"] == "portal"
        again = await live.http.post(f"/api/monitoring/patients/{pid}/blood-pressure", json=body, headers=me)
        assert again.json() == {**again.json(), "stored": 0, "duplicates": 2}
        assert (
            await live.http.post(f"/api/monitoring/patients/{other}/blood-pressure", json=body, headers=me)
        ).status_code == 404
        bad = await live.http.post(
            f"/api/monitoring/patients/{pid}/blood-pressure",
            json={"systolic": 80, "diastolic": 95},
            headers=me,
        )
        assert bad.status_code == 422
        mine = await live.http.get(f"/api/monitoring/patients/{pid}/readings?metric=bp", headers=me)
        assert [(i["value"], i["value2"], i["source"]) for i in mine.json()["items"]] == [(142, 91, "portal")]
        assert (
            await live.http.get(f"/api/monitoring/patients/{other}/readings", headers=me)
        ).status_code == 404
        # The clinician sees it, through FHIR too.
        doctor, _ = await live.staff("doctor")
        found = await live.http.get(f"/fhir/Observation?patient=Patient/{pid}&code=85354-9", headers=doctor)
        assert found.json()["total"] == 1
        # A patient cannot read the wall or alarms.
        assert (await live.http.get("/api/monitoring/overview", headers=me)).status_code == 403


async def test_synthetic_devices_for_load(monitoring_database_url: str, broker: Broker):
    import asyncio
    import json
    import os
    import sys

    from tests.conftest import TEST_SECRET

    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse)
        env = {
            **os.environ,
            "HOSPITAL_SECRET_KEY": TEST_SECRET,
            "HOSPITAL_DATABASE_URL": monitoring_database_url,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "simulate-device",
            "--patient",
            pid,
            "--count",
            "5",
            "--limit",
            "3",
            "--url",
            f"http://{live.host}",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()
        stats = json.loads(out.decode().strip().splitlines()[-1])
        assert stats["stored"] == 5 * 3 * 3 and stats["errors"] == []
        r = await live.http.get(f"/api/monitoring/patients/{pid}/devices", headers=nurse)
        assert len(r.json()) == 5
