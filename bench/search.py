"""`python -m bench search`: patient name search at a small and a large number of patients.

Two databases migrated by the real migrations are filled by the fixture in ``bench/population.py``
(Core bulk inserts into patients, patient_names and patient_name_tokens, tokens and sort keys by
``app.patients.names``): by default 10,000 and 1,000,000 patients drawn from the same name
distribution. The same queries, as a user types them (common and rare prefixes, accents, an
apostrophe, two words, no match), go through ``app.patients.service.search_patients`` as a doctor,
first page of 50 as the API asks for it, each in its own session (rolled back after, untimed).
Repetitions interleave the two sizes (small then large, then large then small) so a noisy
neighbour hits both alike; per query the ratio of the median times large/small is the cost of
growing the registry. Goal (issue 3): at most 2x. The query plans (EXPLAIN QUERY PLAN of the
statements the service actually sent) of a one-word and a two-word search are printed, with
whether they use the token index and the token-pair index.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import event

from app.db import Database
from app.deps import Principal
from app.patients import service
from bench import population
from bench.common import (
    BenchError,
    database,
    doctor_principal,
    finish,
    fresh_copy,
    geomean,
    median,
    migrated_template,
    ms,
    print_machine,
    run_bounded,
    spread_pct,
    timed,
)

GOAL = 2.0
TOKEN_INDEX = "ix_patient_name_tokens_token"
PAIR_INDEX = "ix_patient_name_token_pairs_anchor"
# The plans printed: a one-word search (the token index) and a two-word one (the pair index).
PLANNED: tuple[tuple[str, str], ...] = (("smi", TOKEN_INDEX), ("maria gar", PAIR_INDEX))
# (what the user types, why it is here)
QUERIES: tuple[tuple[str, str], ...] = (
    ("m", "one letter"),
    ("smi", "common family prefix"),
    ("García", "common, accented"),
    ("müll", "accented prefix"),
    ("o'bri", "apostrophe"),
    ("maria gar", "two words"),
    ("łukas", "rarer given name"),
    ("żółk", "rare family name"),
    ("zelanski", "long-tail name"),
    ("qxj", "no match"),
)


async def search_once(
    db: Database, principal: Principal, name: str, limit: int, bound: float
) -> tuple[float, int]:
    async with db.sessionmaker() as session:
        try:
            seconds, (rows, total, _) = await timed(
                lambda: service.search_patients(session, principal, name=name, limit=limit, offset=0), bound
            )
        finally:
            await session.rollback()
    if len(rows) != min(total, limit):
        raise BenchError(f"search {name!r}: {len(rows)} rows for a total of {total}")
    return seconds, total


async def query_plans(
    db: Database, principal: Principal, name: str, limit: int
) -> list[tuple[str, list[str]]]:
    """EXPLAIN QUERY PLAN of every SELECT the service sends for this search."""
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await search_once(db, principal, name, limit, 120)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    plans = []
    async with db.engine.connect() as conn:
        for statement, parameters in sent:
            rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)).all()
            depth: dict[int, int] = {0: -1}
            lines = []
            for node, parent, _, detail in (tuple(r) for r in rows):
                depth[node] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node] + str(detail))
            plans.append((statement, lines))
    return plans


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench search", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--patients-small", type=int, default=10_000, help="patients in the small registry (default 10,000)")
    add("--patients-large", type=int, default=1_000_000, help="patients in the large one (default 1,000,000)")
    add(
        "--quick", action="store_true", help="10,000 vs 200,000 patients: generation in seconds, not a minute"
    )
    add("--reps", type=int, default=15, help="measured repetitions of every query on both sizes (default 15)")
    add("--budget", type=float, default=150, help="stop repeating after this many seconds (min 3 reps)")
    add("--limit", type=int, default=50, help="page size (default 50, the API's)")
    add("--seed", type=int, default=1)
    add("--timeout", type=float, default=900, help="bound on the whole run, seconds (default 900)")
    add("--no-save", action="store_true", help="do not write the summary under bench/results")
    args = parser.parse_args(argv)
    if args.quick:
        args.patients_small, args.patients_large = 10_000, 200_000
    if not 0 < args.patients_small < args.patients_large or args.reps < 1:
        parser.error("need 0 < --patients-small < --patients-large and --reps >= 1")
    return args


def print_plans(plans: Sequence[tuple[str, list[str]]], index: str) -> bool:
    used = False
    for number, (statement, lines) in enumerate(plans, start=1):
        head = " ".join(statement.split())
        print(f"  [{number}] {head[:150]}{' ...' if len(head) > 150 else ''}")
        for line in lines:
            print(f"        {line}")
        used = used or any(index in line for line in lines)
    return used


async def main_async(args: argparse.Namespace) -> int:
    info = print_machine("Hospital Hub bench: patient name search, small vs large registry, same run")
    small_n, large_n = args.patients_small, args.patients_large
    print(
        f"setup: {small_n:,} vs {large_n:,} generated patients (seed {args.seed}), service.search_patients "
        f"as a doctor, first page of {args.limit}; {len(QUERIES)} queries, up to {args.reps} interleaved "
        f"repetitions (budget {args.budget:g} s)",
        flush=True,
    )
    principal = doctor_principal()
    with tempfile.TemporaryDirectory(prefix="hospital-bench-search-") as tmp:
        workdir = Path(tmp)
        template = await migrated_template(workdir)
        generated = {}
        for label, count in (("small", small_n), ("large", large_n)):
            path = fresh_copy(template, workdir / f"{label}.db")
            print(f"  generating {count:,} patients ...", end=" ", flush=True)
            generated[label] = population.generate(path, count, seed=args.seed)
            g = generated[label]
            print(
                f"{g['seconds']} s ({g['insert_seconds']} s inserts, {g['index_seconds']} s indexes; "
                f"{g['rows']['patient_name_tokens']:,} tokens, {g['rows']['patient_name_token_pairs']:,} "
                f"token pairs; {g['db_mb']} MB)",
                flush=True,
            )
        dbs = {label: database(workdir / f"{label}.db") for label in ("small", "large")}
        try:
            return await measure(args, dbs, principal, generated, info)
        finally:
            for db in dbs.values():
                await db.dispose()


async def measure(
    args: argparse.Namespace,
    dbs: dict[str, Database],
    principal: Principal,
    generated: dict[str, Any],
    info: dict[str, Any],
) -> int:
    per_query = 120.0
    times: dict[str, dict[str, list[float]]] = {q: {"small": [], "large": []} for q, _ in QUERIES}
    totals: dict[str, dict[str, int]] = {q: {} for q, _ in QUERIES}
    for q, _ in QUERIES:  # warm-up: caches, statement compilation; also the match counts
        for label, db in dbs.items():
            totals[q][label] = (await search_once(db, principal, q, args.limit, per_query))[1]

    index_used = True
    for query, index in PLANNED:
        print()
        print(f"query plans on the large registry for {query!r} (EXPLAIN QUERY PLAN of each statement sent):")
        used = print_plans(await query_plans(dbs["large"], principal, query, args.limit), index)
        print(f"  index {index}: {'used' if used else 'NOT USED'}")
        index_used = index_used and used
    print(flush=True)

    # Where the small registry fills less of the page (fewer matches than the page size), the
    # large one is also timed with the small one's page length: the same search, as many rows
    # loaded. That ratio separates the registry's size from the number of rows returned.
    same_page = {
        q: min(totals[q]["small"], args.limit)
        for q, _ in QUERIES
        if min(totals[q]["small"], args.limit) < min(totals[q]["large"], args.limit)
    }
    same_page_times: dict[str, list[float]] = {q: [] for q in same_page}
    started = time.perf_counter()
    reps = 0
    while reps < args.reps and (reps < 3 or time.perf_counter() - started < args.budget):
        order = ("small", "large") if reps % 2 == 0 else ("large", "small")
        for q, _ in QUERIES:
            for label in order:
                seconds, total = await search_once(dbs[label], principal, q, args.limit, per_query)
                if total != totals[q][label]:
                    raise BenchError(f"{q!r} on {label}: {total} matches, {totals[q][label]} before")
                times[q][label].append(seconds)
            if q in same_page:
                seconds, _ = await search_once(dbs["large"], principal, q, same_page[q], per_query)
                same_page_times[q].append(seconds)
        reps += 1
        print(f"  repetition {reps}: {time.perf_counter() - started:.1f} s", flush=True)

    small_n, large_n = args.patients_small, args.patients_large
    print()
    header = (
        f"{'query':<12} {'kind':<22} {'matches ' + format(small_n, ','):>16} "
        f"{'matches ' + format(large_n, ','):>18} {'ms small':>9} {'ms large':>10} {'ratio':>8}  goal  "
        "same page"
    )
    print(header)
    ratios: dict[str, float] = {}
    same_page_ratios: dict[str, float] = {}
    rows = []
    for q, kind in QUERIES:
        s, large = median(times[q]["small"]), median(times[q]["large"])
        ratios[q] = large / s
        ok = "ok" if ratios[q] <= GOAL else "OVER"
        same = "-"
        if q in same_page:
            same_page_ratios[q] = median(same_page_times[q]) / s
            same = f"{same_page_ratios[q]:.2f}x ({same_page[q]} rows)"
        print(
            f"{q:<12} {kind:<22} {totals[q]['small']:>16,} {totals[q]['large']:>18,} "
            f"{ms(s):>9} {ms(large):>10} {ratios[q]:>7.2f}x  {ok:<4}  {same}"
        )
        rows.append(
            {
                "query": q,
                "kind": kind,
                "matches_small": totals[q]["small"],
                "matches_large": totals[q]["large"],
                "ms_small": round(s * 1000, 3),
                "ms_large": round(large * 1000, 3),
                "spread_small_pct": spread_pct(times[q]["small"]),
                "spread_large_pct": spread_pct(times[q]["large"]),
                "ratio": round(ratios[q], 3),
                "ratio_same_page": round(same_page_ratios[q], 3) if q in same_page_ratios else None,
                "same_page_rows": same_page.get(q),
            }
        )
    worst = max(ratios, key=lambda k: ratios[k])
    overall = geomean(list(ratios.values()))
    over = [q for q, r in ratios.items() if r > GOAL]
    print()
    print(
        f"sizes                 {small_n:,} vs {large_n:,} patients ({large_n / small_n:,.0f}x), "
        f"{reps} repetitions"
    )
    print(
        f"ratio large/small     geometric mean {overall:.2f}x over {len(QUERIES)} queries; "
        f"worst {ratios[worst]:.2f}x ({worst!r})"
    )
    verdict = "met by every query" if not over else "NOT met by " + ", ".join(map(repr, over))
    print(f"goal <= {GOAL:g}x           {verdict}")
    summary = {
        "bench": "patient_search_small_vs_large",
        "valid": index_used,
        "patients_small": small_n,
        "patients_large": large_n,
        "quick": args.quick,
        "page_size": args.limit,
        "repetitions": reps,
        "ratio": round(overall, 3),
        "ratio_worst": round(ratios[worst], 3),
        "worst_query": worst,
        "goal": GOAL,
        "goal_met": not over,
        "queries_over_goal": over,
        "indexes_used": index_used,
        "generation_seconds": {k: v["seconds"] for k, v in generated.items()},
        "queries": rows,
        "machine": info,
    }
    return finish("search", summary, {"times": times, "generated": generated}, save=not args.no_save)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run_bounded(lambda: main_async(args), args.timeout)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
