"""The gateway's /metrics says, for each of the service's task queues, how many workers poll it and
how many tasks wait and for how long, as the Temporal server counts them (gateway/queue_metrics.py):
tasks nobody takes show there, where no worker's own metrics could show them."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gateway.app import create_app
from infra.settings import Settings
from tests.helpers import eventually

Series = dict[tuple[str, str, str], float]


@activity.defn(name="noop")
async def noop() -> None:
    return None


async def queue_series(http: httpx.AsyncClient, queue: str) -> Series:
    resp = await http.get("/metrics")
    assert resp.status_code == 200
    return {
        (s.name, s.labels["task_queue"], s.labels["task_type"]): s.value
        for f in text_string_to_metric_families(resp.text)
        if f.name.startswith("ods_task_queue_")
        for s in f.samples
        if s.labels.get("task_queue", "").startswith(queue)
    }


async def test_pollers_and_the_tasks_nobody_takes_are_on_the_gateways_metrics(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"queues-{uuid.uuid4()}"
    app = create_app(Settings(data_dir=tmp_path, task_queue=queue), client=dev_env.client)
    # Activities of the cases' queue are polled; its workflow tasks and the documents queue are not.
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http,
        Worker(dev_env.client, task_queue=queue, activities=[noop]),
    ):
        handle = await dev_env.client.start_workflow(
            "Unpolled", id=f"unpolled-{uuid.uuid4()}", task_queue=queue
        )
        try:

            async def waiting() -> Series | None:
                series = await queue_series(http, queue)
                polled = series.get(("ods_task_queue_pollers", queue, "activity"), 0) > 0
                aged = series.get(("ods_task_queue_backlog_age_seconds", queue, "workflow"), 0) > 0
                return series if polled and aged else None

            series = await eventually(waiting, what="the polled activities and the waiting workflow task")
        finally:
            await handle.terminate("the test is over")
    assert series[("ods_task_queue_backlog", queue, "workflow")] >= 1
    assert series[("ods_task_queue_pollers", queue, "workflow")] == 0
    documents = f"{queue}-documents"
    assert series[("ods_task_queue_pollers", documents, "activity")] == 0
    assert series[("ods_task_queue_backlog", documents, "activity")] == 0
