"""``/healthz`` (liveness) and ``/metrics`` (Prometheus text): no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from gateway.dependencies import TemporalDep
from gateway.models import Health
from gateway.observability import PROMETHEUS_CONTENT_TYPE, RequestMetrics

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
async def healthz(temporal: TemporalDep) -> Health:
    """The gateway answers; whether it holds a Temporal client is said, not probed."""
    return Health(temporal="connected" if temporal.connected else "not connected")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {PROMETHEUS_CONTENT_TYPE: {}}}},
)
async def metrics(request: Request) -> PlainTextResponse:
    registry: RequestMetrics = request.app.state.metrics
    return PlainTextResponse(registry.render(), media_type=PROMETHEUS_CONTENT_TYPE)
