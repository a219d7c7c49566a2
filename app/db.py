"""Async engine, session factory and portable column types.

One session per request: the request dependency (``app.deps.get_session``) commits or rolls
back; services and repositories only ``flush``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event, text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.config import Settings
from app.kit.time import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC (naive in the column, since neither SQLite nor MySQL keep offsets) and returns
    aware UTC datetimes; refuses naive input so a local wall-clock time can never slip in."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: store timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY; MySQL wants BIGINT for append-only logs.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class UUIDPk:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _configure_sqlite(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and starts deferred transactions that
    # fail with SQLITE_BUSY when two writers upgrade at once. We take over: every transaction
    # starts with BEGIN IMMEDIATE, so writers queue on busy_timeout instead of failing.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: Settings, **kw: Any) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        # SQLite has one writer at a time, and every audited request writes. With a pool of
        # connections, waiting writers spin in SQLite's busy handler, which sleeps in steps of
        # up to 100 ms; one connection per process makes them queue on the pool instead, in
        # order and without sleeping. busy_timeout still covers other processes (the CLI).
        kw.setdefault("pool_size", 1)
        kw.setdefault("max_overflow", 0)
        kw.setdefault("pool_timeout", 30)
        engine = create_async_engine(url, **kw)
        _configure_sqlite(engine)
        return engine
    kw.setdefault("pool_pre_ping", True)
    kw.setdefault("pool_recycle", 1800)
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    connect_args = kw.pop("connect_args", {})
    connect_args.setdefault("charset", "utf8mb4")
    return create_async_engine(url, connect_args=connect_args, **kw)


class Database:
    """The process's engine and session factory (tests swap the factory for a savepoint-bound one)."""

    def __init__(self, engine: AsyncEngine, *, audit_key: bytes) -> None:
        # Foreign keys between modules are declared by table name: every module's models must
        # be registered before the first query, whoever opens the database (app, CLI, bench).
        import app.models  # noqa: F401

        self.engine = engine
        self.audit_key = audit_key
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False, info=self.session_info()
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(create_engine(settings), audit_key=settings.audit_hmac_key)

    def session_info(self) -> dict[str, Any]:
        """What every session of this database carries (the audit module reads its key here)."""
        return {"audit_key": self.audit_key}

    async def ping(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
