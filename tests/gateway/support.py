"""What the gateway's tests share: settings with the test tokens, their bearer headers, and a
client on the gateway in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from infra.settings import Settings

PORTAL_TOKEN = "test-portal-token"
OPS_TOKEN = "test-ops-token"
ALERTS_TOKEN = "test-alerts-token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


PORTAL = bearer(PORTAL_TOKEN)
OPS = bearer(OPS_TOKEN)
SUBSCRIBER = bearer(ALERTS_TOKEN)


def gateway_settings(**extra: Any) -> Settings:
    """Settings with the test tokens and a Temporal address where nothing listens: a request that
    reached for Temporal would come back 503."""
    return Settings(
        temporal_address="127.0.0.1:1",
        portal_token=PORTAL_TOKEN,
        ops_token=OPS_TOKEN,
        alerts_token=ALERTS_TOKEN,
        **extra,
    )


@asynccontextmanager
async def in_process(app: FastAPI, *, base_url: str = "http://gateway") -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on ``app`` in process. ASGITransport runs no lifespan: the gateway connects
    to nothing unless a route asks it to."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
        yield client


def fields_of(resp: httpx.Response) -> set[str]:
    """The fields a 422 names."""
    assert resp.status_code == 422, resp.text
    return {e["field"] for e in resp.json()["errors"]}
