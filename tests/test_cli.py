"""The `hospital` command, run as a user would: a real process against a real database."""

from __future__ import annotations

from sqlalchemy import select

from app.auth.models import User
from app.db import Database
from app.patients.models import Patient
from tests.conftest import make_settings, run_cli


async def test_seed_demo_is_idempotent_and_prints_logins(fresh_database_url):
    first = await run_cli(fresh_database_url, "seed-demo")
    assert first.returncode == 0, first.stderr
    assert "7 created" in first.stdout and "hospital-demo" in first.stdout
    assert "demo patients: 5 created, 0 already there" in first.stdout
    second = await run_cli(fresh_database_url, "seed-demo")
    assert "0 created, 7 already there" in second.stdout
    assert "demo patients: 0 created, 5 already there" in second.stdout
    db = Database.from_settings(make_settings(fresh_database_url))
    try:
        async with db.sessionmaker() as s:
            portal = (await s.execute(select(User).where(User.username == "patient"))).scalar_one()
            chart_owner = (
                await s.execute(select(Patient).where(Patient.id == portal.patient_id))
            ).scalar_one()
    finally:
        await db.dispose()
    assert chart_owner.mrn  # the demo portal login is linked to a real chart


async def test_create_user_validates_roles_and_creates(fresh_database_url):
    bad = await run_cli(
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
    ok = await run_cli(
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
    dup = await run_cli(
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
    db = Database.from_settings(make_settings(fresh_database_url))
    try:
        async with db.sessionmaker() as s:
            users = list((await s.execute(select(User))).scalars())
    finally:
        await db.dispose()
    assert [(u.username, u.full_name) for u in users] == [("jdoe", "Jane Doe")]
    verify = await run_cli(fresh_database_url, "audit", "verify")
    assert verify.returncode == 0 and "1 entries verified" in verify.stdout


async def test_seed_demo_refuses_production(fresh_database_url, monkeypatch):
    monkeypatch.setenv("HOSPITAL_ENV", "production")
    r = await run_cli(fresh_database_url, "seed-demo")
    assert r.returncode == 2
    assert "refusing" in r.stderr
    assert "hospital-demo" not in r.stdout


async def test_configuration_errors_are_one_line(fresh_database_url, monkeypatch):
    monkeypatch.setenv("HOSPITAL_ENV", "production")
    monkeypatch.setenv("HOSPITAL_SECRET_KEY", "short")
    r = await run_cli(fresh_database_url, "audit", "verify")
    assert r.returncode == 2
    assert r.stderr.startswith("configuration error:") and "HOSPITAL_SECRET_KEY" in r.stderr
    assert "Traceback" not in r.stderr


async def test_audit_verify_prints_an_anchor_and_checks_it(fresh_database_url):
    await run_cli(fresh_database_url, "seed-demo")
    r = await run_cli(fresh_database_url, "audit", "verify")
    anchor = r.stdout.split("anchor: ")[1].split()[0]
    assert int(anchor.split(":")[0]) > 7
    ok = await run_cli(fresh_database_url, "audit", "verify", "--expect", anchor)
    assert ok.returncode == 0, ok.stderr
    beyond = int(anchor.split(":")[0]) + 5
    gone = await run_cli(fresh_database_url, "audit", "verify", "--expect", f"{beyond}:" + "0" * 64)
    assert gone.returncode == 1 and f"anchored row seq {beyond} is gone" in gone.stderr
