"""The migrations build exactly the models, on SQLite and (in make test-services) on MariaDB."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect

from app.db import create_engine
from app.migrate import check, downgrade, upgrade
from app.models import Base
from tests.conftest import make_settings


async def test_upgrade_on_an_empty_database_matches_the_models(fresh_database_url):
    # alembic check raises if autogenerate would emit any operation.
    await asyncio.to_thread(check, fresh_database_url)
    engine = create_engine(make_settings(fresh_database_url))
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


async def test_every_migration_downgrades_and_upgrades_again(fresh_database_url):
    # A release that must be rolled back runs the downgrades; MariaDB refuses some orders of
    # operations SQLite accepts (e.g. dropping an index a foreign key still needs).
    await asyncio.to_thread(downgrade, fresh_database_url, "base")
    engine = create_engine(make_settings(fresh_database_url))
    try:
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert left <= {"alembic_version"}, f"tables left after downgrading to base: {sorted(left)}"
    await asyncio.to_thread(upgrade, fresh_database_url, "head")
    await asyncio.to_thread(check, fresh_database_url)
