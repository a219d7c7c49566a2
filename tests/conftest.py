"""Shared fixtures.

The suites run on SQLite + the in-process broker by default (`make test`), and on MariaDB +
Redis when HOSPITAL_TEST_DATABASE_URL (a server URL such as mysql+aiomysql://root@127.0.0.1:3306)
and HOSPITAL_TEST_REDIS_URL are set (`make test-services`).

Isolation: the schema is built once per run by the real migrations; each test then runs inside
an outer transaction that is rolled back, with the app's sessions nested as savepoints. Tests
that need real commits seen by other connections or processes use ``fresh_database_url``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import service as auth_service
from app.auth.schemas import UserCreate
from app.broker import Broker, create_broker
from app.config import Settings
from app.db import Database, create_engine
from app.main import create_app
from app.migrate import upgrade

DB_SERVER = os.environ.get("HOSPITAL_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("HOSPITAL_TEST_REDIS_URL")
TEST_SECRET = "test-secret-key-for-the-test-suite-only-0123456789"
PASSWORD = "correct horse battery"


def _server_url(database: str) -> str:
    assert DB_SERVER is not None
    return DB_SERVER.rstrip("/") + "/" + database


async def _mysql_admin(sql: str) -> None:
    import aiomysql
    from sqlalchemy.engine import make_url

    url = make_url(DB_SERVER or "")
    conn = await aiomysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        autocommit=True,
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
    finally:
        conn.close()


async def new_migrated_database(tmp: Path) -> str:
    """A new, empty database brought to head by the migrations; returns its URL."""
    if DB_SERVER:
        name = f"hh_test_{uuid.uuid4().hex[:12]}"
        await _mysql_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        url = _server_url(name)
    else:
        url = f"sqlite+aiosqlite:///{tmp / f'hh-{uuid.uuid4().hex[:8]}.db'}"
    await asyncio.to_thread(upgrade, url)
    return url


async def drop_database(url: str) -> None:
    if DB_SERVER:
        await _mysql_admin(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")


def make_settings(database_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "redis_url": REDIS_URL,
        "web_dist": Path("/nonexistent-web-dist"),
        # Tests drive the notification dispatcher explicitly (tests/notifications).
        "notifications_worker": False,
        # The monitoring sweeps (escalation, retention) are driven explicitly (tests/monitoring).
        "monitoring_worker": False,
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    url = await new_migrated_database(tmp_path_factory.mktemp("db"))
    yield url
    await drop_database(url)


@pytest.fixture
async def fresh_database_url(tmp_path: Path) -> AsyncIterator[str]:
    url = await new_migrated_database(tmp_path)
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(make_settings(database_url))
    yield eng
    await eng.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[Database]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        database = Database(engine, audit_key=make_settings("sqlite://").audit_hmac_key)
        database.sessionmaker = async_sessionmaker(
            bind=conn,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
            info=database.session_info(),
        )
        try:
            yield database
        finally:
            await outer.rollback()


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.sessionmaker() as s:
        yield s


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    b = create_broker(REDIS_URL, prefix=f"hh-test-{uuid.uuid4().hex[:8]}:")
    await b.start()
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
async def app(settings: Settings, db: Database, broker: Broker) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database=db, broker=broker)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def make_user(
    db: Database, *, role: str = "doctor", username: str | None = None, password: str = PASSWORD, **extra: Any
) -> uuid.UUID:
    """Create a user through the auth service and commit it; returns its id."""
    username = username or f"{role}-{uuid.uuid4().hex[:8]}"
    async with db.sessionmaker() as s:
        user = await auth_service.create_user(
            s,
            UserCreate(
                username=username,
                password=password,
                full_name=extra.pop("full_name", username.title()),
                roles=[role],
                **extra,
            ),  # type: ignore[list-item]
        )
        await s.commit()
        return user.id


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    r = await client.post("/api/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `hospital` command as a user would: a separate process on that database."""
    env = {"HOSPITAL_SECRET_KEY": TEST_SECRET, **os.environ, "HOSPITAL_DATABASE_URL": database_url}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The real public data set (Synthea, PhysioNet): HOSPITAL_SAMPLE_DATA or ../shared/data.
    Absent on a user's fresh clone: skip with the reason. Absent in CI: fail."""
    path = Settings().sample_data
    if not path.is_dir():
        message = f"sample data not found at {path} (set HOSPITAL_SAMPLE_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
