"""The admin API of the outbox: list without bodies, read one (audited), retry a failed one."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.db import Database
from app.notifications import service
from app.notifications.models import NotificationMessage
from tests.notifications.helpers import enqueue_committed, load
from tests.patients.helpers import headers_for

BASE = "/api/admin/notifications"


async def set_status(db: Database, message_id: uuid.UUID, status: str, error: str | None = None) -> None:
    async with db.sessionmaker() as session:
        await session.execute(
            update(NotificationMessage)
            .where(NotificationMessage.id == message_id)
            .values(status=status, attempts=8, last_error=error)
        )
        await session.commit()


async def audit_actions(db: Database, resource_id: str | None = None) -> list[str]:
    async with db.sessionmaker() as session:
        query = select(AuditEvent.action).where(AuditEvent.resource_type == "notification")
        if resource_id is not None:
            query = query.where(AuditEvent.resource_id == resource_id)
        return list((await session.scalars(query.order_by(AuditEvent.seq))).all())


async def test_admins_list_the_outbox_without_bodies_and_filter_by_status(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await headers_for(client, db, "admin")
    sent = await enqueue_committed(db, subject="first")
    failed = await enqueue_committed(db, subject="second", to_email="gone@example.org")
    await set_status(db, sent, "sent")
    await set_status(db, failed, "failed", "recipient refused: 550 5.1.1 mailbox unavailable")

    r = await client.get(BASE, headers=admin)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 2 and {m["id"] for m in page["items"]} == {str(sent), str(failed)}
    assert all("body" not in m and "attachments" not in m for m in page["items"])

    r = await client.get(BASE, params={"status": "failed", "limit": 1}, headers=admin)
    assert r.status_code == 200
    (item,) = r.json()["items"]
    assert item["id"] == str(failed) and item["last_error"].startswith("recipient refused: 550")
    assert item["next_attempt_at"] is None and item["attempts"] == 8

    r = await client.get(BASE, params={"status": "lost"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    assert "notification.list" in await audit_actions(db)


async def test_reading_one_shows_its_body_and_is_audited_with_the_patient(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await headers_for(client, db, "admin")
    message_id = await enqueue_committed(
        db,
        attachments=[
            service.Attachment("visit.ics", "text/calendar; method=REQUEST", b"BEGIN:VCALENDAR\r\n")
        ],
    )

    r = await client.get(f"{BASE}/{message_id}", headers=admin)

    assert r.status_code == 200, r.text
    body = r.json()
    assert "video visit is booked" in body["body"]
    assert body["attachments"] == [
        {"filename": "visit.ics", "content_type": "text/calendar; method=REQUEST", "size": 17}
    ]
    assert await audit_actions(db, str(message_id)) == ["notification.read"]

    r = await client.get(f"{BASE}/{uuid.uuid4()}", headers=admin)
    assert r.status_code == 404 and r.json()["error"]["code"] == "notification_not_found"


async def test_retry_requeues_a_failed_message_and_refuses_a_sent_one(
    client: httpx.AsyncClient, db: Database
) -> None:
    admin = await headers_for(client, db, "admin")
    failed = await enqueue_committed(db)
    sent = await enqueue_committed(db)
    await set_status(db, failed, "failed", "SMTP server unavailable")
    await set_status(db, sent, "sent")

    r = await client.post(f"{BASE}/{failed}/retry", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["attempts"] == 0
    row = await load(db, failed)
    assert row.status == "pending" and row.attempts == 0
    assert await audit_actions(db, str(failed)) == ["notification.retry"]

    r = await client.post(f"{BASE}/{sent}/retry", headers=admin)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "notification_not_retryable"
    assert r.json()["error"]["details"] == {"status": "sent"}
    assert (await load(db, sent)).status == "sent"

    r = await client.post(f"{BASE}/{uuid.uuid4()}/retry", headers=admin)
    assert r.status_code == 404
    r = await client.post(f"{BASE}/not-a-uuid/retry", headers=admin)
    assert r.status_code == 422


async def test_only_settings_administrators_may_see_the_outbox(
    client: httpx.AsyncClient, db: Database
) -> None:
    message_id = await enqueue_committed(db)
    for role in ("doctor", "receptionist", "patient"):
        headers = await headers_for(client, db, role)
        assert (await client.get(BASE, headers=headers)).status_code == 403
        assert (await client.get(f"{BASE}/{message_id}", headers=headers)).status_code == 403
        r = await client.post(f"{BASE}/{message_id}/retry", headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert (await client.get(BASE)).status_code == 401
    assert (await load(db, message_id)).attempts == 0
    assert await audit_actions(db) == []
