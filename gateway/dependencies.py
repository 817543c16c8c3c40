"""What the routes depend on: the settings, the Temporal client, the raw request body."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from temporalio.client import Client
from temporalio.service import RPCError

from infra.logging import get_logger
from infra.settings import Settings
from infra.temporal import connect

log = get_logger("gateway")

APPLICATION_ID = re.compile(r"[A-Za-z0-9-]{6,64}", re.ASCII)
CONNECT_TIMEOUT_S = 10.0
# Every body this API takes is a few kilobytes; a megabyte is a mistake or an attack.
MAX_BODY_BYTES = 1 << 20


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


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def temporal_connection(request: Request) -> TemporalConnection:
    temporal: TemporalConnection = request.app.state.temporal
    return temporal


SettingsDep = Annotated[Settings, Depends(app_settings)]
# Routes ask for the client only after everything that needs no Temporal has been checked.
TemporalDep = Annotated[TemporalConnection, Depends(temporal_connection)]


def case_id(
    application_id: Annotated[
        str,
        Path(
            description="the application id: 6 to 64 of A-Z, a-z, 0-9 and '-'",
            examples=["AY20261127-0001"],
        ),
    ],
) -> str:
    """The application id of the path; anything that cannot be one is an unknown case (404)."""
    if not APPLICATION_ID.fullmatch(application_id):
        raise HTTPException(404, f"no case with application id {application_id[:64]!r}")
    return application_id


CaseId = Annotated[str, Depends(case_id)]


class BodyTooLarge(Exception):
    pass


async def raw_body(request: Request) -> bytes:
    """The request body exactly as sent (signatures are over these bytes), at most 1 MiB."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


RawBody = Annotated[bytes, Depends(raw_body)]
