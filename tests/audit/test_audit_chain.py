"""The audit log is chained; editing or deleting any row is detected and named."""

from __future__ import annotations

import itertools

from sqlalchemy import select, text

from app.audit import service as audit
from app.audit.models import AuditChainHead, AuditEvent
from app.db import Database
from tests.conftest import make_settings, run_cli


async def _write_events(db: Database, n: int) -> None:
    for i in range(n):
        async with db.sessionmaker() as s:
            audit.record(
                s,
                action="patient.read",
                resource_type="Patient",
                resource_id=f"p{i}",
                details={"name": "Godínez", "i": i},
            )
            await s.commit()


async def test_events_chain_and_verify(db):
    await _write_events(db, 5)
    async with db.sessionmaker() as s:
        rows = list((await s.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars())
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        assert rows[0].prev_hash == audit.GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
        report = await audit.verify(s)
    assert report.ok and report.checked == 5


async def test_rolled_back_work_leaves_no_audit_row(db):
    async with db.sessionmaker() as s:
        audit.record(s, action="patient.update", resource_type="Patient", resource_id="p1")
        await s.rollback()
        await s.commit()
        assert (await s.execute(select(AuditEvent))).first() is None


async def test_edit_and_delete_are_detected_and_named(db):
    await _write_events(db, 6)
    async with db.sessionmaker() as s:
        await s.execute(text("UPDATE audit_events SET resource_id = 'someone-else' WHERE seq = 2"))
        await s.execute(text("DELETE FROM audit_events WHERE seq = 4"))
        await s.commit()
        report = await audit.verify(s)
    assert not report.ok
    assert any(p.startswith("edited: seq 2 ") for p in report.problems), report.problems
    assert any(p.startswith("deleted: seq 4 missing") for p in report.problems), report.problems


async def test_deleting_the_newest_rows_is_detected(db):
    await _write_events(db, 4)
    async with db.sessionmaker() as s:
        await s.execute(text("DELETE FROM audit_events WHERE seq >= 3"))
        await s.commit()
        report = await audit.verify(s)
    assert report.problems == ["deleted: seq 3..4 missing at the end of the log"]


async def test_rechaining_without_the_key_is_caught(db):
    """Someone with write access to the database edits a row and recomputes every later hash
    and the head, with any key but the server's: the keyed hashes expose it."""
    await _write_events(db, 4)
    async with db.sessionmaker() as s:
        rows = list((await s.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars())
        rows[1].outcome = "failure"
        prev = rows[0].hash
        for row in rows[1:]:
            row.prev_hash = prev
            row.hash = audit.compute_hash(row, b"guessed key")
            prev = row.hash
        head = (await s.execute(select(AuditChainHead))).scalar_one()
        head.last_hash = prev
        await s.commit()
        report = await audit.verify(s)
    assert [p.split(" (")[0] for p in report.problems] == [
        "edited: seq 2",
        "edited: seq 3",
        "edited: seq 4",
    ], report.problems


async def test_an_anchor_catches_a_log_cut_short_with_its_head(db):
    """Delete the newest rows and rewind the head to the last kept row: the chain itself is
    consistent again, but an anchor recorded earlier is not in it any more."""
    await _write_events(db, 5)
    async with db.sessionmaker() as s:
        before = await audit.verify(s)
        anchor = (before.head_seq, before.head_hash)
        assert anchor[0] == 5 and (await audit.verify(s, expect=anchor)).ok
        kept = (await s.execute(select(AuditEvent).where(AuditEvent.seq == 3))).scalar_one()
        await s.execute(text("DELETE FROM audit_events WHERE seq > 3"))
        head = (await s.execute(select(AuditChainHead))).scalar_one()
        head.last_seq, head.last_hash = 3, kept.hash
        await s.commit()
        assert (await audit.verify(s)).ok  # undetectable from inside the database alone
        report = await audit.verify(s, expect=anchor)
    assert report.problems == ["deleted: the anchored row seq 5 is gone (the log was cut short)"]


async def test_cli_audit_verify_names_the_tampered_row(fresh_database_url):
    settings = make_settings(fresh_database_url)
    db = Database.from_settings(settings)
    try:
        await _write_events(db, 3)
        ok = await run_cli(fresh_database_url, "audit", "verify")
        assert ok.returncode == 0, ok.stderr
        assert "3 entries verified" in ok.stdout
        async with db.sessionmaker() as s:
            await s.execute(text("UPDATE audit_events SET actor_username = 'mallory' WHERE seq = 1"))
            await s.commit()
        bad = await run_cli(fresh_database_url, "audit", "verify")
        assert bad.returncode == 1
        assert "edited: seq 1 " in bad.stderr
    finally:
        await db.dispose()


async def test_events_inside_a_rolled_back_savepoint_are_dropped(db):
    async with db.sessionmaker() as s:
        audit.record(s, action="kept.before", resource_type="Patient")
        try:
            async with s.begin_nested():
                audit.record(s, action="dropped", resource_type="Patient")
                raise RuntimeError("entry failed")
        except RuntimeError:
            pass
        async with s.begin_nested():
            audit.record(s, action="kept.after", resource_type="Patient")
        await s.commit()
        actions = [r.action for r in (await s.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars()]
    assert actions == ["kept.before", "kept.after"]
