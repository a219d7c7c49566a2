"""Benchmarks that report ratios against a ceiling or baseline measured in the same run.

    python -m bench                   all five, one after the other (each in its own process)
    python -m bench all [--quick]     the same; --quick: the search bench at 10k vs 200k patients
    python -m bench auth [options]    GET /api/auth/me against a bare-ASGI ceiling (bench/run.py)
    python -m bench import [options]  FHIR import rate against a raw Core bulk insert
    python -m bench search [options]  patient name search, 10k vs 1M patients
    python -m bench chart [options]   chart + first page of encounters, 5 vs 500 encounters
    python -m bench booking [options] booking throughput and a 200-way race for one slot vs plain inserts
    python -m bench telehealth [opts] join to first video frame vs direct aiortc; rooms per signaling process
    python -m bench monitoring [...]  1,000 devices at 1 Hz -> dashboards, latency against raw Redis pub/sub
    python -m bench --rounds 11 ...   options without a name: the auth bench, as before

`python -m bench NAME --help` lists a bench's options. See bench/README.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.run import ROOT

BENCHES = ("auth", "import", "search", "chart", "booking", "telehealth", "monitoring")
# Upper bounds for `all`: each bench also bounds itself; this only catches one that hangs.
OUTER_TIMEOUT = {
    "auth": 600,
    "import": 700,
    "search": 1000,
    "chart": 700,
    "booking": 700,
    "telehealth": 1000,
    "monitoring": 900,
}


def _entry(name: str) -> Callable[[list[str]], int]:
    if name == "auth":
        from bench import run

        def auth(argv: list[str]) -> int:
            try:
                return run.main(argv)
            except run.BenchError as exc:
                print(f"bench failed: {exc}", file=sys.stderr)
                return 1

        return auth
    if name == "import":
        from bench import import_rate

        return import_rate.main
    if name == "search":
        from bench import search

        return search.main
    if name == "booking":
        from bench import booking

        return booking.main
    if name == "telehealth":
        from bench import telehealth

        return telehealth.main
    if name == "monitoring":
        from bench import monitoring

        return monitoring.main
    from bench import chart

    return chart.main


def run_child(name: str, argv: list[str]) -> tuple[int, dict[str, Any] | None]:
    """One bench in its own process, its output passed through; returns its JSON summary."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", name, *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    timer = threading.Timer(OUTER_TIMEOUT[name], process.kill)
    timer.start()
    last = None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.startswith("{"):
                last = line
        code = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    summary = None
    if last is not None:
        try:
            summary = json.loads(last)
        except json.JSONDecodeError:
            summary = None
    return code, summary


def run_all(argv: list[str]) -> int:
    quick = "--quick" in argv
    unknown = [a for a in argv if a != "--quick"]
    if unknown:
        print(f"python -m bench all: unknown options {unknown} (only --quick)", file=sys.stderr)
        return 2
    started = time.monotonic()
    results: dict[str, Any] = {}
    codes: dict[str, int] = {}
    for name in BENCHES:
        print(f"\n===== bench {name} =====", flush=True)
        extra = ["--quick"] if quick and name == "search" else []
        codes[name], results[name] = run_child(name, extra)
    print("\n===== summary =====")
    for name in BENCHES:
        r = results[name] or {}
        goal = r.get("goal_met")
        note = "" if goal is None else f", goal {'met' if goal else 'NOT met'}"
        print(f"{name:<7} exit {codes[name]}, ratio {r.get('ratio')}{note}")
    summary = {
        "bench": "all",
        "valid": all(c == 0 for c in codes.values()),
        "seconds": round(time.monotonic() - started, 1),
        "ratios": {n: (results[n] or {}).get("ratio") for n in BENCHES},
        "goals_met": {n: (results[n] or {}).get("goal_met") for n in ("search", "chart")},
        "exit_codes": codes,
    }
    print(json.dumps(summary, separators=(",", ":")), flush=True)
    return 0 if summary["valid"] else 1


def main(argv: list[str]) -> int:
    if not argv:
        return run_all([])
    name, rest = argv[0], argv[1:]
    if name == "all":
        return run_all(rest)
    if name in BENCHES:
        return _entry(name)(rest)
    if name in ("-h", "--help") and not rest:
        print(__doc__)
        return 0
    if name.startswith("-"):
        return _entry("auth")(argv)
    print(f"unknown bench {name!r}: one of {', '.join(('all', *BENCHES))}", file=sys.stderr)
    return 2


raise SystemExit(main(sys.argv[1:]))
