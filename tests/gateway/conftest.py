"""Fixtures of the gateway's tests; each module defines the ``app`` they serve."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.serving import serve_in_background
from store.alerts import AlertStore
from tests.gateway.support import in_process


@pytest.fixture
def store(engine: AsyncEngine) -> AlertStore:
    """The alert store on the service database (SQLite and PostgreSQL, see tests/databases.py)."""
    return AlertStore(engine)


@pytest_asyncio.fixture
async def gateway(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The module's ``app`` in process; no route the test asked for may have reached for Temporal."""
    async with in_process(app) as client:
        yield client
    assert not app.state.temporal.connected


@pytest_asyncio.fixture
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The module's ``app`` served by uvicorn on a free port: its base URL."""
    async with serve_in_background(app) as url:
        yield url
