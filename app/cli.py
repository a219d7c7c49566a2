"""The `hospital` command: migrate, seed, users, audit, openapi, serve."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from app.config import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

cli = typer.Typer(help="Hospital Hub administration", no_args_is_help=True, add_completion=False)
audit_cli = typer.Typer(help="The audit log", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")
notifications_cli = typer.Typer(help="The notification outbox", no_args_is_help=True)
cli.add_typer(notifications_cli, name="notifications")
monitoring_cli = typer.Typer(help="Remote monitoring", no_args_is_help=True)
cli.add_typer(monitoring_cli, name="monitoring")

T = TypeVar("T")

DEMO_PASSWORD = "hospital-demo"  # noqa: S105 - printed on purpose: demo data for a local install
DEMO_USERS = [
    ("admin", "Ada Admin", "admin"),
    ("doctor", "Dr. Grace Okafor", "doctor"),
    ("nurse", "Nurse Mateo Núñez", "nurse"),
    ("receptionist", "Rita Reception", "receptionist"),
    ("pharmacist", "Phil Pharmacist", "pharmacist"),
    ("billing", "Bill Ledger", "billing"),
    ("patient", "Zoë Patient", "patient"),
]


def _run(factory: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(factory(get_settings()))


def _ensure_sqlite_dir(settings: Settings) -> None:
    if settings.is_sqlite and ":///" in settings.database_url:
        path = settings.database_url.split(":///", 1)[1]
        if path and path != ":memory:":
            # The database holds password hashes and patient data: owner-only directory.
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)


@cli.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (creates the SQLite file if needed)."""
    from app.migrate import upgrade

    settings = get_settings()
    _ensure_sqlite_dir(settings)
    upgrade(settings.database_url, revision)
    typer.echo(f"database migrated to {revision}")


async def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from app.context import current_context
    from app.db import Database

    ctx = current_context()
    ctx.actor_username = "cli"
    ctx.client_address = "cli"
    db = Database.from_settings(settings)
    try:
        async with db.sessionmaker() as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await db.dispose()


@cli.command("create-user")
def create_user(
    username: Annotated[str, typer.Option(help="Login name")],
    role: Annotated[list[str], typer.Option("--role", help="Role (repeatable)")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    full_name: Annotated[str | None, typer.Option(help="Display name")] = None,
    email: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a user with one or more roles."""
    from pydantic import ValidationError

    from app.auth import service
    from app.auth.schemas import UserCreate
    from app.errors import AppError

    try:
        data = UserCreate.model_validate(
            {
                "username": username,
                "password": password,
                "full_name": full_name or username,
                "email": email,
                "roles": role,
            }
        )
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"error: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    try:
        user = _run(lambda s: _with_session(s, lambda session: service.create_user(session, data)))
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created user {user.username} ({', '.join(user.role_names)}) id={user.id}")


@cli.command("unlock-user")
def unlock_user(username: Annotated[str, typer.Argument(help="Login name")]) -> None:
    """Lift a sign-in lock-out after too many failed passwords."""

    from app.auth import service

    async def work(session: AsyncSession) -> bool:
        user = await service.find_user(session, username)
        if user is None:
            return False
        await service.unlock_user(session, user.id)
        return True

    if not _run(lambda s: _with_session(s, work)):
        typer.echo(f"error: no user {username!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"unlocked {username.lower()}")


@cli.command("seed-demo")
def seed_demo() -> None:
    """Create the demo users (idempotent) and print their logins. Development only."""

    from app.auth import service
    from app.auth.schemas import UserCreate

    async def work(session: AsyncSession) -> list[str]:
        created = []
        for username, name, role in DEMO_USERS:
            if await service.find_user(session, username) is None:
                await service.create_user(
                    session,
                    UserCreate.model_validate(
                        {"username": username, "password": DEMO_PASSWORD, "full_name": name, "roles": [role]}
                    ),
                )
                created.append(username)
        return created

    if get_settings().env == "production":
        typer.echo(
            "error: refusing to create demo users with known passwords when HOSPITAL_ENV=production", err=True
        )
        raise typer.Exit(2)
    created = _run(lambda s: _with_session(s, work))
    typer.echo(f"demo users: {len(created)} created, {len(DEMO_USERS) - len(created)} already there")
    patients = _run(_seed_demo_patients)
    typer.echo(f"demo patients: {patients} (the `patient` login sees its own chart)")
    staff = _run(lambda s: _with_session(s, _seed_demo_staff))
    typer.echo(f"demo staff: {staff} (departments, the doctor's and nurse's records, shift definitions)")
    clinic = _run(lambda s: _with_session(s, _seed_demo_appointments))
    typer.echo(f"demo appointments: {clinic}")

    typer.echo("")
    typer.echo(f"  Demo logins (password for all: {DEMO_PASSWORD})")
    for username, name, role in DEMO_USERS:
        typer.echo(f"    {username:<13} {role:<13} {name}")
    typer.echo("")


async def _seed_demo_staff(session: AsyncSession) -> str:
    from datetime import UTC, datetime

    from app.demo import seed_demo_staff

    return await seed_demo_staff(session, datetime.now(UTC).date())


async def _seed_demo_appointments(session: AsyncSession) -> str:
    from datetime import UTC, datetime

    from app.demo import seed_demo_appointments

    return await seed_demo_appointments(session, datetime.now(UTC).date())


async def _seed_demo_patients(settings: Settings) -> str:
    """Import the generated demo charts through the real importer and link the demo portal
    account to its record. Idempotent: a second run finds everything unchanged."""
    import tempfile
    from datetime import UTC, datetime

    from app.auth import service as auth_service
    from app.auth.schemas import UserUpdate
    from app.context import current_context
    from app.db import Database
    from app.demo import DEMO_SYSTEM, PORTAL_PATIENT, write_demo_bundles
    from app.fhir import importer
    from app.patients import service as patients

    current_context().client_address = "cli"
    db = Database.from_settings(settings)
    try:
        with tempfile.TemporaryDirectory() as folder:
            paths = write_demo_bundles(Path(folder), datetime.now(UTC).date())
            report = await importer.import_paths(db, paths)
        if report.problems:
            raise RuntimeError(f"demo import failed: {report.problems[0]}")
        async with db.sessionmaker() as session:
            principal = await importer.system_principal(session)
            found, _, _ = await patients.search_patients(
                session, principal, identifier=f"{DEMO_SYSTEM}|{PORTAL_PATIENT}", limit=1, offset=0
            )
            user = await auth_service.find_user(session, "patient")
            if found and user is not None and user.patient_id != found[0].id:
                await auth_service.update_user(
                    session, user.id, UserUpdate(patient_id=found[0].id), acting_user_id=None
                )
            await session.commit()
        done = report.counts.get("Patient")
        created_n = done[importer.CREATED] if done else 0
        unchanged_n = done[importer.UNCHANGED] if done else 0
        return f"{created_n} created, {unchanged_n} already there"
    finally:
        await db.dispose()


@audit_cli.command("verify")
def audit_verify(
    expect: Annotated[
        str | None,
        typer.Option(help="An anchor SEQ:HASH printed by an earlier run; the log must still contain it"),
    ] = None,
) -> None:
    """Check the audit log's hash chain; name every edited or deleted row."""
    from app.audit import service

    anchor: tuple[int, str] | None = None
    if expect is not None:
        seq, _, digest = expect.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            typer.echo("error: --expect takes SEQ:HASH as printed by `hospital audit verify`", err=True)
            raise typer.Exit(2)
        anchor = (int(seq), digest.lower())
    report = _run(lambda s: _with_session(s, lambda session: service.verify(session, expect=anchor)))
    if report.ok:
        typer.echo(f"audit log intact: {report.checked} entries verified")
        typer.echo(
            f"anchor: {report.head_seq}:{report.head_hash}  (keep it outside this server; "
            "`--expect` it next time to detect a log cut short)"
        )
        return
    typer.echo(f"audit log TAMPERED: {len(report.problems)} problem(s) in {report.checked} entries", err=True)
    for problem in report.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


@notifications_cli.command("dispatch")
def notifications_dispatch(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Send at most this many")] = 1000,
) -> None:
    """Send the notifications that are due, once (for a timer when the API's worker is off)."""
    from app.context import current_context
    from app.db import Database
    from app.notifications.dispatcher import dispatch_due

    async def work(settings: Settings) -> str:
        ctx = current_context()
        ctx.actor_username = "cli"
        ctx.client_address = "cli"
        db = Database.from_settings(settings)
        try:
            r = await dispatch_due(db, settings, limit=limit)
        finally:
            await db.dispose()
        return (
            f"{r.sent} sent, {r.retrying} to retry, {r.failed} failed, "
            f"{r.released} released after an expired lease, {r.lost} lost to another dispatcher"
        )

    typer.echo(_run(work))


@notifications_cli.command("list")
def notifications_list(
    status: Annotated[str | None, typer.Option(help="pending, sending, sent, cancelled or failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """List the outbox, newest first (no bodies)."""
    from app.notifications import service
    from app.notifications.models import STATUSES

    if status is not None and status not in STATUSES:
        typer.echo(f"error: --status must be one of {', '.join(STATUSES)}", err=True)
        raise typer.Exit(2)
    page = _run(
        lambda s: _with_session(s, lambda session: service.list_messages(session, status=status, limit=limit))
    )
    for m in page.items:
        when = (m.sent_at or m.next_attempt_at or m.updated_at).isoformat(timespec="seconds")
        error = f"  {m.last_error}" if m.last_error else ""
        typer.echo(f"{m.id}  {m.status:<9}  {m.kind:<16}  {m.to_email}  attempts={m.attempts}  {when}{error}")
    typer.echo(f"{len(page.items)} of {page.total} notification(s)")


@cli.command("import-fhir")
def import_fhir(
    paths: Annotated[
        list[Path], typer.Argument(exists=True, help="Bundle (.json) or NDJSON files, or folders of them")
    ],
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr")] = True,
) -> None:
    """Import FHIR R4 data (Synthea folders, transaction/batch/collection Bundles, NDJSON).

    Folders are searched recursively; organisations and practitioners are imported before
    patients. Each patient bundle is all-or-nothing; re-importing the same files adds nothing."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.db import Database
    from app.fhir import importer

    files = importer.discover(paths)
    if not files:
        typer.echo("error: no .json or .ndjson files found", err=True)
        raise typer.Exit(2)

    async def work(settings: Settings) -> importer.ImportReport:
        db = Database.from_settings(settings)
        try:
            with Progress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                disable=not progress,
                transient=True,
            ) as bar:
                task = bar.add_task("", total=len(files))
                return await importer.import_paths(
                    db, files, progress=lambda path: bar.update(task, advance=1, description=path.name[:60])
                )
        finally:
            await db.dispose()

    report = _run(work)
    for line in importer.summary_lines(report):
        typer.echo(line)
    if report.problems:
        raise typer.Exit(1)


@cli.command("simulate-device")
def simulate_device(
    patient: Annotated[str, typer.Option(help="The patient's id")],
    record: Annotated[
        Path | None, typer.Option(help="A WFDB record (path without extension): ICU numerics or ECG")
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Playback speed: 1 is real time, 60 a minute per second")
    ] = 1.0,
    count: Annotated[int, typer.Option(help="Run N synthetic devices (1 Hz) instead of a record")] = 0,
    url: Annotated[str, typer.Option(help="The API's base URL")] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None,
        typer.Option(envvar="HOSPITAL_DEVICE_TOKEN", help="A device token (default: register one)"),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Send at most this many samples/seconds")] = None,
) -> None:
    """Stream a PhysioNet record (or synthetic vitals) through the device WebSocket."""
    import uuid

    from app.monitoring import simulator

    if (record is None) == (count == 0):
        typer.echo("error: give --record PATH or --count N", err=True)
        raise typer.Exit(2)
    if speed <= 0:
        typer.echo("error: --speed must be positive", err=True)
        raise typer.Exit(2)
    try:
        patient_id = uuid.UUID(patient)
    except ValueError:
        typer.echo(f"error: {patient!r} is not a patient id", err=True)
        raise typer.Exit(2) from None
    devices = max(count, 1)
    tokens = (
        [token] * devices
        if token
        else _run(lambda s: _with_session(s, _register_sim_devices(patient_id, devices)))
    )
    if not token:
        typer.echo(f"registered {devices} simulated device(s) for patient {patient_id}", err=True)

    async def run() -> list[simulator.Stats]:
        start = simulator.now()
        if record is not None:
            messages = simulator.record_messages(record, start, speed, limit=limit)
            return [await simulator.stream(url, tokens[0], messages)]
        return list(
            await asyncio.gather(
                *(
                    simulator.stream(url, t, simulator.synthetic_messages(i, start, limit))
                    for i, t in enumerate(tokens)
                )
            )
        )

    results = asyncio.run(run())
    total = simulator.Stats()
    for r in results:
        total.sent += r.sent
        total.acknowledged += r.acknowledged
        total.stored += r.stored
        total.duplicates += r.duplicates
        total.reconnects += r.reconnects
        total.errors += r.errors
    typer.echo(
        json.dumps(
            {
                "sent": total.sent,
                "acknowledged": total.acknowledged,
                "stored": total.stored,
                "duplicates": total.duplicates,
                "reconnects": total.reconnects,
                "errors": total.errors[:20],
            }
        )
    )
    if total.errors:
        raise typer.Exit(1)


def _register_sim_devices(patient_id: Any, devices: int) -> Callable[[AsyncSession], Awaitable[list[str]]]:
    async def work(session: AsyncSession) -> list[str]:
        from app.monitoring import schemas, service

        out = []
        for i in range(devices):
            label = "Simulator" if devices == 1 else f"Simulator {i + 1}"
            registered = await service.register_device_unattended(
                session, patient_id, schemas.DeviceCreate(label=label, kind="simulator"), "cli"
            )
            out.append(registered.token)
        return out

    return work


@monitoring_cli.command("prune")
def monitoring_prune() -> None:
    """Delete raw readings, ECG and feed events past their retention (HOSPITAL_MONITORING_*)."""

    async def work(session: AsyncSession) -> dict[str, int]:
        from app.monitoring import service

        return await service.prune(session, get_settings())

    typer.echo(json.dumps(_run(lambda s: _with_session(s, work))))


@cli.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="File to write (default stdout)")] = None,
) -> None:
    """Print the API's OpenAPI document (the web and mobile clients are generated from it)."""
    from app.main import create_app

    text = json.dumps(create_app(get_settings()).openapi(), indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)


@cli.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(help="Processes (use 1 with SQLite)")] = 1,
    reload: bool = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(help="Behind a reverse proxy: its addresses, whose X-Forwarded-For is trusted"),
    ] = None,
) -> None:
    """Serve the API, the web app and signaling."""
    import uvicorn

    from app.logging import configure_logging

    configure_logging()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        # Without a proxy in front, X-Forwarded-For is whatever the client says: never trust
        # it by default (it feeds the audit log and the per-address login throttle).
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="info",
        log_config=None,
    )


def main() -> None:
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        cli(standalone_mode=True)
    except ValidationError as exc:  # the settings (HOSPITAL_* environment)
        for err in exc.errors():
            typer.echo(f"configuration error: {err['msg']}", err=True)
        sys.exit(2)
    except (SQLAlchemyError, OSError) as exc:
        typer.echo(f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
