"""``/healthz`` (liveness) and ``/metrics`` (Prometheus text): no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from domain.calendar_coverage import CalendarCoverage, calendar_coverage
from domain.policies import Policies
from gateway.dependencies import TemporalDep
from gateway.models import CalendarHealth, Health
from gateway.observability import METRICS_CONTENT_TYPE, observe_calendar_coverage, render_metrics

router = APIRouter(tags=["operations"])


def _coverage(request: Request) -> CalendarCoverage:
    """Worked out anew on each call (today moves on); the policy is the one the gateway started with."""
    policies: Policies = request.app.state.policies
    return calendar_coverage(policies.sla)


@router.get("/healthz", summary="Liveness")
async def healthz(request: Request, temporal: TemporalDep) -> Health:
    """The gateway answers; whether it holds a Temporal client is said, not probed; how far ahead
    the official holiday calendar is known (a warning when fewer than 60 days are)."""
    coverage = _coverage(request)
    return Health(
        temporal="connected" if temporal.connected else "not connected",
        calendar=CalendarHealth(
            known_until=coverage.known_until, days_ahead=coverage.days_ahead, warning=coverage.warning
        ),
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {METRICS_CONTENT_TYPE: {}}}},
)
async def metrics(request: Request) -> Response:
    """The Prometheus text format: request counts and durations by route template, the calendar
    gauge ``ods_calendar_covered_days`` (refreshed here), process and platform collectors."""
    observe_calendar_coverage(_coverage(request))
    return Response(render_metrics(), media_type=METRICS_CONTENT_TYPE)
