"""The device simulator behind ``hospital simulate-device``: streams a PhysioNet WFDB record
through the device WebSocket exactly as a bedside monitor would, or N synthetic devices for load.

- ICU numerics (e.g. MIMIC-II ``s00001-...n``: HR, RESP, SpO2, NBP once a minute): one batch
  Bundle per sample time with heart rate, respiratory rate, SpO2 and, when the cuff measured,
  the blood-pressure panel. A 0 is sent as 0 (the monitor's "no sensor"), a NaN on a continuous
  channel as a ``dataAbsentReason``; NaN on NBP means "no cuff measurement this minute" and sends
  nothing. ABP and PULSE are not sent (no vital-signs profile code / a duplicate of HR).
- ECG (e.g. MIT-BIH ``100``): one Observation per second of the first lead as
  ``valueSampledData`` (mV, the record's sampling period).

Times: sample ``k`` is due ``offset_k / speed`` seconds after the start and is stamped with that
moment, so a record plays back "now", in real time at speed 1 or compressed at higher speeds.
Every message has a stable id (record, sample): after a reconnect the simulator resends what was
not acknowledged, and the server's deduplication makes that safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger("app.monitoring.simulator")

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MDC = "urn:oid:2.16.840.1.113883.6.24"
MDC_ECG_LEAD_II = "131330"
VITAL_SIGNS = [
    {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
        ]
    }
]
# Numerics channel -> (LOINC, UCUM unit)
NUMERICS = {"HR": ("8867-4", "/min"), "RESP": ("9279-1", "/min"), "SpO2": ("59408-5", "%")}
WINDOW = 32


@dataclass(frozen=True)
class Message:
    due: float  # seconds after the start
    ref: str
    body: dict[str, Any]


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": round(value, 3), "unit": unit, "system": UCUM, "code": unit}


def _observation(ident: str, code: str, at: datetime, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "urn:hospital-hub:simulator", "value": ident}],
        "category": VITAL_SIGNS,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": at.isoformat(),
        **value,
    }


def numeric_value(value: float, unit: str) -> dict[str, Any]:
    if math.isnan(value):
        return {"dataAbsentReason": {"coding": [{"code": "not-a-number"}]}}
    return {"valueQuantity": _quantity(value, unit)}


def record_messages(
    path: Path, start: datetime, speed: float, *, limit: int | None = None
) -> Iterator[Message]:
    import wfdb

    record = wfdb.rdrecord(str(path))
    names = list(record.sig_name)
    fs = float(record.fs)
    signal = record.p_signal
    name = Path(path).name
    if "HR" in names or "SpO2" in names:
        yield from _numerics(name, names, signal, fs, start, speed, limit)
    else:
        yield from _waveform(name, names, signal, fs, start, speed, limit)


def _numerics(
    name: str, names: list[str], signal: Any, fs: float, start: datetime, speed: float, limit: int | None
) -> Iterator[Message]:
    count = len(signal) if limit is None else min(limit, len(signal))
    col = {n: i for i, n in enumerate(names)}
    for k in range(count):
        offset = k / fs / speed
        at = start + timedelta(seconds=offset)
        row = signal[k]
        entries = []
        for channel, (code, unit) in NUMERICS.items():
            if channel in col:
                value = float(row[col[channel]])
                entries.append(_observation(f"{name}/{k}/{channel}", code, at, **numeric_value(value, unit)))
        if "NBPSys" in col and "NBPDias" in col:
            systolic, diastolic = float(row[col["NBPSys"]]), float(row[col["NBPDias"]])
            if not (math.isnan(systolic) or math.isnan(diastolic)):
                entries.append(_bp(f"{name}/{k}/NBP", at, systolic, diastolic))
        if entries:
            yield Message(offset, f"{name}-{k}", _bundle(f"{name}-{k}", entries))


def _bp(ident: str, at: datetime, systolic: float, diastolic: float) -> dict[str, Any]:
    return _observation(
        ident,
        "85354-9",
        at,
        component=[
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": _quantity(systolic, "mm[Hg]"),
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": _quantity(diastolic, "mm[Hg]"),
            },
        ],
    )


def _bundle(bundle_id: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "batch",
        "entry": [{"resource": e, "request": {"method": "POST", "url": "Observation"}} for e in entries],
    }


def _waveform(
    name: str, names: list[str], signal: Any, fs: float, start: datetime, speed: float, limit: int | None
) -> Iterator[Message]:
    per_chunk = round(fs)
    chunks = len(signal) // per_chunk
    if limit is not None:
        chunks = min(chunks, limit)
    lead = names[0]
    for c in range(chunks):
        offset = c / speed
        at = start + timedelta(seconds=offset)
        samples = signal[c * per_chunk : (c + 1) * per_chunk, 0]
        data = " ".join("E" if math.isnan(x) else f"{x:.3f}" for x in samples)
        ref = f"{name}-{lead}-{c}"
        body = {
            "resourceType": "Observation",
            "id": ref,
            "status": "final",
            "identifier": [{"system": "urn:hospital-hub:simulator", "value": f"{name}/{lead}/{c}"}],
            "category": [{"coding": [{"code": "procedure"}]}],
            "code": {"coding": [{"system": MDC, "code": MDC_ECG_LEAD_II, "display": f"ECG lead {lead}"}]},
            "effectiveDateTime": at.isoformat(),
            "valueSampledData": {
                "origin": {"value": 0, "unit": "mV", "system": UCUM, "code": "mV"},
                "period": round(1000 / fs, 6),
                "factor": 1,
                "dimensions": 1,
                "data": data,
            },
        }
        yield Message(offset, ref, body)


def synthetic_messages(device: int, start: datetime, count: int | None = None) -> Iterator[Message]:
    """One plausible, gently varying set of vitals per second."""
    rng = random.Random(device)  # noqa: S311 - simulated vitals, not security
    base_hr, base_rr, base_spo2 = rng.uniform(60, 95), rng.uniform(12, 18), rng.uniform(95, 99)
    k = 0
    while count is None or k < count:
        at = start + timedelta(seconds=k)
        wobble = math.sin(k / 30)
        entries = [
            _observation(
                f"syn{device}/{k}/HR", "8867-4", at, valueQuantity=_quantity(base_hr + 5 * wobble, "/min")
            ),
            _observation(
                f"syn{device}/{k}/RR", "9279-1", at, valueQuantity=_quantity(base_rr + wobble, "/min")
            ),
            _observation(
                f"syn{device}/{k}/SpO2", "59408-5", at, valueQuantity=_quantity(min(base_spo2, 100), "%")
            ),
        ]
        yield Message(float(k), f"syn{device}-{k}", _bundle(f"syn{device}-{k}", entries))
        k += 1


@dataclass
class Stats:
    sent: int = 0
    acknowledged: int = 0
    stored: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0


async def stream(
    url: str, token: str, messages: Iterator[Message], *, stats: Stats | None = None, max_reconnects: int = 20
) -> Stats:
    """Send ``messages`` on the device WebSocket at their due times, at most ``WINDOW``
    unacknowledged; on a dropped connection reconnect and resend what was not acknowledged."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    stats = stats or Stats()
    pending: OrderedDict[str, str] = OrderedDict()  # ref -> text, not yet acknowledged
    source = iter(messages)
    exhausted = False
    started = time.monotonic()
    endpoint = (
        url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
        + f"/ws/devices?token={token}"
    )
    while True:
        try:
            async with connect(endpoint, open_timeout=20, close_timeout=5, max_size=2**22) as ws:
                welcome = json.loads(await ws.recv())
                if welcome.get("type") != "welcome":
                    stats.errors.append(f"refused: {welcome}")
                    return stats
                in_flight: dict[int, str] = {}
                seq = 0
                for ref, text in pending.items():  # resend the unacknowledged first
                    seq += 1
                    in_flight[seq] = ref
                    await ws.send(text)
                    stats.sent += 1

                async def receive() -> None:
                    while True:
                        frame = json.loads(await ws.recv())
                        ref = in_flight.pop(frame.get("seq", -1), None)  # noqa: B023 - this connection's
                        if frame.get("type") == "ack" and ref is not None:
                            pending.pop(ref, None)
                            stats.acknowledged += 1
                            stats.stored += frame.get("stored", 0)
                            stats.duplicates += frame.get("duplicates", 0)
                        elif frame.get("type") == "error":
                            if ref is not None:
                                pending.pop(ref, None)  # refused as bad input: resending will not help
                            stats.errors.append(f"{frame.get('code')}: {frame.get('message')}")
                            if frame.get("code") in ("invalid_token", "device_revoked"):
                                return

                receiver = asyncio.create_task(receive())
                try:
                    while not exhausted or in_flight:
                        if receiver.done():
                            receiver.result()
                            return stats
                        if exhausted or len(in_flight) >= WINDOW:
                            await asyncio.wait({receiver}, timeout=0.01)
                            continue
                        message = next(source, None)
                        if message is None:
                            exhausted = True
                            continue
                        delay = started + message.due - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        text = json.dumps(message.body, separators=(",", ":"))
                        pending[message.ref] = text
                        seq += 1
                        in_flight[seq] = message.ref
                        await ws.send(text)
                        stats.sent += 1
                    return stats
                finally:
                    receiver.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await receiver
        except (ConnectionClosed, OSError, InvalidStatus, TimeoutError) as exc:
            stats.reconnects += 1
            if stats.reconnects > max_reconnects:
                stats.errors.append(f"gave up after {max_reconnects} reconnects: {exc!r}")
                return stats
            log.warning("simulator: connection lost (%r); reconnecting", exc)
            await asyncio.sleep(min(0.2 * stats.reconnects, 2.0))


def now() -> datetime:
    return datetime.now(UTC)
