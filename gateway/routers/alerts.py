"""``/v1/alerts``, ``/v1/alerts/stream`` and ``/v1/alerts/{id}/acknowledge``: the SLA, subsidy and
attention alerts, for supervision, and operators taking them.

The feed pages through the alert store with a cursor (an alert id); the stream sends each event as
a server-sent event: ``event: alert`` when an alert is raised (its id the alert's id), and
``event: alert.acknowledged`` when an operator takes it (an id of its own, later than every event
before it). Every event id sorts in the stream's order, so a subscriber that reconnects with
``Last-Event-ID`` (either kind) gets exactly what it missed. Both read the service database only:
no Temporal needed. An acknowledgement is also POSTed to the alert webhooks (``X-ODS-Event``).

What is done (the stream's polling, an acknowledgement and its webhooks) is ``service/alerts.py``'s;
this module translates HTTP to it and back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse

from domain.alerts import AlertLevel, AlertRecord, AlertStage
from gateway.access import access_of
from gateway.auth import OpsCallerDep, alerts_access
from gateway.bodies import BodyRoute
from gateway.dependencies import ServiceDatabaseDep, SettingsDep, StoppingDep, TemporalDep
from gateway.errors import ParameterInvalid
from gateway.models import AcknowledgeBody, AlertFeed, Detail, FieldErrors
from gateway.parameters import ALERT_ID_PATTERN, AlertId, AlertPageSize, SixDigitDistrict, is_alert_id_form
from infra.logging import get_logger
from service import alerts, audit
from service.alerts import HEARTBEAT_INTERVAL_S, RETRY_MS, SSE_EVENT_ACKNOWLEDGED, SSE_EVENT_RAISED
from store.alerts import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    AlertAlreadyAcknowledged,
    AlertNotFound,
)

log = get_logger("gateway.alerts")

EVENT_STREAM = "text/event-stream"
_FILTERS = ("district", "stage", "level")

router = APIRouter(
    route_class=BodyRoute,
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
    422: {
        "model": FieldErrors,
        "description": "field errors: a filter, cursor or Last-Event-ID not of its form",
    },
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
    Query(
        description="an alert id: only the alerts after it (the feed's `next_cursor`); one that names no "
        "alert of this feed (another database's) has nothing after it: an empty last page"
    ),
]
StreamAfter = Annotated[
    AlertId | None,
    Query(
        description="an event id (an alert's id, or an acknowledgement's): only the events after it; one "
        "that names no event of this stream (another database's): from now on"
    ),
]

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
    page, next_cursor = await _reading(
        lambda: alerts.feed_page(
            store,
            after=after,
            limit=limit or DEFAULT_PAGE_SIZE,
            district=district,
            stage=stage,
            level=level,
            acknowledged=acknowledged,
        )
    )
    return AlertFeed(alerts=page, next_cursor=next_cursor)


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
            "names no event of this stream (another database's) starts the stream from now on.",
        ),
    ] = None,
) -> StreamingResponse:
    """From now on, or from right after ``Last-Event-ID`` (a reconnecting client's) or ``after``:
    first every event since, then each new one as it happens. The filters apply to each event's
    alert as in the feed; ``acknowledged`` picks the kind of event.

    Each event's data is the alert (`AlertRecord` in the schemas) as the event shows it: as raised
    for `alert`, with its acknowledgement for `alert.acknowledged`."""
    # A reconnecting EventSource keeps its URL (and so its ``after``) and adds Last-Event-ID.
    store = await database.alerts()
    start = await alerts.stream_start(store, last_event_id if last_event_id is not None else after)
    wanted = alerts.EventFilter(district_code=district, stage=stage, level=level, acknowledged=acknowledged)
    events = alerts.alert_events(
        store, start, wanted=wanted, is_disconnected=request.is_disconnected, stopping=stopping
    )
    return StreamingResponse(
        events,
        media_type=EVENT_STREAM,
        # No caching, and no buffering by a reverse proxy (nginx honours X-Accel-Buffering).
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


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


@router.post(
    "/{alert_id}/acknowledge",
    summary="An operator takes an alert (ops or personal ops token)",
    responses={
        401: {
            "model": Detail,
            "description": "missing or wrong bearer token (the ops or a personal ops token)",
        },
        403: {
            "model": Detail,
            "description": "a personal ops token with another operator's name; or, in production, the "
            "shared ops token (a person must acknowledge)",
        },
        404: {"model": Detail, "description": "no alert has this id"},
        409: {"model": Detail, "description": "the alert was acknowledged before (that one is kept)"},
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
    request: Annotated[AcknowledgeBody, Body(description="who takes the alert, and a note (optional)")],
    database: ServiceDatabaseDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    http: Request,
) -> AlertRecord:
    """200 with the alert, now with `acknowledged_by`, `acknowledged_at` and `note`; 409 if someone
    acknowledged it before (exactly one of simultaneous acknowledgements wins), 404 for an unknown
    alert. The stream then carries an `alert.acknowledged` event, with an event id of its own, and
    the alert webhooks get it too (`X-ODS-Event: alert.acknowledged`)."""
    operator = caller.operator(request.operator)
    store = await database.alerts()
    # Temporal first (when there are webhooks to start): unreachable is a 503 with nothing recorded.
    webhooks = (
        alerts.AlertWebhooks(await temporal.client(), settings) if settings.alert_webhook_urls else None
    )
    try:
        alert = await alerts.acknowledge(store, webhooks, alert_id, operator, request.note)
    except AlertNotFound as err:
        raise HTTPException(404, str(err)) from None
    except AlertAlreadyAcknowledged as err:
        raise HTTPException(409, str(err)) from None
    log.info(
        "alert_acknowledged", alert_id=alert.id, operator=operator, personal=caller.personal_name is not None
    )
    shared = "" if caller.personal_name else f" as {operator}"
    detail = f"alert {alert.id} ({alert.stage} {alert.level}){shared}"
    await audit.record(
        database, access_of(caller), "acknowledge", cases=[alert.application_id], detail=detail
    )
    return alert
