"""``/v1/alerts``, ``/v1/alerts/stream`` and ``/v1/alerts/{id}/acknowledge``: the SLA, subsidy and
attention alerts, for supervision, and operators taking them.

The feed pages through the alert store with a cursor (an alert id); the stream sends each event as
a server-sent event: ``event: alert`` when an alert is raised (its id the alert's id), and
``event: alert.acknowledged`` when an operator takes it (an id of its own, later than every event
before it). Every event id sorts in the stream's order, so a subscriber that reconnects with
``Last-Event-ID`` (either kind) gets exactly what it missed. Both read the service database only:
no Temporal needed. An acknowledgement is also POSTed to the alert webhooks (``X-ODS-Event``).

The stream polls the store (every ``POLL_INTERVAL_S``) rather than being told of new alerts: alerts
are recorded by workers in other processes, and the database is the one place that sees them all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import DBAPIError
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from activities.alert_webhooks import start_alert_webhooks
from domain.alerts import ALERT_RAISED, AlertEvent, AlertLevel, AlertRecord, AlertStage
from domain.validation import decode_json_body, json_object, validated
from gateway.auth import OpsCallerDep, alerts_access
from gateway.dependencies import RawBody, ServiceDatabaseDep, SettingsDep, StoppingDep, TemporalDep
from gateway.errors import ParameterInvalid
from gateway.models import AcknowledgeBody, AlertFeed, Detail, FieldErrors
from gateway.openapi import json_body
from gateway.parameters import ALERT_ID_PATTERN, AlertId, AlertPageSize, SixDigitDistrict, is_alert_id_form
from infra.logging import get_logger
from infra.settings import Settings
from store.alerts import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    AlertAlreadyAcknowledged,
    AlertNotFound,
    AlertStore,
    UnknownAlertId,
)

log = get_logger("gateway.alerts")

EVENT_STREAM = "text/event-stream"
POLL_INTERVAL_S = 0.5
"""How often an open stream asks the store for new alerts (alerts must reach subscribers in 2 s)."""
HEARTBEAT_INTERVAL_S = 15.0
"""A comment line after this long without an event, so proxies and clients keep the stream open."""
RETRY_MS = 2000
"""The reconnection delay the stream asks its clients to use."""
_POLL_TIMEOUT_S = 10.0
_FILTERS = ("district", "stage", "level")

router = APIRouter(
    prefix="/v1/alerts",
    tags=["alerts"],
    responses={
        503: {"model": Detail, "description": "the service database is unreachable; try again"},
    },
)
# Reading: the alerts token, the ops token or a personal ops token.
_READ_ACCESS = [Depends(alerts_access)]
_READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": Detail,
        "description": "missing or wrong bearer token (the alerts, the ops or a personal ops token)",
    },
    422: {"model": FieldErrors, "description": "field errors: a bad filter, cursor or Last-Event-ID"},
}

# Leave a filter out for every alert; an empty value is a 422 like any other that breaks its rule.
StageFilter = Annotated[AlertStage | None, Query(description="only alerts of this stage")]
LevelFilter = Annotated[AlertLevel | None, Query(description="only alerts of this level")]
DistrictFilter = Annotated[
    SixDigitDistrict | None,
    Query(description="only alerts of this district (six-digit code, e.g. 410502)"),
]
AcknowledgedFilter = Annotated[
    bool | None,
    Query(
        description="true: only the alerts someone has acknowledged; false: only those nobody has taken "
        "yet. On the stream: true sends only `alert.acknowledged` events, false only `alert` events"
    ),
]
After = Annotated[
    AlertId | None,
    Query(description="an alert id: only the alerts after it (the feed's `next_cursor`)"),
]
StreamAfter = Annotated[
    AlertId | None,
    Query(description="an event id (an alert's id, or an acknowledgement's): only the events after it"),
]

SSE_EVENT_RAISED = "alert"
SSE_EVENT_ACKNOWLEDGED = "alert.acknowledged"
ALERT_EVENT_SCHEMA = {
    "type": "object",
    "description": (
        f"one server-sent event. `event: {SSE_EVENT_RAISED}`: an alert raised, its id the alert's id. "
        f"`event: {SSE_EVENT_ACKNOWLEDGED}`: an operator took the alert; its id is the event's own, "
        "later than every event before it (the alert's id is `id` in the data). Every event id sorts "
        "in the stream's order: send the last one back as Last-Event-ID"
    ),
    "properties": {
        "id": {"type": "string", "pattern": ALERT_ID_PATTERN},
        "event": {"enum": [SSE_EVENT_RAISED, SSE_EVENT_ACKNOWLEDGED]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "the alert as the event shows it: as raised (not acknowledged yet), or with "
            "`acknowledged_by`, `acknowledged_at` and `note`",
            "contentSchema": {"$ref": "#/components/schemas/AlertRecord"},
        },
    },
    "required": ["id", "event", "data"],
}

T = TypeVar("T")


async def _reading(call: Callable[[], Awaitable[T]]) -> T:
    """A feed read, its refusals named after the request's parameter (422)."""
    try:
        return await call()
    except UnknownAlertId as err:
        raise ParameterInvalid("after", str(err)) from None
    except ValueError as err:
        # The store checks filters the way the parameters' types already did; should the two ever
        # disagree, the store's message ("stage must be one of …") still names the parameter.
        name = str(err).partition(" ")[0]
        raise ParameterInvalid(name if name in (*_FILTERS, "limit") else "query", str(err)) from None


@router.get(
    "",
    summary="The alert feed, oldest first, one page at a time",
    dependencies=_READ_ACCESS,
    responses=_READ_RESPONSES,
)
async def list_alerts(
    database: ServiceDatabaseDep,
    after: After = None,
    limit: Annotated[
        AlertPageSize | None,
        Query(description=f"page size (default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE})"),
    ] = None,
    district: DistrictFilter = None,
    stage: StageFilter = None,
    level: LevelFilter = None,
    acknowledged: AcknowledgedFilter = None,
) -> AlertFeed:
    """Pass each page's ``next_cursor`` as ``after`` to get the next; it is null on the last page.
    Every alert appears exactly once, in the order the store took them, with its acknowledgement
    if it has one. ``?acknowledged=false``: the alerts nobody has taken yet."""
    store = await database.alerts()
    alerts, next_cursor = await _reading(
        lambda: store.list(
            after=after,
            limit=limit or DEFAULT_PAGE_SIZE,
            district=district,
            stage=stage,
            level=level,
            acknowledged=acknowledged,
        )
    )
    return AlertFeed(alerts=alerts, next_cursor=next_cursor)


@router.get(
    "/stream",
    summary="The alerts as server-sent events, live",
    response_class=StreamingResponse,
    dependencies=_READ_ACCESS,
    responses={
        **_READ_RESPONSES,
        200: {
            "description": (
                f"One event per alert raised: `id: <alert id>`, `event: {SSE_EVENT_RAISED}`, "
                "`data: <the alert as JSON>`; and one per acknowledgement: `id: <its own event id>`, "
                f"`event: {SSE_EVENT_ACKNOWLEDGED}`, `data: <the alert, acknowledged, as JSON>`. "
                f"Starts with `retry: {RETRY_MS}`; a `: keep-alive` comment comes every "
                f"{HEARTBEAT_INTERVAL_S:.0f} s without an event."
            ),
            # OpenAPI 3.1 reads an event stream's schema as that of each event (3.2's itemSchema).
            "content": {EVENT_STREAM: {"schema": ALERT_EVENT_SCHEMA}},
        },
    },
)
async def stream_alerts(
    request: Request,
    database: ServiceDatabaseDep,
    stopping: StoppingDep,
    after: StreamAfter = None,
    district: DistrictFilter = None,
    stage: StageFilter = None,
    level: LevelFilter = None,
    acknowledged: AcknowledgedFilter = None,
    last_event_id: Annotated[
        AlertId | None,
        Header(
            alias="Last-Event-ID",
            description="the id of the last event received (as a reconnecting EventSource sends it: an "
            "alert's id, or an acknowledgement's): resume right after it; wins over `after`. An id that "
            "names no event of this stream is a 422 before the stream starts.",
        ),
    ] = None,
) -> StreamingResponse:
    """From now on, or from right after ``Last-Event-ID`` (a reconnecting client's) or ``after``:
    first every event since, then each new one as it happens. The filters apply to each event's
    alert as in the feed; ``acknowledged`` picks the kind of event.

    Each event's data is the alert (`AlertRecord` in the schemas) as the event shows it: as raised
    for `alert`, with its acknowledgement for `alert.acknowledged`."""
    # A reconnecting EventSource keeps its URL (and so its ``after``) and adds Last-Event-ID.
    cursor_field, cursor = ("Last-Event-ID", last_event_id) if last_event_id is not None else ("after", after)
    store = await database.alerts()
    if cursor is None:
        cursor = await store.latest_event_id()
    elif not await store.has_event(cursor):
        # Checked before the stream starts, so that a bad start is a 422, not a stream that breaks.
        raise ParameterInvalid(
            cursor_field,
            f"no event has the id {cursor[:64]!r} (an event id is an alert's id or an acknowledgement's, "
            "from this stream)",
        )
    wanted = {"district_code": district, "stage": stage, "level": level}
    kind = None if acknowledged is None else (SSE_EVENT_ACKNOWLEDGED if acknowledged else SSE_EVENT_RAISED)

    def matches(event: AlertEvent) -> bool:
        return (kind is None or _sse_name(event) == kind) and all(
            v is None or getattr(event.alert, k) == v for k, v in wanted.items()
        )

    events = alert_events(
        store,
        cursor,
        matches=matches,
        is_disconnected=request.is_disconnected,
        stopping=stopping,
    )
    return StreamingResponse(
        events,
        media_type=EVENT_STREAM,
        # No caching, and no buffering by a reverse proxy (nginx honours X-Accel-Buffering).
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse_name(event: AlertEvent) -> str:
    return SSE_EVENT_RAISED if event.kind == ALERT_RAISED else SSE_EVENT_ACKNOWLEDGED


def server_sent_event(event: AlertEvent) -> str:
    return f"id: {event.id}\nevent: {_sse_name(event)}\ndata: {event.alert.model_dump_json()}\n\n"


async def alert_events(
    store: AlertStore,
    cursor: str | None,
    *,
    matches: Callable[[AlertEvent], bool],
    is_disconnected: Callable[[], Awaitable[bool]],
    stopping: asyncio.Event,
) -> AsyncIterator[str]:
    """The stream's text: ``retry``, then every matching event after ``cursor`` as it appears, with
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
            if matches(event):
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


# --- acknowledging an alert ----------------------------------------------------------------------


def alert_id_of_path(
    alert_id: Annotated[
        str,
        Path(
            description="the alert's id, as the feed gives it (such as `000000000042-9f3a61c2`); any "
            "other is a 404",
            json_schema_extra={"pattern": ALERT_ID_PATTERN},
        ),
    ],
) -> str:
    if not is_alert_id_form(alert_id):
        raise HTTPException(404, f"no alert has the id {alert_id[:64]!r}")
    return alert_id


async def _deliver(client: Client | None, settings: Settings, event: AlertEvent | None) -> None:
    """Start the webhooks of an acknowledgement (once per event id). The acknowledgement is recorded
    (and in the stream) whatever happens here: a failure is logged, and a repeat of the request
    (a 409) tries again."""
    if client is None or event is None:
        return
    try:
        started = await start_alert_webhooks(client, settings, event)
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


@router.post(
    "/{alert_id}/acknowledge",
    summary="An operator takes an alert (ops or personal ops token)",
    openapi_extra=json_body(AcknowledgeBody, "who takes the alert, and a note (optional)"),
    responses={
        401: {
            "model": Detail,
            "description": "missing or wrong bearer token (the ops or a personal ops token)",
        },
        403: {"model": Detail, "description": "a personal ops token with another operator's name"},
        404: {"model": Detail, "description": "no alert has this id"},
        409: {"model": Detail, "description": "the alert was acknowledged before (that one is kept)"},
        413: {"model": Detail, "description": "the body is larger than 1 MiB"},
        422: {"model": FieldErrors, "description": "field errors of the body (`operator`, `note`)"},
        503: {
            "model": Detail,
            "description": "the service database, or Temporal (for the webhooks), is "
            "unreachable; nothing was recorded, try again",
        },
    },
)
async def acknowledge_alert(
    caller: OpsCallerDep,
    alert_id: Annotated[str, Depends(alert_id_of_path)],
    body: RawBody,
    database: ServiceDatabaseDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> AlertRecord:
    """200 with the alert, now with `acknowledged_by`, `acknowledged_at` and `note`; 409 if someone
    acknowledged it before (exactly one of simultaneous acknowledgements wins), 404 for an unknown
    alert. The stream then carries an `alert.acknowledged` event, with an event id of its own, and
    the alert webhooks get it too (`X-ODS-Event: alert.acknowledged`)."""
    request = validated(AcknowledgeBody, json_object(decode_json_body(body)))
    operator = caller.operator(request.operator)
    store = await database.alerts()
    # Temporal first (when there are webhooks to start): unreachable is a 503 with nothing recorded.
    client = await temporal.client() if settings.alert_webhook_urls else None
    try:
        alert = await store.acknowledge(alert_id, operator, request.note, datetime.now(UTC))
    except AlertNotFound as err:
        raise HTTPException(404, str(err)) from None
    except AlertAlreadyAcknowledged as err:
        await _deliver(client, settings, await store.acknowledgement(alert_id))
        raise HTTPException(409, str(err)) from None
    log.info(
        "alert_acknowledged", alert_id=alert.id, operator=operator, personal=caller.personal_name is not None
    )
    await _deliver(client, settings, await store.acknowledgement(alert_id))
    return alert
