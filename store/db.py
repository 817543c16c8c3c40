"""The service database (``ODS_DATABASE_URL``): the one place that knows which database it is.

SQLite (the default, a file under ``ODS_DATA_DIR``) and PostgreSQL (``postgresql+asyncpg://…``) are
both first-class. Everything dialect-specific lives here: how a connection is set up, how a write
transaction takes the lock that orders it, how an insert ignores a duplicate.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.sql.dml import Insert

from infra.logging import get_logger

log = get_logger("store")

# How long a SQLite writer waits for another process's write transaction before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "ods_write"
# The tables of the baseline revision: any of them without ``alembic_version`` is an older release's.
_BASELINE_TABLES = frozenset({"alerts", "subsidy_budget", "subsidy_grants"})

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def database_url(url: str | URL) -> URL:
    """``url`` with its async driver: ``sqlite://`` and ``postgresql://`` are accepted as shorthands."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported service database {parsed.drivername!r} in ODS_DATABASE_URL; "
            "use sqlite+aiosqlite:///path/to/ods.db or postgresql+asyncpg://user@host/db"
        )
    return parsed.set(drivername=driver)


def create_engine(url: str | URL) -> AsyncEngine:
    """An engine for the service database. For SQLite the file's folder is created, and every
    connection runs in WAL mode with a busy timeout, so several processes can share the file."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    # pre_ping: a restarted PostgreSQL leaves dead connections in the pool; find them before use.
    return _create_async_engine(parsed, pool_pre_ping=True)


def _use_wal(cursor: Any) -> None:
    """WAL is a property of the file, set once. Switching needs a moment alone with the file, and
    SQLite answers "database is locked" at once (no busy wait) when another connection is just
    opening it too: try again for a while."""
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode")
            row = cursor.fetchone()
            if row and str(row[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as err:  # sqlite3's OperationalError, as the async adapter passes it on
            if "locked" not in str(err) or attempt == 99:
                raise
            time.sleep(0.05)


def _sqlite_engine(url: URL) -> AsyncEngine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN out of the driver's hands (it would start transactions lazily, and a reader that
        # later writes can then fail at once with "database is locked"); _on_begin emits our own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction takes the database's write lock up front (waiting up to the busy
        # timeout), so writers queue up instead of failing; readers never block under WAL.
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@asynccontextmanager
async def transaction(engine: AsyncEngine, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
    """One transaction: committed when the block ends, rolled back if it raises.

    ``write=True`` on SQLite begins with ``BEGIN IMMEDIATE`` (writers wait for each other rather
    than fail); reads should leave it False."""
    async with engine.connect() as conn:
        if write:
            await conn.execution_options(**{_WRITE_OPTION: True})
        async with conn.begin():
            yield conn


async def serialize_writers(conn: AsyncConnection, name: str) -> None:
    """Make write transactions that call this with the same ``name`` run one after another and
    commit in the order they started. SQLite's write transactions already do (``BEGIN IMMEDIATE``);
    PostgreSQL takes a transaction-scoped advisory lock. Needed where a sequence number is a
    reader's cursor: without it a lower number could commit after a higher one was read."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(name)})


def _lock_key(name: str) -> int:
    return zlib.crc32(f"one-day-setup:{name}".encode())


def insert_ignoring_duplicates(conn: AsyncConnection, table: Table, *unique_columns: str) -> Insert:
    """``INSERT … ON CONFLICT (unique_columns) DO NOTHING`` in the connection's dialect: a duplicate
    inserts nothing and raises nothing (and, on PostgreSQL, does not abort the transaction)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(unique_columns))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(unique_columns))


def _migrate(conn: Connection) -> None:
    from alembic import command

    from store.migrations import alembic_config

    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables and tables & _BASELINE_TABLES:
        # Made by a release before migrations (create_all): the baseline takes it as it is.
        log.info("database_predates_migrations", tables=sorted(tables & _BASELINE_TABLES))
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


async def init_schema(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (``store/migrations``): create it in an empty
    database, adopt one that a release before migrations made, migrate an older one. Idempotent,
    and safe when several processes start at once: SQLite runs it as one ``BEGIN IMMEDIATE``
    transaction, PostgreSQL under an advisory lock (its DDL is transactional too), so the second
    process finds the schema the first one made, and a migration that fails leaves nothing done."""
    async with transaction(engine, write=True) as conn:
        await serialize_writers(conn, "schema")
        await conn.run_sync(_migrate)


async def open_database(url: str | URL) -> AsyncEngine:
    """The engine for ``url`` with the schema in place: what the gateway and the worker start with."""
    engine = create_engine(url)
    try:
        await init_schema(engine)
    except BaseException:
        await engine.dispose()
        raise
    return engine


def upsert(
    conn: AsyncConnection, table: Table, unique_columns: tuple[str, ...], values: dict[str, Any]
) -> Insert:
    """``INSERT … ON CONFLICT (unique_columns) DO UPDATE`` the other columns, in the connection's
    dialect: a second write of the same key replaces the row in one statement, never a duplicate."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(table).values(**values)
    changed = {name: insert.excluded[name] for name in values if name not in unique_columns}
    return insert.on_conflict_do_update(index_elements=list(unique_columns), set_=changed)
