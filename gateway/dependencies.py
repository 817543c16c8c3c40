"""What the routes depend on: the settings, the policies, the Temporal client, the alert store (a
request's body is read by ``gateway/bodies.py``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError

from domain.identifiers import APPLICATION_ID_PATTERN, is_application_id
from domain.policies import Policies
from infra.logging import get_logger
from infra.settings import Settings
from infra.temporal import connect
from store.alerts import AlertStore
from store.db import open_database

log = get_logger("gateway")

CONNECT_TIMEOUT_S = 10.0


class TemporalUnavailable(Exception):
    """Temporal cannot be reached; the gateway answers 503 and connects again next time."""


class TemporalConnection:
    """The gateway's one Temporal client: the one it was given, or one it connects itself.

    Connecting happens at startup and, when that failed (Temporal still starting, or down),
    again on the next request that needs Temporal, so the gateway recovers by itself.
    """

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                address = self._settings.temporal_address
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT_S):
                        self._client = await connect(self._settings)
                except (RuntimeError, RPCError, OSError, TimeoutError) as err:
                    log.warning("temporal_unreachable", address=address, error=str(err))
                    raise TemporalUnavailable(f"Temporal at {address} is unreachable") from err
                log.info("temporal_connected", address=address)
        return self._client


class AlertDatabaseUnavailable(Exception):
    """The service database cannot be reached; the alert routes answer 503 and try again next time."""


class AlertDatabase:
    """The gateway's alert store: the one it was given, or one it opens on ``ODS_DATABASE_URL``.

    Opened at startup and, when that failed (PostgreSQL still starting, or down), again on the next
    request that needs it, like the Temporal client. Only an engine the gateway opened itself is
    disposed at shutdown; a store that was handed in belongs to whoever made it.
    """

    def __init__(self, settings: Settings, store: AlertStore | None = None) -> None:
        self._url = settings.resolved_database_url
        self._store = store
        self._engine: AsyncEngine | None = None
        self._lock = asyncio.Lock()

    @property
    def holds_engine(self) -> bool:
        """Whether the gateway has an engine of its own open (one it must dispose of)."""
        return self._engine is not None

    async def store(self) -> AlertStore:
        if self._store is not None:
            return self._store
        async with self._lock:
            if self._store is None:
                # Never log a password that the URL may carry.
                where = make_url(self._url).render_as_string(hide_password=True)
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT_S):
                        engine = await open_database(self._url)
                except (SQLAlchemyError, OSError, TimeoutError) as err:
                    log.warning("alert_database_unreachable", database=where, error=str(err))
                    raise AlertDatabaseUnavailable(f"the service database {where} is unreachable") from err
                log.info("alert_database_opened", database=where)
                self._engine, self._store = engine, AlertStore(engine)
        return self._store

    async def close(self) -> None:
        """Dispose of the engine the gateway opened (a store handed in is left alone)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            self._store = None
            await engine.dispose()


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def app_policies(request: Request) -> Policies:
    """The SLA and subsidy policies read once when the gateway was made (``create_app``)."""
    policies: Policies = request.app.state.policies
    return policies


def temporal_connection(request: Request) -> TemporalConnection:
    temporal: TemporalConnection = request.app.state.temporal
    return temporal


def gateway_stopping(request: Request) -> asyncio.Event:
    """Set once the gateway begins to stop: long-lived answers (the alert stream) end at once."""
    stopping: asyncio.Event = request.app.state.stopping
    return stopping


def alert_database(request: Request) -> AlertDatabase:
    database: AlertDatabase = request.app.state.alert_database
    return database


SettingsDep = Annotated[Settings, Depends(app_settings)]
PoliciesDep = Annotated[Policies, Depends(app_policies)]
# Routes ask for the client only after everything that needs no Temporal has been checked.
TemporalDep = Annotated[TemporalConnection, Depends(temporal_connection)]
# Likewise the alert store: parameters are checked (422) before the database is reached (503).
AlertDatabaseDep = Annotated[AlertDatabase, Depends(alert_database)]
StoppingDep = Annotated[asyncio.Event, Depends(gateway_stopping)]


def case_id(
    application_id: Annotated[
        str,
        Path(
            description="the application id: 6 to 64 of A-Z, a-z, 0-9 and '-'; any other is a 404",
            examples=["AY20261127-0001"],
            json_schema_extra={"pattern": APPLICATION_ID_PATTERN},
        ),
    ],
) -> str:
    """The application id of the path; anything that cannot be one is an unknown case (404)."""
    if not is_application_id(application_id):
        raise HTTPException(404, f"no case with application id {application_id[:64]!r}")
    return application_id


CaseId = Annotated[str, Depends(case_id)]
