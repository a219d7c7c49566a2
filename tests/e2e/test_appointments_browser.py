"""Appointments in a real Chromium against a real server: the demo patient books a video visit from
the free slots in the portal and finds it under My appointments; the receptionist finds that
appointment at the booking desk and moves it to another slot, after which the old slot is free
again (in the API's slot search and in the desk's own slot list).

The demo seed gives the demo doctor weekly clinic hours and a video appointment type, so free
slots exist without any setup here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import DEMO_PASSWORD, LiveServer
from tests.e2e.test_login_browser import sign_in

pytestmark = pytest.mark.browser

SLOT = re.compile(r"^\d\d:\d\d with ")


@contextmanager
def _client(server: LiveServer, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=15) as client:
        answer = client.post("/api/auth/token", data={"username": username, "password": DEMO_PASSWORD})
        answer.raise_for_status()
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield client


def _free_starts(client: httpx.Client, type_id: str, staff_id: str, around: datetime) -> set[datetime]:
    answer = client.get(
        "/api/appointments/slots",
        params={
            "type_id": type_id,
            "staff_id": staff_id,
            "start": (around - timedelta(hours=1)).isoformat(),
            "end": (around + timedelta(hours=1)).isoformat(),
            "limit": 200,
        },
    )
    assert answer.status_code == 200, answer.text
    return {datetime.fromisoformat(s["start"]) for s in answer.json()["items"]}


async def test_patient_books_a_video_visit_and_reception_reschedules_it(
    page: Page, browser: Browser, live_server: LiveServer, screenshot_dir: Path | None
):
    # --- the patient books a video visit online ------------------------------------------------
    await sign_in(page, "patient")
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="My appointments", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("My appointments")
    await page.get_by_role("link", name="Book a visit").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Book a visit")

    await page.get_by_role("radio", name=re.compile("Video visit")).check()
    await expect(page.get_by_text("Video consultation, 15 minutes.")).to_be_visible()
    picker = page.locator(".slot-picker")
    await expect(picker).to_contain_text("Times in Europe/London")
    # Next week's slots: clear of the 24-hour cut-off, so the patient could still change them.
    await picker.get_by_role("button", name="Later ›").click()
    await expect(picker.get_by_role("status")).to_contain_text("free time")
    first = picker.get_by_role("button", name=SLOT).first
    await expect(first).to_be_visible()
    old_label = await first.get_attribute("aria-label")
    assert old_label is not None and "Dr. Grace Okafor" in old_label
    await first.click()
    await expect(page.get_by_role("heading", name="Confirm your visit")).to_be_visible()
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "book-visit.png"), full_page=True)
    await page.get_by_role("button", name="Confirm booking").dblclick()

    await expect(page.get_by_role("heading", level=1)).to_have_text("My appointments")
    await expect(page.get_by_text("Your visit is booked.")).to_be_visible()
    upcoming = page.get_by_role("region", name="Upcoming")
    await expect(upcoming).to_contain_text("Video consultation with Dr. Grace Okafor")
    await expect(upcoming.get_by_text("Video", exact=True)).to_be_visible()
    old_time = old_label.split(" ", 1)[0]
    await expect(upcoming.get_by_role("heading", level=3)).to_contain_text(old_time)
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "my-appointments.png"), full_page=True)

    # Exactly one appointment, booked online, a video visit with a room.
    with _client(live_server, "patient") as patient_api:
        mine = patient_api.get("/api/appointments").json()["items"]
    assert len(mine) == 1, mine
    booked = mine[0]
    assert booked["status"] == "booked" and booked["mode"] == "video" and booked["booked_online"] is True
    assert booked["room_id"]
    old_start = datetime.fromisoformat(booked["start"])

    # --- reception finds it and moves it -------------------------------------------------------
    with _client(live_server, "receptionist") as desk_api:
        mrn = desk_api.get(f"/api/patients/{booked['patient']['id']}").json()["mrn"]
        assert old_start not in _free_starts(desk_api, booked["type"]["id"], booked["staff"]["id"], old_start)

    context = await browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    desk = await context.new_page()
    try:
        await sign_in(desk, "receptionist")
        await desk.get_by_role("navigation", name="Main").get_by_role("link", name="Booking desk").click()
        await expect(desk.get_by_role("heading", level=1)).to_have_text("Booking desk")
        await desk.get_by_label("Find a patient").fill(mrn)
        await desk.get_by_role("button", name=re.compile(f"MRN {mrn}")).click()
        await expect(desk.locator(".desk-patient")).to_contain_text(mrn)

        appointments = desk.get_by_role("region", name="Appointments")
        item = appointments.get_by_role("listitem").filter(has_text="Video consultation")
        await expect(item).to_have_count(1)
        await expect(item).to_contain_text(old_time)
        await expect(item).to_contain_text("Booked online")
        await item.get_by_role("button", name="Reschedule").click()

        # The same clinician's free slots (this week): take one.
        new_slot = item.get_by_role("button", name=SLOT).nth(1)
        await expect(new_slot).to_be_visible()
        new_label = await new_slot.get_attribute("aria-label")
        assert new_label is not None and new_label != old_label
        await new_slot.click()
        await expect(item.get_by_role("heading", name="Move the appointment here?")).to_be_visible()
        if screenshot_dir is not None:
            await desk.screenshot(path=str(screenshot_dir / "desk-reschedule.png"), full_page=True)
        await item.get_by_role("button", name="Confirm new time").click()
        moved_notice = appointments.get_by_text(re.compile(r"^Moved to .* with Dr\. Grace Okafor\.$"))
        await expect(moved_notice).to_be_visible()
        new_time = new_label.split(" ", 1)[0]
        moved = appointments.get_by_role("listitem").filter(has_text="Video consultation")
        await expect(moved).to_contain_text(new_time)

        # The old slot is offered again in the desk's own list of free times.
        await moved.get_by_role("button", name="Reschedule").click()
        await moved.get_by_role("button", name="Later ›").click()
        await expect(moved.get_by_role("button", name=old_label, exact=True)).to_be_visible()
        if screenshot_dir is not None:
            await desk.screenshot(path=str(screenshot_dir / "desk-old-slot-free.png"), full_page=True)
    finally:
        await context.close()

    # --- and the API agrees --------------------------------------------------------------------
    with _client(live_server, "receptionist") as desk_api:
        after = desk_api.get(f"/api/appointments/{booked['id']}").json()
        assert after["status"] == "booked"
        assert after["sequence"] == booked["sequence"] + 1
        new_start = datetime.fromisoformat(after["start"])
        assert new_start != old_start
        assert old_start in _free_starts(desk_api, booked["type"]["id"], booked["staff"]["id"], old_start)
        assert new_start not in _free_starts(desk_api, booked["type"]["id"], after["staff"]["id"], new_start)
        # Still one appointment for the patient: the double click booked once.
        listed = desk_api.get("/api/appointments", params={"patient_id": booked["patient"]["id"]}).json()
        assert listed["total"] == 1


IMPORTED = 210  # practitioners without clinic hours that sort before the demo doctor, as after an import


@pytest.fixture(scope="module")
def crowded_directory(live_server: LiveServer) -> str:
    """Fill the directory with clinical staff without hours; the demo doctor's staff id."""
    with _client(live_server, "admin") as admin:
        for i in range(IMPORTED):
            made = admin.post(
                "/api/staff",
                json={"family": f"Abbott{i:03d}", "given": ["Fanny"], "prefix": ["Dr."], "clinical": True},
            )
            assert made.status_code == 201, made.text
        first = admin.get("/api/staff", params={"clinical": True, "active": True, "limit": 200}).json()
        assert "Dr. Grace Okafor" not in {
            s["display_name"] for s in first["items"]
        }  # what the pickers listed
    with _client(live_server, "doctor") as doctor:
        return str(doctor.get("/api/staff/me").json()["id"])


async def test_reception_reaches_the_bookable_clinician_among_hundreds_of_staff(
    page: Page, live_server: LiveServer, crowded_directory: str, screenshot_dir: Path | None
):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    await sign_in(page, "receptionist")
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Calendar", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Calendar")

    # Reception has no calendar of its own: it opens on a bookable clinician, named in the title.
    clinician = page.get_by_label("Clinician", exact=True)
    await expect(clinician).to_have_value(crowded_directory)
    await expect(page.get_by_text("Dr. Grace Okafor's appointments")).to_be_visible()
    await expect(clinician.locator("option", has_text="Abbott")).to_have_count(0)  # no hours: not listed
    # The search box narrows the list on the server.
    await page.get_by_label("Find a clinician").fill("okaf")
    await expect(clinician.locator("option", has_text="Dr. Grace Okafor")).to_have_count(1)
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "calendar-clinician-picker.png"), full_page=True)

    # The booking desk's "A clinician" lists them too, and their free slots follow.
    with _client(live_server, "patient") as patient_api:
        patient_id = patient_api.get("/api/auth/me").json()["patient_id"]
    with _client(live_server, "receptionist") as desk_api:
        mrn = desk_api.get(f"/api/patients/{patient_id}").json()["mrn"]
    await nav.get_by_role("link", name="Booking desk").click()
    await page.get_by_label("Find a patient").fill(mrn)
    await page.get_by_role("button", name=re.compile(f"MRN {mrn}")).click()
    book = page.get_by_role("region", name="Book an appointment")
    await book.get_by_label("Appointment type").select_option(label="Video consultation (15 min, video)")
    await book.get_by_role("radio", name="A clinician").check()
    await book.get_by_label("Find a clinician").fill("grace")
    desk_clinician = book.get_by_label("Clinician", exact=True)
    await expect(desk_clinician.locator("option", has_text="Dr. Grace Okafor")).to_have_count(1)
    await desk_clinician.select_option(value=crowded_directory)
    await book.get_by_role("button", name="Later ›").click()
    await expect(
        book.get_by_role("button", name=re.compile(r"^\d\d:\d\d with Dr\. Grace Okafor")).first
    ).to_be_visible()

    # No request failed on the way (the Calendar used to log a 404 for reception's missing staff record).
    assert errors == [], errors
