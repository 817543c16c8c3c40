"""The worker: runs the workflows and activities of One-Day Setup. Run any number of them.

python worker.py                    # every task queue; reads ODS_* settings; SIGTERM/Ctrl-C stop it
python worker.py --role cases       # the cases' workflows and activities (ODS_TASK_QUEUE and the
                                    # -records, -webhooks and -partner-<partner> queues)
python worker.py --role documents   # the cases' PDFs only (ODS_TASK_QUEUE + "-documents")

The documents (reportlab, the heaviest CPU work of a case) have a task queue of their own
(``domain/task_queues.py``): ``make up`` runs one worker of each role, so drawing PDFs never
delays a case's workflow tasks; on more machines, run as many of either role as the load needs.
Within the cases' role, each kind of activity has a task queue and a pool of slots of its own
(``cases_workers``), so a partner that hangs delays neither the alerts nor the other partners.

Each worker serves the Temporal SDK's Prometheus metrics (task slots, poll and schedule-to-start
latencies, workflow and activity outcomes …), and the service's own (partner failures, alert store
delays, history lengths: ``infra/worker_metrics.py``), at ``http://$ODS_WORKER_METRICS_ADDR/metrics``
(default 127.0.0.1:9464; ``0`` for none). Several workers on one machine each need an address of
their own: a worker that finds its port taken logs a warning and runs without metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.documents import DocumentActivities
from activities.facts import CaseFactActivities
from activities.partners import PartnerClient
from activities.ratings import RatingActivities
from activities.registry import (
    WorkerResources,
    all_activities,
    document_activities,
    local_activities,
    partner_activities,
    record_activities,
    webhook_activities,
)
from activities.sla import SlaActivities
from activities.subsidy import SubsidyActivities
from domain.calendar_coverage import calendar_coverage, log_calendar_coverage
from domain.sla_policy import SlaPolicy, SlaPolicyError, load_sla_policy
from domain.task_queues import (
    documents_task_queue,
    partner_task_queue,
    records_task_queue,
    webhooks_task_queue,
)
from infra import deployments
from infra.case_keys import CaseKeyring
from infra.log_interceptor import CaseLogInterceptor
from infra.logging import configure_logging, get_logger
from infra.settings import Settings, get_settings
from infra.temporal import connect, search_attribute_problems
from infra.tracing import WORKER_SERVICE, start_tracing, stop_tracing
from infra.worker_metrics import HISTOGRAM_BUCKETS, HistoryLengthInterceptor
from service.alerts import AlertWebhooks
from store.service import ServiceDatabase
from workflows.registry import ALL_WORKFLOWS, WEBHOOK_WORKFLOWS
from workflows.versioned import VERSIONED_WORKFLOWS

log = get_logger("worker")

METRICS_OFF = "0"
ROLES = ("all", "cases", "documents")
# One PDF is drawn at a time per process (activities/documents.py); a second task in hand overlaps
# its database write. More would only wait on the lock while their start-to-close timeout runs.
DOCUMENT_ACTIVITY_SLOTS = 2
# The records are short writes to the service database; the webhooks' posts wait on subscribers
# (30 s at most each). Each pool is its own: neither waits for the other, nor for a partner.
RECORD_ACTIVITY_SLOTS = 50
WEBHOOK_ACTIVITY_SLOTS = 50


class MetricsAddressInvalid(ValueError):
    """``ODS_WORKER_METRICS_ADDR`` is neither ``0`` nor an IP:PORT the SDK can bind."""


def check_metrics_addr(addr: str) -> str | None:
    """The bind address for the SDK's Prometheus exporter, or None for ``0`` (or empty): no metrics.

    The SDK takes an IP literal and a port (``127.0.0.1:9464``, ``0.0.0.0:9464``, ``[::1]:9464``),
    no host name; anything else raises MetricsAddressInvalid."""
    addr = addr.strip()
    if addr in ("", METRICS_OFF):
        return None
    host, colon, port = addr.rpartition(":")
    problem = None
    if not colon or not port.isdigit() or not 0 < int(port) <= 65535:
        problem = "no port 1-65535 after the last ':'"
    else:
        try:
            ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
        except ValueError:
            problem = f"{host!r} is not an IP address (the SDK takes no host names)"
        if ":" in host and not host.startswith("["):
            problem = "write an IPv6 address in brackets, e.g. [::1]:9464"
    if problem:
        raise MetricsAddressInvalid(
            f"ODS_WORKER_METRICS_ADDR={addr!r}: {problem}; give IP:PORT (e.g. 127.0.0.1:9464) or 0 for none"
        )
    return addr


def metrics_runtime(addr: str) -> Runtime | None:
    """A Temporal SDK runtime serving its Prometheus metrics on ``addr`` (``/metrics``), for the
    worker's client (it must exist before the client connects). None for ``0`` (no metrics), and
    None with a warning when the port is taken (or cannot be bound): the worker runs without
    metrics rather than not at all. MetricsAddressInvalid for an address that is not IP:PORT."""
    bind = check_metrics_addr(addr)
    if bind is None:
        log.info("worker metrics off", setting="ODS_WORKER_METRICS_ADDR=0")
        return None
    try:
        prometheus = PrometheusConfig(bind_address=bind, histogram_bucket_overrides=dict(HISTOGRAM_BUCKETS))
        runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus))
    except ValueError as exc:  # the SDK's "Failed starting Prometheus exporter: Address already in use"
        taken = "in use" in str(exc).lower()
        log.warning(
            "worker metrics not served: "
            + ("the port is taken" if taken else "cannot listen there")
            + "; running without metrics",
            address=bind,
            error=str(exc),
            fix="give each worker on this machine its own ODS_WORKER_METRICS_ADDR (or 0 for none)",
        )
        return None
    log.info("worker metrics served", url=f"http://{bind}/metrics")
    return runtime


def _sla_policy(settings: Settings) -> SlaPolicy:
    """The SLA policy of ``ODS_SLA_POLICY``, for the calendar line at start only (cases carry theirs)."""
    try:
        return load_sla_policy(settings.sla_policy)
    except SlaPolicyError as exc:
        log.warning("SLA policy unreadable; calendar coverage from the package data only", error=str(exc))
        return SlaPolicy()


# Modules the workflow sandbox takes from the host instead of importing them again for every case
# (each cached case had its own copy: README, Performance). Workflow code (workflows/) is not among
# them, so the sandbox's determinism guard holds for it: a clock, random number or I/O call there
# fails the workflow task. domain/ is passed through for its pydantic models, the bulk of the
# memory; what of it workflows call is kept deterministic by tests/workflows/test_structure.py.
PASSED_THROUGH_MODULES = (
    "activities",
    "documents",
    "domain",
    "infra",
    "store",
    "annotated_types",
    "chinese_calendar",
    "httpx",
    "opentelemetry",
    "pydantic",
    "pydantic_core",
    "structlog",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every worker of the service (and the replay test) runs workflows in."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH_MODULES)
    )


def worker_options(settings: Settings) -> dict[str, Any]:
    """The settings every worker of the service runs with (and the benchmark's baseline worker,
    ``bench/baseline.py``, so that the two are compared like for like)."""
    return {
        "max_cached_workflows": settings.worker_cached_cases,
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_shutdown_s),
        # Every line an activity logs names its case (infra/log_context.py). The tracing
        # interceptor, when on, comes from the client (infra.temporal.connect). Histories' lengths
        # go to the SDK's metrics (infra/worker_metrics.py).
        "interceptors": [CaseLogInterceptor(), HistoryLengthInterceptor()],
        "workflow_runner": workflow_runner(),
        "deployment_config": deployment_config(settings),
    }


def registered_workflows(settings: Settings) -> list[type]:
    """The workflows a worker registers: as versions say how each moves between releases
    (``workflows/versioned.py``) when the worker is versioned, else as they are."""
    return VERSIONED_WORKFLOWS if settings.worker_build_id else ALL_WORKFLOWS


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """This release as a version of the service's Worker Deployment (``ODS_WORKER_BUILD_ID``), or
    None: an unversioned worker. An execution stays on the version it started on (pinned) unless
    its workflow says it upgrades (``workflows/versioned.py``)."""
    if not settings.worker_build_id:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(
            deployment_name=settings.worker_deployment, build_id=settings.worker_build_id
        ),
        use_worker_versioning=True,
        # The cases': not declared in their definitions (see workflows/versioned.py).
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


def cases_workers(
    client: Client,
    resources: WorkerResources,
    queue: str,
    common: dict[str, Any],
    workflows: Sequence[type],
    *,
    activities: bool = True,
) -> list[Worker]:
    """The workers of the cases' role, each on a task queue with slots of its own
    (``domain/task_queues.py``): the workflows, and every activity for cases from before the
    queues; the records; the webhooks' workflows and posts; each partner's calls, at most
    ``ODS_PARTNER_CONCURRENCY`` in flight. ``workflows``: the workflow classes (none: activities
    only)."""
    settings = resources.sla.settings
    workers: list[Worker] = []
    if workflows or activities:
        workers.append(
            Worker(
                client,
                task_queue=queue,
                workflows=list(workflows),
                # A lean case's local activities run where the case does (workflows/versions.py):
                # a worker of workflows only registers them for that, polling no activity tasks.
                activities=all_activities(resources) if activities else local_activities(resources),
                no_remote_activities=not activities,
                **common,
            )
        )
    webhook_workflows = [w for w in workflows if issubclass(w, tuple(WEBHOOK_WORKFLOWS))]
    if webhook_workflows or activities:
        workers.append(
            Worker(
                client,
                task_queue=webhooks_task_queue(queue),
                workflows=webhook_workflows,
                activities=webhook_activities(resources) if activities else [],
                max_concurrent_activities=WEBHOOK_ACTIVITY_SLOTS,
                **common,
            )
        )
    if activities:
        workers.append(
            Worker(
                client,
                task_queue=records_task_queue(queue),
                activities=record_activities(resources),
                max_concurrent_activities=RECORD_ACTIVITY_SLOTS,
                **common,
            )
        )
        for partner, calls in partner_activities(resources).items():
            workers.append(
                Worker(
                    client,
                    task_queue=partner_task_queue(queue, partner),
                    activities=calls,
                    max_concurrent_activities=settings.partner_concurrency,
                    **common,
                )
            )
    return workers


@asynccontextmanager
async def running_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    workflows: bool = True,
    activities: bool = True,
    role: str = "all",
    workflow_classes: Sequence[type] | None = None,
    database: ServiceDatabase | None = None,
) -> AsyncIterator[list[Worker]]:
    """The workers of one process, polling until the block ends: for role ``cases`` the workflows
    and activities of the cases' task queue (or only the one kind), for ``documents`` the
    documents' queue, for ``all`` both. On the process's service database ``database`` (its
    documents sealed under the case keys the client encrypts with, ``main``), else on one opened
    here and closed at the end."""
    if role not in ROLES:
        raise ValueError(f"unknown worker role {role!r}; roles are {', '.join(ROLES)}")
    queue = task_queue or settings.task_queue
    settings = settings.model_copy(update={"task_queue": queue})
    partners = PartnerClient(settings)
    # The process's one service database: a worker that cannot reach it does not start.
    own_database = database is None
    if database is None:
        database = ServiceDatabase(settings.resolved_database_url)
    resources = WorkerResources(
        partners=partners,
        sla=SlaActivities(settings, await database.alerts(), AlertWebhooks(client, settings)),
        subsidy=SubsidyActivities(await database.subsidies()),
        documents=DocumentActivities(await database.documents()),
        facts=CaseFactActivities(await database.facts()),
        client=client,
        ratings=RatingActivities(await database.ratings()),
        database=database,
    )
    common = worker_options(settings)
    workers: list[Worker] = []
    if role in ("all", "cases"):
        workers += cases_workers(
            client,
            resources,
            queue,
            common,
            (workflow_classes or registered_workflows(settings)) if workflows else [],
            activities=activities,
        )
    if role in ("all", "documents") and activities:
        workers.append(
            Worker(
                client,
                task_queue=documents_task_queue(queue),
                activities=document_activities(resources.documents),
                max_concurrent_activities=DOCUMENT_ACTIVITY_SLOTS,
                **common,
            )
        )
    try:
        async with contextlib.AsyncExitStack() as running:
            for worker in workers:
                await running.enter_async_context(worker)
            try:
                yield workers
            finally:
                # All at once: each finishes the tasks in hand (up to its graceful shutdown
                # timeout), and one after another that would add up over a dozen pools.
                await asyncio.gather(*(worker.shutdown() for worker in workers))
    finally:
        await partners.aclose()
        if own_database:
            await database.close()


def parse_role(argv: list[str], default: str) -> str:
    parser = argparse.ArgumentParser(prog="worker.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--role",
        choices=ROLES,
        default=default,
        help="which task queues this process polls (default: ODS_WORKER_ROLE, else all)",
    )
    return str(parser.parse_args(argv).role)


def keep_workflow_bytecode() -> None:
    """The SDK's sandbox imports the workflow's modules afresh for every run it starts or replays
    (README "Performance"). Without their bytecode on disk (``PYTHONDONTWRITEBYTECODE``, common in
    containers, or a tree the worker may not write) each of those imports compiles ``workflows/``
    from source again: 143 ms of CPU a case on the bench machine, 32 ms from bytecode
    (``python -m bench.sandbox_cost``). So this process writes the bytecode it compiles, beside the
    source where it may, else under the temporary directory (``sys.pycache_prefix``): a cache of
    this machine's own, rebuilt by any worker that lacks it."""
    sys.dont_write_bytecode = False
    if not os.access(os.path.join(os.path.dirname(os.path.abspath(__file__)), "workflows"), os.W_OK):
        sys.pycache_prefix = os.path.join(tempfile.gettempdir(), "ods-pycache")


async def main(argv: list[str]) -> int:
    keep_workflow_bytecode()
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"worker: invalid configuration: {exc}", file=sys.stderr)
        return 2
    role = parse_role(argv, settings.worker_role)
    configure_logging(settings.log_format, env=settings.env)
    start_tracing(WORKER_SERVICE)  # only with OTEL_EXPORTER_OTLP_ENDPOINT (infra/tracing.py)
    log_calendar_coverage(log, calendar_coverage(_sla_policy(settings)))
    try:
        runtime = metrics_runtime(settings.worker_metrics_addr)
    except MetricsAddressInvalid as exc:
        print(f"worker: invalid configuration: {exc}", file=sys.stderr)
        return 2
    # One service database for the process: the case keys the client encrypts with, the stores.
    database = ServiceDatabase(settings.resolved_database_url)
    case_keys = CaseKeyring.from_text(settings.codec_keys, database)
    database.seal_documents_with(case_keys)
    client = await connect(settings, runtime=runtime, case_keys=case_keys)
    # Created by their own command (starter.py setup-namespace, or the runbook's `temporal operator`
    # line for Temporal Cloud), checked here: a case setting a wrong one would fail every task.
    try:
        problems = await search_attribute_problems(client, settings.temporal_namespace)
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        # Temporal's time-skipping test server keeps no list to read.
        log.warning("search attributes not checked: the server cannot list them", error=str(exc))
        problems = []
    if problems:
        print(
            f"worker: the namespace {settings.temporal_namespace!r} is not set up: {'; '.join(problems)}. "
            "Run `python starter.py setup-namespace` (docs/operations.md).",
            file=sys.stderr,
        )
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(client, settings, role=role, database=database) as workers:
        log.info(
            "worker started",
            temporal=settings.temporal_address,
            namespace=settings.temporal_namespace,
            role=role,
            task_queues=[worker.task_queue for worker in workers],
            partners=settings.partner_url,
            metrics=f"http://{settings.worker_metrics_addr}/metrics" if runtime else None,
            build_id=settings.worker_build_id or None,
        )
        if settings.worker_build_id and await deployments.adopt_if_first(client, settings):
            log.info(
                "the deployment's first version: new cases start on it",
                deployment=settings.worker_deployment,
                build_id=settings.worker_build_id,
            )
        await stop.wait()
        log.info("worker stopping: finishing the tasks in hand")
    await database.close()
    log.info("worker stopped")
    stop_tracing()  # the spans still buffered: os._exit below runs no atexit hook
    return 0


if __name__ == "__main__":
    code = asyncio.run(main(sys.argv[1:]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # sdk-python#300: avoid an abort at interpreter exit
