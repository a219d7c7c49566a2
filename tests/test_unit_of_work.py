"""The request's unit of work: commit before the response, roll back on error, audit attempts."""

from __future__ import annotations

from sqlalchemy import select

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.auth.models import User
from app.deps import SessionDep
from app.errors import NotFound


def _add_routes(app):
    @app.post("/api/_test/duplicate-user")
    async def duplicate(session: SessionDep) -> dict[str, str]:
        # Two users with one username: the unique constraint fires at commit, after the
        # handler returned. The client must not be told it worked.
        for _ in range(2):
            session.add(User(username="twin", full_name="Twin", password_hash="x"))
        return {"status": "created"}

    @app.get("/api/_test/missing-chart")
    async def missing(session: SessionDep) -> dict[str, str]:
        audit.record(session, action="patient.read", resource_type="Patient", resource_id="nope")
        raise NotFound("No such patient")

    @app.get("/api/_test/boom")
    async def boom(session: SessionDep) -> dict[str, str]:
        raise RuntimeError("secret internals /etc/passwd")

    # Keep the SPA catch-all last.
    app.router.routes.sort(key=lambda r: getattr(r, "path", "") == "/{path:path}")


async def test_a_failed_commit_is_an_error_response_and_nothing_is_kept(app, client, db):
    _add_routes(app)
    r = await client.post("/api/_test/duplicate-user")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "conflict"
    async with db.sessionmaker() as s:
        assert (await s.execute(select(User).where(User.username == "twin"))).first() is None


async def test_a_failed_request_still_audits_the_attempt(app, client, db):
    _add_routes(app)
    r = await client.get("/api/_test/missing-chart")
    assert r.status_code == 404
    async with db.sessionmaker() as s:
        [row] = (await s.execute(select(AuditEvent).where(AuditEvent.action == "patient.read"))).scalars()
        assert row.outcome == "failure"
        assert '"error":"not_found"' in (row.details or "")
        assert (await audit.verify(s)).ok


async def test_unexpected_errors_are_500_without_internals(app, db, settings, broker):
    import httpx

    _add_routes(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/api/_test/boom")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert "passwd" not in r.text and "Traceback" not in r.text
