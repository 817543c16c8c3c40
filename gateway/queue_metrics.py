"""The task queues' backlogs on the gateway's ``/metrics``, as the Temporal server counts them.

The workers' SDK metrics say how long a task waited once a worker took it; they cannot say that
tasks wait with no worker to take them (no documents worker running: cases wait in
``Documents.drawn()`` and nothing else shows it). The server can: ``DescribeTaskQueue`` with its
statistics, asked at each scrape for each of the service's queues and task types.

- ``ods_task_queue_backlog{task_queue, task_type}``: tasks waiting (approximate).
- ``ods_task_queue_backlog_age_seconds{task_queue, task_type}``: how long the oldest has waited.
- ``ods_task_queue_pollers{task_queue, task_type}``: workers that polled it in the last minutes.

``task_type`` is ``workflow`` or ``activity``. While Temporal cannot be asked the series are left
out (never stale values), and the rules see them absent (ops/prometheus/rules.yml).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from domain.task_queues import (
    PARTNER_ACTIVITIES,
    documents_task_queue,
    partner_task_queue,
    records_task_queue,
    webhooks_task_queue,
)
from gateway.dependencies import TemporalConnection, TemporalUnavailable
from infra.logging import get_logger

# A scrape (Prometheus' default timeout: 10 s) must not wait long for a busy or absent server.
DESCRIBE_TIMEOUT = timedelta(seconds=2)

_TYPES = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


@dataclass(frozen=True)
class QueueStats:
    task_queue: str
    task_type: str
    backlog: int
    backlog_age_seconds: float
    pollers: int


def service_queues(cases_task_queue: str) -> list[tuple[str, str]]:
    """(task queue, task type) of every queue the service's workers poll (worker.py)."""
    return [
        (cases_task_queue, "workflow"),
        (cases_task_queue, "activity"),
        (documents_task_queue(cases_task_queue), "activity"),
        (records_task_queue(cases_task_queue), "activity"),
        (webhooks_task_queue(cases_task_queue), "activity"),
        *((partner_task_queue(cases_task_queue, p), "activity") for p in PARTNER_ACTIVITIES),
    ]


async def read_queue_stats(client: Client, cases_task_queue: str) -> list[QueueStats]:
    async def one(queue: str, task_type: str) -> QueueStats:
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=_TYPES[task_type],
                report_stats=True,
            ),
            timeout=DESCRIBE_TIMEOUT,
        )
        return QueueStats(
            task_queue=queue,
            task_type=task_type,
            backlog=int(answer.stats.approximate_backlog_count),
            backlog_age_seconds=answer.stats.approximate_backlog_age.ToTimedelta().total_seconds(),
            pollers=len(answer.pollers),
        )

    return list(await asyncio.gather(*(one(q, t) for q, t in service_queues(cases_task_queue))))


class TaskQueueMetrics(Collector):
    """Yields the last statistics read (``set`` after each read, ``clear`` when none could be)."""

    def __init__(self) -> None:
        self.stats: list[QueueStats] = []

    def set(self, stats: list[QueueStats]) -> None:
        self.stats = stats

    def clear(self) -> None:
        self.stats = []

    def collect(self) -> Iterator[Metric]:
        labels = ["task_queue", "task_type"]
        backlog = GaugeMetricFamily(
            "ods_task_queue_backlog", "Tasks waiting in a task queue (the server's estimate).", labels=labels
        )
        age = GaugeMetricFamily(
            "ods_task_queue_backlog_age_seconds",
            "How long the oldest task waiting in a task queue has waited.",
            labels=labels,
        )
        pollers = GaugeMetricFamily(
            "ods_task_queue_pollers", "Workers that polled a task queue in the last minutes.", labels=labels
        )
        for s in self.stats:
            key = [s.task_queue, s.task_type]
            backlog.add_metric(key, s.backlog)
            age.add_metric(key, s.backlog_age_seconds)
            pollers.add_metric(key, s.pollers)
        yield backlog
        yield age
        yield pollers


QUEUES = TaskQueueMetrics()


log = get_logger("gateway.metrics")
# Connecting to an absent Temporal takes up to 10 s (gateway/dependencies.py): longer than a scrape may.
QUEUE_STATS_TIMEOUT_S = 3.0


async def refresh_queue_metrics(temporal: TemporalConnection, cases_task_queue: str) -> None:
    """Read the queues' statistics into ``QUEUES`` for this scrape; while Temporal cannot be asked
    (within ``QUEUE_STATS_TIMEOUT_S``) the series are left out and the failure is logged."""
    try:
        async with asyncio.timeout(QUEUE_STATS_TIMEOUT_S):
            QUEUES.set(await read_queue_stats(await temporal.client(), cases_task_queue))
    except (TemporalUnavailable, RPCError, TimeoutError) as err:
        QUEUES.clear()
        log.warning("queue_metrics_not_read", error_type=type(err).__name__, error=str(err)[:200])
