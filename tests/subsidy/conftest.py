"""Every ledger test runs twice: on a fresh SQLite file and on a fresh database of a real PostgreSQL
(the ``engine`` fixture of tests/databases.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from store.subsidies import SubsidyLedger


@pytest.fixture
def ledger(engine: AsyncEngine) -> SubsidyLedger:
    return SubsidyLedger(engine)
