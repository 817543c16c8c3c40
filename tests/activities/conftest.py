"""The activities against a real partner sandbox over HTTP: the sandbox tests' fixtures (one
sandbox and one callback receiver for the session, reset before each test) and a
``PartnerClient`` aimed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from activities.partners import PartnerClient
from infra.settings import Settings
from tests.partner_sandbox.conftest import (  # noqa: F401  (fixtures)
    CallbackReceiver,
    partner,
    receiver,
    sandbox_url,
    session_receiver,
    settings,
)


@pytest_asyncio.fixture
async def partners(
    settings: Settings,  # noqa: F811
    sandbox_url: str,  # noqa: F811
    partner: httpx.AsyncClient,  # noqa: F811  (the sandbox, reset)
    receiver: CallbackReceiver,  # noqa: F811  (stands in for the gateway's callbacks)
) -> AsyncIterator[PartnerClient]:
    client = PartnerClient(
        settings.model_copy(update={"partner_url": sandbox_url, "gateway_url": receiver.url})
    )
    try:
        yield client
    finally:
        await client.aclose()
