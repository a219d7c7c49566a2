"""The monitoring wall in a real Chromium: a nurse registers a device for a patient (REST), the
device sends readings (FHIR with its token), the wall shows them live over /ws/monitoring, and
the nurse acknowledges the alarm a high heart rate raised."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import DEMO_PASSWORD, LiveServer
from tests.e2e.test_login_browser import sign_in

pytestmark = pytest.mark.browser
# The seeding client is synchronous on purpose (as in the other browser tests): a few calls, setup only.
# ruff: noqa: ASYNC212


def _vital(code: str, value: float, unit: str, ident: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "urn:e2e", "value": ident}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


async def test_wall_shows_a_live_reading_and_acknowledges_an_alarm(page: Page, live_server: LiveServer):
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        token = http.post("/api/auth/token", data={"username": "nurse", "password": DEMO_PASSWORD}).json()
        nurse = {"Authorization": f"Bearer {token['access_token']}"}
        patient = http.post(
            "/api/patients",
            json={
                "names": [{"use": "official", "family": "Wallace", "given": ["Ada"]}],
                "gender": "female",
                "birth_date": "1944-04-04",
            },
            headers=nurse,
        ).json()
        pid = patient["id"]
        assert (
            http.patch(
                f"/api/monitoring/patients/{pid}/profile",
                json={"ward": "E2E ward", "bed": "1"},
                headers=nurse,
            ).status_code
            == 200
        )

        # The nurse registers the device and sets the limit on the patient's monitor page.
        await sign_in(page, "nurse")
        nav = page.get_by_role("navigation", name="Main")
        await expect(nav).to_be_visible()
        await page.goto(f"/monitoring/patients/{pid}")
        await page.get_by_label("Label").fill("E2E monitor")
        await page.get_by_role("button", name="Register device").click()
        device_token = (await page.get_by_test_id("device-token").inner_text()).strip()
        assert device_token.startswith("hhd_")
        await page.get_by_label("Heart rate (/min) high").fill("110")
        await page.get_by_role("button", name="Save thresholds").click()
        await expect(page.get_by_role("status")).to_have_text("Thresholds saved.")
        limits = http.get(f"/api/monitoring/patients/{pid}/thresholds", headers=nurse).json()
        assert [(t["series"], t["high"]) for t in limits] == [("hr", "110.000")]
        device_headers = {"Authorization": f"Bearer {device_token}", "Content-Type": "application/fhir+json"}

        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Monitoring").click()
        tile = page.locator(f'[data-testid="wall-tile"][data-patient="{pid}"]')
        await expect(tile).to_be_visible()
        await expect(page.get_by_test_id("feed-status")).to_have_text("Live")

        r = http.post("/fhir/Observation", json=_vital("8867-4", 77, "/min", "e2e-1"), headers=device_headers)
        assert r.status_code == 201, r.text
        await expect(tile.get_by_test_id("tile-hr")).to_contain_text("77")  # live, no reload

        r = http.post(
            "/fhir/Observation", json=_vital("8867-4", 125, "/min", "e2e-2"), headers=device_headers
        )
        assert r.status_code == 201, r.text
        await expect(tile.get_by_test_id("tile-hr")).to_contain_text("125")
        row = page.get_by_test_id("alarm-row").filter(has_text="Wallace").filter(has_text="above 110")
        await expect(row).to_be_visible()
        await row.get_by_role("button", name="Acknowledge").click()
        await expect(row).to_contain_text(re.compile(r"acknowledged by Nurse"))
        await expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)

        alarms = http.get(f"/api/monitoring/alarms?patient={pid}", headers=nurse).json()["items"]
        assert [(a["state"], a["acknowledged_by_name"]) for a in alarms] == [
            ("acknowledged", "Nurse Mateo Núñez")
        ]
