"""The app shell: health, readiness, headers, the error shape for unknown paths, the web app."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.config import DEV_SECRET_KEY, ROOT, Settings
from app.main import create_app
from tests.conftest import make_settings


async def test_health_and_ready(client):
    assert (await client.get("/health")).json() == {"status": "ok"}
    r = await client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


async def test_ready_reports_an_unreachable_database(broker, tmp_path):
    # A database URL pointing at a directory that cannot hold the file.
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    app = create_app(settings, broker=broker)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            r = await c.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["error"]["code"] == "not_ready"
    assert body["error"]["details"]["database"].startswith("error")
    assert body["error"]["details"]["broker"] == "ok"


async def test_security_headers_and_request_id(client):
    r = await client.get("/health", headers={"X-Request-ID": "abcdef123456"})
    assert r.headers["x-request-id"] == "abcdef123456"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    api = await client.get("/api/auth/me")
    assert api.headers["cache-control"] == "no-store"
    assert len(api.headers["x-request-id"]) == 32


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PUT"])
async def test_unknown_api_paths_are_404_in_the_error_shape(client, method):
    r = await client.request(method, "/api/no-such-thing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


async def test_a_known_path_with_the_wrong_method_is_405(client):
    for method, path in (("POST", "/api/auth/me"), ("GET", "/api/auth/token"), ("DELETE", "/api/users")):
        r = await client.request(method, path)
        assert r.status_code == 405, (method, path, r.status_code)
        assert r.json()["error"]["code"] == "method_not_allowed"


async def test_health_answers_head_for_load_balancers(client):
    assert (await client.head("/health")).status_code == 200
    assert (await client.head("/ready")).status_code == 200


async def test_a_chunked_body_over_the_limit_is_413(client, settings):
    async def chunks():
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    r = await client.post("/api/auth/refresh", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


async def test_endpoints_are_authenticated_unless_public(app):
    """Every route needs a bearer token except the ones listed here on purpose."""
    public = {"/health", "/ready", "/api/auth/token", "/api/auth/refresh", "/fhir/metadata"}
    # Calendar apps cannot sign in: the feed's secret, revocable token is its credential.
    public.add("/api/staff/calendar-feeds/{token}.ics")
    # A guest (interpreter, family) has no account: the one-time invitation's secret is the credential.
    public.add("/api/telehealth/guest/join")
    spec = app.openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            secured = bool(op.get("security"))
            assert secured or path in public, f"{method.upper()} {path} is public"
            if path in public:
                assert not secured


async def test_web_app_is_served_with_spa_fallback(settings, db, broker, tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html><body>Hospital Hub web</body></html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    app = create_app(settings.model_copy(update={"web_dist": dist}), database=db, broker=broker)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            assert "Hospital Hub web" in (await c.get("/")).text
            assert "Hospital Hub web" in (await c.get("/patients/123")).text  # client-side route
            assert (await c.get("/assets/app.js")).text == "console.log(1)"
            assert (await c.get("/../../etc/passwd")).status_code in (200, 404)
            assert "root:" not in (await c.get("/%2e%2e/%2e%2e/etc/passwd")).text
            assert (await c.get("/api/nope")).json()["error"]["code"] == "not_found"
            # Paths the filesystem refuses are a 404 in the error shape, never a 500.
            for hostile in ("/%00", "/" + "a" * 300, "/assets/%00.js"):
                r = await c.get(hostile)
                assert r.status_code == 404, (hostile, r.status_code)
                assert r.json()["error"]["code"] == "not_found"
            assert (await c.head("/")).status_code == 200


def test_production_refuses_the_dev_secret():
    with pytest.raises(ValidationError, match="HOSPITAL_SECRET_KEY"):
        Settings(env="production", secret_key=DEV_SECRET_KEY)
    with pytest.raises(ValidationError, match="HOSPITAL_SECRET_KEY"):
        Settings(env="production", secret_key="short")
    assert Settings(env="production", secret_key="k" * 40).env == "production"


def test_settings_read_the_hospital_env_prefix(monkeypatch):
    monkeypatch.setenv("HOSPITAL_DATABASE_URL", "mysql+aiomysql://u:p@db:3306/hh")
    monkeypatch.setenv("HOSPITAL_REDIS_URL", "redis://r:6379/0")
    monkeypatch.setenv("HOSPITAL_SAMPLE_DATA", "/data/x")
    s = Settings()
    assert (s.database_url, s.redis_url, s.sample_data) == (
        "mysql+aiomysql://u:p@db:3306/hh",
        "redis://r:6379/0",
        Path("/data/x"),
    )
    assert not s.is_sqlite


def test_committed_openapi_matches_the_app(settings):
    """The web and mobile clients are generated from frontend/openapi.json: it must be current.
    Regenerate with `make openapi`."""
    committed = json.loads((ROOT / "frontend" / "openapi.json").read_text())
    assert committed == create_app(settings).openapi(), "frontend/openapi.json is stale: run `make openapi`"
