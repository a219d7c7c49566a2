"""The scheduling issue's "done means", end to end through the HTTP API with real logins:

a receptionist builds next week's rota (a rule violation is refused, nothing saved), the doctor's
weekly clinic hours are set, a patient finds a free video slot next week and books it online, the
outbox delivers the patient's confirmation and the clinician's notice (both with an .ics) as
files, the doctor's secret calendar feed shows the visit (no patient named) and the shifts, the
slot has left the free list, the visit has a video room, and a second booking of the same slot
is refused. Runs on SQLite and on MariaDB like every suite (see tests/conftest.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar

from app.config import Settings
from app.db import Database
from app.notifications.dispatcher import dispatch_due
from tests.conftest import bearer, login, make_user
from tests.patients.helpers import assert_error

DEFINITIONS = {"Early": ("07:00", "15:00"), "Late": ("14:30", "22:30"), "Night": ("22:00", "07:30")}
CLINIC_START, CLINIC_END, VIDEO_MINUTES = time(9, 0), time(12, 0), 20
PATIENT_GIVEN, PATIENT_FAMILY = "Imogen", "Whitfield"
PATIENT_EMAIL = "imogen.whitfield@example.org"
DOCTOR_EMAIL = "grace.okafor@hospital.test"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local(day: date, wall: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)


async def user(
    client: httpx.AsyncClient, db: Database, role: str, **extra: Any
) -> tuple[uuid.UUID, dict[str, str]]:
    """A user with the real ``role``, signed in through the token endpoint."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    user_id = await make_user(db, role=role, username=username, **extra)
    return user_id, bearer(await login(client, username))


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def portal_patient(
    client: httpx.AsyncClient, db: Database, desk: dict[str, str], given: str, family: str, email: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """A patient record with an e-mail (registered at the desk) and its own portal login."""
    record = await ok(
        await client.post(
            "/api/patients",
            json={
                "names": [{"use": "official", "family": family, "given": [given]}],
                "gender": "female",
                "birth_date": "1984-02-29",
                "telecoms": [{"system": "email", "value": email}],
            },
            headers=desk,
        ),
        201,
    )
    _, headers = await user(client, db, "patient", patient_id=uuid.UUID(record["id"]))
    return record, headers


def ics_dtstart(raw: bytes) -> list[str]:
    return [line for line in raw.decode().splitlines() if line.startswith("DTSTART")]


def the_event(raw: bytes, uid: str) -> icalendar.Event:
    events = [e for e in icalendar.Calendar.from_ical(raw).walk("VEVENT") if str(e["uid"]) == uid]
    assert len(events) == 1, raw.decode()
    event: icalendar.Event = events[0]
    return event


def read_eml(path: Path) -> EmailMessage:
    email = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(email, EmailMessage)
    return email


def calendar_attachment(email: EmailMessage) -> tuple[str, bytes]:
    parts = list(email.iter_attachments())
    assert [p.get_filename() for p in parts] == ["appointment.ics"]
    part = parts[0]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return part.get_content_type(), payload


async def test_next_week_is_rostered_booked_online_confirmed_and_in_the_clinicians_feed(
    client: httpx.AsyncClient, db: Database, settings: Settings, tmp_path: Path
) -> None:
    tz = ZoneInfo(settings.facility_timezone)
    today = datetime.now(tz).date()
    monday = today + timedelta(days=7 - today.weekday())  # next week: 1 to 7 days ahead
    week = [monday + timedelta(days=i) for i in range(7)]
    wednesday = week[2]  # at least two days ahead: the 24-hour reminder is not due yet

    # --- the people, with their real roles ---------------------------------------------------------
    _, admin = await user(client, db, "admin")
    _, desk = await user(client, db, "receptionist")
    doctor_user, doctor = await user(client, db, "doctor")
    dept = await ok(
        await client.post(
            "/api/staff/departments",
            json={"code": f"OPD{uuid.uuid4().hex[:5]}", "name": "Outpatients"},
            headers=admin,
        ),
        201,
    )
    licence = {
        "kind": "licence",
        "code": {"system": "urn:test:licence", "code": "GMC", "display": "Registration"},
        "number": f"GMC-{uuid.uuid4().hex[:7]}",
        "issuer": "General Medical Council",
        "valid_from": "2015-08-01",
        "valid_to": (today + timedelta(days=3 * 365)).isoformat(),
    }
    await ok(
        await client.post(
            "/api/staff",
            json={
                "family": "Okafor",
                "given": ["Grace"],
                "prefix": ["Dr."],
                "clinical": True,
                "user_id": str(doctor_user),
                "department_id": dept["id"],
                "position": "Consultant physician",
                "telecoms": [{"system": "email", "value": DOCTOR_EMAIL, "use": "work"}],
                "qualifications": [licence],
            },
            headers=admin,
        ),
        201,
    )
    nurse = await ok(
        await client.post(
            "/api/staff",
            json={
                "family": "Nunez",
                "given": ["Mateo"],
                "clinical": True,
                "department_id": dept["id"],
                "position": "Staff nurse",
                "qualifications": [{**licence, "number": f"NMC-{uuid.uuid4().hex[:7]}"}],
            },
            headers=admin,
        ),
        201,
    )
    me = await ok(await client.get("/api/staff/me", headers=doctor))  # the doctor's login is linked
    staff_id = me["id"]
    assert me["display_name"] == "Dr. Grace Okafor"

    # --- the receptionist builds next week's rota ------------------------------------------------------
    existing = {
        d["name"]: d for d in await ok(await client.get("/api/staff/shift-definitions", headers=desk))
    }
    for name, (start, end) in DEFINITIONS.items():
        if name not in existing:
            existing[name] = await ok(
                await client.post(
                    "/api/staff/shift-definitions",
                    json={"name": name, "start_time": start, "end_time": end},
                    headers=desk,
                ),
                201,
            )
    defs = {name: existing[name]["id"] for name in DEFINITIONS}

    def on(who: str, day: date, definition: str) -> dict[str, Any]:
        return {"staff_id": who, "date": day.isoformat(), "definition_id": defs[definition]}

    plan = [on(staff_id, d, "Early") for d in week[:5]] + [
        on(nurse["id"], week[0], "Late"),
        on(nurse["id"], week[1], "Night"),
        on(nurse["id"], week[3], "Late"),
    ]
    broken = [
        *plan,
        on(staff_id, week[0], "Late"),  # 14:30, while the doctor's Early runs to 15:00
        on(nurse["id"], week[2], "Late"),  # 14:30, seven hours after the Night ends at 07:30
    ]
    week_body = {"department_id": dept["id"], "week_start": monday.isoformat()}
    refused = assert_error(
        await client.post("/api/staff/rota/week", json={**week_body, "shifts": broken}, headers=desk),
        409,
        "rota_violations",
    )
    problems = {i["index"]: [v["code"] for v in i["violations"]] for i in refused["details"]["items"]}
    assert problems == {
        0: ["shift_overlap"],
        6: ["insufficient_rest"],
        8: ["shift_overlap"],
        9: ["insufficient_rest"],
    }
    rota_query = {"department_id": dept["id"], "start": week[0].isoformat(), "end": week[-1].isoformat()}
    rota = await ok(await client.get("/api/staff/rota", params=rota_query, headers=desk))
    assert [s for d in rota["days"] for s in d["shifts"]] == []  # all or nothing: nothing saved

    saved = await ok(
        await client.post("/api/staff/rota/week", json={**week_body, "shifts": plan}, headers=desk), 201
    )
    assert len(saved["created"]) == 8 and saved["removed"] == [] and saved["warnings"] == []
    doctor_shifts = sorted(
        (s for s in saved["created"] if s["staff_id"] == staff_id), key=lambda s: s["starts_at"]
    )
    assert [at(s["starts_at"]) for s in doctor_shifts] == [local(d, time(7, 0), tz) for d in week[:5]]
    assert [at(s["ends_at"]) for s in doctor_shifts] == [local(d, time(15, 0), tz) for d in week[:5]]
    rota = await ok(await client.get("/api/staff/rota", params=rota_query, headers=doctor))
    rostered = {
        d["date"]: sorted((s["staff_name"], s["definition_name"]) for s in d["shifts"]) for d in rota["days"]
    }
    assert rostered[week[0].isoformat()] == [("Dr. Grace Okafor", "Early"), ("Mateo Nunez", "Late")]
    assert rostered[week[2].isoformat()] == [("Dr. Grace Okafor", "Early")]
    assert rostered[week[5].isoformat()] == []

    # --- a video visit type and the doctor's weekly clinic hours ----------------------------------------
    video = await ok(
        await client.post(
            "/api/appointments/types",
            json={
                "code": f"VID-{uuid.uuid4().hex[:6]}",
                "name": "Video consultation",
                "duration_minutes": VIDEO_MINUTES,
                "mode": "video",
            },
            headers=admin,
        ),
        201,
    )
    for weekday in range(5):
        await ok(
            await client.post(
                "/api/appointments/hours",
                json={
                    "staff_id": staff_id,
                    "weekday": weekday,
                    "start_time": CLINIC_START.isoformat("minutes"),
                    "end_time": CLINIC_END.isoformat("minutes"),
                    "valid_from": today.isoformat(),
                    "type_ids": [video["id"]],
                },
                headers=desk,
            ),
            201,
        )

    # --- the patient finds a free video slot next week and books it online -------------------------------
    patient, portal = await portal_patient(client, db, desk, PATIENT_GIVEN, PATIENT_FAMILY, PATIENT_EMAIL)
    search = {
        "type_id": video["id"],
        "department_id": dept["id"],
        "start": iso(local(week[0], time(0), tz)),
        "end": iso(local(week[-1] + timedelta(days=1), time(0), tz)),
        "limit": 200,
    }
    free = await ok(await client.get("/api/appointments/slots", params=search, headers=portal))
    per_day = (CLINIC_END.hour * 60 - CLINIC_START.hour * 60) // VIDEO_MINUTES
    expected = [
        local(d, time(CLINIC_START.hour + m // 60, m % 60), tz)
        for d in week[:5]
        for m in range(0, per_day * VIDEO_MINUTES, VIDEO_MINUTES)
    ]
    assert [at(x["start"]) for x in free["items"]] == expected and free["next_cursor"] is None
    assert {(x["staff_id"], x["staff_name"], x["mode"]) for x in free["items"]} == {
        (staff_id, "Dr. Grace Okafor", "video")
    }
    wanted = local(wednesday, time(10, 0), tz)
    (slot,) = [x for x in free["items"] if at(x["start"]) == wanted]
    assert slot["local_start"] == datetime.combine(wednesday, time(10, 0), tzinfo=tz).isoformat()
    assert at(slot["end"]) == wanted + timedelta(minutes=VIDEO_MINUTES)

    booking = {
        "type_id": video["id"],
        "staff_id": staff_id,
        "start": slot["start"],
        "reason": "Blood pressure review",
    }
    visit = await ok(await client.post("/api/appointments", json=booking, headers=portal), 201)
    assert visit["status"] == "booked" and visit["booked_online"] is True and visit["mode"] == "video"
    assert visit["patient"]["id"] == patient["id"] and visit["staff"]["id"] == staff_id
    assert at(visit["start"]) == wanted and at(visit["end"]) == wanted + timedelta(minutes=VIDEO_MINUTES)
    uid = f"appointment-{visit['id']}@hospital-hub"
    utc_stamp = f"DTSTART:{wanted:%Y%m%dT%H%M%S}Z"

    # --- the outbox delivers both confirmations, each with an .ics, as .eml files ---------------------------
    outbox = tmp_path / "outbox"
    delivery = settings.model_copy(update={"notifications_adapter": "file", "notifications_dir": outbox})
    result = await dispatch_due(db, delivery)
    assert (result.sent, result.retrying, result.failed) == (2, 0, 0)  # the reminder waits
    files = {}
    for path in sorted(outbox.glob("*.eml")):
        files[read_eml(path)["To"].addresses[0].addr_spec] = path
    assert set(files) == {PATIENT_EMAIL, DOCTOR_EMAIL} and len(list(outbox.iterdir())) == 2

    to_patient = read_eml(files[PATIENT_EMAIL])
    assert str(to_patient["Subject"]).strip().startswith("Appointment confirmed:")
    content_type, raw = calendar_attachment(to_patient)
    assert content_type == "text/calendar"
    cal = icalendar.Calendar.from_ical(raw)
    assert str(cal["method"]) == "REQUEST"
    event = the_event(raw, uid)
    assert event.decoded("dtstart") == wanted and event.decoded("dtstart").utcoffset() == timedelta(0)
    assert event.decoded("dtend") == wanted + timedelta(minutes=VIDEO_MINUTES)
    assert ics_dtstart(raw) == [utc_stamp]
    assert str(event["summary"]) == "Video consultation with Dr. Grace Okafor"

    to_doctor = read_eml(files[DOCTOR_EMAIL])
    assert str(to_doctor["Subject"]).strip().startswith("Online booking: Video consultation")
    content_type, raw = calendar_attachment(to_doctor)
    assert content_type == "text/calendar"
    assert str(icalendar.Calendar.from_ical(raw)["method"]) == "REQUEST"
    event = the_event(raw, uid)  # the same UID as the patient's: one event in any calendar
    assert event.decoded("dtstart") == wanted and ics_dtstart(raw) == [utc_stamp]
    assert str(event["summary"]) == "Patient visit: Video consultation"
    body = to_doctor.get_body(("plain",))
    assert body is not None and "A patient booked a Video consultation appointment" in body.get_content()
    # No patient named: not in the raw message, its decoded text, or its calendar.
    doctor_text = files[DOCTOR_EMAIL].read_text() + body.get_content() + raw.decode()
    for secret in (PATIENT_GIVEN, PATIENT_FAMILY, PATIENT_EMAIL, patient["id"], patient["mrn"]):
        assert secret not in doctor_text

    # --- the doctor's own calendar feed: the visit (no patient named) and the rota shifts ----------------
    created = await ok(await client.post(f"/api/staff/{staff_id}/calendar-feed", headers=doctor), 201)
    assert created["url"].endswith(created["path"]) and created["token"] in created["path"]
    feed = await client.get(created["path"])  # no Authorization: the secret URL is the credential
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"].startswith("text/calendar")
    feed_events = {str(e["uid"]): e for e in icalendar.Calendar.from_ical(feed.content).walk("VEVENT")}
    seen = feed_events[uid]
    assert seen.decoded("dtstart") == wanted and str(seen["summary"]) == "Video consultation"
    assert str(seen["status"]) == "CONFIRMED"
    for shift in doctor_shifts:
        rostered_event = feed_events[f"shift-{shift['id']}@hospital-hub"]
        assert rostered_event.decoded("dtstart") == at(shift["starts_at"])
        assert str(rostered_event["summary"]) == "Early shift · Outpatients"
    nurse_shift_ids = {s["id"] for s in saved["created"] if s["staff_id"] == nurse["id"]}
    assert not any(
        u.removeprefix("shift-").removesuffix("@hospital-hub") in nurse_shift_ids for u in feed_events
    )
    for secret in (PATIENT_GIVEN, PATIENT_FAMILY, PATIENT_EMAIL, patient["id"], patient["mrn"]):
        assert secret not in feed.text

    # --- the slot has left the free list; the visit has its video room ------------------------------------
    after = await ok(await client.get("/api/appointments/slots", params=search, headers=portal))
    assert [at(x["start"]) for x in after["items"]] == [t for t in expected if t != wanted]
    mine = await ok(await client.get(f"/api/appointments/{visit['id']}", headers=portal))
    assert mine["room_id"] == visit["room_id"] and len(mine["room_id"]) >= 32
    assert patient["id"] not in mine["room_id"] and patient["mrn"] not in mine["room_id"]

    # --- nobody gets the same slot twice ----------------------------------------------------------------
    _, other = await portal_patient(client, db, desk, "Oona", "Second", "oona.second@example.org")
    assert_error(
        await client.post("/api/appointments", json={**booking, "reason": None}, headers=other),
        409,
        "slot_taken",
    )
    day_list = await ok(
        await client.get(
            "/api/appointments",
            params={"staff_id": staff_id, "start": iso(wanted), "end": iso(wanted + timedelta(minutes=1))},
            headers=doctor,
        )
    )
    assert [(x["id"], x["patient"]["id"]) for x in day_list["items"]] == [(visit["id"], patient["id"])]
    still = await ok(await client.get("/api/appointments/slots", params=search, headers=other))
    assert wanted not in [at(x["start"]) for x in still["items"]]
