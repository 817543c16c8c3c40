"""Guessing a token costs: wrong tokens are limited per client address (the ``limits`` library).

A wrong token at ``/ops/login``, or a bearer token that opens nothing on the route it was sent to (a
401), is a failure. Past ``FAILURES_ALLOWED`` of them from one address, every further attempt from
that address that presents a token is answered 429 with ``Retry-After``, before the token is even
compared, until the window has room again: the right token does not get through either. A request
that presents no token, or a session cookie that is unknown or has ended, is no guess (a session
id is 256 random bits) and is not counted, so a browser whose session timed out can still sign in.

Each failure is logged (``auth_failed``: where, the client address and user agent, never the
token). The count is in memory, per gateway process: behind a balancer each gateway counts its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from infra.logging import get_logger

log = get_logger("gateway.auth")

FAILURES_ALLOWED = parse("10 per 5 minutes")
"""Wrong tokens one client address may present in any 5 minutes."""


@dataclass(frozen=True)
class Client:
    """Where a request comes from, as far as the gateway can tell (behind a proxy, uvicorn's
    ``--forwarded-allow-ips`` decides whether ``X-Forwarded-For`` is believed)."""

    address: str
    user_agent: str

    @classmethod
    def of(cls, request: Request) -> Client:
        address = request.client.host if request.client is not None else "unknown"
        return cls(address=address, user_agent=request.headers.get("user-agent", "")[:300])


class TooManyFailures(HTTPException):
    """429: this address presented too many wrong tokens; ``retry_after`` seconds until it may again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            f"too many wrong tokens from this address: try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class FailureLimiter:
    """The gateway's count of wrong tokens per client address (``app.state.failures``)."""

    def __init__(self, limit: RateLimitItem = FAILURES_ALLOWED) -> None:
        self._limit = limit
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, client: Client) -> None:
        """Raise ``TooManyFailures`` while ``client`` may not try a token."""
        if self._limiter.test(self._limit, client.address):
            return
        reset_at = self._limiter.get_window_stats(self._limit, client.address).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        log.warning("auth_rate_limited", client=client.address, retry_after_s=retry_after)
        raise TooManyFailures(retry_after)

    def failed(self, client: Client, *, where: str, why: str) -> None:
        """Count a wrong token from ``client`` and log it: ``where`` it was presented (``login``, or
        the route's path), ``why`` it failed. The one place every authentication failure passes."""
        self._limiter.hit(self._limit, client.address)
        log.warning("auth_failed", where=where, why=why, client=client.address, user_agent=client.user_agent)


def failure_limiter(request: Request) -> FailureLimiter:
    limiter: FailureLimiter = request.app.state.failures
    return limiter
