"""The `hospital` command, run as a user would: a real process against a real database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from sqlalchemy import select

from app.auth.models import User
from app.db import Database, create_engine
from tests.conftest import make_settings


async def hospital(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOSPITAL_DATABASE_URL": url}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_seed_demo_is_idempotent_and_prints_logins(fresh_database_url):
    first = await hospital(fresh_database_url, "seed-demo")
    assert first.returncode == 0, first.stderr
    assert "7 created" in first.stdout and "hospital-demo" in first.stdout
    second = await hospital(fresh_database_url, "seed-demo")
    assert "0 created, 7 already there" in second.stdout


async def test_create_user_validates_roles_and_creates(fresh_database_url):
    bad = await hospital(
        fresh_database_url,
        "create-user",
        "--username",
        "jdoe",
        "--role",
        "wizard",
        "--password",
        "long-enough-password",
    )
    assert bad.returncode == 2
    assert "roles.0" in bad.stderr
    ok = await hospital(
        fresh_database_url,
        "create-user",
        "--username",
        "JDoe",
        "--role",
        "doctor",
        "--role",
        "nurse",
        "--password",
        "long-enough-password",
        "--full-name",
        "Jane Doe",
    )
    assert ok.returncode == 0, ok.stderr
    dup = await hospital(
        fresh_database_url,
        "create-user",
        "--username",
        "jdoe",
        "--role",
        "doctor",
        "--password",
        "long-enough-password",
    )
    assert dup.returncode == 1 and "already exists" in dup.stderr
    db = Database(create_engine(make_settings(fresh_database_url)))
    try:
        async with db.sessionmaker() as s:
            users = list((await s.execute(select(User))).scalars())
    finally:
        await db.dispose()
    assert [(u.username, u.full_name) for u in users] == [("jdoe", "Jane Doe")]
    verify = await hospital(fresh_database_url, "audit", "verify")
    assert verify.returncode == 0 and "1 entries verified" in verify.stdout
