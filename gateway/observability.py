"""Each request logged (method, path, status, duration; never a body) and counted for /metrics.

Metrics are ``prometheus_client``'s, in its default registry (``prometheus_client.REGISTRY``, which
also holds its process, platform and GC collectors), rendered by ``render_metrics`` for ``/metrics``:

- ``ods_gateway_requests_total`` (counter) and ``ods_gateway_request_duration_seconds`` (histogram),
  by ``method``, ``route`` and ``status``. ``route`` is the route template
  (``/v1/applications/{application_id}``), never the path, so the series stay few and carry no case
  ids; a request no route matched is ``unmatched``.
- ``ods_calendar_covered_days`` (gauge): how many days ahead the official working calendar is known
  (``domain.calendar_coverage``); set when the gateway starts and again on every scrape.

The metric objects are module-level singletons: a process may build many gateways (the tests do),
and a registry refuses a second metric of the same name. Every gateway of a process shares them.

Business series (``ods_setups_started_total`` and the like, read from the service database) belong
in a custom collector, a ``prometheus_client.registry.Collector`` whose ``collect()`` yields metric
families: hand it to ``register_business_collector`` once, e.g. where ``gateway.app.create_app``
wires the gateway; it is then part of every scrape.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.calendar_coverage import CalendarCoverage
from infra.logging import get_logger

log = get_logger("gateway.access")

UNMATCHED_ROUTE = "unmatched"
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "ods_gateway_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "ods_gateway_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status.",
    ["method", "route", "status"],
)
CALENDAR_COVERED_DAYS = Gauge(
    "ods_calendar_covered_days",
    "Days from today (the SLA policy's time zone) to the last day the official holiday calendar "
    "is known (chinese-calendar's data plus the years the SLA policy's extras cover); negative "
    "once passed. Below 60: enter next year's State Council notice in the SLA policy.",
)

# Any other method (a client may send anything) is counted as "other": the series stay few.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_business_collectors: set[int] = set()


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    labels = {"method": method if method in _METHODS else "other", "route": route, "status": str(status)}
    REQUESTS.labels(**labels).inc()
    REQUEST_SECONDS.labels(**labels).observe(seconds)


def observe_calendar_coverage(coverage: CalendarCoverage) -> None:
    CALENDAR_COVERED_DAYS.set(coverage.days_ahead)


def register_business_collector(collector: Collector) -> None:
    """Add a custom collector (business series from the service database) to ``/metrics``.

    Idempotent for the same collector object, so a gateway built twice registers it once; its
    metric names must not clash with any other collector's (the registry raises ValueError)."""
    if id(collector) in _business_collectors:
        return
    REGISTRY.register(collector)
    _business_collectors.add(id(collector))


def render_metrics() -> bytes:
    """The whole default registry in the Prometheus text format (``METRICS_CONTENT_TYPE``)."""
    return generate_latest(REGISTRY)


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    if isinstance(route, BaseRoute) and isinstance(getattr(route, "path", None), str):
        path: str = route.path  # type: ignore[attr-defined]
        return path
    return UNMATCHED_ROUTE


class RequestLogMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): sees the final status, even of an unhandled error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app starts a response

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            seconds = time.perf_counter() - started
            method = str(scope.get("method", ""))
            observe_request(method, route_template(scope), status, seconds)
            log.info(
                "request",
                method=method,
                path=str(scope.get("path", "")),
                status=status,
                duration_ms=round(seconds * 1000, 1),
            )
