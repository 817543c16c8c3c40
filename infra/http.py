"""The one HTTP client factory."""

from __future__ import annotations

import httpx

from infra.tracing import instrument_http_client

# A partner may take up to 30 s to answer (the largest ``latency_s`` the sandbox takes, see
# partner_sandbox/behaviour.py); allow that and a margin.
PARTNER_TIMEOUT = httpx.Timeout(45.0, connect=5.0)


def http_client(base_url: str = "", timeout: httpx.Timeout | float = PARTNER_TIMEOUT) -> httpx.AsyncClient:
    """A pooled client; it traces each request when tracing is on (``infra.tracing``)."""
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        headers={"User-Agent": "one-day-setup/0.1"},
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
    return instrument_http_client(client)
