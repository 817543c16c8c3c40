"""``/healthz`` (liveness) and ``/metrics`` (Prometheus text): no token needed."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import DBAPIError
from temporalio.service import RPCError

from domain.calendar_coverage import CalendarCoverage, calendar_coverage
from domain.policies import Policies
from gateway.bodies import BodyRoute
from gateway.business_metrics import BUSINESS
from gateway.dependencies import ServiceDatabaseDep, SettingsDep, TemporalDep, TemporalUnavailable
from gateway.models import CalendarHealth, Health
from gateway.observability import METRICS_CONTENT_TYPE, observe_calendar_coverage, render_metrics
from gateway.queue_metrics import QUEUES, read_queue_stats
from infra.logging import get_logger
from store.service import ServiceDatabaseUnavailable

log = get_logger("gateway.metrics")
# Connecting to an absent Temporal takes up to 10 s (gateway/dependencies.py): longer than a scrape may.
QUEUE_STATS_TIMEOUT_S = 3.0
router = APIRouter(route_class=BodyRoute, tags=["operations"])


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
async def metrics(
    request: Request, database: ServiceDatabaseDep, temporal: TemporalDep, settings: SettingsDep
) -> Response:
    """The Prometheus text format: the business series from the service database
    (``gateway/business_metrics.py``), the task queues' backlogs from Temporal
    (``gateway/queue_metrics.py``), request counts and durations by route template, the calendar
    gauge ``ods_calendar_covered_days``, process and platform collectors. While the database cannot
    be read the business series keep their last values and the failure is logged; while Temporal
    cannot be asked the queue series are left out."""
    observe_calendar_coverage(_coverage(request))
    try:
        await BUSINESS.refresh(database)
    except (ServiceDatabaseUnavailable, DBAPIError, OSError) as err:
        log.warning("business_metrics_not_read", error_type=type(err).__name__, error=str(err)[:200])
    try:
        async with asyncio.timeout(QUEUE_STATS_TIMEOUT_S):
            QUEUES.set(await read_queue_stats(await temporal.client(), settings.task_queue))
    except (TemporalUnavailable, RPCError, TimeoutError) as err:
        QUEUES.clear()
        log.warning("queue_metrics_not_read", error_type=type(err).__name__, error=str(err)[:200])
    return Response(render_metrics(), media_type=METRICS_CONTENT_TYPE)
