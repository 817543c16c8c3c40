"""The gateway application: routers, auth, error answers, request log and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from domain.calendar_coverage import calendar_coverage, log_calendar_coverage
from domain.policies import Policies, load_policies
from gateway.business_metrics import BUSINESS
from gateway.codec import CodecCors
from gateway.dependencies import CONNECT_TIMEOUT_S, TemporalConnection, TemporalUnavailable
from gateway.errors import install_error_handlers
from gateway.failures import FailureLimiter
from gateway.methods import AllowedMethods
from gateway.observability import RequestLogMiddleware, observe_calendar_coverage, register_business_collector
from gateway.openapi import install_openapi
from gateway.queue_metrics import QUEUES
from gateway.routers import (
    alerts,
    applications,
    audit,
    callbacks,
    codec,
    health,
    ops_login,
    ratings,
    reports,
    subsidies,
)
from gateway.sessions import utc_now
from infra.case_keys import CaseKeyring
from infra.log_context import CaseLogContext
from infra.logging import get_logger
from infra.settings import Settings, get_settings
from infra.tracing import flush_tracing, instrument_gateway
from store.service import ServiceDatabase, ServiceDatabaseUnavailable

log = get_logger("gateway")

DESCRIPTION = """\
One-Day Setup (一日办): submit an application for setting up an enterprise and follow its
case through registration, seal carving, first invoices and delivery.

Bearer tokens: the portal's for `/v1/applications…`; the ops token for all of the gateway but
callbacks and the audit log; the alerts token for `/v1/alerts` and `/v1/alerts/stream` only; an
auditor's token for `/v1/audit` only. Partner callbacks are authenticated by their `X-ODS-Signature` instead.
Every refusal is JSON: `{"detail": "…"}`, or `{"errors": [{"field", "message"}]}` for a 422.
"""


def create_app(
    settings: Settings | None = None,
    client: Client | None = None,
    database: ServiceDatabase | None = None,
    policies: Policies | None = None,
) -> FastAPI:
    """The gateway on ``client``, or on a client it connects itself at startup (lifespan); on the
    service database ``database`` (alerts, subsidy ledger, facts, documents), or on the one of
    ``settings`` that it opens itself at startup and closes when it stops.

    New cases start with ``policies``, or with the policy files of ``settings`` read here, once:
    a broken file raises ``PolicyFileError`` (naming the file and the key) and no app is made.

    Without Temporal the gateway still starts: it answers what needs no Temporal, 503 for the
    rest, and connects as soon as Temporal is there. The same goes for the service database.
    """
    settings = settings or get_settings()
    if policies is None:
        policies = load_policies(settings.sla_policy, settings.subsidy_policy)
    # A database handed in belongs to whoever made it: only one made here is closed here.
    own_database = database is None
    if database is None:
        database = ServiceDatabase(
            settings.resolved_database_url, connect_timeout_s=CONNECT_TIMEOUT_S, log=log
        )
    # The cases' data keys (infra/case_keys.py): the client encrypts with them (unless one is handed
    # in), the codec endpoints decode with them, documents are sealed with them, an erasure drops them.
    case_keys = CaseKeyring.from_text(settings.codec_keys, database)
    database.seal_documents_with(case_keys)
    temporal = TemporalConnection(settings, client, case_keys)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # How far ahead the official holiday calendar is known: logged (a warning when it runs
        # out within 60 days) and the ``ods_calendar_covered_days`` gauge (refreshed per scrape).
        coverage = calendar_coverage(app.state.policies.sla)
        log_calendar_coverage(log, coverage)
        observe_calendar_coverage(coverage)
        try:
            await temporal.client()
        except TemporalUnavailable:
            log.warning("gateway_started_without_temporal", address=settings.temporal_address)
        try:
            await database.engine()
        except ServiceDatabaseUnavailable:
            log.warning("gateway_started_without_service_database")
        try:
            yield
        finally:
            app.state.stopping.set()
            if own_database:
                await database.close()
            flush_tracing()  # python -m gateway ends with os._exit: no atexit hook exports them

    app = FastAPI(
        title="One-Day Setup gateway",
        summary="一日办: enterprise setup in one working day",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.policies = policies
    app.state.temporal = temporal
    app.state.database = database
    app.state.case_keys = case_keys
    # Set when the gateway stops (here, or earlier by a server that announces its shutdown), so
    # that open alert streams end rather than hold the server up.
    app.state.stopping = asyncio.Event()
    # Wrong tokens per client address (gateway/failures.py); the clock the sessions' timeouts
    # are read on (gateway/sessions.py).
    app.state.failures = FailureLimiter()
    app.state.clock = utc_now
    app.include_router(applications.router)
    app.include_router(alerts.router)
    app.include_router(subsidies.router)
    app.include_router(reports.router)
    app.include_router(ratings.router)
    app.include_router(callbacks.router)
    app.include_router(health.router)
    app.include_router(codec.router)
    app.include_router(ops_login.router)
    app.include_router(audit.router)
    app.add_middleware(AllowedMethods)  # Allow on 405s and OPTIONS; inside CodecCors (its preflights)
    # The Web UI (another origin) calls the codec endpoints with the ops session cookie.
    app.add_middleware(CodecCors, origin=settings.ui_origin)
    # Metrics live in prometheus_client's default registry, shared by every gateway of the process
    # (gateway/observability.py); the business series are read from the service database, the
    # queues' backlogs from Temporal (gateway/queue_metrics.py).
    register_business_collector(BUSINESS)
    register_business_collector(QUEUES)
    app.add_middleware(RequestLogMiddleware)
    # Outside the request log, so that its access line names the case too (infra/log_context.py).
    app.add_middleware(CaseLogContext)
    # Traces only with OTEL_EXPORTER_OTLP_ENDPOINT set (infra/tracing.py).
    instrument_gateway(app)
    install_error_handlers(app)
    install_openapi(app)
    return app
