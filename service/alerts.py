"""What is done with alerts, behind ``/v1/alerts…`` and the worker's ``raise_alert``: starting the
webhooks of an alert event, acknowledging an alert, and the stream of alert events.

The stream polls the store (every ``POLL_INTERVAL_S``) rather than being told of new alerts: alerts
are recorded by workers in other processes, and the database is the one place that sees them all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from sqlalchemy.exc import DBAPIError
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.alert_webhooks import DELIVERY_WORKFLOW, delivery_workflow_id
from domain.alerts import ALERT_RAISED, AlertEvent, AlertRecord, WebhookDeliveryInput
from domain.task_queues import webhooks_task_queue
from infra.logging import get_logger
from infra.settings import Settings
from store.alerts import MAX_PAGE_SIZE, AlertAlreadyAcknowledged, AlertStore, UnknownAlertId

log = get_logger("service.alerts")

POLL_INTERVAL_S = 0.5
"""How often an open stream asks the store for new alerts (alerts must reach subscribers in 2 s)."""
HEARTBEAT_INTERVAL_S = 15.0
"""A comment line after this long without an event, so proxies and clients keep the stream open."""
RETRY_MS = 2000
"""The reconnection delay the stream asks its clients to use."""
_POLL_TIMEOUT_S = 10.0

SSE_EVENT_RAISED = "alert"
SSE_EVENT_ACKNOWLEDGED = "alert.acknowledged"


# --- the webhooks of an alert event -----------------------------------------------------------------


class AlertWebhooks:
    """Starts the delivery of alert events to every ``ODS_ALERT_WEBHOOKS`` subscriber: the gateway's
    for acknowledgements, the worker's ``raise_alert`` (``activities/sla.py``) for raised alerts."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def start(self, event: AlertEvent) -> bool:
        """Start the delivery of ``event``, once per event (the workflow id says which): True if this
        call started it, False if there is nothing to send or it was started before."""
        urls = self.settings.alert_webhook_urls
        if not urls:
            return False
        alert = event.alert
        if event.kind == ALERT_RAISED:
            summary = f"webhooks of alert {alert.id}: {alert.stage} {alert.level}"
        else:
            summary = (
                f"webhooks of the acknowledgement {event.id} of alert {alert.id} ({alert.acknowledged_by})"
            )
        try:
            await self.client.start_workflow(
                DELIVERY_WORKFLOW,
                WebhookDeliveryInput(alert=alert, urls=urls, event=event.kind, event_id=event.id),
                id=delivery_workflow_id(event.id),
                # The webhooks' own queue: a slow subscriber holds no slot a case needs.
                task_queue=webhooks_task_queue(self.settings.task_queue),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=summary,
            )
        except WorkflowAlreadyStartedError:
            return False
        return True


# --- acknowledging an alert ---------------------------------------------------------------------------


async def _deliver(webhooks: AlertWebhooks | None, event: AlertEvent | None) -> None:
    """Start the webhooks of an acknowledgement (once per event id). The acknowledgement is recorded
    (and in the stream) whatever happens here: a failure is logged, and a repeat of the request
    (a 409) tries again."""
    if webhooks is None or event is None:
        return
    try:
        started = await webhooks.start(event)
    except (RPCError, RPCTimeoutOrCancelledError, RuntimeError, OSError, TimeoutError) as err:
        log.warning(
            "alert_acknowledgement_webhooks_not_started",
            alert_id=event.alert.id,
            event_id=event.id,
            error_type=type(err).__name__,
            error=str(err),
        )
        return
    if started:
        log.info("alert_acknowledgement_webhooks_started", alert_id=event.alert.id, event_id=event.id)


async def acknowledge(
    store: AlertStore, webhooks: AlertWebhooks | None, alert_id: str, operator: str, note: str | None
) -> AlertRecord:
    """An operator takes the alert (``AlertNotFound``; ``AlertAlreadyAcknowledged`` when someone did
    before: exactly one of simultaneous acknowledgements wins), then the webhooks of the
    acknowledgement are started; a repeat that finds it taken starts them too, should the first
    attempt have failed (they start once per event whatever happens)."""
    try:
        alert = await store.acknowledge(alert_id, operator, note, datetime.now(UTC))
    except AlertAlreadyAcknowledged:
        await _deliver(webhooks, await store.acknowledgement(alert_id))
        raise
    await _deliver(webhooks, await store.acknowledgement(alert_id))
    return alert


# --- the feed -----------------------------------------------------------------------------------------


async def feed_page(
    store: AlertStore,
    *,
    after: str | None,
    limit: int,
    district: str | None = None,
    stage: str | None = None,
    level: str | None = None,
    acknowledged: bool | None = None,
) -> tuple[list[AlertRecord], str | None]:
    """One page of the feed after the alert ``after`` (``AlertStore.list``). An id that names no alert
    of this feed (another database's, or made up) is the last page: empty, with no cursor."""
    try:
        return await store.list(
            after=after,
            limit=limit,
            district=district,
            stage=stage,
            level=level,
            acknowledged=acknowledged,
        )
    except UnknownAlertId:
        return [], None


# --- the stream -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    """Which events a stream sends: those of alerts with these values (None: any), of this kind."""

    district_code: str | None = None
    stage: str | None = None
    level: str | None = None
    acknowledged: bool | None = None
    """True: only acknowledgements; False: only raised alerts; None: both."""

    def matches(self, event: AlertEvent) -> bool:
        alert = event.alert
        if self.acknowledged is not None and (event.kind != ALERT_RAISED) != self.acknowledged:
            return False
        return (
            self.district_code in (None, alert.district_code)
            and self.stage in (None, alert.stage)
            and self.level in (None, alert.level)
        )


def sse_name(event: AlertEvent) -> str:
    return SSE_EVENT_RAISED if event.kind == ALERT_RAISED else SSE_EVENT_ACKNOWLEDGED


def server_sent_event(event: AlertEvent) -> str:
    return f"id: {event.id}\nevent: {sse_name(event)}\ndata: {event.alert.model_dump_json()}\n\n"


async def stream_start(store: AlertStore, after: str | None) -> str | None:
    """Where a stream begins: right after the event ``after``, or from now on (the newest event; None
    for an empty stream). An id that names no event of this stream (another database's, or made up)
    has nothing after it that this stream could know of: that stream starts from now on too."""
    if after is not None and await store.has_event(after):
        return after
    return await store.latest_event_id()


async def alert_events(
    store: AlertStore,
    cursor: str | None,
    *,
    wanted: EventFilter,
    is_disconnected: Callable[[], Awaitable[bool]],
    stopping: asyncio.Event,
) -> AsyncIterator[str]:
    """The stream's text: ``retry``, then every wanted event after ``cursor`` as it appears, with
    heartbeats in between; ends when the client has gone or ``stopping`` is set (the gateway stops)."""
    yield f"retry: {RETRY_MS}\n\n"
    last_sent = time.monotonic()
    failing = False
    while not stopping.is_set():
        batch: list[AlertEvent] = []
        try:
            # Shielded: a poll cut off by a disconnect would leave its connection half-closed. It
            # takes milliseconds, and cannot take longer than _POLL_TIMEOUT_S.
            with anyio.CancelScope(shield=True), anyio.fail_after(_POLL_TIMEOUT_S):
                batch = await store.events_since(cursor, limit=MAX_PAGE_SIZE)
        except (DBAPIError, OSError, TimeoutError) as err:
            # The database may come back: keep the subscriber, say so once, and try again.
            if not failing:
                log.warning("alert_stream_poll_failed", error_type=type(err).__name__, error=str(err))
            failing = True
        else:
            if failing:
                log.info("alert_stream_poll_recovered")
            failing = False
        for event in batch:
            cursor = event.id  # past the events a filter drops too, so they are not read again
            if wanted.matches(event):
                yield server_sent_event(event)
                last_sent = time.monotonic()
        if len(batch) == MAX_PAGE_SIZE:
            continue  # a backlog (a resume after a long absence): send it without pausing
        if time.monotonic() - last_sent >= HEARTBEAT_INTERVAL_S:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        if await is_disconnected():
            return
        with anyio.move_on_after(POLL_INTERVAL_S):
            await stopping.wait()
