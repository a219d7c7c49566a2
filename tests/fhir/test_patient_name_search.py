"""FHIR Patient search by name parts: ``family`` matches family names only, ``given`` given names
only, ``name`` any part; words and parameters are AND-ed; prefix, case- and accent-insensitive."""

from __future__ import annotations

import random
import string
from typing import Any

import httpx

from app.db import Database
from app.patients import repository
from tests.fhir.helpers import assert_outcome, assert_valid
from tests.patients.helpers import headers_for

FHIR = {"Content-Type": "application/fhir+json"}


async def _create(client: httpx.AsyncClient, h: dict[str, str], *names: dict[str, Any]) -> str:
    resource = {"resourceType": "Patient", "name": list(names), "birthDate": "1980-01-01"}
    r = await client.post("/fhir/Patient", json=resource, headers={**h, **FHIR})
    assert r.status_code == 201, r.text
    pid: str = r.json()["id"]
    return pid


async def _found(client: httpx.AsyncClient, h: dict[str, str], query: str) -> set[str]:
    r = await client.get(f"/fhir/Patient?{query}&_count=200", headers=h)
    assert r.status_code == 200, (query, r.text)
    bundle = r.json()
    assert_valid(bundle)
    assert bundle["total"] == len(bundle.get("entry", [])), query
    return {e["resource"]["id"] for e in bundle.get("entry", [])}


async def test_family_and_given_match_only_their_own_name_parts(
    client: httpx.AsyncClient, db: Database
) -> None:
    h = await headers_for(client, db, "doctor")
    s = "y" + "".join(random.choices(string.ascii_lowercase, k=5))  # names no other test uses
    thomas = await _create(client, h, {"family": f"{s}Thomas", "given": [f"{s}John"]})
    johnson = await _create(client, h, {"family": f"{s}Johnson", "given": [f"{s}Thomas"]})
    # One token in both parts; a maiden name as a second HumanName; a name given only as text.
    maria = await _create(
        client,
        h,
        {"use": "official", "family": f"{s}María", "given": [f"{s}María"]},
        {"use": "maiden", "family": f"{s}Godínez"},
    )
    text_only = await _create(client, h, {"text": f"{s}Thomas {s}Godínez"})

    cases = {
        # family= / given=: before this change both matched any name part.
        f"family={s}thomas": {thomas},
        f"given={s}thomas": {johnson},
        f"family={s}john": {johnson},
        f"given={s}JOHN": {thomas},
        f"name={s}thomas": {thomas, johnson, text_only},
        f"name={s}john": {thomas, johnson},
        f"family={s}godinez": {maria},  # the maiden name is a family name too
        f"given={s}godi": set(),
        f"name={s}godínez": {maria, text_only},
        # AND across parameters, and the pair index with parts: family x given.
        f"family={s}johns&given={s}tho": {johnson},
        f"family={s}thomas&given={s}john": {thomas},
        f"family={s}john&given={s}john": set(),
        f"given={s}john&name={s}thom": {thomas},
        f"family={s}god&given={s}mar": {maria},
        f"family={s}thom&given={s}thom": set(),
        # The same token as family and given name: one token answers both parameters.
        f"family={s}mar&given={s}maria": {maria},
        f"family={s}maria&given={s}mar": {maria},
        f"family={s}maria&name={s}maria": {maria},
        f"family={s}maria {s}godinez": {maria},
        f"family={s}thomas&family={s}john": set(),  # repeated: AND
    }
    for query, expected in cases.items():
        assert await _found(client, h, query) == expected, query
    # The token walk answers the same where no word may anchor a pair.
    original = repository.ANCHOR_VOCABULARY_CAP
    repository.ANCHOR_VOCABULARY_CAP = 0
    try:
        for query, expected in cases.items():
            assert await _found(client, h, query) == expected, query
    finally:
        repository.ANCHOR_VOCABULARY_CAP = original

    for query in ("family=", "given=%27-", "family=%20"):
        assert_outcome(await client.get(f"/fhir/Patient?{query}", headers=h), 400)


async def test_family_and_given_keep_the_native_order_and_paging(
    client: httpx.AsyncClient, db: Database
) -> None:
    h = await headers_for(client, db, "doctor")
    s = "y" + "".join(random.choices(string.ascii_lowercase, k=5))
    made = [
        await _create(client, h, {"family": f"{s}García{suffix}", "given": [f"{s}Ana", f"{s}{other}"]})
        for suffix, other in (("b", "Zoe"), ("a", "Eva"), ("c", "Ida"), ("a", "Bea"))
    ]
    # Ordered by the token matched by the longer word (the family's), then family, given, ...
    r = await client.get(f"/fhir/Patient?given={s}an&family={s}garc&_count=3", headers=h)
    first = r.json()
    assert first["total"] == 4 and len(first["entry"]) == 3
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = (await client.get(nxt, headers=h)).json()
    ids = [e["resource"]["id"] for e in first["entry"] + second["entry"]]
    assert ids == [made[3], made[1], made[0], made[2]]
