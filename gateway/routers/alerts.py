"""``/v1/alerts`` and ``/v1/alerts/stream``: the SLA and subsidy alerts, for supervision.

The feed pages through the alert store with a cursor (an alert id); the stream sends each alert as
a server-sent event whose id is the alert id, so a subscriber that reconnects with ``Last-Event-ID``
gets exactly what it missed. Both read the service database only: no Temporal needed.

The stream polls the store (every ``POLL_INTERVAL_S``) rather than being told of new alerts: alerts
are recorded by workers in other processes, and the database is the one place that sees them all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import DBAPIError

from domain.alerts import AlertLevel, AlertRecord, AlertStage
from gateway.auth import alerts_access
from gateway.dependencies import AlertDatabaseDep, StoppingDep
from gateway.errors import ParameterInvalid
from gateway.models import AlertFeed, Detail, FieldErrors
from gateway.parameters import ALERT_ID_PATTERN, AlertId, AlertPageSize, SixDigitDistrict
from infra.logging import get_logger
from store.alerts import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, AlertStore, UnknownAlertId

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
    dependencies=[Depends(alerts_access)],
    responses={
        401: {"model": Detail, "description": "missing or wrong bearer token (the alerts or the ops token)"},
        422: {"model": FieldErrors, "description": "field errors: a bad filter, cursor or Last-Event-ID"},
        503: {"model": Detail, "description": "the service database is unreachable; try again"},
    },
)

# Leave a filter out for every alert; an empty value is a 422 like any other that breaks its rule.
StageFilter = Annotated[AlertStage | None, Query(description="only alerts of this stage")]
LevelFilter = Annotated[AlertLevel | None, Query(description="only alerts of this level")]
DistrictFilter = Annotated[
    SixDigitDistrict | None,
    Query(description="only alerts of this district (six-digit code, e.g. 410502)"),
]
After = Annotated[
    AlertId | None,
    Query(description="an alert id: only the alerts after it (the feed's `next_cursor`)"),
]

ALERT_EVENT_SCHEMA = {
    "type": "object",
    "description": "one server-sent event: an alert, its id the alert's (send it back as Last-Event-ID)",
    "properties": {
        "id": {"type": "string", "pattern": ALERT_ID_PATTERN},
        "event": {"const": "alert"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
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


@router.get("", summary="The alert feed, oldest first, one page at a time")
async def list_alerts(
    database: AlertDatabaseDep,
    after: After = None,
    limit: Annotated[
        AlertPageSize | None,
        Query(description=f"page size (default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE})"),
    ] = None,
    district: DistrictFilter = None,
    stage: StageFilter = None,
    level: LevelFilter = None,
) -> AlertFeed:
    """Pass each page's ``next_cursor`` as ``after`` to get the next; it is null on the last page.
    Every alert appears exactly once, in the order the store took them."""
    store = await database.store()
    alerts, next_cursor = await _reading(
        lambda: store.list(
            after=after, limit=limit or DEFAULT_PAGE_SIZE, district=district, stage=stage, level=level
        )
    )
    return AlertFeed(alerts=alerts, next_cursor=next_cursor)


@router.get(
    "/stream",
    summary="The alerts as server-sent events, live",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": (
                "One event per alert: `id: <alert id>`, `event: alert`, `data: <the alert as JSON>`. "
                f"Starts with `retry: {RETRY_MS}`; a `: keep-alive` comment comes every "
                f"{HEARTBEAT_INTERVAL_S:.0f} s without an alert."
            ),
            # OpenAPI 3.1 reads an event stream's schema as that of each event (3.2's itemSchema).
            "content": {EVENT_STREAM: {"schema": ALERT_EVENT_SCHEMA}},
        }
    },
)
async def stream_alerts(
    request: Request,
    database: AlertDatabaseDep,
    stopping: StoppingDep,
    after: After = None,
    district: DistrictFilter = None,
    stage: StageFilter = None,
    level: LevelFilter = None,
    last_event_id: Annotated[
        AlertId | None,
        Header(
            alias="Last-Event-ID",
            description="the id of the last alert received (an alert id from this feed, as a reconnecting "
            "EventSource sends it): resume right after it; wins over `after`. An id that names no alert "
            "is a 422 before the stream starts.",
        ),
    ] = None,
) -> StreamingResponse:
    """From now on, or from right after ``Last-Event-ID`` (a reconnecting client's) or ``after``:
    first every alert since, then each new one as it is raised. The filters apply as in the feed.

    Each event's data is the alert exactly as in the feed (`AlertRecord` in the schemas)."""
    # A reconnecting EventSource keeps its URL (and so its ``after``) and adds Last-Event-ID.
    cursor_field, cursor = ("Last-Event-ID", last_event_id) if last_event_id is not None else ("after", after)
    store = await database.store()
    if cursor is None:
        cursor = await store.latest_id()
    elif await store.get(cursor) is None:
        # Checked before the stream starts, so that a bad start is a 422, not a stream that breaks.
        raise ParameterInvalid(
            cursor_field, f"no alert has the id {cursor[:64]!r} (an event id is an alert id from this feed)"
        )
    wanted = {"district_code": district, "stage": stage, "level": level}
    events = alert_events(
        store,
        cursor,
        matches=lambda alert: all(v is None or getattr(alert, k) == v for k, v in wanted.items()),
        is_disconnected=request.is_disconnected,
        stopping=stopping,
    )
    return StreamingResponse(
        events,
        media_type=EVENT_STREAM,
        # No caching, and no buffering by a reverse proxy (nginx honours X-Accel-Buffering).
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def server_sent_event(alert: AlertRecord) -> str:
    return f"id: {alert.id}\nevent: alert\ndata: {alert.model_dump_json()}\n\n"


async def alert_events(
    store: AlertStore,
    cursor: str | None,
    *,
    matches: Callable[[AlertRecord], bool],
    is_disconnected: Callable[[], Awaitable[bool]],
    stopping: asyncio.Event,
) -> AsyncIterator[str]:
    """The stream's text: ``retry``, then every matching alert after ``cursor`` as it appears, with
    heartbeats in between; ends when the client has gone or ``stopping`` is set (the gateway stops)."""
    yield f"retry: {RETRY_MS}\n\n"
    last_sent = time.monotonic()
    failing = False
    while not stopping.is_set():
        batch: list[AlertRecord] = []
        try:
            # Shielded: a poll cut off by a disconnect would leave its connection half-closed. It
            # takes milliseconds, and cannot take longer than _POLL_TIMEOUT_S.
            with anyio.CancelScope(shield=True), anyio.fail_after(_POLL_TIMEOUT_S):
                batch = await store.since(cursor, limit=MAX_PAGE_SIZE)
        except (DBAPIError, OSError, TimeoutError) as err:
            # The database may come back: keep the subscriber, say so once, and try again.
            if not failing:
                log.warning("alert_stream_poll_failed", error_type=type(err).__name__, error=str(err))
            failing = True
        else:
            if failing:
                log.info("alert_stream_poll_recovered")
            failing = False
        for alert in batch:
            cursor = alert.id  # past the alerts a filter drops too, so they are not read again
            if matches(alert):
                yield server_sent_event(alert)
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
