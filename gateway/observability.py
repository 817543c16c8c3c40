"""Each request logged (method, path, status, duration; never a body) and counted for /metrics.

Counts are by route template (``/v1/applications/{application_id}``), not by path, so the
Prometheus series stay few and carry no case ids. Hand-rolled text exposition format.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.logging import get_logger

log = get_logger("gateway.access")

UNMATCHED_ROUTE = "unmatched"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class RequestMetrics:
    """Request counts and durations of one gateway, by method, route and status."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = defaultdict(int)
        self._seconds: dict[tuple[str, str], float] = defaultdict(float)
        self._observed: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self._counts[(method, route, status)] += 1
        self._seconds[(method, route)] += seconds
        self._observed[(method, route)] += 1

    def count(self, method: str, route: str, status: int) -> int:
        return self._counts.get((method, route, status), 0)

    def render(self) -> str:
        lines = [
            "# HELP ods_gateway_requests_total HTTP requests answered, by route and status.",
            "# TYPE ods_gateway_requests_total counter",
        ]
        for (method, route, status), n in sorted(self._counts.items()):
            lines.append(
                f'ods_gateway_requests_total{{method="{_label(method)}",route="{_label(route)}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP ods_gateway_request_duration_seconds Time to answer, by route.",
            "# TYPE ods_gateway_request_duration_seconds summary",
        ]
        for key, total in sorted(self._seconds.items()):
            labels = f'method="{_label(key[0])}",route="{_label(key[1])}"'
            lines.append(f"ods_gateway_request_duration_seconds_sum{{{labels}}} {total:.6f}")
            lines.append(f"ods_gateway_request_duration_seconds_count{{{labels}}} {self._observed[key]}")
        return "\n".join(lines) + "\n"


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    if isinstance(route, BaseRoute) and isinstance(getattr(route, "path", None), str):
        path: str = route.path  # type: ignore[attr-defined]
        return path
    return UNMATCHED_ROUTE


class RequestLogMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): sees the final status, even of an unhandled error."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

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
            self.metrics.observe(method, route_template(scope), status, seconds)
            log.info(
                "request",
                method=method,
                path=str(scope.get("path", "")),
                status=status,
                duration_ms=round(seconds * 1000, 1),
            )
