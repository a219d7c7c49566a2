"""Searches of several words through the token-pair index: the same results, order and totals as
the token walk, the index rows kept in sync by every write that changes names (register, update,
FHIR create/update, the importer), and migration 0007's backfill."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import string
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from app.db import create_engine
from app.migrate import upgrade
from app.patients import names as naming
from app.patients import repository
from app.patients.models import Patient, PatientNameToken, PatientNameTokenPair
from tests import conftest
from tests.conftest import make_settings
from tests.patients.helpers import headers_for, register

FHIR = {"Content-Type": "application/fhir+json"}


def _salt() -> str:
    """A prefix no other test's names start with (the database may be shared)."""
    return "x" + "".join(random.choices(string.ascii_lowercase, k=5))


# --- names: terms, parts, pairs --------------------------------------------------------


def test_search_terms_drop_the_words_another_word_implies():
    terms = naming.search_terms("Mar María gar", family="GARCÍA", given="an")
    assert terms == [
        naming.SearchTerm("an", "given"),
        naming.SearchTerm("garcia", "family"),
        naming.SearchTerm("maria", "any"),
    ]  # "mar" (implied by "maria"), "gar" (by the family "garcia") dropped
    # A family word does not imply an any-part word of another part, nor the reverse.
    assert naming.search_terms(family="maria", given="mar") == [
        naming.SearchTerm("mar", "given"),
        naming.SearchTerm("maria", "family"),
    ]
    assert naming.search_terms("smith-jones") == [naming.SearchTerm("jones"), naming.SearchTerm("smithjones")]


def test_patient_tokens_record_the_parts_and_pairs_are_every_ordered_pair():
    found = naming.patient_tokens([("García-López", ["María", "López"], None), (None, [], "王秀英")])
    assert {t: (w.in_family, w.in_given) for t, w in found.items()} == {
        "garcia": (True, False),
        "lopez": (True, True),
        "garcialopez": (True, False),
        "maria": (False, True),
        "王秀英": (False, False),  # a text-only name: neither part
    }
    assert naming.token_pairs(["a", "b", "c"]) == {
        ("a", "b"),
        ("a", "c"),
        ("b", "a"),
        ("b", "c"),
        ("c", "a"),
        ("c", "b"),
    }


# --- the index rows follow every write -------------------------------------------------


async def _index(db: Any, patient_id: str) -> tuple[dict[str, tuple[bool, bool]], set[tuple[Any, ...]]]:
    """(token -> (in_family, in_given), {(anchor, token, sort_family, sort_given, birth_date)})."""
    pid = uuid.UUID(patient_id)
    async with db.sessionmaker() as s:
        tokens = await s.execute(
            select(PatientNameToken.token, PatientNameToken.in_family, PatientNameToken.in_given).where(
                PatientNameToken.patient_id == pid
            )
        )
        pairs = await s.execute(
            select(
                PatientNameTokenPair.anchor,
                PatientNameTokenPair.token,
                PatientNameTokenPair.sort_family,
                PatientNameTokenPair.sort_given,
                PatientNameTokenPair.birth_date,
            ).where(PatientNameTokenPair.patient_id == pid)
        )
        return {t: (bool(f), bool(g)) for t, f, g in tokens.all()}, {tuple(r) for r in pairs.all()}


def _pairs(tokens: list[str], family: str, given: str, born: date | None) -> set[tuple[Any, ...]]:
    return {(a, b, family, given, born) for a, b in itertools.permutations(tokens, 2)}


async def _ids(client, h, **params) -> list[str]:
    r = await client.get("/api/patients", params=params, headers=h)
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["items"]]


async def test_register_and_update_keep_tokens_and_pairs_in_sync(client, db):
    h = await headers_for(client, db, "receptionist")
    s = _salt()
    p = await register(client, h, family=f"{s}smith-{s}jones", given=[f"{s}ann"], birth_date="1980-05-17")
    fam, born = f"{s}smith {s}jones {s}smith{s}jones", date(1980, 5, 17)
    tokens, pairs = await _index(db, p["id"])
    family_tokens = [f"{s}smith", f"{s}jones", f"{s}smith{s}jones"]
    assert tokens == {**{t: (True, False) for t in family_tokens}, f"{s}ann": (False, True)}
    assert pairs == _pairs([*family_tokens, f"{s}ann"], fam, f"{s}ann", born)
    assert await _ids(client, h, name=f"{s}ann {s}smi") == [p["id"]]

    # A new family name: the old pairs go (a stale one would still answer "ann smi").
    r = await client.patch(
        f"/api/patients/{p['id']}",
        json={"names": [{"use": "official", "family": f"{s}brown", "given": [f"{s}ann", f"{s}brown"]}]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    tokens, pairs = await _index(db, p["id"])
    assert tokens == {f"{s}brown": (True, True), f"{s}ann": (False, True)}
    assert pairs == _pairs([f"{s}brown", f"{s}ann"], f"{s}brown", f"{s}ann {s}brown", born)
    assert await _ids(client, h, name=f"{s}ann {s}smi") == []
    assert await _ids(client, h, name=f"{s}ann {s}bro") == [p["id"]]

    r = await client.patch(f"/api/patients/{p['id']}", json={"birth_date": "1970-02-03"}, headers=h)
    assert r.status_code == 200, r.text
    assert {row[4] for row in (await _index(db, p["id"]))[1]} == {date(1970, 2, 3)}


async def test_fhir_create_update_and_import_keep_pairs_in_sync(client, db):
    h = await headers_for(client, db, "doctor")
    s = _salt()
    resource = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": f"{s}núñez", "given": [f"{s}josé"]}],
        "gender": "male",
        "birthDate": "1975-03-09",
    }
    r = await client.post("/fhir/Patient", json=resource, headers={**h, **FHIR})
    assert r.status_code == 201, r.text
    created = r.json()
    _, pairs = await _index(db, created["id"])
    assert pairs == _pairs([f"{s}nunez", f"{s}jose"], f"{s}nunez", f"{s}jose", date(1975, 3, 9))

    update = {
        **created,
        "name": [{"use": "official", "family": f"{s}ortiz", "given": [f"{s}josé", f"{s}luis"]}],
    }
    r = await client.put(f"/fhir/Patient/{created['id']}", json=update, headers={**h, **FHIR})
    assert r.status_code == 200, r.text
    tokens, pairs = await _index(db, created["id"])
    assert set(tokens) == {f"{s}ortiz", f"{s}jose", f"{s}luis"}
    assert pairs == _pairs(
        [f"{s}ortiz", f"{s}jose", f"{s}luis"], f"{s}ortiz", f"{s}jose {s}luis", date(1975, 3, 9)
    )
    assert await _ids(client, h, name=f"{s}jose {s}nu") == []
    assert await _ids(client, h, name=f"{s}jose {s}or") == [created["id"]]

    # The importer (POST /fhir transaction) registers through the same service.
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:test:pairs", "value": s}],
                    "name": [{"family": f"{s}godínez", "given": [f"{s}ramona"]}],
                    "birthDate": "1960-01-02",
                },
                "request": {"method": "POST", "url": "Patient"},
            }
        ],
    }
    r = await client.post("/fhir", json=bundle, headers=h)
    assert r.status_code == 200, r.text
    imported = r.json()["entry"][0]["response"]["location"].split("/")[1]
    _, pairs = await _index(db, imported)
    assert pairs == _pairs([f"{s}godinez", f"{s}ramona"], f"{s}godinez", f"{s}ramona", date(1960, 1, 2))
    assert await _ids(client, h, name=f"{s}ramo {s}godi") == [imported]


# --- the pair path answers exactly as the token walk -----------------------------------


def _expected(people: list[dict[str, Any]], terms: list[naming.SearchTerm]) -> list[str]:
    """The contract, computed by brute force: every term matches some token (of its part);
    ordered by the smallest token matching the longest term, then family, given, birth date (the
    test's birth dates are distinct: the id never decides)."""
    driving = max(terms, key=lambda t: len(t.prefix))

    def matching(person: dict[str, Any], term: naming.SearchTerm) -> list[str]:
        return sorted(
            t
            for t, where in person["tokens"].items()
            if t.startswith(term.prefix)
            and (term.part == "any" or (where.in_family if term.part == "family" else where.in_given))
        )

    found = [p for p in people if all(matching(p, t) for t in terms)]
    found.sort(key=lambda p: (matching(p, driving)[0], p["sort_family"], p["sort_given"], p["birth_date"]))
    return [p["id"] for p in found]


async def _all_pages(client, h, url: str, params: dict[str, str], limit: int) -> tuple[list[str], set[Any]]:
    seen: list[str] = []
    totals = set()
    for offset in range(0, 60, limit):
        r = await client.get(url, params={**params, "limit": limit, "offset": offset}, headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        totals.add((body["total"], body["total_is_lower_bound"]))
        seen += [p["id"] for p in body["items"]]
    return seen, totals


async def test_pair_path_matches_the_token_walk_and_the_contract(client, db, monkeypatch):
    h = await headers_for(client, db, "receptionist")
    s = _salt()
    rng = random.Random(3)
    families = [f"{s}garcía", f"{s}garrido", f"{s}gómez", f"{s}lópez", f"{s}garcía-{s}lópez", f"{s}maria"]
    givens = [f"{s}maría", f"{s}mariana", f"{s}marco", f"{s}ana", f"{s}josé", f"{s}garcía"]
    people = []
    for i in range(26):
        family = rng.choice(families) + (f" {rng.choice(families)}" if rng.random() < 0.2 else "")
        given = rng.sample(givens, rng.choice((1, 1, 2)))
        # Distinct birth dates, so that the id never decides: MariaDB's native UUID type orders
        # ids differently from their text (it is a stable order all the same).
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(40) * 30 + i)
        made = await register(client, h, family=family, given=given, birth_date=born.isoformat())
        people.append(
            {
                "id": made["id"],
                "tokens": naming.patient_tokens([(family, given, None)]),
                "sort_family": naming.sort_key(family),
                "sort_given": naming.sort_key(" ".join(given)),
                "birth_date": born,
            }
        )

    pairs_used = 0
    real = repository._search_by_pairs

    async def spy(*args: Any, **kwargs: Any) -> Any:
        nonlocal pairs_used
        pairs_used += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(repository, "_search_by_pairs", spy)
    queries = [
        f"{s}maria {s}gar",
        f"{s}gar {s}maria",
        f"{s}mar {s}garc",
        f"{s}ana {s}lopez",
        f"{s}garcia {s}mari",
        f"{s}mari {s}garcia {s}lop",
        f"{s}jose {s}g",
        f"{s}marco {s}qq",  # an anchor word that matches no token
    ]
    for query in queries:
        expected = _expected(people, naming.search_terms(query))
        for limit in (4, 50):
            before = pairs_used
            via_pairs, totals = await _all_pages(client, h, "/api/patients", {"name": query}, limit)
            # The pair path answered (a word that no token starts with ends the search before).
            assert pairs_used > before or query.endswith("qq"), query
            assert via_pairs == expected, (query, limit)
            assert totals == {(len(expected), False)}, query
        # The same search with no word allowed to anchor: the token walk, the same answer.
        monkeypatch.setattr(repository, "ANCHOR_VOCABULARY_CAP", 0)
        before = pairs_used
        walked, totals = await _all_pages(client, h, "/api/patients", {"name": query}, 4)
        assert pairs_used == before and walked == expected, query
        assert totals == {(len(expected), False)}, query
        monkeypatch.setattr(repository, "ANCHOR_VOCABULARY_CAP", 32)
    assert any(len(_expected(people, naming.search_terms(q))) > 4 for q in queries)  # paging was tested


async def test_pair_path_total_is_a_lower_bound_past_the_cap(client, db, monkeypatch):
    monkeypatch.setattr(repository, "SEARCH_COUNT_CAP", 2)
    h = await headers_for(client, db, "doctor")
    s = _salt()
    made = [await register(client, h, family=f"{s}garcia", given=[f"{s}maria{i}"]) for i in range(5)]
    first = (
        await client.get("/api/patients", params={"name": f"{s}maria {s}gar", "limit": 2}, headers=h)
    ).json()
    assert first["total_is_lower_bound"] is True and first["total"] == 3 and len(first["items"]) == 2
    last = (
        await client.get(
            "/api/patients", params={"name": f"{s}maria {s}gar", "limit": 2, "offset": 4}, headers=h
        )
    ).json()
    assert last["total_is_lower_bound"] is False and last["total"] == 5
    everyone, _ = await _all_pages(client, h, "/api/patients", {"name": f"{s}gar {s}maria"}, 2)
    assert sorted(everyone) == sorted(p["id"] for p in made)


# --- migration 0007 --------------------------------------------------------------------


async def test_migration_0007_backfills_parts_and_pairs(tmp_path: Path):
    if conftest.DB_SERVER:
        name = f"hh_test_{uuid.uuid4().hex[:12]}"
        await conftest._mysql_admin(
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        url = conftest._server_url(name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'backfill.db'}"
    try:
        await asyncio.to_thread(upgrade, url, "0006")
        engine = create_engine(make_settings(url))
        pid = uuid.uuid4()
        now = datetime.now(UTC)
        names = sa.table(
            "patient_names",
            sa.column("id", sa.Uuid()),
            sa.column("patient_id", sa.Uuid()),
            sa.column("position", sa.Integer()),
            sa.column("is_primary", sa.Boolean()),
            sa.column("family", sa.String()),
            sa.column("given_json", sa.Text()),
        )
        old_tokens = sa.table(
            "patient_name_tokens",
            sa.column("patient_id", sa.Uuid()),
            sa.column("token"),
            sa.column("sort_family"),
            sa.column("sort_given"),
            sa.column("birth_date", sa.Date()),
        )
        key = {
            "sort_family": "garcia lopez garcialopez",
            "sort_given": "maria",
            "birth_date": date(1961, 7, 8),
        }
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(Patient.__table__).values(
                    id=pid,
                    mrn="M0000001",
                    active=True,
                    gender="female",
                    deceased=False,
                    created_at=now,
                    updated_at=now,
                    **key,
                )
            )
            await conn.execute(
                sa.insert(names).values(
                    id=uuid.uuid4(),
                    patient_id=pid,
                    position=0,
                    is_primary=True,
                    family="García-López",
                    given_json=json.dumps(["María"]),
                )
            )
            await conn.execute(
                sa.insert(old_tokens),
                [{"patient_id": pid, "token": t, **key} for t in ("garcia", "lopez", "garcialopez", "maria")],
            )
        await engine.dispose()
        await asyncio.to_thread(upgrade, url)
        engine = create_engine(make_settings(url))
        async with engine.connect() as conn:
            tokens = (
                await conn.execute(
                    select(PatientNameToken.token, PatientNameToken.in_family, PatientNameToken.in_given)
                )
            ).all()
            pairs = (
                await conn.execute(
                    select(
                        PatientNameTokenPair.patient_id,
                        PatientNameTokenPair.anchor,
                        PatientNameTokenPair.token,
                        PatientNameTokenPair.sort_family,
                        PatientNameTokenPair.sort_given,
                        PatientNameTokenPair.birth_date,
                    )
                )
            ).all()
        await engine.dispose()
        assert {t: (bool(f), bool(g)) for t, f, g in tokens} == {
            "garcia": (True, False),
            "lopez": (True, False),
            "garcialopez": (True, False),
            "maria": (False, True),
        }
        everything = ["garcia", "lopez", "garcialopez", "maria"]
        assert {tuple(r) for r in pairs} == {
            (pid, a, b, *key.values()) for a, b in itertools.permutations(everything, 2)
        }
    finally:
        await conftest.drop_database(url)


async def test_words_that_cannot_anchor_fall_back_to_the_token_walk(client, db, monkeypatch):
    """Words matching more distinct tokens than an anchor may have still answer (by the walk)."""
    monkeypatch.setattr(repository, "ANCHOR_VOCABULARY_CAP", 1)
    walked = 0
    real = repository._search_by_tokens

    async def spy(*args: Any, **kwargs: Any) -> Any:
        nonlocal walked
        walked += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(repository, "_search_by_tokens", spy)
    h = await headers_for(client, db, "receptionist")
    s = _salt()
    p = await register(client, h, family=f"{s}garcia", given=[f"{s}maria"])
    q = await register(client, h, family=f"{s}gomez", given=[f"{s}marco"])  # two tokens per word
    await register(client, h, family=f"{s}lopez", given=[f"{s}ana"])
    # The other word than the longest anchors: "ga" matches one token (garcia), the pairs answer.
    assert await _ids(client, h, name=f"{s}mari {s}ga") == [p["id"]]
    assert walked == 0
    # Both words match two distinct tokens: the walk, ordered by the g-token (garcia, gomez).
    assert await _ids(client, h, name=f"{s}m {s}g") == [p["id"], q["id"]]
    assert walked == 1
