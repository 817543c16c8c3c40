"""Opening the service database: the URL forms, SQLite's settings, an idempotent schema."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from store.db import create_engine, database_url, init_schema, transaction


def test_urls_get_their_async_driver_and_other_databases_are_refused() -> None:
    assert database_url("sqlite:///var/ods.db").drivername == "sqlite+aiosqlite"
    assert database_url("postgresql://ods@db/ods").drivername == "postgresql+asyncpg"
    assert database_url("postgres://ods@db/ods").drivername == "postgresql+asyncpg"
    with pytest.raises(ValueError, match="unsupported service database 'mysql'"):
        create_engine("mysql://ods@db/ods")


async def test_the_schema_is_created_once_however_many_open_it_at_once(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(4)]
    try:
        await asyncio.gather(*(init_schema(engine) for engine in engines))
        await init_schema(engines[0])  # and again later: nothing changes

        async with engines[0].connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            unique = await conn.run_sync(lambda sync: inspect(sync).get_unique_constraints("alerts"))
        assert {"alerts", "alert_events", "subsidy_budget", "subsidy_grants", "alembic_version"} <= set(
            tables
        )
        assert ["workflow_id", "stage", "level", "episode"] in [u["column_names"] for u in unique]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_sqlite_makes_its_folder_and_shares_the_file_in_wal_mode(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/not/yet/ods.db")
    try:
        await init_schema(engine)
        async with transaction(engine) as conn:
            assert (await conn.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await conn.scalar(text("PRAGMA busy_timeout"))) == 30_000
        assert (tmp_path / "not/yet/ods.db").exists()
    finally:
        await engine.dispose()


async def test_a_transaction_that_fails_leaves_nothing_behind(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await init_schema(engine)
        with pytest.raises(RuntimeError):
            async with transaction(engine, write=True) as conn:
                await conn.execute(text("CREATE TABLE scratch (n INTEGER)"))
                await conn.execute(text("INSERT INTO scratch VALUES (1)"))
                raise RuntimeError("the activity failed half way")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "scratch" not in tables
    finally:
        await engine.dispose()
