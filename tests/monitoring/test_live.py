"""The device WebSocket (acknowledged, deduplicated across reconnects) and the dashboard
WebSocket (live, replay of what was missed, slow dashboards told and dropped), on the run's
broker: memory under make test, Redis under make test-services."""

from __future__ import annotations

import asyncio
import json
import uuid

from sqlalchemy import func, select

from app.broker import Broker
from app.monitoring.models import VitalReading
from tests.monitoring.helpers import ago, bundle, recv_until, serve, vital


async def _stored(live, pid) -> int:
    async with live.db.sessionmaker() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(VitalReading)
                .where(VitalReading.patient_id == uuid.UUID(pid))
            )
            or 0
        )


async def test_device_socket_resend_after_reconnect_stores_no_duplicates(
    monitoring_database_url: str, broker: Broker
):
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse)
        token = (await live.device(nurse, pid))["token"]
        messages = [vital("8867-4", 60 + i, "/min", ago(seconds=100 - i), f"hr-{i}") for i in range(20)]
        async with live.ws("/ws/devices", token) as ws:
            welcome = json.loads(await ws.recv())
            assert welcome == {"type": "welcome", "device_id": welcome["device_id"], "patient_id": pid}
            for m in messages[:12]:
                await ws.send(json.dumps(m))
            acks = await recv_until(ws, lambda f: f.get("seq") == 12)
            assert [a["type"] for a in acks] == ["ack"] * 12 and all(a["stored"] == 1 for a in acks)
            # The connection drops with 3 more sent but not yet acknowledged.
            for m in messages[12:15]:
                await ws.send(json.dumps(m))
        # Reconnect: resend everything not acknowledged (say, the last 8 it is unsure of), then the rest.
        async with live.ws("/ws/devices", token) as ws:
            await ws.recv()
            for m in messages[4:]:
                await ws.send(json.dumps(m))
            acks = await recv_until(ws, lambda f: f.get("seq") == 16)
            by_ref = {a["ref"]: a for a in acks}
            assert all(by_ref[f"hr-{i}"]["duplicates"] == 1 for i in range(4, 12))
            assert all(by_ref[f"hr-{i}"]["stored"] == 1 for i in range(15, 20))
            # A bad message is answered with an error and the socket stays usable.
            await ws.send("{not json")
            await ws.send(json.dumps(vital("8867-4", 70, "beats", ago(seconds=1), "bad")))
            await ws.send(json.dumps({"type": "ping"}))
            tail = await recv_until(ws, lambda f: f.get("type") == "pong")
            assert [f.get("code") for f in tail] == ["malformed_json", "invalid_observation", None]
        assert await _stored(live, pid) == 20
        async with live.ws("/ws/devices", "hhd_wrong") as ws:
            frame = json.loads(await ws.recv())
            assert frame["code"] == "invalid_token"


async def test_dashboard_gets_live_readings_and_replays_what_it_missed(
    monitoring_database_url: str, broker: Broker
):
    async with serve(monitoring_database_url, broker) as live:
        nurse, access = await live.staff("nurse")
        pid = await live.patient(nurse)
        await live.http.patch(
            f"/api/monitoring/patients/{pid}/profile", json={"ward": f"W-{pid[:6]}"}, headers=nurse
        )
        token = (await live.device(nurse, pid))["token"]
        device = live.ws("/ws/devices", token)
        async with device as dev, live.ws("/ws/monitoring", access) as dash:
            await dev.recv()
            welcome = json.loads(await dash.recv())
            await dash.send(json.dumps({"type": "subscribe", "ward": f"W-{pid[:6]}"}))
            subscribed = await recv_until(dash, lambda f: f["type"] == "replayed")
            assert subscribed[0]["patients"] == [pid] and subscribed[0]["since"] >= welcome["last_id"]
            await dev.send(json.dumps(vital("8867-4", 77, "/min", ago(seconds=3), "live-1")))
            frames = await recv_until(dash, lambda f: f["type"] == "reading")
            reading = frames[-1]
            assert reading["reading"]["value"] == 77 and reading["patient_id"] == pid
            last_id = reading["id"]
        # While the dashboard is away: more readings, an alarm (HR 0: probe off).
        async with live.ws("/ws/devices", token) as dev:
            await dev.recv()
            for i, value in enumerate([78, 79, 0, 80]):
                await dev.send(
                    json.dumps(vital("8867-4", value, "/min", ago(seconds=2 - i * 0.1), f"away-{i}"))
                )
            await recv_until(dev, lambda f: f.get("seq") == 4)
        async with live.ws("/ws/monitoring", access) as dash:
            await dash.recv()
            await dash.send(json.dumps({"type": "subscribe", "patients": [pid], "since": last_id}))
            frames = await recv_until(dash, lambda f: f["type"] == "replayed")
            # The replay reaches a few seconds behind ``since`` (ids are made before their
            # commit): what the dashboard already had comes again, deduplicated by id.
            replayed = [f for f in frames if f["type"] in ("reading", "alarm", "news2") and f["id"] > last_id]
            assert any(f.get("id") == last_id for f in frames)
            values = [f["reading"]["value"] for f in replayed if f["type"] == "reading"]
            assert values == [78, 79, 0, 80]
            alarms = [f["alarm"] for f in replayed if f["type"] == "alarm"]
            assert [(a["key"], a["state"]) for a in alarms] == [
                ("signal_loss:hr", "raised"),
                ("signal_loss:hr", "resolved"),
            ]
            ids = [f["id"] for f in replayed]
            assert ids == sorted(ids) and ids[0] > last_id


async def test_a_slow_dashboard_is_told_and_dropped_without_stalling_ingestion(
    monitoring_database_url: str, broker: Broker, monkeypatch
):
    from app.monitoring import ws as ws_module

    monkeypatch.setattr(ws_module, "DASHBOARD_QUEUE", 5)
    async with serve(monitoring_database_url, broker) as live:
        nurse, access = await live.staff("nurse")
        pid = await live.patient(nurse)
        token = (await live.device(nurse, pid))["token"]
        async with live.ws("/ws/monitoring", access) as dash:
            await dash.recv()
            await dash.send(json.dumps({"type": "subscribe", "patients": [pid]}))
            await recv_until(dash, lambda f: f["type"] == "replayed")
            # Stall the dashboard's relay (as a client that stopped reading would) while a
            # device sends far more than its queue holds.
            original = live.app.state.monitoring  # noqa: F841 - the pipeline keeps running
            gate = asyncio.Event()
            real_send = ws_module._Dashboard.send

            async def stalled(self, frame):
                if frame.get("type") == "reading":
                    await gate.wait()
                await real_send(self, frame)

            monkeypatch.setattr(ws_module._Dashboard, "send", stalled)
            async with live.ws("/ws/devices", token) as dev:
                await dev.recv()
                await dev.send(
                    json.dumps(
                        bundle(
                            *[
                                vital("8867-4", 60 + i % 30, "/min", ago(seconds=60 - i), f"slow-{i}")
                                for i in range(40)
                            ]
                        )
                    )
                )
                ack = json.loads(await dev.recv())
                assert ack["stored"] == 40  # ingestion did not wait for the dashboard
            gate.set()
            frames = await recv_until(dash, lambda f: f["type"] == "overflow")
            assert frames[-1]["last_id"] >= 0
        assert await _stored(live, pid) == 40


async def test_a_resend_in_the_steady_stream_is_caught_by_the_unique_key(
    monitoring_database_url: str, broker: Broker, monkeypatch
):
    """Past a connection's first messages the writer skips the duplicate lookup; a duplicate
    there must still be answered as one, not stored twice, and not fail its batch-mates."""
    from app.monitoring import ws as ws_module

    monkeypatch.setattr(ws_module, "RESEND_WINDOW", 0)  # every message counts as the steady stream
    async with serve(monitoring_database_url, broker) as live:
        nurse, _ = await live.staff("nurse")
        pid = await live.patient(nurse)
        token = (await live.device(nurse, pid))["token"]
        async with live.ws("/ws/devices", token) as ws:
            await ws.recv()
            for i in range(5):
                await ws.send(json.dumps(vital("8867-4", 70 + i, "/min", ago(seconds=10 - i), f"s-{i}")))
            await recv_until(ws, lambda f: f.get("seq") == 5)
            for i in (2, 5, 3, 6):  # two resends among new ones
                await ws.send(json.dumps(vital("8867-4", 70 + i, "/min", ago(seconds=10 - i), f"s-{i}")))
            acks = await recv_until(ws, lambda f: f.get("seq") == 9)
            by_ref = {a["ref"]: (a["stored"], a["duplicates"]) for a in acks if a["seq"] > 5}
            assert by_ref == {"s-2": (0, 1), "s-5": (1, 0), "s-3": (0, 1), "s-6": (1, 0)}
        assert await _stored(live, pid) == 7


async def test_an_event_committed_after_a_later_one_still_reaches_dashboards(
    monitoring_database_url: str, broker: Broker
):
    """A request's alarm change gets its id before it commits; the writer may commit and publish
    a later id meanwhile. Neither the live feed nor a replay may drop the earlier one."""
    from app.monitoring import ids
    from app.monitoring.engine import add_event

    async with serve(monitoring_database_url, broker) as live:
        nurse, access = await live.staff("nurse")
        pid = await live.patient(nurse)
        token = (await live.device(nurse, pid))["token"]
        async with live.ws("/ws/monitoring", access) as dash, live.ws("/ws/devices", token) as dev:
            await dash.recv()
            await dev.recv()
            await dash.send(json.dumps({"type": "subscribe", "patients": [pid]}))
            await recv_until(dash, lambda f: f["type"] == "replayed")
            early = ids.next_id()  # made now, committed below, after the reading
            await dev.send(json.dumps(vital("8867-4", 66, "/min", ago(seconds=1), "late-1")))
            reading = (await recv_until(dash, lambda f: f["type"] == "reading"))[-1]
            assert reading["id"] > early
            async with live.db.sessionmaker() as s:
                event = add_event(
                    s,
                    uuid.UUID(pid),
                    "alarm",
                    {"type": "alarm", "patient_id": pid, "alarm": {"id": "x", "state": "acknowledged"}},
                )
                event.id = early
                await s.commit()
            live.pipeline.publish_events([event])
            frames = await recv_until(dash, lambda f: f.get("id") == early)
            assert frames[-1]["type"] == "alarm"
        # A dashboard that left right after the reading: its replay from the reading's id has it.
        async with live.ws("/ws/monitoring", access) as dash:
            await dash.recv()
            await dash.send(json.dumps({"type": "subscribe", "patients": [pid], "since": reading["id"]}))
            frames = await recv_until(dash, lambda f: f["type"] == "replayed")
            assert early in [f.get("id") for f in frames]
