"""The service database for tests: every test that takes ``engine`` (or ``ledger``, the subsidy
ledger on it) runs on a fresh SQLite file and on a fresh database of a real PostgreSQL (one
throwaway server for the whole session)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import create_engine, init_schema
from store.subsidies import SubsidyLedger


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty service database: no tables yet."""
    if request.param == "sqlite":
        # A folder that does not exist yet: create_engine makes it.
        return f"sqlite+aiosqlite:///{tmp_path}/data/ods.db"
    url: str = request.getfixturevalue("postgres_database")
    return url


@asynccontextmanager
async def another_process(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine of its own on the database at ``database_url``, with its own connections, as another
    worker or gateway process would have; disposed on the way out."""
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await init_schema(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def ledger(engine: AsyncEngine) -> SubsidyLedger:
    return SubsidyLedger(engine)
