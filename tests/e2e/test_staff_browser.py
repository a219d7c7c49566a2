"""Staff screens in a real Chromium against a live server seeded with the demo: a receptionist
builds next week's rota with the form and meets the overlap rule, and the directory opens a
staff record.

The demo seed gives General Medicine two clinicians (Dr. Grace Okafor, Mateo Núñez) and the
Early (07:00-15:00), Late (14:30-22:30) and Night shift definitions; Early and Late overlap.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import DEMO_PASSWORD, LiveServer
from tests.e2e.test_login_browser import sign_in

pytestmark = pytest.mark.browser

FACILITY_TZ = ZoneInfo("Europe/London")  # the default facility_timezone the server runs with


def _next_week_wednesday() -> date:
    today = datetime.now(FACILITY_TZ).date()
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(days=7 + 2)


def _shifts_of(server: LiveServer, name: str, day: date) -> list[dict[str, object]]:
    """What the API holds for that person and day, as the receptionist sees it."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        token = client.post("/api/auth/token", data={"username": "receptionist", "password": DEMO_PASSWORD})
        token.raise_for_status()
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        departments = client.get("/api/staff/departments").json()
        gen = next(d["id"] for d in departments if d["code"] == "GEN")
        rota = client.get(
            "/api/staff/rota", params={"department_id": gen, "start": day.isoformat(), "end": day.isoformat()}
        )
        rota.raise_for_status()
        shifts: list[dict[str, object]] = rota.json()["days"][0]["shifts"]
        return [s for s in shifts if s["staff_name"] == name]


async def test_receptionist_assigns_next_weeks_shift_by_form_and_sees_the_overlap_refused(
    page: Page, live_server: LiveServer, screenshot_dir: Path | None
):
    day = _next_week_wednesday()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    await sign_in(page, "receptionist")
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Staff", exact=True).click()
    await nav.get_by_role("link", name="Rota", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Rota")

    await page.get_by_label("Department").select_option(label="General Medicine")
    await page.get_by_role("button", name="Next week ›").click()
    grid = page.get_by_role("table", name=re.compile(r"^Rota of General Medicine"))
    await expect(grid).to_be_visible()
    await expect(grid.get_by_role("columnheader").nth(3)).to_contain_text(f"Wed {day.day} ")
    await expect(page.get_by_text("Times in Europe/London")).to_be_visible()

    form = page.get_by_role("region", name="Assign a shift")
    await form.get_by_label("Staff member").select_option(label="Mateo Núñez — Staff nurse")
    await form.get_by_label("Day").select_option(value=day.isoformat())
    await form.get_by_label("Shift").select_option(label="Early (07:00–15:00)")
    await form.get_by_role("button", name="Assign shift").click()

    await expect(page.get_by_role("status").filter(has_text="Added: Early for Mateo Núñez")).to_be_visible()
    cell = page.locator(f"td[data-day='{day.isoformat()}']").filter(
        has=page.get_by_role("button", name=re.compile(r"^Early 07:00–15:00, Mateo Núñez"))
    )
    await expect(cell).to_have_count(1)
    await expect(cell).to_contain_text("Early")
    await expect(grid.get_by_role("rowheader", name=re.compile("Mateo Núñez"))).to_contain_text("8 h")

    # Late starts at 14:30, before Early ends: the rules refuse it and the screen says why (the
    # screen asks the API's check first, so no refused request shows up in the console).
    await form.get_by_label("Shift").select_option(label="Late (14:30–22:30)")
    await form.get_by_role("button", name="Assign shift").click()
    alert = form.get_by_role("alert")
    await expect(alert).to_contain_text("the rota rules refuse this shift")
    await expect(alert).to_contain_text("Overlapping shift")
    await expect(alert).to_contain_text("Mateo Núñez already works a shift at that time")
    await expect(alert).to_contain_text(re.compile(r"Early: Wed \d+ \w+ 07:00–15:00"))
    await expect(cell).to_have_class(re.compile(r"\brota-cell-bad\b"))
    await expect(cell).to_contain_text("Not saved: Overlapping shift")
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "rota-overlap.png"), full_page=True)

    # Nothing was written by the refused request; the grid still holds just the one shift.
    await expect(cell.locator(".rota-shift")).to_have_count(1)
    held = _shifts_of(live_server, "Mateo Núñez", day)
    assert [s["definition_name"] for s in held] == ["Early"]
    assert errors == [], errors


async def test_directory_finds_and_shows_a_staff_record(page: Page, screenshot_dir: Path | None):
    await sign_in(page, "receptionist")
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Staff", exact=True).click()
    await nav.get_by_role("link", name="Directory", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Staff directory")

    await page.get_by_label("Name").fill("okaf")
    table = page.get_by_role("table", name="Staff members")
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name="Dr. Grace Okafor"))
    await expect(row).to_contain_text("Consultant physician")
    await expect(row).to_contain_text("General Medicine")
    await expect(row).to_contain_text("Valid to")
    await expect(table.get_by_role("link", name="Mateo Núñez")).to_have_count(0)
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "staff-directory.png"), full_page=True)

    await row.get_by_role("link", name="Dr. Grace Okafor").click()
    await expect(page).to_have_url(re.compile(r"/staff/directory/[0-9a-f-]{36}$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dr. Grace Okafor")
    await expect(page.get_by_role("main")).to_contain_text("Consultant physician · General Medicine")
    history = page.get_by_role("table", name="Posts held")
    await expect(history).to_contain_text("Consultant physician")
    await expect(history).to_contain_text("Current")
    licences = page.get_by_role("table", name="Licences and qualifications")
    await expect(licences).to_contain_text("GMC registration · GMC-7012345")
    await expect(licences).to_contain_text("General Medical Council")
    # A receptionist reads the record but does not edit licences or manage someone's feed.
    await expect(page.get_by_role("button", name="Add licence…")).to_have_count(0)
    await expect(page.get_by_role("heading", name="Calendar feed")).to_have_count(0)
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "staff-record.png"), full_page=True)
