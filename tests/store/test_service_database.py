"""The service database of a process (store/service.py), on SQLite and on a real PostgreSQL: opened on
first use with its schema, one engine under every store, closed and opened again; unreachable, an
error that names the database without its password, and opened as soon as it can be."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from store.service import ServiceDatabase, ServiceDatabaseUnavailable
from tests.factories import an_alert


async def test_one_database_opens_on_first_use_and_every_store_shares_its_engine(database_url: str) -> None:
    database = ServiceDatabase(database_url)
    assert not database.holds_engine  # nothing opened until something is asked of it
    try:
        engine = await database.engine()
        assert database.holds_engine
        assert (await database.alerts()).engine is engine
        assert (await database.subsidies()).engine is engine
        assert (await database.facts()).engine is engine
        stored, created = await (await database.alerts()).record(an_alert())
        assert created
        assert await (await database.subsidies()).budget(2026) is None  # the schema was migrated
    finally:
        await database.close()
    assert not database.holds_engine

    # Closed, it opens again on the next use: a new engine, the same data.
    try:
        assert await database.engine() is not engine
        assert await (await database.alerts()).get(stored.id) == stored
    finally:
        await database.close()


async def test_a_database_on_a_given_engine_leaves_it_to_its_owner(engine: AsyncEngine) -> None:
    database = ServiceDatabase.on(engine)
    assert await database.engine() is engine and not database.holds_engine
    await database.close()
    async with engine.connect() as conn:  # still open
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    assert await database.engine() is engine


async def test_an_unreachable_database_is_named_without_its_password() -> None:
    nowhere = "postgresql+asyncpg://ods:secret-password@/ods?host=/nonexistent/ods-socket-folder"
    database = ServiceDatabase(nowhere, connect_timeout_s=10)
    with pytest.raises(ServiceDatabaseUnavailable) as unavailable:
        await database.alerts()
    assert "is unreachable" in str(unavailable.value) and "secret-password" not in str(unavailable.value)
    assert "***" in database.where and not database.holds_engine


async def test_a_database_that_could_not_be_opened_opens_on_a_later_use(tmp_path: Path) -> None:
    # A file stands where the database's folder should be: opening fails until it is gone.
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    database = ServiceDatabase(f"sqlite+aiosqlite:///{blocker}/ods.db")
    with pytest.raises(ServiceDatabaseUnavailable):
        await database.engine()
    blocker.unlink()
    try:
        assert (await (await database.alerts()).record(an_alert()))[1]
        assert (blocker / "ods.db").exists()
    finally:
        await database.close()
