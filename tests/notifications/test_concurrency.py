"""Several dispatchers at once (as several workers or processes would) send each message once."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from app.db import Database
from app.notifications.dispatcher import dispatch_due
from tests.conftest import make_settings
from tests.notifications.helpers import SmtpServer, enqueue_committed


async def test_concurrent_dispatchers_deliver_each_message_exactly_once(
    fresh_database_url: str, tmp_path: Path
) -> None:
    server = SmtpServer()
    await server.start()
    settings = make_settings(
        fresh_database_url,
        notifications_adapter="smtp",
        smtp_port=server.port,
        smtp_timeout_seconds=5,
        notifications_dir=tmp_path / "outbox",
    )
    # Separate engines, like separate processes: each has its own connections and sessions.
    databases = [Database.from_settings(settings) for _ in range(3)]
    try:
        expected = set()
        for n in range(40):
            message_id = await enqueue_committed(
                databases[0], subject=f"message {n}", to_email=f"p{n}@example.org"
            )
            expected.add(f"<{message_id.hex}@hospital-hub>")

        results = await asyncio.gather(
            *(dispatch_due(db, settings) for db in databases for _ in range(2))  # 6 dispatchers
        )
        again = await dispatch_due(databases[0], settings)
    finally:
        for db in databases:
            await db.dispose()
        await server.stop()

    delivered = Counter(received.message["Message-ID"] for received in server.received)
    assert set(delivered) == expected
    assert set(delivered.values()) == {1}, [mid for mid, n in delivered.items() if n > 1]
    assert sum(r.sent for r in results) == 40
    assert sum(r.lost + r.retrying + r.failed for r in results) == 0
    assert sum(1 for r in results if r.sent) >= 2, "the dispatchers did not actually overlap"
    assert again.attempted == 0
