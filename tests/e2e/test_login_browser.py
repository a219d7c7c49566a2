"""Sign in, role-aware navigation, errors and sign-out, in a real Chromium against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import DEMO_PASSWORD, LiveServer

pytestmark = pytest.mark.browser


async def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    await page.goto("/")
    # Signed-out visitors are sent to the login page.
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


def full_name_of(server: LiveServer, username: str) -> str:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        tokens = client.post("/api/auth/token", data={"username": username, "password": DEMO_PASSWORD}).json()
        me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    return str(me["full_name"])


async def test_doctor_is_greeted_and_sees_clinical_nav_without_admin(
    page: Page, live_server: LiveServer, screenshot_dir: Path | None
):
    name = full_name_of(live_server, "doctor")
    await sign_in(page, "doctor")

    heading = page.get_by_role("heading", level=1)
    await expect(heading).to_contain_text(name)
    await expect(page.get_by_role("main")).to_contain_text("Doctor")
    await expect(page.get_by_role("banner")).to_contain_text(name)

    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Patients", exact=True)).to_be_visible()
    await expect(nav.get_by_role("link", name="Telehealth", exact=True)).to_be_visible()
    await expect(nav.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    await expect(nav.get_by_role("link", name="Billing", exact=True)).to_have_count(0)

    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "home.png"), full_page=True)

    # A reload keeps the session: the refresh token (sessionStorage) is rotated for a new access token.
    await page.reload()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(name)

    # A module the doctor may open is a placeholder; Admin is refused even when typed in.
    await nav.get_by_role("link", name="Patients", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Patients")
    await page.goto("/admin/users")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not available")


async def test_admin_sees_admin(page: Page, live_server: LiveServer):
    await sign_in(page, "admin")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(full_name_of(live_server, "admin"))
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Admin", exact=True)).to_be_visible()
    await nav.get_by_role("link", name="Admin", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/admin$"))
    await expect(page.get_by_role("main").get_by_role("link", name=re.compile("^Users"))).to_be_visible()
    await expect(page.get_by_role("main").get_by_role("link", name=re.compile("^Audit log"))).to_be_visible()


async def test_wrong_password_shows_the_error(page: Page):
    # Not a user the other tests sign in as: a failure counts towards that account's lock-out.
    await sign_in(page, "nurse", "not-the-password")
    await expect(page.get_by_role("alert")).to_have_text("The username or password is incorrect.")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_label("Password")).to_have_value("")


async def test_logout_returns_to_the_login_page(page: Page):
    await sign_in(page, "receptionist")
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("You have signed out.")
    # The session is really gone: reloading a protected page lands on the login page again.
    await page.goto("/patients")
    await expect(page).to_have_url(re.compile(r"/login$"))


async def test_lock_out_after_repeated_failures_is_explained(page: Page):
    await sign_in(page, "billing", "wrong-1")
    password = page.get_by_label("Password")
    alert = page.get_by_role("alert")
    await expect(password).to_have_value("")  # cleared once the answer is in
    for attempt in range(2, 7):
        await expect(alert).to_have_text("The username or password is incorrect.")
        await password.fill(f"wrong-{attempt}")
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await expect(password).to_have_value("")
    # Five failures lock the account: the sixth attempt is answered 429 with Retry-After.
    await expect(alert).to_contain_text("Too many failed attempts. Please wait 15 minutes")
    await expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_disabled()
