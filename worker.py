"""The worker: runs the workflows and activities of One-Day Setup. Run any number of them.

python worker.py            # reads ODS_* settings; SIGTERM/Ctrl-C shut it down gracefully
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.documents import DocumentActivities
from activities.partners import PartnerClient
from activities.registry import WorkerResources, all_activities
from activities.sla import SlaActivities
from activities.subsidy import SubsidyActivities
from documents.storage import DocumentStore
from infra.logging import configure_logging, get_logger
from infra.settings import Settings, get_settings
from infra.temporal import connect, ensure_search_attributes
from store.alerts import AlertStore
from store.db import open_database
from store.subsidies import SubsidyLedger
from workflows.registry import ALL_WORKFLOWS

log = get_logger("worker")


@asynccontextmanager
async def running_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    workflows: bool = True,
    activities: bool = True,
) -> AsyncIterator[Worker]:
    """A worker for every workflow and activity (or only the one kind), polling until the block ends."""
    queue = task_queue or settings.task_queue
    settings = settings.model_copy(update={"task_queue": queue})
    partners = PartnerClient(settings)
    engine = await open_database(settings.resolved_database_url)
    resources = WorkerResources(
        partners=partners,
        sla=SlaActivities(settings, AlertStore(engine), client),
        subsidy=SubsidyActivities(SubsidyLedger(engine)),
        documents=DocumentActivities(DocumentStore(settings.data_dir)),
    )
    worker = Worker(
        client,
        task_queue=queue,
        workflows=ALL_WORKFLOWS if workflows else [],
        activities=all_activities(resources) if activities else [],
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    try:
        async with worker:
            yield worker
    finally:
        await partners.aclose()
        await engine.dispose()


async def main() -> int:
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"worker: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    client = await connect(settings)
    try:
        added = await ensure_search_attributes(client, settings.temporal_namespace)
    except RPCError as exc:  # e.g. a cloud namespace whose key may not add attributes
        log.warning("search attributes not checked", error=str(exc))
    else:
        if added:
            log.info("search attributes registered", added=added)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(client, settings):
        log.info(
            "worker started",
            temporal=settings.temporal_address,
            namespace=settings.temporal_namespace,
            task_queue=settings.task_queue,
            partners=settings.partner_url,
        )
        await stop.wait()
        log.info("worker stopping: finishing the tasks in hand")
    log.info("worker stopped")
    return 0


if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # sdk-python#300: avoid an abort at interpreter exit
