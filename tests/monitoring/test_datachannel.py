"""The data-channel way in: a real aiortc client peer over loopback sends the same messages as
the device WebSocket on a 'vitals' channel; they are stored once and acknowledged in order."""

from __future__ import annotations

import asyncio
import json
import uuid

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from sqlalchemy import func, select

from app.broker import Broker
from app.monitoring.models import VitalReading
from tests.monitoring.helpers import ago, bundle, device_headers, serve, vital


@pytest.fixture
def loopback_only(monkeypatch):
    """Both peers gather loopback candidates only: the test's traffic never leaves 127.0.0.1."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


async def test_vitals_over_a_webrtc_data_channel(monitoring_database_url: str, broker: Broker, loopback_only):
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse)
        token = (await live.device(nurse, pid))["token"]
        pc = RTCPeerConnection()
        channel = pc.createDataChannel("vitals")
        answers: asyncio.Queue[dict] = asyncio.Queue()
        opened = asyncio.Event()
        channel.on("open", opened.set)
        channel.on("message", lambda m: answers.put_nowait(json.loads(m)))
        try:
            await pc.setLocalDescription(await pc.createOffer())
            r = await live.http.post(
                "/api/monitoring/devices/webrtc/offer",
                json={"sdp": pc.localDescription.sdp, "type": "offer"},
                headers=device_headers(token),
            )
            assert r.status_code == 200, r.text
            await pc.setRemoteDescription(RTCSessionDescription(**r.json()))
            await asyncio.wait_for(opened.wait(), 30)
            first = {
                **bundle(
                    vital("8867-4", 66, "/min", ago(seconds=3), "dc-1"),
                    vital("59408-5", 98, "%", ago(seconds=3), "dc-2"),
                ),
                "id": "m1",
            }
            channel.send(json.dumps(first))
            channel.send(json.dumps({**first, "id": "m2"}))  # the same readings again
            channel.send("{oops")
            got = [await asyncio.wait_for(answers.get(), 30) for _ in range(3)]
            assert [(g["type"], g.get("ref"), g.get("stored"), g.get("duplicates")) for g in got[:2]] == [
                ("ack", "m1", 2, 0),
                ("ack", "m2", 0, 2),
            ]
            assert got[2]["code"] == "malformed_json"
        finally:
            await pc.close()
        async with live.db.sessionmaker() as s:
            assert (
                await s.scalar(
                    select(func.count())
                    .select_from(VitalReading)
                    .where(VitalReading.patient_id == uuid.UUID(pid))
                )
                == 2
            )
        # Without a device token there is no offer.
        nurse_token = nurse["Authorization"]
        r = await live.http.post(
            "/api/monitoring/devices/webrtc/offer",
            json={"sdp": "v=0 xxxxxxxxxx", "type": "offer"},
            headers={"Authorization": nurse_token},
        )
        assert r.status_code == 401
