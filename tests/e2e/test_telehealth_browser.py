"""Video visits in Debian's Chromium (fake camera and microphone) against a real `hospital serve`:

1. the demo patient joins from the portal (device check, waiting room) while the aiortc bot
   (`python -m media.bot`) joins as the clinician and admits them: both sides decode the
   other's video (the browser's getStats inbound-rtp framesDecoded, the bot's frame count);
2. a guest joins with the clinician's one-time link (the bot admits them); the link then fails in
   a second browser;
3. the patient and the clinician both in browsers: the clinician sees the patient waiting,
   admits them, both see decoded frames, the clinician writes a note on the virtual encounter
   beside the chart and ends the visit, which ends it for the patient too.

A clinician of their own, with clinic hours around the clock and a 5-minute video type, is set
up through the API, so the next free slot starts within minutes: inside the join window.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.e2e.conftest import CHROMIUM_ARGS, DEMO_PASSWORD, LiveServer
from tests.e2e.test_login_browser import sign_in

pytestmark = pytest.mark.browser

WEBRTC_ARGS = [
    *CHROMIUM_ARGS,
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Host candidates as plain loopback addresses (not mDNS names), so aiortc can reach them.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
CALL_TIMEOUT = 60_000


@pytest.fixture(scope="module")
async def webrtc_browser(chromium) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), headless=True, args=WEBRTC_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def _page(browser: Browser, server: LiveServer) -> Page:
    context = await browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(20_000)
    return await context.new_page()


def _token(client: httpx.Client, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    r = client.post("/api/auth/token", data={"username": username, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _video_visit(server: LiveServer) -> tuple[str, str, str]:
    """A clinician of their own, booked with the demo patient into the next 5-minute video slot.
    Returns (clinician username, password, consultation id)."""
    suffix = uuid.uuid4().hex[:6]
    username, password = f"tele-{suffix}", "tele-clinician-pass-1"
    with httpx.Client(base_url=server.url, timeout=20) as c:
        admin, reception = _token(c, "admin"), _token(c, "receptionist")
        r = c.post(
            "/api/users",
            json={
                "username": username,
                "password": password,
                "full_name": f"Dr Tele {suffix}",
                "roles": ["doctor"],
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
        r = c.post(
            "/api/staff",
            json={
                "family": f"Tele{suffix}",
                "given": ["Ada"],
                "prefix": ["Dr."],
                "clinical": True,
                "user_id": r.json()["id"],
                "qualifications": [
                    {
                        "kind": "licence",
                        "code": {"system": "urn:test:licence", "code": "GMC", "display": "Registration"},
                        "number": f"L-{suffix}",
                        "valid_from": "2020-01-01",
                        "valid_to": "2035-12-31",
                    }
                ],
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
        staff_id = r.json()["id"]
        r = c.post(
            "/api/appointments/types",
            json={"code": f"TV5-{suffix}", "name": "Video check-in", "duration_minutes": 5, "mode": "video"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        type_id = r.json()["id"]
        for weekday in range(7):
            r = c.post(
                "/api/appointments/hours",
                json={
                    "staff_id": staff_id,
                    "weekday": weekday,
                    "start_time": "00:00",
                    "end_time": "23:55",
                    "valid_from": "2020-01-01",
                    "type_ids": [],
                },
                headers=reception,
            )
            assert r.status_code == 201, r.text
        patient = c.get("/api/auth/me", headers=_token(c, "patient")).json()["patient_id"]
        r = c.get(
            "/api/appointments/slots",
            params={
                "type_id": type_id,
                "staff_id": staff_id,
                # A minute of margin: a slot starting within seconds could be past by booking time.
                "start": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
                "limit": 6,
            },
            headers=reception,
        )
        # The demo patient may hold an earlier test's slot: take the first one they are free for.
        for slot in r.json()["items"]:
            r = c.post(
                "/api/appointments",
                json={
                    "type_id": type_id,
                    "staff_id": staff_id,
                    "patient_id": patient,
                    "start": slot["start"],
                },
                headers=reception,
            )
            if r.status_code != 409:
                break
        assert r.status_code == 201, r.text
        r = c.get(
            f"/api/telehealth/appointments/{r.json()['id']}/consultation",
            headers=_token(c, username, password),
        )
        assert r.status_code == 200, r.text
        return username, password, r.json()["id"]


async def _decoded(page: Page) -> None:
    """Wait until this page's call has decoded remote video (getStats inbound-rtp framesDecoded)."""
    remote = page.locator("figure.tele-remote").first
    await expect(remote).to_be_visible(timeout=CALL_TIMEOUT)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('figure.tele-remote')]"
        ".some(f => Number(f.dataset.framesDecoded) > 0)",
        timeout=CALL_TIMEOUT,
    )


async def _patient_joins(page: Page, consultation_id: str, *, waits: bool = True) -> None:
    await sign_in(page, "patient")
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Video visits", exact=True).click()
    await page.locator(f"a[href='/my/visits/{consultation_id}']").click()
    await expect(page.get_by_label("Your camera preview")).to_be_visible()
    await page.get_by_role("button", name="Join the visit").click()
    if waits:  # nobody admits them yet (a bot clinician may let them in at once)
        await expect(page.get_by_text("You are in the waiting room")).to_be_visible()


async def test_patient_in_chromium_and_the_aiortc_bot_as_clinician_see_each_other(
    webrtc_browser: Browser, live_server: LiveServer
):
    username, password, consultation_id = _video_visit(live_server)
    page = await _page(webrtc_browser, live_server)
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "media.bot", "--api", live_server.url, "--username", username,
        "--password", password, "--consultation", consultation_id, "--admit", "--seconds", "120",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await _patient_joins(page, consultation_id, waits=False)
        # The bot admits the patient; the patient's browser decodes the bot's test pattern.
        await expect(page.get_by_text("You are in the waiting room")).to_be_hidden(timeout=CALL_TIMEOUT)
        await _decoded(page)
        await expect(page.locator("figure.tele-remote figcaption")).to_contain_text("clinician")
        # Give the bot a moment to decode the browser's fake camera too, then stop it.
        await page.wait_for_timeout(3000)
    finally:
        bot.send_signal(signal.SIGTERM)
        raw_out, raw_err = await asyncio.wait_for(bot.communicate(), 30)
        await page.context.close()
    out, err = raw_out.decode(), raw_err.decode()
    summary = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    assert summary.get("video_frames", 0) > 0, f"bot decoded nothing: {out}\n{err[-2000:]}"
    assert summary.get("audio_frames", 0) > 0


async def test_a_guest_joins_with_a_one_time_link_and_the_link_works_once(
    webrtc_browser: Browser, live_server: LiveServer
):
    username, password, consultation_id = _video_visit(live_server)
    link = _invite(live_server, username, password, consultation_id)
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "media.bot", "--api", live_server.url, "--username", username,
        "--password", password, "--consultation", consultation_id, "--admit", "--seconds", "120",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    guest = await _page(webrtc_browser, live_server)
    other = await _page(webrtc_browser, live_server)
    try:
        # No account: the link alone, then the device check and the waiting room.
        await guest.goto(link)
        await expect(guest.get_by_role("heading", name="Join a video visit as a guest")).to_be_visible()
        await guest.get_by_role("button", name="Join the visit").click()
        await _decoded(guest)  # admitted by the clinician bot
        # The same link in another browser: refused.
        await other.goto(link)
        await other.get_by_role("button", name="Join the visit").click()
        await expect(other.get_by_role("alert")).to_contain_text("already been used")
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.communicate(), 30)
        await guest.context.close()
        await other.context.close()


async def test_two_browsers_waiting_room_admit_notes_and_end(
    webrtc_browser: Browser, live_server: LiveServer
):
    username, password, consultation_id = _video_visit(live_server)
    patient = await _page(webrtc_browser, live_server)
    doctor = await _page(webrtc_browser, live_server)
    try:
        await _patient_joins(patient, consultation_id)

        await sign_in(doctor, username, password)
        nav = doctor.get_by_role("navigation", name="Main")
        await nav.get_by_role("link", name="Telehealth", exact=True).click()
        await doctor.locator(f"a[href='/telehealth/{consultation_id}']").click()
        await expect(doctor.get_by_role("heading", name="Video visit with")).to_be_visible()
        await doctor.get_by_role("button", name="Join the visit").click()
        # The clinician sees who waits and lets them in.
        admit = doctor.get_by_role("button", name="Admit")
        await expect(admit).to_be_visible(timeout=CALL_TIMEOUT)
        await admit.click()
        await expect(patient.get_by_text("You are in the waiting room")).to_be_hidden(timeout=CALL_TIMEOUT)
        await _decoded(patient)
        await _decoded(doctor)

        # Notes during the call, on the virtual encounter, beside the chart.
        chart = doctor.get_by_role("complementary", name="Patient chart")
        await expect(chart).to_be_visible()
        notes = doctor.get_by_role("form", name="Visit notes")
        await notes.get_by_label("Note").fill("Seen by video; advised rest and fluids.")
        await notes.get_by_role("button", name="Save note").click()
        await expect(notes.get_by_text("Seen by video; advised rest and fluids.")).to_be_visible()

        # A prescription from the chart beside the call belongs to the visit's encounter.
        await chart.get_by_role("button", name="Prescribe…").click()
        await chart.get_by_label("Drug", exact=True).fill("Cetirizine Hydrochloride 10 MG Oral Tablet")
        await chart.get_by_label("RxNorm code").fill("1014678")
        await chart.get_by_label("Dose", exact=True).fill("10")
        await chart.get_by_label("Frequency").fill("once daily")
        await chart.get_by_label("Duration", exact=True).fill("5")
        await chart.get_by_role("button", name="Prescribe", exact=True).click()
        await expect(chart.get_by_role("status").filter(has_text="Prescribed")).to_have_text(
            "Prescribed Cetirizine Hydrochloride 10 MG Oral Tablet."
        )

        # Chat both ways.
        await patient.get_by_label("Message").fill("Thank you, doctor")
        await patient.get_by_role("button", name="Send").click()
        await expect(doctor.get_by_role("region", name="Chat")).to_contain_text("Thank you, doctor")

        await doctor.get_by_role("button", name="End visit").click()
        await expect(patient.get_by_text("The visit has ended.")).to_be_visible(timeout=CALL_TIMEOUT)
    finally:
        await patient.context.close()
        await doctor.context.close()

    _check_ended(live_server, username, password, consultation_id)


def _invite(server: LiveServer, username: str, password: str, consultation_id: str) -> str:
    with httpx.Client(base_url=server.url, timeout=20) as c:
        r = c.post(
            f"/api/telehealth/consultations/{consultation_id}/invites",
            json={"display_name": "Ana (interpreter)", "relationship": "interpreter"},
            headers=_token(c, username, password),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["path"])


def _check_ended(server: LiveServer, username: str, password: str, consultation_id: str) -> None:
    with httpx.Client(base_url=server.url, timeout=20) as c:
        headers = _token(c, username, password)
        detail = c.get(f"/api/telehealth/consultations/{consultation_id}", headers=headers).json()
        assert detail["status"] == "ended"
        encounter = c.get(
            f"/api/patients/{detail['patient']['id']}/encounters/{detail['encounter_id']}", headers=headers
        ).json()
        assert encounter["class_code"] == "VR" and encounter["status"] == "finished"
        assert [n["text"] for n in encounter["notes"]] == ["Seen by video; advised rest and fluids."]
        meds = c.get(
            f"/api/patients/{detail['patient']['id']}/medication-requests",
            params={"limit": 200},
            headers=headers,
        ).json()["items"]
        in_call = [m for m in meds if m["encounter_id"] == detail["encounter_id"]]
        assert [m["medication"]["display"] for m in in_call] == ["Cetirizine Hydrochloride 10 MG Oral Tablet"]
