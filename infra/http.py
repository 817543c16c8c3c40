"""The one HTTP client factory."""

from __future__ import annotations

import httpx

from infra.tracing import instrument_http_client

# A partner may take up to 30 s to answer (the largest ``latency_s`` the sandbox takes, see
# partner_sandbox/behaviour.py); allow that and a margin. That is also the longest a partner call
# holds its worker slot per attempt (workflows/calls.py).
PARTNER_TIMEOUT = httpx.Timeout(45.0, connect=5.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# The partners' client: no cap of its own. The worker's slots cap the calls in flight per partner
# (ODS_PARTNER_CONCURRENCY); one shared cap would let a partner that hangs take every connection.
PARTNER_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=20)


def http_client(
    base_url: str = "",
    timeout: httpx.Timeout | float = PARTNER_TIMEOUT,
    limits: httpx.Limits = DEFAULT_LIMITS,
) -> httpx.AsyncClient:
    """A pooled client; it traces each request when tracing is on (``infra.tracing``)."""
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        headers={"User-Agent": "one-day-setup/0.1"},
        limits=limits,
    )
    return instrument_http_client(client)
