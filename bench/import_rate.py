"""`python -m bench import`: the FHIR importer's rate against a bare bulk insert of what it wrote.

Each round imports the real Synthea folder (``<sample data>/synthea/standard``) through the real
entry point of ``hospital import-fhir`` (``app.fhir.importer.import_paths``) into a fresh database
migrated by the real migrations, then inserts the very rows that import produced (every table it
wrote: patients, clinical rows and their children, directory, raw resources, audit events, ...)
into another fresh copy with one SQLAlchemy Core ``insert(table)`` executemany per table, in one
transaction, on the app's own engine (aiosqlite, same pragmas). Rounds alternate importer, raw,
importer, raw, ... and the ratio of the medians is reported: the share of a bare bulk insert's
speed that the importer keeps. Both rates count the same resources (the bundle entries).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

import app.models  # noqa: F401 - every table in the metadata
from app.config import Settings
from app.db import Base
from app.fhir import importer
from bench.common import (
    BenchError,
    database,
    finish,
    fresh_copy,
    median,
    migrated_template,
    print_machine,
    run_bounded,
    spread_pct,
    timed,
)

Rows = dict[str, list[dict[str, Any]]]


async def table_rows(conn: AsyncConnection) -> Rows:
    out: Rows = {}
    for table in Base.metadata.sorted_tables:
        rows = [dict(r._mapping) for r in (await conn.execute(select(table))).all()]
        if rows:
            out[table.name] = rows
    return out


async def import_round(template: Path, path: Path, folder: Path, bound: float) -> tuple[float, int, Rows]:
    fresh_copy(template, path)
    db = database(path)
    try:
        seconds, report = await timed(lambda: importer.import_paths(db, [folder]), bound)
        if report.problems:
            raise BenchError("the import reported problems:\n" + "\n".join(map(str, report.problems[:10])))
        resources = sum(report.total(o) for o in importer.OUTCOMES)
        async with db.engine.connect() as conn:
            rows = await table_rows(conn)
    finally:
        await db.dispose()
    return seconds, resources, rows


async def raw_round(template: Path, path: Path, rows: Rows, bound: float) -> float:
    fresh_copy(template, path)
    db = database(path)
    tables: list[Table] = [t for t in Base.metadata.sorted_tables if t.name in rows]
    try:
        # Singleton rows the migrations created (chain head, MRN counter) make way first, untimed.
        async with db.engine.begin() as conn:
            for table in tables:
                if (await conn.execute(select(func.count()).select_from(table))).scalar_one():
                    await conn.execute(delete(table))

        async def bulk() -> None:
            async with db.engine.begin() as conn:
                for table in tables:
                    await conn.execute(insert(table), rows[table.name])

        seconds, _ = await timed(bulk, bound)
    finally:
        await db.dispose()
    return seconds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench import", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--rounds", type=int, default=5, help="rounds, each: importer then raw insert (default 5)")
    add("--warmup", type=int, default=1, help="unmeasured rounds first (imports, caches; default 1)")
    add("--folder", type=Path, default=None, help="FHIR folder (default: <sample data>/synthea/standard)")
    add("--timeout", type=float, default=600, help="bound on the whole run, seconds (default 600)")
    add("--no-save", action="store_true", help="do not write the summary under bench/results")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be positive")
    return args


async def main_async(args: argparse.Namespace) -> int:
    folder: Path = args.folder
    info = print_machine(
        "Hospital Hub bench: FHIR import rate against a raw Core bulk insert of the same rows"
    )
    files = importer.discover([folder])
    print(
        f"setup: {folder} ({len(files)} files), fresh migrated SQLite per round, "
        f"{args.warmup} warm-up round(s), then {args.rounds} rounds of importer then raw insert"
    )
    import_s: list[float] = []
    raw_s: list[float] = []
    resources = 0
    rows: Rows = {}
    per_round = args.timeout / (2 * (args.rounds + args.warmup) + 1)
    with tempfile.TemporaryDirectory(prefix="hospital-bench-import-") as tmp:
        workdir = Path(tmp)
        template = await migrated_template(workdir)
        for _ in range(args.warmup):
            _, _, warm = await import_round(template, workdir / "import.db", folder, per_round)
            await raw_round(template, workdir / "raw.db", warm, per_round)
        for number in range(1, args.rounds + 1):
            seconds, count, found = await import_round(template, workdir / "import.db", folder, per_round)
            if number == 1:
                resources, rows = count, found
            elif count != resources:
                raise BenchError(f"round {number} imported {count} resources, round 1 {resources}")
            import_s.append(seconds)
            raw_s.append(await raw_round(template, workdir / "raw.db", rows, per_round))
            print(
                f"  round {number}/{args.rounds}: importer {import_s[-1]:.3f} s, raw {raw_s[-1]:.3f} s",
                flush=True,
            )

    row_count = sum(len(v) for v in rows.values())
    import_rate = [resources / s for s in import_s]
    raw_rate = [resources / s for s in raw_s]
    paired = [r / i for i, r in zip(import_s, raw_s, strict=True)]
    print()
    print(f"{'round':>5}  {'importer res/s':>15}  {'raw res/s':>12}  {'ratio':>7}")
    for i, (a, b) in enumerate(zip(import_rate, raw_rate, strict=True), start=1):
        print(f"{i:>5}  {a:>15,.0f}  {b:>12,.0f}  {a / b:>7.4f}")
    print()
    print(f"resources             {resources:,} bundle entries -> {row_count:,} rows in {len(rows)} tables")
    print(
        f"importer              median {median(import_rate):,.0f} resources/s, "
        f"spread {spread_pct(import_rate)}%"
    )
    print(f"raw Core bulk insert  median {median(raw_rate):,.0f} resources/s, spread {spread_pct(raw_rate)}%")
    ratio = median(import_rate) / median(raw_rate)
    print(
        f"ratio importer/raw    {ratio:.4f}  (per round: median {median(paired):.4f}, "
        f"range {min(paired):.4f} .. {max(paired):.4f}); the importer costs {1 / ratio:,.0f}x a bare insert"
    )
    summary = {
        "bench": "import_vs_raw_insert",
        "valid": True,
        "folder": str(folder),
        "files": len(files),
        "resources": resources,
        "rows": row_count,
        "rows_by_table": {k: len(v) for k, v in sorted(rows.items())},
        "rounds": args.rounds,
        "import_rps": round(median(import_rate), 1),
        "import_spread_pct": spread_pct(import_rate),
        "raw_rps": round(median(raw_rate), 1),
        "raw_spread_pct": spread_pct(raw_rate),
        "ratio": round(ratio, 4),
        "ratio_paired_median": round(median(paired), 4),
        "ratio_paired_min": round(min(paired), 4),
        "ratio_paired_max": round(max(paired), 4),
        "machine": info,
    }
    detail = {"import_seconds": import_s, "raw_seconds": raw_s}
    return finish("import", summary, detail, save=not args.no_save)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.folder = args.folder or Settings().sample_data / "synthea" / "standard"
    if not args.folder.is_dir():
        print(
            f"bench failed: no sample data at {args.folder} (HOSPITAL_SAMPLE_DATA or --folder)",
            file=sys.stderr,
        )
        return 1
    try:
        return run_bounded(lambda: main_async(args), args.timeout)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
