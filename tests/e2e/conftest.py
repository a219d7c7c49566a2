"""Browser tests: the built web app, served by a real `hospital serve`, driven in Debian's Chromium.

Nothing is built here. The web app must already be in frontend/dist (`make web`); the server gets
its own SQLite database in a temporary folder, migrated and seeded through the real CLI.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parents[2]
WEB_DIST = ROOT / "frontend" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DEMO_PASSWORD = "hospital-demo"


def _hospital_cli() -> str:
    beside_python = Path(sys.executable).parent / "hospital"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("hospital")
    if found is None:
        pytest.fail("the `hospital` command is not installed (pip install -e '.[dev]')")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    log: Path


@pytest.fixture(scope="session")
def web_dist() -> Path:
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail(
            f"{WEB_DIST / 'index.html'} is missing: the browser tests serve the built web app. "
            "Run `make web` (cd frontend && npm ci && npm run build) first."
        )
    return WEB_DIST


@pytest.fixture(scope="session")
def live_server(web_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("e2e-server")
    env = {
        **os.environ,
        "HOSPITAL_ENV": "test",
        "HOSPITAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'hh.db'}",
        "HOSPITAL_WEB_DIST": str(web_dist),
        "HOSPITAL_SECRET_KEY": secrets.token_urlsafe(48),
    }
    env.pop("HOSPITAL_REDIS_URL", None)  # the embedded broker is enough for a browser test
    cli = _hospital_cli()
    for command in (["migrate"], ["seed-demo"]):
        done = subprocess.run(
            [cli, *command], env=env, cwd=tmp, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"`hospital {' '.join(command)}` failed:\n{done.stdout}\n{done.stderr}")

    port = _free_port()
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`hospital serve` exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`hospital serve` did not answer /health within 30 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield LiveServer(url=url, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; missing it fails in CI (CI=true) and skips elsewhere."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install -y chromium); browser tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def screenshot_dir() -> Path | None:
    """Set HOSPITAL_E2E_SCREENSHOTS=/some/dir to keep screenshots of key screens."""
    value = os.environ.get("HOSPITAL_E2E_SCREENSHOTS")
    if not value:
        return None
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Browser, live_server: LiveServer) -> AsyncIterator[Page]:
    """A fresh browser context per test: no cookies, no sessionStorage carried over."""
    context = await browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()
