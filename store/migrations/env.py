"""How alembic reaches the service database: the connection ``store.db.init_schema`` hands it (in
its transaction, under its lock), or, from the alembic command line, ``ODS_DATABASE_URL``."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import store.audit  # their tables are on Base too (so are the facts', sessions' and ledger's)
import store.case_keys
import store.documents
import store.facts
import store.sessions
import store.subsidy_schema  # noqa: F401
from store.schema import Base


def _configure(**options: object) -> None:
    context.configure(
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most of a table: batch mode rebuilds it (copy, drop, rename).
        render_as_batch=True,
        compare_type=True,
        **options,  # type: ignore[arg-type]
    )


def _run_on(connection: Connection) -> None:
    # transactional_ddl: SQLite's DDL is transactional too; the caller's transaction holds it all.
    _configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_settings() -> None:
    from infra.settings import get_settings
    from store.db import create_engine, serialize_writers, transaction

    engine = create_engine(get_settings().resolved_database_url)
    try:
        async with transaction(engine, write=True) as conn:
            await serialize_writers(conn, "schema")
            await conn.run_sync(_run_on)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    from infra.settings import get_settings
    from store.db import database_url

    _configure(url=database_url(get_settings().resolved_database_url), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run_on(given)
    else:
        asyncio.run(_run_from_settings())
