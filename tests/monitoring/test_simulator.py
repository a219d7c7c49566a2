"""`hospital simulate-device` streams the real PhysioNet records end to end (a separate process,
the device WebSocket, the pipeline): the MIMIC-II numerics produce the observations the record
holds, and its zero/NaN stretches raise technical alarms only; the MIT-BIH ECG arrives as
sampled-data chunks."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import wfdb
from sqlalchemy import func, select

from app.broker import Broker
from app.monitoring import news2
from app.monitoring.models import Alarm, EcgChunk, MonitoringEvent, VitalReading
from tests.conftest import TEST_SECRET
from tests.monitoring.helpers import serve

NUMERICS = "s00001-2896-10-10-00-31n"


async def _simulate(live, database_url: str, *args: str) -> dict:
    env = {**os.environ, "HOSPITAL_SECRET_KEY": TEST_SECRET, "HOSPITAL_DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "simulate-device",
        "--url",
        f"http://{live.host}",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode == 0, (out.decode(), err.decode())
    return json.loads(out.decode().strip().splitlines()[-1])


def _runs_of_zero(values) -> int:
    runs, inside = 0, False
    for x in values:
        if x == 0 and not inside:
            runs += 1
        inside = x == 0
    return runs


async def test_mimic_numerics_end_to_end(monitoring_database_url: str, broker: Broker, sample_data: Path):
    path = sample_data / "physionet" / NUMERICS
    record = wfdb.rdrecord(str(path))
    col = {n: i for i, n in enumerate(record.sig_name)}
    signal = record.p_signal
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse, family="Mimic")
        token = (await live.device(nurse, pid, label="MIMIC bedside"))["token"]
        stats = await _simulate(
            live,
            monitoring_database_url,
            "--record",
            str(path),
            "--patient",
            pid,
            "--token",
            token,
            "--speed",
            "1000000",
        )
        assert stats["errors"] == [] and stats["acknowledged"] == stats["sent"] == len(signal)

        async with live.db.sessionmaker() as s:
            rows = list(
                await s.execute(
                    select(
                        VitalReading.metric,
                        VitalReading.quality,
                        VitalReading.value,
                        VitalReading.value2,
                        VitalReading.identifier,
                    ).where(VitalReading.patient_id == uuid.UUID(pid))
                )
            )
            alarms = list(await s.scalars(select(Alarm).where(Alarm.patient_id == uuid.UUID(pid))))
            news2_events = [
                json.loads(e.payload)["news2"]
                for e in await s.scalars(
                    select(MonitoringEvent).where(
                        MonitoringEvent.patient_id == uuid.UUID(pid), MonitoringEvent.kind == "news2"
                    )
                )
            ]

        # Every sample of HR, RESP and SpO2 is one observation; NBP only where the cuff measured.
        for metric, channel in (("hr", "HR"), ("rr", "RESP"), ("spo2", "SpO2")):
            values = signal[:, col[channel]]
            mine = [r for r in rows if r.metric == metric]
            assert len(mine) == len(values)
            zeros = sum(1 for x in values if x == 0)
            nans = sum(1 for x in values if math.isnan(x))
            lost = [r for r in mine if r.quality == "signal_loss"]
            assert len(lost) == zeros + nans and zeros > 0
            valid = sorted(float(r.value) for r in mine if r.quality == "valid")
            expected = sorted(round(float(x), 3) for x in values if x != 0 and not math.isnan(x))
            assert valid == expected
            # One technical alarm per stretch of zeros, raised and resolved by the data.
            mine_alarms = [a for a in alarms if a.key == f"signal_loss:{metric}"]
            assert len(mine_alarms) == _runs_of_zero(values)
            assert all(a.kind == "technical" and a.severity == "technical" for a in mine_alarms)
        nbp = [r for r in rows if r.metric == "bp"]
        measured = [
            (s_, d)
            for s_, d in zip(signal[:, col["NBPSys"]], signal[:, col["NBPDias"]], strict=True)
            if not math.isnan(s_)
        ]
        assert len(nbp) == len(measured) and all(r.quality == "valid" for r in nbp)
        assert sorted((float(r.value), float(r.value2)) for r in nbp) == sorted(
            (float(a), float(b)) for a, b in measured
        )
        assert not any(r.metric == "bp" and r.quality != "valid" for r in rows)  # NBP NaN: nothing sent

        # Zeros never reach NEWS2: every scored pulse/SpO2/RR points value is one a valid reading gives.
        def allowed(channel, scorer):
            return {
                scorer(Decimal(str(round(float(x), 3))))
                for x in signal[:, col[channel]]
                if x != 0 and not math.isnan(x)
            }

        pulse_ok, rr_ok, spo2_ok = (
            allowed("HR", news2.pulse),
            allowed("RESP", news2.respiration_rate),
            allowed("SpO2", news2.spo2_scale1),
        )
        assert news2_events
        for event in news2_events:
            p = event["parameters"]
            assert p.get("pulse", 0) in pulse_ok | {0} and p.get("respiration_rate", 0) in rr_ok | {0}
            assert p.get("spo2", 0) in spo2_ok | {0}
        # Clinical alarms there may be (this patient breathes fast at times), never from a zero.
        for alarm in alarms:
            if alarm.kind == "clinical":
                assert alarm.key == "news2" and alarm.value != "0"

        # The simulator again (a restarted device resending everything): nothing is doubled.
        again = await _simulate(
            live,
            monitoring_database_url,
            "--record",
            str(path),
            "--patient",
            pid,
            "--token",
            token,
            "--speed",
            "1000000",
            "--limit",
            "50",
        )
        assert again["stored"] == 0 and again["duplicates"] > 0
        async with live.db.sessionmaker() as s:
            total = await s.scalar(
                select(func.count())
                .select_from(VitalReading)
                .where(VitalReading.patient_id == uuid.UUID(pid))
            )
        assert total == len(rows)


async def test_mit_bih_ecg_streams_as_sampled_data(
    monitoring_database_url: str, broker: Broker, sample_data: Path
):
    path = sample_data / "physionet" / "100"
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse, family="Ecg")
        # No --token: the command registers a device on the server's database itself.
        stats = await _simulate(
            live,
            monitoring_database_url,
            "--record",
            str(path),
            "--patient",
            pid,
            "--speed",
            "1000",
            "--limit",
            "10",
        )
        assert stats["errors"] == [] and stats["stored"] == 10
        doctor, _ = await live.staff("doctor")
        r = await live.http.get(f"/api/monitoring/patients/{pid}/ecg?seconds=600", headers=doctor)
        segments = r.json()["segments"]
        assert len(segments) == 10
        record = wfdb.rdrecord(str(path), sampto=360)
        first = [float(x) for x in segments[0]["data"].split()]
        assert first == [round(float(x), 3) for x in record.p_signal[:, 0]]
        assert abs(segments[0]["period_ms"] - 1000 / 360) < 1e-5
        async with live.db.sessionmaker() as s:
            assert (
                await s.scalar(
                    select(func.count()).select_from(EcgChunk).where(EcgChunk.patient_id == uuid.UUID(pid))
                )
                == 10
            )
