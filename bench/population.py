"""Benchmark fixture: many patients, fast, straight into the patients tables with Core bulk inserts.

Not app code and not a way to register patients (no audit, no MRN counter, no identifiers): it
writes the rows that ``register_patient`` would leave for a patient with one official name, i.e.
``patients`` (with the sort keys), ``patient_names``, ``patient_name_tokens`` (with the name parts
each token occurs in) and ``patient_name_token_pairs`` (every ordered pair of two distinct tokens),
the last two with their copy of the patient's sort key, all computed by ``app.patients.names``,
so that searching them behaves as searching registered patients.

Names: a mix of cultures with their accents, apostrophes, hyphens and particles (García,
Nguyễn, Müller, O'Brien, Łukasiewicz, Smith-Jones, Van der Berg, ...), Zipf-weighted so a few are
very common and most are rare, plus a long tail of generated family names (about a third of
patients) so that a rare prefix stays rare at any size. 30% have two given names, 10% two family
names. The same seed gives the same people.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, event, text
from sqlalchemy.engine import Connection, Engine

from app.patients import names as naming
from app.patients.models import Patient, PatientName, PatientNameToken, PatientNameTokenPair

_FAMILY_TEXT = """Smith García Nguyễn Müller Martin Rodríguez Johnson Fernández Silva Kowalski Dubois López
Williams González Nowak Schmidt Brown Hernández Pérez Rossi Bernard Jones Sánchez Martínez Wójcik
Lefèvre Schneider Ferreira Jensen Nielsen Andersson Johansson Núñez Gómez Díaz Petit Moreau Fischer
Weber Becker O'Brien O'Connor Murphy Kelly Trần Lê Phạm Kim Lee Park Chen Wang Li Zhang Yılmaz Kaya
Demir Şahin Çelik Öztürk Novák Dvořák Černý Svoboda Horváth Nagy Kovács Tóth Szabó Papadopoulos
Ivanov Petrov Smirnov Kuznetsov Costa Santos Oliveira Souza Gonçalves Conceição Brandão Løkken
Østergaard Ødegaard Åberg Ström Björk Lindqvist Håkansson Mäkinen Virtanen Häkkinen Korhonen
Jovanović Petrović Nikolić Đorđević Kovačević Babić Łukasiewicz Żółkiewski Krawczyk Wiśniewski
Dąbrowski Lewandowski Zieliński Szymański Woźniak Kozłowski Van_der_Berg De_Vries Van_Dijk
Smith-Jones García-López Ben_Ali El_Amrani Benoît Lévêque Côté Gagnon Tremblay Bélanger Gauthier
MacDonald McDonald Ó_Súilleabháin Ní_Bhriain D'Angelo Dell'Acqua Esposito Romano Colombo Ricci Marino
Greco Bruno Gallo Conti De_Luca Mancini Weiß Groß Schröder Köhler Jäger Krüger Hoffmann Schäfer Bauer
Wagner Hassan Hussein Khan Ahmed Ali Singh Kumar Patel Sharma Gupta Yamamoto Tanaka Suzuki Satō
Watanabe"""
FAMILY = [n.replace("_", " ") for n in _FAMILY_TEXT.split()]  # "_": a space inside one name

_GIVEN_TEXT = """Maria José Juan Ana Marie Jean Sophie Luis Carlos Anna Peter Michael John David James Mary
Elizabeth Jennifer Linda Robert William Thomas Daniel Laura Sarah Emma Olivia Noah Liam Lucas Léa Chloé
Zoé Hélène Françoise Élodie Céline Amélie Renée André René François Jérôme Stéphane Benoît Noël Joël
Gaël Inès Anaïs Loïc Raphaël Jürgen Jörg Günter Björn Søren Åsa Øystein Bjørn Łukasz Paweł Michał
Wojciech Małgorzata Grażyna Jolanta Bożena Zbigniew Zygmunt Krzysztof Agnieszka Jiří Tomáš Lukáš
Zdeněk Dušan Đorđe Nikola Miloš Ömer Şükrü Çağla Gülşen Ayşe Mehmet Mustafa Fatma Thị Văn Minh Anh
Hương Thảo Đức Zoë Siobhán Seán Niamh Aoife Pádraig Ciarán Iñaki Begoña Núria Jordi Mónica Sofía Lucía
Martina Valentina Camila Joaquín Ramón Andrés Tomás Rubén Álvaro Adrián Óscar Íñigo João Gonçalo Inês
Francesca Giulia Niccolò Mohammed Fatima Aisha Yusuf Priya Arjun Wei Hiroshi Yuki"""
GIVEN = _GIVEN_TEXT.split()

_TAIL_START_TEXT = (
    "Ab Bel Cor Dra Ek Fal Gor Hal Ize Jar Kle Lor Mav Nor Orl Pra Quin Ros Sta Tor Ulv Var Wen Xav Yor Zel "
    "Bø Šte Čar Žiž Ñu Łę"
)
_TAIL_MIDDLE = ["", "an", "er", "ov", "isz", "ąt", "el", "ow", "ür", "ié"]
_TAIL_END_TEXT = (
    "ski son sen ez ini escu enko ić ová berg mann ard ault eau ides oğlu yan ishvili ström qvist dóttir"
)
_TAIL_START = _TAIL_START_TEXT.split()
_TAIL_END = _TAIL_END_TEXT.split()
TAIL_SHARE = 0.33
ZIPF = 0.8
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def _cumulative(n: int) -> list[float]:
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += 1 / rank**ZIPF
        out.append(total)
    return out


@cache
def _tokens(part: str) -> tuple[str, ...]:
    return tuple(naming.tokens(part))


@cache
def _sort_key(text_: str) -> str:
    return naming.sort_key(text_)


class People:
    """Deterministic stream of (patient, name, tokens) rows."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.family_cw = _cumulative(len(FAMILY))
        self.given_cw = _cumulative(len(GIVEN))

    def family(self) -> str:
        rng = self.rng
        if rng.random() < TAIL_SHARE:
            return rng.choice(_TAIL_START) + rng.choice(_TAIL_MIDDLE) + rng.choice(_TAIL_END)
        return rng.choices(FAMILY, cum_weights=self.family_cw)[0]

    def given(self) -> str:
        return self.rng.choices(GIVEN, cum_weights=self.given_cw)[0]

    def batch(self, start: int, count: int) -> tuple[list[dict[str, Any]], ...]:
        rng = self.rng
        patients: list[dict[str, Any]] = []
        names: list[dict[str, Any]] = []
        tokens: list[dict[str, Any]] = []
        pairs: list[dict[str, Any]] = []
        for sequence in range(start, start + count):
            pid = uuid.UUID(int=rng.getrandbits(128), version=4)
            family = self.family()
            if rng.random() < 0.10:
                family = f"{family} {self.family()}"
            given = [self.given()]
            if rng.random() < 0.30:
                given.append(self.given())
            created = EPOCH + timedelta(seconds=rng.randrange(5 * 365 * 86400))
            patients.append(
                {
                    "id": pid,
                    "mrn": naming.format_mrn(sequence),
                    "active": True,
                    "gender": rng.choice(("female", "male")),
                    "birth_date": date(1930, 1, 1) + timedelta(days=rng.randrange(95 * 365)),
                    "deceased": False,
                    "sort_family": _sort_key(family),
                    "sort_given": _sort_key(" ".join(given)),
                    "created_at": created,
                    "updated_at": created,
                }
            )
            names.append(
                {
                    "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                    "patient_id": pid,
                    "position": 0,
                    "use": "official",
                    "is_primary": True,
                    "family": family,
                    "given_json": json.dumps(given, ensure_ascii=False),
                }
            )
            in_family = set(_tokens(family))
            in_given = {t for g in given for t in _tokens(g)}
            found = sorted(in_family | in_given)
            key = {k: patients[-1][k] for k in ("sort_family", "sort_given", "birth_date")}
            tokens.extend(
                {"patient_id": pid, "token": t, "in_family": t in in_family, "in_given": t in in_given, **key}
                for t in found
            )
            pairs.extend(
                {"patient_id": pid, "anchor": a, "token": b, **key}
                for a, b in sorted(naming.token_pairs(found))
            )
        return patients, names, tokens, pairs


TABLES: tuple[Table, ...] = tuple(
    model.__table__  # type: ignore[misc]
    for model in (Patient, PatientName, PatientNameToken, PatientNameTokenPair)
)


def loader(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # A fixture load: no journal, no fsync, a large cache. The file goes back to WAL after.
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-262144", "foreign_keys=OFF"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return engine


def _secondary_indexes(conn: Any) -> list[tuple[str, str]]:
    names = ", ".join(f"'{t.name}'" for t in TABLES)
    rows = conn.execute(
        text(
            "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({names})"
        )
    ).all()
    return [(str(n), str(s)) for n, s in rows]


def bulk_insert(conn: Connection, table: Table, values: list[dict[str, Any]]) -> None:
    """An INSERT of these columns, executemany'd with the values bound by the columns' own types:
    what ``conn.execute(insert(table), values)`` sends, without its per-row bookkeeping."""
    dialect = conn.dialect
    keys = [c.key for c in table.columns if c.key in values[0]]
    quote = dialect.identifier_preparer.quote
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(table.c[k].name) for k in keys)}) "
        f"VALUES ({', '.join('?' for _ in keys)})"
    )
    processors = [table.c[k].type._cached_bind_processor(dialect) for k in keys]
    if all(p is None for p in processors):
        params = [tuple(row[k] for k in keys) for row in values]
    else:
        params = [
            tuple(p(row[k]) if p is not None else row[k] for k, p in zip(keys, processors, strict=True))
            for row in values
        ]
    conn.exec_driver_sql(statement, params)


def set_wal(path: Path) -> None:
    """Back to the journal mode the app runs with, after a load without journal."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def generate(path: Path, count: int, *, seed: int, batch: int = 20_000) -> dict[str, Any]:
    """Add ``count`` patients to the (migrated) database at ``path``; returns what it did.

    The secondary indexes of the three tables are dropped during the load and recreated after
    from their own SQL (faster than maintaining them row by row); the result is the same
    database as if they had been there all along."""
    started = time.perf_counter()
    people = People(seed)
    engine = loader(path)
    rows = {table.name: 0 for table in TABLES}
    try:
        with engine.begin() as conn:
            indexes = _secondary_indexes(conn)
            for name, _ in indexes:
                conn.execute(text(f'DROP INDEX "{name}"'))
            for start in range(1, count + 1, batch):
                for table, values in zip(
                    TABLES, people.batch(start, min(batch, count + 1 - start)), strict=True
                ):
                    bulk_insert(conn, table, values)
                    rows[table.name] += len(values)
            loaded = time.perf_counter()
            for _, sql in indexes:
                conn.execute(text(sql))
    finally:
        engine.dispose()
    set_wal(path)
    return {
        "patients": count,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
        "insert_seconds": round(loaded - started, 1),
        "index_seconds": round(time.perf_counter() - loaded, 1),
        "db_mb": round(path.stat().st_size / 1e6, 1),
    }
