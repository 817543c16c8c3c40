"""Alert webhooks of both kinds of event: an alert raised (by the worker's alert activity) and an
alert acknowledged (by the gateway), each delivered by an ``AlertWebhookDelivery`` of its own, on
the time-skipping Temporal test server, to a real subscriber over HTTP, signed; and a delivery
recorded by the release before acknowledgements still replays on the current code.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.alert_webhooks import AlertWebhookActivities, delivery_workflow_id
from activities.sla import SlaActivities
from domain.alerts import AlertIn
from domain.task_queues import webhooks_task_queue
from gateway.app import create_app
from infra.serving import serve_in_background
from infra.settings import Settings
from infra.signing import SIGNATURE_HEADER, verify
from infra.temporal import data_converter
from service.alerts import AlertWebhooks
from store.alerts import AlertStore
from store.db import open_database
from store.service import ServiceDatabase
from tests.helpers import eventually
from workflows.alert_webhooks import AlertWebhookDelivery

HISTORIES = Path(__file__).parent / "histories"
PERSONAL_TOKEN = "zhang-wei-personal-token-0001"


@dataclass
class Subscriber:
    """Records every signed POST it gets: headers and body."""

    secret: str
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            problem = verify(self.secret, body, request.headers.get(SIGNATURE_HEADER))
            if problem:
                return Response(problem, status_code=401)
            self.received.append((dict(request.headers), json.loads(body)))
            return Response(status_code=204)

        return app

    def of_kind(self, kind: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(h, b) for h, b in self.received if h["x-ods-event"] == kind]


@dataclass
class Deliveries:
    env: WorkflowEnvironment
    settings: Settings
    store: AlertStore
    subscriber: Subscriber
    gateway: httpx.AsyncClient
    sla: SlaActivities


@pytest_asyncio.fixture
async def deliveries(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Deliveries]:
    client = time_skipping_env.client
    base = Settings(
        task_queue=f"test-webhooks-{uuid.uuid4()}",
        data_dir=tmp_path,
        operator_tokens=f"zhang.wei:{PERSONAL_TOKEN}",
    )
    subscriber = Subscriber(base.webhook_secret)
    engine = await open_database(base.resolved_database_url)
    store = AlertStore(engine)
    try:
        async with serve_in_background(subscriber.app()) as hook_url:
            settings = Settings(**(base.model_dump() | {"alert_webhooks": f"{hook_url}/hook"}))
            app = create_app(settings, client=client, database=ServiceDatabase.on(store.engine))
            async with (
                Worker(
                    client,
                    # Where AlertWebhooks starts the deliveries.
                    task_queue=webhooks_task_queue(settings.task_queue),
                    workflows=[AlertWebhookDelivery],
                    activities=[AlertWebhookActivities(settings).post_alert_webhook],
                ),
                serve_in_background(app) as gateway_url,
                httpx.AsyncClient(base_url=gateway_url, timeout=30) as gateway,
            ):
                yield Deliveries(
                    env=time_skipping_env,
                    settings=settings,
                    store=store,
                    subscriber=subscriber,
                    gateway=gateway,
                    sla=SlaActivities(settings, store, AlertWebhooks(client, settings)),
                )
    finally:
        await engine.dispose()


def an_alert() -> AlertIn:
    n = uuid.uuid4().hex[:4].upper()
    return AlertIn(
        application_id=f"AY20261127-{n}",
        workflow_id=f"setup-AY20261127-{n}",
        stage="seal_carving",
        level="needs_attention",
        raised_at=datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
        district_code="410502",
        enterprise_name="安阳市文峰区晨曦餐饮有限公司",
        episode=2,
        reason="the seal shop takes no orders",
    )


async def test_a_subscriber_gets_the_alert_and_then_its_acknowledgement_and_tells_them_apart(
    deliveries: Deliveries,
) -> None:
    subscriber, gateway = deliveries.subscriber, deliveries.gateway
    # The worker's alert activity, as the case runs it (a retry of it starts nothing new).
    alert = await deliveries.sla.raise_alert(an_alert())
    assert (
        await deliveries.sla.raise_alert(an_alert().model_copy(update={"workflow_id": alert.workflow_id}))
        == alert
    )
    await eventually(lambda: subscriber.of_kind("alert.raised"), what="the raised alert posted")

    resp = await gateway.post(
        f"/v1/alerts/{alert.id}/acknowledge",
        json={"note": "calling the shop"},
        headers={"Authorization": f"Bearer {PERSONAL_TOKEN}"},
    )
    assert resp.status_code == 200, resp.text
    taken = resp.json()
    acknowledgement = await deliveries.store.acknowledgement(alert.id)
    assert acknowledgement is not None
    await eventually(lambda: subscriber.of_kind("alert.acknowledged"), what="the acknowledgement posted")

    [(raised_headers, raised_body)] = subscriber.of_kind("alert.raised")
    assert raised_headers["x-ods-event-id"] == raised_headers["x-ods-alert-id"] == alert.id
    assert raised_body["id"] == alert.id and raised_body["acknowledged_by"] is None
    assert (raised_body["episode"], raised_body["reason"]) == (2, "the seal shop takes no orders")

    [(ack_headers, ack_body)] = subscriber.of_kind("alert.acknowledged")
    assert ack_headers["x-ods-alert-id"] == alert.id
    assert ack_headers["x-ods-event-id"] == acknowledgement.id != alert.id
    assert acknowledgement.id > alert.id
    assert ack_body == taken and ack_body["acknowledged_by"] == "zhang.wei"

    # Each event has its own delivery, named after its event id.
    client = deliveries.env.client
    for event_id in (alert.id, acknowledgement.id):
        description = await client.get_workflow_handle(delivery_workflow_id(event_id)).describe()
        assert description.workflow_type == "AlertWebhookDelivery"

    # A second acknowledgement is refused and posts nothing more.
    again = await gateway.post(
        f"/v1/alerts/{alert.id}/acknowledge",
        json={"operator": "li.na"},
        headers={"Authorization": "Bearer dev-ops-token"},
    )
    assert again.status_code == 409
    await deliveries.env.sleep(timedelta(seconds=5))
    assert len(subscriber.received) == 2

    # The acknowledgement's delivery replays on the current code, as the raised one does.
    replayer = Replayer(workflows=[AlertWebhookDelivery], data_converter=data_converter())
    for event_id in (alert.id, acknowledgement.id):
        history = await client.get_workflow_handle(delivery_workflow_id(event_id)).fetch_history()
        await replayer.replay_workflow(history)


async def test_a_delivery_recorded_before_acknowledgements_replays_on_the_current_code() -> None:
    # Recorded with the release before acknowledgements: its input has no event, no event id.
    files = sorted(HISTORIES.glob("alert_webhook_delivery_*.json"))
    assert files
    replayer = Replayer(workflows=[AlertWebhookDelivery], data_converter=data_converter())
    for path in files:
        workflow_id = path.stem.partition("__")[2]
        await replayer.replay_workflow(WorkflowHistory.from_json(workflow_id, path.read_text()))
