"""`make bench`: requests/s of GET /api/auth/me against a bare-ASGI ceiling, in one run.

Both are served by uvicorn with the same flags and one worker, on loopback, and loaded by the same
generator in its own process (bench/load.py). Rounds alternate ceiling, app, ceiling, app, ... so
that a noisy neighbour slows both alike; each target's median is reported with its spread, and
the ratio of the medians is the number to compare between runs and machines (bench/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"

# The same for both servers: only the application differs. Access logs are off in both because at
# these rates writing them would dominate the ceiling and blur the ratio.
SERVER_FLAGS = ["--workers=1", "--no-access-log", "--log-level=warning", "--no-server-header"]

BENCH_USER = "bench"
BENCH_ROLE = "doctor"


@dataclass
class Target:
    name: str
    label: str
    port: int
    path: str
    requests: int
    headers: list[str] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def rates(self) -> list[float]:
        return [float(r["requests_per_s"]) for r in self.rounds]


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# processes


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


class Server:
    """A server subprocess with its output kept in a file, stopped on exit whatever happens."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], workdir: Path, cpu: int | None
    ) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv, env=env, cwd=workdir, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=pinned(cpu)
        )

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            time.sleep(0.1)
        raise BenchError(f"{self.name} not ready at {url} after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@contextlib.contextmanager
def running(
    name: str, argv: list[str], env: dict[str, str], workdir: Path, cpu: int | None
) -> Iterator[Server]:
    server = Server(name, argv, env, workdir, cpu)
    try:
        yield server
    finally:
        server.stop()


def uvicorn_argv(target: str, port: int, *, factory: bool = False) -> list[str]:
    argv = [sys.executable, "-m", "uvicorn", target, f"--host={HOST}", f"--port={port}", f"--app-dir={ROOT}"]
    return argv + (["--factory"] if factory else []) + SERVER_FLAGS


@dataclass(frozen=True)
class LoadPlan:
    connections: int
    seconds: float
    warmup: int
    warmup_seconds: float
    cpu: int | None


def run_load(target: Target, plan: LoadPlan) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "bench.load",
        f"--host={HOST}",
        f"--port={target.port}",
        f"--path={target.path}",
        f"--connections={plan.connections}",
        f"--requests={target.requests}",
        f"--seconds={plan.seconds}",
        f"--warmup={plan.warmup}",
        f"--warmup-seconds={plan.warmup_seconds}",
        *(f"--header={h}" for h in target.headers),
    ]
    # Each phase is time-bounded (plus 5 s for a server that stopped answering).
    done = subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=plan.seconds + plan.warmup_seconds + 60,
        preexec_fn=pinned(plan.cpu),
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"load generator failed on {target.label}:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------------------------
# the app under test


def hospital_command() -> list[str]:
    script = Path(sys.executable).with_name("hospital")
    if script.exists():
        return [str(script)]
    found = shutil.which("hospital")
    if found:
        return [found]
    return [sys.executable, "-c", "from app.cli import main; main()"]


def app_missing() -> str | None:
    main = ROOT / "app" / "main.py"
    if not main.exists() or "def create_app" not in main.read_text():
        return "app/main.py with create_app() does not exist yet"
    return None


def app_environment(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSPITAL_")}
    env.update(
        {
            "HOSPITAL_ENV": "production",
            "HOSPITAL_SECRET_KEY": secrets.token_hex(32),
            "HOSPITAL_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            # Long enough for any run: a token expiring mid-run would turn into 401s.
            "HOSPITAL_ACCESS_TOKEN_MINUTES": "60",
            "PYTHONPATH": str(ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def prepare_database(env: dict[str, str], workdir: Path, password: str) -> None:
    for args in (
        ["migrate"],
        ["create-user", "--username", BENCH_USER, "--password", password, "--role", BENCH_ROLE],
    ):
        done = subprocess.run(
            [*hospital_command(), *args],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise BenchError(f"hospital {args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def sign_in(port: int, password: str) -> str:
    form = urllib.parse.urlencode({"username": BENCH_USER, "password": password}).encode()
    request = urllib.request.Request(
        f"http://{HOST}:{port}/api/auth/token",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.load(response)["access_token"]
    except urllib.error.HTTPError as exc:
        raise BenchError(f"POST /api/auth/token: {exc.code} {exc.read()[:500]!r}") from exc
    me = urllib.request.Request(
        f"http://{HOST}:{port}/api/auth/me", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(me, timeout=30) as response:
        body = json.load(response)
    if body.get("username") != BENCH_USER:
        raise BenchError(f"GET /api/auth/me answered for {body.get('username')!r}, not {BENCH_USER!r}")
    return str(token)


# ---------------------------------------------------------------------------------------------
# report


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        import uvicorn

        uvicorn_version = uvicorn.__version__
    except ImportError:  # pragma: no cover
        uvicorn_version = "?"
    extras = [name for name in ("uvloop", "httptools") if _importable(name)]
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "uvicorn": uvicorn_version,
        "server_stack": "+".join(extras) or "asyncio+h11",
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def spread_pct(values: Sequence[float]) -> float:
    """Full range as a percentage of the median: 10 means min and max lie 10% of it apart."""
    if len(values) < 2:
        return 0.0
    return round(100 * (max(values) - min(values)) / statistics.median(values), 1)


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def summarise(ceiling: Target, app: Target | None, capacity: float | None) -> dict[str, Any]:
    c = ceiling.rates()
    summary: dict[str, Any] = {
        "ceiling_rps": round(statistics.median(c), 1),
        "ceiling_spread_pct": spread_pct(c),
        "generator_capacity_rps": round(capacity, 1) if capacity else None,
    }
    if app is not None and app.rounds:
        a = app.rates()
        paired = [x / y for x, y in zip(a, c, strict=False)]
        summary |= {
            "auth_me_rps": round(statistics.median(a), 1),
            "auth_me_spread_pct": spread_pct(a),
            "ratio": round(statistics.median(a) / statistics.median(c), 4),
            "ratio_paired_median": round(statistics.median(paired), 4),
            "ratio_paired_min": round(min(paired), 4),
            "ratio_paired_max": round(max(paired), 4),
            "auth_me_latency_p50_ms": statistics.median(r["latency_ms"]["p50"] for r in app.rounds),
            "auth_me_latency_p99_ms": statistics.median(r["latency_ms"]["p99"] for r in app.rounds),
        }
    summary["ceiling_latency_p50_ms"] = statistics.median(r["latency_ms"]["p50"] for r in ceiling.rounds)
    return summary


def print_table(ceiling: Target, app: Target | None) -> None:
    header = f"{'round':>5}  {'ceiling req/s':>14}"
    if app is not None:
        header += f"  {app.label + ' req/s':>24}  {'ratio':>7}"
    print(header)
    for i, c in enumerate(ceiling.rounds):
        line = f"{i + 1:>5}  {fmt_rate(c['requests_per_s']):>14}"
        if app is not None and i < len(app.rounds):
            a = app.rounds[i]
            line += (
                f"  {fmt_rate(a['requests_per_s']):>24}  {a['requests_per_s'] / c['requests_per_s']:>7.4f}"
            )
        print(line)


# ---------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--rounds", type=int, default=7, help="rounds, each: ceiling then app (default 7)")
    add("--seconds", type=float, default=3.0, help="measured time per target and round (default 3)")
    add("--connections", type=int, default=32, help="keep-alive connections, one request in flight each")
    add("--ceiling-requests", type=int, default=200_000, help="cap on measured requests per ceiling round")
    add("--app-requests", type=int, default=50_000, help="cap on measured requests per app round")
    add("--warmup", type=int, default=200, help="unmeasured requests before each round (cap)")
    add("--warmup-seconds", type=float, default=1.0, help="time bound of each warm-up")
    add("--pin", action="store_true", help="pin servers to one core and the generator to another")
    add("--ceiling-only", action="store_true", help="skip the app (no database, no migrations)")
    add("--no-save", action="store_true", help=f"do not write the summary under {RESULTS}")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.connections < 1 or args.seconds <= 0:
        parser.error("--rounds, --connections and --seconds must be positive")
    return args


def cpu_plan(pin: bool) -> tuple[int | None, int | None]:
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine_info()
    server_cpu, load_cpu = cpu_plan(args.pin)
    plan = LoadPlan(args.connections, args.seconds, args.warmup, args.warmup_seconds, load_cpu)
    skipped = "--ceiling-only" if args.ceiling_only else app_missing()

    print("Hospital Hub bench: GET /api/auth/me against a bare-ASGI ceiling, same run")
    print(
        f"machine: {info['cores']} cores ({info['usable_cores']} usable) {info['cpu']}; {info['os']}; "
        f"Python {info['python']}; uvicorn {info['uvicorn']} ({info['server_stack']}); "
        f"loadavg {info['loadavg']}"
    )
    pinning = "unpinned" if server_cpu is None else f"servers on cpu{server_cpu}, generator on cpu{load_cpu}"
    print(
        f"setup: 1 uvicorn worker each, loopback, {args.connections} keep-alive connections, {pinning}; "
        f"{args.rounds} rounds of ceiling then app, {args.seconds:g} s each "
        f"(caps {args.ceiling_requests:,} / {args.app_requests:,} requests), "
        f"warm-up {args.warmup} requests or {args.warmup_seconds:g} s"
    )
    sys.stdout.flush()

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hospital-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        env = app_environment(workdir)
        ceiling = Target("ceiling", "ceiling", free_port(), "/", args.ceiling_requests)
        ceiling_server = stack.enter_context(
            running("ceiling", uvicorn_argv("bench.ceiling:app", ceiling.port), env, workdir, server_cpu)
        )
        app: Target | None = None
        if skipped is None:
            password = secrets.token_urlsafe(18)
            prepare_database(env, workdir, password)
            app = Target("auth_me", "/api/auth/me", free_port(), "/api/auth/me", args.app_requests)
            app_argv = uvicorn_argv("app.main:create_app", app.port, factory=True)
            app_server = stack.enter_context(running("app", app_argv, env, workdir, server_cpu))
            app_server.wait_ready(f"http://{HOST}:{app.port}/health")
            app.headers = [f"Authorization: Bearer {sign_in(app.port, password)}"]
        ceiling_server.wait_ready(f"http://{HOST}:{ceiling.port}/")

        # What the generator itself can produce, against a server far cheaper than uvicorn: once
        # before and once after the rounds, keeping the better, since noise only lowers it.
        raw = Target("raw", "raw", free_port(), "/", args.ceiling_requests * 2)
        raw_argv = [sys.executable, "-m", "bench.ceiling", f"--port={raw.port}"]
        raw_server = stack.enter_context(running("raw", raw_argv, env, workdir, server_cpu))
        raw_server.wait_ready(f"http://{HOST}:{raw.port}/")
        capacity = float(run_load(raw, plan)["requests_per_s"])

        for number in range(1, args.rounds + 1):
            for target in (ceiling, app):
                if target is None:
                    continue
                result = run_load(target, plan)
                target.rounds.append(result)
                if result["errors"]:
                    failures.append(
                        f"round {number} {target.label}: {result['errors']} errors {result['statuses']}"
                    )
            line = f"  round {number}/{args.rounds}: ceiling {fmt_rate(ceiling.rounds[-1]['requests_per_s'])}"
            if app is not None:
                line += f", {app.label} {fmt_rate(app.rounds[-1]['requests_per_s'])}"
            print(line + " req/s", flush=True)
        capacity = max(capacity, float(run_load(raw, plan)["requests_per_s"]))

    print()
    print_table(ceiling, app)
    summary = summarise(ceiling, app, capacity)
    print()
    print(
        f"ceiling (bare ASGI)   median {fmt_rate(summary['ceiling_rps'])} req/s, "
        f"spread {summary['ceiling_spread_pct']}%, p50 {summary['ceiling_latency_p50_ms']} ms"
    )
    if app is not None:
        print(
            f"GET /api/auth/me      median {fmt_rate(summary['auth_me_rps'])} req/s, "
            f"spread {summary['auth_me_spread_pct']}%, p50 {summary['auth_me_latency_p50_ms']} ms, "
            f"p99 {summary['auth_me_latency_p99_ms']} ms"
        )
        print(
            f"ratio me/ceiling      {summary['ratio']:.4f}  "
            f"(per round: median {summary['ratio_paired_median']:.4f}, "
            f"range {summary['ratio_paired_min']:.4f} .. {summary['ratio_paired_max']:.4f})"
        )
    else:
        print(f"GET /api/auth/me      skipped: {skipped}")
    print(f"generator capacity    {fmt_rate(capacity)} req/s (raw asyncio server)")
    if summary["ceiling_rps"] > 0.7 * capacity:
        failures.append("the ceiling is within 30% of the generator's capacity: the ratio flatters the app")
    for failure in failures:
        print(f"WARNING: {failure}")

    summary = {
        "bench": "auth_me_vs_ceiling",
        "valid": not failures and (app is not None or args.ceiling_only),
        "skipped": skipped,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
        "pinned": server_cpu is not None,
        **summary,
        "machine": info,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        detail = {"ceiling": ceiling.rounds, "auth_me": app.rounds if app else []}
        (RESULTS / f"auth_me-{stamp}.json").write_text(json.dumps({**summary, "detail": detail}, indent=2))
    print(json.dumps(summary, separators=(",", ":")))
    return 0 if summary["valid"] else 1


def cli() -> None:
    try:
        raise SystemExit(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    cli()
