from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import drop_database, new_migrated_database


@pytest.fixture(scope="session")
async def monitoring_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """One migrated database for the monitoring suites: every test makes its own patients."""
    url = await new_migrated_database(tmp_path_factory.mktemp("monitoring-db"))
    yield url
    await drop_database(url)
