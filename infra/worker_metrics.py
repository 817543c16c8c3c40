"""The service's own series on a worker's ``/metrics``, beside the Temporal SDK's ``temporal_*``.

They go through the SDK's metric meter, so they are served by the same exporter (worker.py,
``ODS_WORKER_METRICS_ADDR``), carry its labels (``namespace``, ``task_queue``, ``activity_type`` or
``workflow_type``), are not recorded again when a workflow replays, and cost nothing when a worker
runs without metrics. The alerting rules and the dashboard read them (ops/, docs/operations.md):

- ``ods_partner_call_failures{partner, kind, status}`` (counter): partner calls that did not
  succeed. ``partner`` is the first segment of the path (``tax``, ``bank`` …); ``kind`` is
  ``http`` (an answer that may pass: 5xx, 401, 403, 404, 408, 429 …), ``timeout``,
  ``unreachable`` or ``transport`` (no answer), or ``refusal`` (a documented, final answer);
  ``status`` the HTTP status (``none`` without an answer).
- ``ods_alert_store_delay_seconds`` (histogram): from the moment a workflow raised an alert
  (``raised_at``) to the moment the store recorded it, counted once per alert. Long when the
  ``raise_alert`` activity waited for a slot.
- ``ods_workflow_history_length`` (histogram, events): a workflow's history length, seen when it
  takes a signal or an update and when it ends (``HistoryLengthInterceptor``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

PARTNER_CALL_FAILURES = "ods_partner_call_failures"
ALERT_STORE_DELAY = "ods_alert_store_delay_seconds"
WORKFLOW_HISTORY_LENGTH = "ods_workflow_history_length"

# Histogram buckets for the SDK's exporter (PrometheusConfig.histogram_bucket_overrides): the
# rules compare against these bounds (ops/prometheus/rules.yml), so change both together.
HISTOGRAM_BUCKETS: Mapping[str, Sequence[float]] = {
    # The alert goal is 2 s (bench: PART=outage).
    ALERT_STORE_DELAY: (0.5, 1, 2, 5, 10, 30, 60, 300, 900),
    # A case is ~230 events; Temporal warns at 10,240 and ends a workflow at 51,200.
    WORKFLOW_HISTORY_LENGTH: (250, 500, 1000, 2500, 5000, 10000, 25000, 50000),
}


def count_partner_failure(path: str, kind: str, status: int | None) -> None:
    """Count one failed partner call (outside an activity, e.g. a script's call: not counted)."""
    if not activity.in_activity():
        return
    partner = path.lstrip("/").split("/", 1)[0] or "unknown"
    activity.metric_meter().create_counter(
        PARTNER_CALL_FAILURES, "Partner calls that did not succeed, by partner, kind and HTTP status."
    ).add(1, {"partner": partner, "kind": kind, "status": "none" if status is None else str(status)})


def observe_alert_store_delay(raised_at: datetime) -> None:
    """How long an alert took from the workflow raising it to the store recording it (now)."""
    if not activity.in_activity():
        return
    seconds = max((datetime.now(UTC) - raised_at).total_seconds(), 0.0)
    activity.metric_meter().create_histogram_float(
        ALERT_STORE_DELAY, "From a workflow raising an alert to the store recording it.", "s"
    ).record(seconds)


def _observe_history_length() -> None:
    workflow.metric_meter().create_histogram(
        WORKFLOW_HISTORY_LENGTH, "A workflow's history length at each signal or update, and at its end"
    ).record(workflow.info().get_current_history_length())


class HistoryLengthInterceptor(Interceptor):
    """Records ``ods_workflow_history_length`` for every workflow of the worker."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _HistoryLengthInbound


class _HistoryLengthInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        # Not on cancellation (a BaseException): an eviction from the cache is one too.
        try:
            result = await super().execute_workflow(input)
        except Exception:
            _observe_history_length()
            raise
        _observe_history_length()
        return result

    async def handle_signal(self, input: HandleSignalInput) -> None:
        _observe_history_length()
        await super().handle_signal(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        _observe_history_length()
        return await super().handle_update_handler(input)
