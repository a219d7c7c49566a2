"""The migrations build exactly the models, on SQLite and (in make test-services) on MariaDB."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect

from app.db import create_engine
from app.migrate import check
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
