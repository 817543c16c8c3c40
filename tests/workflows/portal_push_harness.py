"""The portal push on the session's time-skipping Temporal, with a worker of its own, a stand-in
for the case (``tests/workflows/portal_push_stand_ins.py``) and real receivers over HTTP on
127.0.0.1 that verify every request as a portal would, with the ``standardwebhooks`` package."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from standardwebhooks import Webhook, WebhookVerificationError
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.portal_push import PortalPushActivities
from domain.portal import PortalPushInput, PortalPushOutcome, portal_push_workflow_id
from infra.serving import serve_in_background
from infra.settings import Settings
from tests.workflows.portal_push_stand_ins import CasePlan, Change, PortalCaseStandIn
from workflows.portal_push import PortalPush

DEV_SECRET = Settings().webhook_secret
# 32 random bytes in the Standard Webhooks form.
WHSEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def receiver_webhook(secret: str) -> Webhook:
    """How a portal that follows the contract reads ``ODS_WEBHOOK_SECRET``: the package's own
    ``whsec_`` handling, and the text's UTF-8 bytes for any other value."""
    return Webhook(secret) if secret.startswith("whsec_") else Webhook(secret.encode())


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]


@dataclass
class PortalReceiver:
    """A portal endpoint: takes verified POSTs (204); while ``down`` answers 503, while ``gone``
    410, without looking further."""

    secret: str
    url: str = ""
    down: bool = False
    gone: bool = False
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    bad: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()
        verifier = receiver_webhook(self.secret)

        @app.post("/portal")
        async def portal(request: Request) -> Response:
            raw = await request.body()
            if self.gone:
                self.refused += 1
                return Response(status_code=410)
            if self.down:
                self.refused += 1
                return Response(status_code=503)
            headers = dict(request.headers)
            try:
                body = verifier.verify(raw, headers)
            except WebhookVerificationError as err:
                self.bad.append(f"{headers.get('webhook-id')}: {err}")
                return Response(str(err), status_code=401)
            self.received.append(Received(headers=headers, raw=raw, body=body))
            return Response(status_code=204)

        return app

    @property
    def ids(self) -> list[str]:
        return [r.body["id"] for r in self.received]

    @property
    def sequences(self) -> list[int]:
        return [r.body["sequence"] for r in self.received]

    def has(self, n: int) -> bool:
        """Every sequence from 1 to ``n`` has arrived."""
        return set(range(1, n + 1)) <= set(self.sequences)


@dataclass
class PortalHarness:
    env: WorkflowEnvironment
    settings: Settings
    exits: AsyncExitStack

    async def receiver(self) -> PortalReceiver:
        receiver = PortalReceiver(self.settings.webhook_secret)
        receiver.url = f"{await self.exits.enter_async_context(serve_in_background(receiver.app()))}/portal"
        return receiver

    async def run_case(
        self, urls: list[str], changes: list[Change]
    ) -> tuple[WorkflowHandle[Any, int], WorkflowHandle[Any, PortalPushOutcome]]:
        """Start the stand-in case; its handle and its push's."""
        application_id = f"PP{uuid.uuid4().hex[:10].upper()}"
        case = await self.env.client.start_workflow(
            PortalCaseStandIn.run,
            CasePlan(application_id=application_id, urls=urls, changes=changes),
            id=f"setup-{application_id}",
            task_queue=self.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        push = self.env.client.get_workflow_handle(
            portal_push_workflow_id(case.id), result_type=PortalPushOutcome
        )
        return case, push

    async def start_push(
        self, application_id: str, urls: list[str]
    ) -> WorkflowHandle[Any, PortalPushOutcome]:
        """A push started by the test for case ``setup-{application_id}``, with no case behind it."""
        case_id = f"setup-{application_id}"
        return await self.env.client.start_workflow(
            PortalPush.run,
            PortalPushInput(case_workflow_id=case_id, application_id=application_id, urls=urls),
            id=portal_push_workflow_id(case_id) + f"-{self.settings.task_queue}",
            task_queue=self.settings.task_queue,
        )


async def open_portal(env: WorkflowEnvironment, secret: str) -> AsyncIterator[PortalHarness]:
    settings = Settings(task_queue=f"test-portal-{uuid.uuid4()}", webhook_secret=secret)
    async with (
        AsyncExitStack() as exits,
        Worker(
            env.client,
            task_queue=settings.task_queue,
            workflows=[PortalCaseStandIn, PortalPush],
            activities=[PortalPushActivities(settings).post_portal_event],
        ),
    ):
        yield PortalHarness(env=env, settings=settings, exits=exits)


@pytest_asyncio.fixture
async def portal(
    request: pytest.FixtureRequest, time_skipping_env: WorkflowEnvironment
) -> AsyncIterator[PortalHarness]:
    """Parametrize indirectly with an ``ODS_WEBHOOK_SECRET`` value; the dev default otherwise."""
    async for harness in open_portal(time_skipping_env, getattr(request, "param", DEV_SECRET)):
        yield harness


def case_story() -> list[Change]:
    """A case through a supplement and an operator's help to completion, with repeats of what it
    already said (which send nothing)."""
    attention = {
        "stage": "seal_carving",
        "reason": "the seal shop takes no orders",
        "since": "2026-11-27T10:00:00+08:00",
        "actions": ["reassign_seal_shop", "retry_stage", "reject"],
        "candidates": [{"shop_id": "410502-02", "shop_name": "文峰区第二刻章店"}],
        "episode": 1,
    }
    return [
        Change(stage="accepted"),
        Change(stage="registration"),
        Change(stage="registration"),
        Change(stage="awaiting_supplement"),
        Change(stage="registration"),
        Change(stage="seal_carving_and_invoice"),
        Change(stage="seal_carving_and_invoice", attention=attention),
        Change(stage="seal_carving_and_invoice", attention=attention),
        Change(stage="seal_carving_and_invoice"),
        Change(stage="delivery"),
        Change(stage="completed"),
    ]


STORY_EVENTS: list[tuple[str, str, bool]] = [
    # (type, stage, carries an attention object)
    ("case.stage_changed", "accepted", False),
    ("case.stage_changed", "registration", False),
    ("case.stage_changed", "awaiting_supplement", False),
    ("case.stage_changed", "registration", False),
    ("case.stage_changed", "seal_carving_and_invoice", False),
    ("case.attention_changed", "seal_carving_and_invoice", True),
    ("case.attention_changed", "seal_carving_and_invoice", False),
    ("case.stage_changed", "delivery", False),
    ("case.stage_changed", "completed", False),
]
