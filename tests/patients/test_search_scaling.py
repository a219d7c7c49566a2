"""Name search that scales: driven by the token index in result order, one row per patient, a
capped total (``total_is_lower_bound``), and the sort key copied onto the tokens kept in sync."""

from __future__ import annotations

import asyncio
import random
import string
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import select

from app.db import create_engine
from app.migrate import upgrade
from app.patients import repository
from app.patients.models import Patient, PatientNameToken
from tests import conftest
from tests.conftest import make_settings
from tests.patients.helpers import headers_for, register

FHIR = {"Content-Type": "application/fhir+json"}


def _word() -> str:
    """A family name no other test uses (the database may be shared)."""
    return "Q" + "".join(random.choices(string.ascii_lowercase, k=8))


async def _page(client, h, **params):
    r = await client.get("/api/patients", params=params, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_patient_appears_once_even_when_several_tokens_match(client, db):
    h = await headers_for(client, db, "receptionist")
    fam = _word()
    # "Maria Mariana" has two tokens under the prefix "mari": one row each for the index.
    both = [
        await register(client, h, family=fam, given=["Maria", "Mariana"], birth_date=f"1990-01-{d:02d}")
        for d in range(1, 6)
    ]
    one = [await register(client, h, family=fam, given=["Marius"]) for _ in range(2)]
    expected = {p["id"] for p in both + one}
    for query in ("mari", f"mari {fam}", f"{fam} mari"):
        for limit in (1, 2, 3, 50):
            seen: list[str] = []
            for offset in range(0, 10, limit):
                body = await _page(client, h, name=query, limit=limit, offset=offset)
                assert body["total"] == 7 and body["total_is_lower_bound"] is False
                seen += [p["id"] for p in body["items"]]
            assert len(seen) == len(set(seen)) == 7, (query, limit)
            assert set(seen) == expected


async def test_name_order_is_matched_token_then_family_given_birth_date(client, db):
    h = await headers_for(client, db, "receptionist")
    tail = _word().lower()
    # Same prefix, different matched tokens: the token decides before the family name.
    zed = await register(client, h, family="Zed", given=[f"Ab{tail}a"])
    abe = await register(client, h, family="Abe", given=[f"Ab{tail}b"])
    old = await register(client, h, family="Abe", given=[f"Ab{tail}b"], birth_date="1950-01-01")
    pages = []
    for offset in range(3):
        body = await _page(client, h, name=f"ab{tail}", limit=1, offset=offset)
        pages += [p["id"] for p in body["items"]]
    assert pages == [zed["id"], old["id"], abe["id"]]
    again = [p["id"] for p in (await _page(client, h, name=f"ab{tail}"))["items"]]
    assert again == pages  # stable, and the same order as page by page


async def test_total_is_a_lower_bound_past_the_cap(client, db, monkeypatch):
    monkeypatch.setattr(repository, "SEARCH_COUNT_CAP", 2)
    h = await headers_for(client, db, "doctor")
    fam = _word()
    made = [await register(client, h, family=fam, given=[f"G{i}"]) for i in range(5)]
    first = await _page(client, h, name=fam, limit=2, offset=0)
    assert first["total_is_lower_bound"] is True
    assert first["total"] == 3 and len(first["items"]) == 2  # counted cap + 1: "at least 3"
    middle = await _page(client, h, name=fam, limit=2, offset=2)
    assert middle["total_is_lower_bound"] is True and middle["total"] == 4
    last = await _page(client, h, name=fam, limit=2, offset=4)
    assert last["total_is_lower_bound"] is False and last["total"] == 5  # the last page knows
    seen = {p["id"] for b in (first, middle, last) for p in b["items"]}
    assert seen == {p["id"] for p in made}
    # Under the cap the count is exact; non-name searches always count exactly.
    exact = await _page(client, h, name=f"{fam} g1")
    assert exact["total"] == 1 and exact["total_is_lower_bound"] is False
    by_mrn = await _page(client, h, mrn=made[0]["mrn"])
    assert by_mrn["total"] == 1 and by_mrn["total_is_lower_bound"] is False

    # FHIR: Bundle.total is left out when it is only a lower bound, with a next link.
    r = await client.get("/fhir/Patient", params={"family": fam, "_count": 2}, headers=h)
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert "total" not in bundle and len(bundle["entry"]) == 2
    assert any(link["relation"] == "next" for link in bundle["link"])
    r = await client.get("/fhir/Patient", params={"family": fam, "_count": 2, "_offset": 4}, headers=h)
    bundle = r.json()
    assert bundle["total"] == 5 and not any(link["relation"] == "next" for link in bundle["link"])
    monkeypatch.setattr(repository, "SEARCH_COUNT_CAP", 1000)
    r = await client.get("/fhir/Patient", params={"family": fam, "_count": 2}, headers=h)
    assert r.json()["total"] == 5


async def _token_rows(db, patient_id: str) -> list[tuple[str, str, str, date | None]]:
    async with db.sessionmaker() as s:
        rows = await s.execute(
            select(
                PatientNameToken.token,
                PatientNameToken.sort_family,
                PatientNameToken.sort_given,
                PatientNameToken.birth_date,
            )
            .where(PatientNameToken.patient_id == uuid.UUID(patient_id))
            .order_by(PatientNameToken.token)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def test_token_sort_keys_follow_name_and_birth_date_changes(client, db):
    h = await headers_for(client, db, "receptionist")
    fam = _word()
    p = await register(client, h, family=fam, given=["Ann"], birth_date="1980-05-17")
    assert await _token_rows(db, p["id"]) == [
        ("ann", fam.lower(), "ann", date(1980, 5, 17)),
        (fam.lower(), fam.lower(), "ann", date(1980, 5, 17)),
    ]
    new_fam = _word()
    r = await client.patch(
        f"/api/patients/{p['id']}",
        json={"names": [{"use": "official", "family": new_fam, "given": ["Ann", "Béa"]}]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert await _token_rows(db, p["id"]) == sorted(
        (t, new_fam.lower(), "ann bea", date(1980, 5, 17)) for t in ("ann", "bea", new_fam.lower())
    )
    r = await client.patch(f"/api/patients/{p['id']}", json={"birth_date": "1970-02-03"}, headers=h)
    assert r.status_code == 200, r.text
    assert {row[3] for row in await _token_rows(db, p["id"])} == {date(1970, 2, 3)}
    r = await client.patch(f"/api/patients/{p['id']}", json={"birth_date": None}, headers=h)
    assert r.status_code == 200, r.text
    assert {row[3] for row in await _token_rows(db, p["id"])} == {None}
    assert [x["id"] for x in (await _page(client, h, name=new_fam))["items"]] == [p["id"]]
    assert (await _page(client, h, name=fam))["items"] == []


async def test_migration_0006_backfills_the_token_sort_keys(tmp_path: Path):
    if conftest.DB_SERVER:
        name = f"hh_test_{uuid.uuid4().hex[:12]}"
        await conftest._mysql_admin(
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        url = conftest._server_url(name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'backfill.db'}"
    try:
        await asyncio.to_thread(upgrade, url, "0005")
        engine = create_engine(make_settings(url))
        pid = uuid.uuid4()
        now = datetime.now(UTC)
        old_tokens = sa.table("patient_name_tokens", sa.column("patient_id", sa.Uuid()), sa.column("token"))
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(Patient.__table__).values(
                    id=pid,
                    mrn="M0000001",
                    active=True,
                    gender="female",
                    birth_date=date(1961, 7, 8),
                    deceased=False,
                    sort_family="smith",
                    sort_given="jane",
                    created_at=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                sa.insert(old_tokens), [{"patient_id": pid, "token": t} for t in ("jane", "smith")]
            )
        await engine.dispose()
        await asyncio.to_thread(upgrade, url)
        engine = create_engine(make_settings(url))
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        PatientNameToken.token,
                        PatientNameToken.sort_family,
                        PatientNameToken.sort_given,
                        PatientNameToken.birth_date,
                    ).order_by(PatientNameToken.token)
                )
            ).all()
        await engine.dispose()
        assert [tuple(r) for r in rows] == [
            ("jane", "smith", "jane", date(1961, 7, 8)),
            ("smith", "smith", "jane", date(1961, 7, 8)),
        ]
    finally:
        await conftest.drop_database(url)
