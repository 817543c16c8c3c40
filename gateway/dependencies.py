"""What the routes depend on: the settings, the policies, the Temporal client, the service database
(a request's body is read by ``gateway/bodies.py``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from temporalio.client import Client
from temporalio.service import RPCError

from domain.identifiers import APPLICATION_ID_PATTERN, is_application_id
from domain.policies import Policies
from infra.codec import CaseKeySource
from infra.logging import get_logger
from infra.settings import Settings
from infra.temporal import connect
from store.service import ServiceDatabase

log = get_logger("gateway")

CONNECT_TIMEOUT_S = 10.0


class TemporalUnavailable(Exception):
    """Temporal cannot be reached; the gateway answers 503 and connects again next time."""


class TemporalConnection:
    """The gateway's one Temporal client: the one it was given, or one it connects itself.

    Connecting happens at startup and, when that failed (Temporal still starting, or down),
    again on the next request that needs Temporal, so the gateway recovers by itself.
    """

    def __init__(
        self, settings: Settings, client: Client | None = None, case_keys: CaseKeySource | None = None
    ) -> None:
        self._settings = settings
        self._client = client
        self._case_keys = case_keys
        self._connects = client is None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def new_case(self, application_id: str) -> None:
        """Before a case is started: its data key made and kept (one database write), so that the
        start's encryption finds it (``infra.case_keys.CaseKeyring.new_case``). Only where the
        client encrypts with these keys (the one this connects); a client given to the gateway
        brings its own codec, which makes the key as it encodes the start."""
        if self._case_keys is not None and self._connects:
            await self._case_keys.new_case(application_id)

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                address = self._settings.temporal_address
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT_S):
                        self._client = await connect(self._settings, case_keys=self._case_keys)
                except (RuntimeError, RPCError, OSError, TimeoutError) as err:
                    log.warning("temporal_unreachable", address=address, error=str(err))
                    raise TemporalUnavailable(f"Temporal at {address} is unreachable") from err
                log.info("temporal_connected", address=address)
        return self._client


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


def service_database(request: Request) -> ServiceDatabase:
    """The process's one service database (``store/service.py``), made in ``create_app``."""
    database: ServiceDatabase = request.app.state.database
    return database


SettingsDep = Annotated[Settings, Depends(app_settings)]
PoliciesDep = Annotated[Policies, Depends(app_policies)]
# Routes ask for the client only after everything that needs no Temporal has been checked.
TemporalDep = Annotated[TemporalConnection, Depends(temporal_connection)]
# Likewise the service database: parameters are checked (422) before it is reached (503).
ServiceDatabaseDep = Annotated[ServiceDatabase, Depends(service_database)]
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
