"""``PostalDelivery`` on the session's time-skipping Temporal, with a worker of its own and a
stand-in for the case's forwarding: EMS posts tracking events to a small signed-callback
receiver here, which signals them to the delivery workflow as the case will."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest_asyncio
from fastapi import FastAPI, Request, Response
from temporalio.client import WithStartWorkflowOperation, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.delivery import DeliveryActivities
from activities.partners import PartnerClient
from domain.application import Delivery, parse_delivery
from domain.delivery import DeliveryInput, DeliveryOutcome
from domain.partners import PartnerEvent
from domain.task_queues import partner_task_queue
from infra.serving import serve_in_background
from infra.signing import SIGNATURE_HEADER, verify_callback
from tests import factories
from tests.conftest import Stack
from tests.workflows.delivery_stand_ins import DeliveryProgressListener, InboundLabelCase
from workflows.delivery import PostalDelivery

WAYBILLS = "/postal/v1/waybills"
T = TypeVar("T")


def delivery_workflow_id(application_id: str) -> str:
    return f"delivery-{application_id}"


def postal(address: str = "文峰区文明大道100号", district_code: str = "410502") -> Delivery:
    return parse_delivery(
        {
            "method": "postal",
            "recipient": "张艳鹏",
            "phone": "13803720000",
            "district_code": district_code,
            "address": address,
        }
    )


@dataclass
class PostalHarness:
    stack: Stack
    env: WorkflowEnvironment
    task_queue: str
    callback_url: str
    forwarded: list[PartnerEvent] = field(default_factory=list)

    def delivery_input(
        self, delivery: Delivery, *, parent_workflow_id: str | None = None, max_attempts: int = 3
    ) -> DeliveryInput:
        application_id = factories.new_application_id("D")
        return DeliveryInput(
            application_id=application_id,
            workflow_id=f"setup-{application_id}",
            delivery=delivery,
            sender_district_code="410502",
            callback_url=self.callback_url,
            max_attempts=max_attempts,
            parent_workflow_id=parent_workflow_id,
        )

    async def start(
        self, delivery: Delivery, *, parent_workflow_id: str | None = None, max_attempts: int = 3
    ) -> WorkflowHandle[Any, DeliveryOutcome]:
        input = self.delivery_input(
            delivery, parent_workflow_id=parent_workflow_id, max_attempts=max_attempts
        )
        return await self.stack.client.start_workflow(
            PostalDelivery.run,
            input,
            id=delivery_workflow_id(input.application_id),
            task_queue=self.task_queue,
        )

    def start_operation(self, delivery: Delivery) -> WithStartWorkflowOperation[Any, DeliveryOutcome]:
        """Start and a first update in one call: the update reaches the workflow before it books."""
        input = self.delivery_input(delivery)
        return WithStartWorkflowOperation(
            PostalDelivery.run,
            input,
            id=delivery_workflow_id(input.application_id),
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            task_queue=self.task_queue,
        )

    async def wait_for_state(
        self, handle: WorkflowHandle[Any, DeliveryOutcome], *states: str, timeout: float = 15
    ) -> DeliveryOutcome:
        """Poll the ``status`` query (awaiting the result would let the test server skip time)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            outcome = await handle.query(PostalDelivery.status)
            if outcome.state in states:
                return outcome
            assert asyncio.get_running_loop().time() < deadline, f"still {outcome.state}, wanted {states}"
            await asyncio.sleep(0.05)

    async def booked_waybill(self, handle: WorkflowHandle[Any, DeliveryOutcome]) -> str:
        """Once EMS has booked the parcel: its waybill number."""
        booked = await self.wait_for_state(handle, "booked")
        assert booked.waybill_no is not None
        return booked.waybill_no

    async def result(self, handle: WorkflowHandle[Any, T], timeout: float = 15) -> T:
        """The result once the workflow has closed, read with time skipping left locked: awaiting
        ``handle.result()`` unlocks it, and the test server then jumps its clock (years, when
        nothing is scheduled; past the timeouts of activities in flight) for every later test."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            assert asyncio.get_running_loop().time() < deadline, f"{handle.id} still running"
            await asyncio.sleep(0.05)
        with self.env.auto_time_skipping_disabled():
            return await handle.result()

    async def waybill(self, waybill_no: str) -> dict[str, Any]:
        resp = await self.stack.sandbox.get(f"{WAYBILLS}/{waybill_no}")
        resp.raise_for_status()
        return resp.json()  # type: ignore[no-any-return]

    async def postal_effects(self) -> dict[str, int]:
        return (await self.stack.effects())["postal"]


def receiver(stack: Stack, harness_events: list[PartnerEvent]) -> FastAPI:
    """The gateway's ``/v1/callbacks/postal`` and the case's forwarding, in one step."""
    app = FastAPI()

    @app.post("/v1/callbacks/{partner}")
    async def receive(partner: str, request: Request) -> Response:
        body = await request.body()
        secret = stack.settings.callback_secret_of("postal")
        problem = verify_callback(secret, partner, body, request.headers.get(SIGNATURE_HEADER))
        if problem is not None:
            return Response(problem, status_code=401)
        event = PartnerEvent.model_validate({**json.loads(body), "partner": partner})
        handle = stack.client.get_workflow_handle(delivery_workflow_id(event.application_id))
        try:
            await handle.signal(PostalDelivery.partner_event, event)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # unknown or finished: EMS stops retrying
                return Response(str(err), status_code=404)
            raise
        harness_events.append(event)
        return Response(status_code=202)

    return app


@pytest_asyncio.fixture
async def postal_harness(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> AsyncIterator[PostalHarness]:
    forwarded: list[PartnerEvent] = []
    partners = PartnerClient(ts_stack.settings)
    activities = DeliveryActivities(partners)
    task_queue = f"delivery-test-{uuid.uuid4()}"
    calls = [
        activities.book_waybill,
        activities.amend_waybill,
        activities.request_redelivery,
        activities.return_to_centre,
    ]
    worker = Worker(
        ts_stack.client,
        task_queue=task_queue,
        workflows=[PostalDelivery, DeliveryProgressListener, InboundLabelCase],
    )
    # EMS's own task queue (domain/task_queues.py), where the deliveries call it.
    postal = Worker(ts_stack.client, task_queue=partner_task_queue(task_queue, "postal"), activities=calls)
    try:
        async with serve_in_background(receiver(ts_stack, forwarded)) as url, worker, postal:
            yield PostalHarness(
                stack=ts_stack,
                env=time_skipping_env,
                task_queue=task_queue,
                callback_url=f"{url}/v1/callbacks/postal",
                forwarded=forwarded,
            )
    finally:
        await partners.aclose()
