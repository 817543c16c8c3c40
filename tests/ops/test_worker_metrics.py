"""A worker as production runs it (worker.metrics_runtime, worker.worker_options: its sandbox and
interceptors) serves every series the alerting rules and the dashboard read from workers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.partners import PartnerClient
from activities.sla import SlaActivities
from devstack.stack import free_port
from infra.settings import Settings
from infra.temporal import connect
from store.service import ServiceDatabase
from tests.helpers import eventually
from tests.ops.metered import FailsItsTask, Metered
from tests.ops.test_prometheus_rules import SDK_SERIES, WORKER_SERIES
from worker import metrics_runtime, worker_options


async def scrape(addr: str) -> dict[str, list[Sample]]:
    async with httpx.AsyncClient(timeout=2) as http:
        text = (await http.get(f"http://{addr}/metrics")).text
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def sample(samples: Sequence[Sample], name: str, **labels: str) -> float | None:
    # The parser names a counter's samples ``<name>_total``; the SDK serves them without the suffix,
    # and that is the name Prometheus stores and the rules use.
    for s in samples:
        if s.name in (name, f"{name}_total") and labels.items() <= s.labels.items():
            return s.value
    return None


async def test_a_worker_serves_the_series_the_rules_read(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # On the dev server: a failed workflow task would stop the time-skipping server skipping time.
    addr = f"127.0.0.1:{free_port()}"
    runtime = metrics_runtime(addr)
    assert runtime is not None
    settings = Settings(
        temporal_address=dev_env.client.service_client.config.target_host,
        task_queue=f"metered-{uuid.uuid4()}",
        data_dir=tmp_path,
        worker_metrics_addr=addr,
        partner_url=f"http://127.0.0.1:{free_port()}",  # nobody listens: the call is unreachable
    )
    client = await connect(settings, runtime=runtime)
    database = ServiceDatabase(settings.resolved_database_url)
    partners = PartnerClient(settings)
    sla = SlaActivities(settings, await database.alerts(), None)

    @activity.defn(name="call_absent_partner")
    async def call_absent_partner() -> None:
        await partners.request("POST", "/tax/v1/registrations", json={})

    try:
        async with Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[Metered, FailsItsTask],
            activities=[call_absent_partner, sla.raise_alert],
            **worker_options(settings),
        ):
            metered = await client.start_workflow(
                Metered.run, "AY20261127-M001", id=f"metered-{uuid.uuid4()}", task_queue=settings.task_queue
            )
            failing = await client.start_workflow(
                FailsItsTask.run, id=f"failing-{uuid.uuid4()}", task_queue=settings.task_queue
            )
            await metered.signal(Metered.poke)
            assert await metered.result() == "done"

            async def all_served() -> dict[str, list[Sample]] | None:
                families = await scrape(addr)
                ready = (
                    SDK_SERIES | WORKER_SERIES <= families.keys()
                    and sample(
                        families["ods_workflow_history_length"],
                        "ods_workflow_history_length_count",
                        workflow_type="Metered",
                    )
                    == 2
                )
                return families if ready else None

            families = await eventually(all_served, what="every series the rules read")
            await failing.terminate("the test is over")
    finally:
        await partners.aclose()
        await database.close()

    failures = families["ods_partner_call_failures"]
    assert (
        sample(failures, "ods_partner_call_failures", partner="tax", kind="unreachable", status="none") == 1
    )
    assert sample(
        families["temporal_workflow_task_execution_failed"],
        "temporal_workflow_task_execution_failed",
        workflow_type="FailsItsTask",
    )
    delays = families["ods_alert_store_delay_seconds"]
    assert sample(delays, "ods_alert_store_delay_seconds_count") == 1
    # The bounds the rules compare against (infra/worker_metrics.HISTOGRAM_BUCKETS), spelt as the
    # rules spell them (le="2500", not "2500.0": Prometheus compares the strings).
    assert sample(delays, "ods_alert_store_delay_seconds_bucket", le="2") is not None
    lengths = families["ods_workflow_history_length"]
    assert sample(lengths, "ods_workflow_history_length_bucket", workflow_type="Metered", le="2500") == 2
