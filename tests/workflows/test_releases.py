"""A release rolled out under Worker Versioning, on the dev server: a case started on version 1
finishes on version 1 while version 2, a change made without a patch, takes the new cases."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType, VersioningBehavior
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from domain.portal import portal_push_workflow_id
from domain.status import StatusDocument
from infra import deployments
from infra.serving import serve_in_background
from tests import factories
from tests.conftest import Stack
from tests.helpers import carving_the_seals, eventually, start, until
from tests.workflows.portal_push_harness import PortalReceiver
from tests.workflows.setup_v2 import EnterpriseSetupV2
from worker import running_worker
from workflows.enterprise_setup import EnterpriseSetup
from workflows.versioned import VERSIONED_WORKFLOWS


async def build_of(handle: WorkflowHandle[Any, Any]) -> str:
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return str(info.deployment_version.build_id)


async def took_the_version_2_step(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the case ran version 2's extra step (its one-millisecond timer)."""
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            timeout = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            if timeout < timedelta(seconds=1):
                return True
    return False


async def test_a_case_started_on_version_1_finishes_there_while_version_2_takes_new_cases(
    dev_stack: Stack,
) -> None:
    async with AsyncExitStack() as exits:
        await _roll_out(dev_stack, exits)


async def _roll_out(dev_stack: Stack, exits: AsyncExitStack) -> None:
    client = dev_stack.client
    deployment = f"ods-release-{uuid.uuid4().hex[:8]}"
    queue = f"release-{uuid.uuid4()}"
    v1 = dev_stack.settings.model_copy(
        update={"task_queue": queue, "worker_deployment": deployment, "worker_build_id": "1"}
    )
    v2 = v1.model_copy(update={"worker_build_id": "2"})
    version_2 = [EnterpriseSetupV2, *(w for w in VERSIONED_WORKFLOWS if w is not EnterpriseSetup)]
    receiver = PortalReceiver(v1.webhook_secret)
    portal = f"{await exits.enter_async_context(serve_in_background(receiver.app()))}/portal"

    async with dev_stack.seal_orders_held(), running_worker(client, v1):
        assert await deployments.adopt_if_first(client, v1)
        first = factories.application()
        old = await start(dev_stack, first, task_queue=queue, portal_webhooks=[portal])
        # Version 1's case waits for the shop when version 2 comes out.
        await until(dev_stack, first["application_id"], carving_the_seals)

        async with running_worker(client, v2, workflow_classes=version_2):
            # A later version never takes over by itself.
            assert not await deployments.adopt_if_first(client, v2)

            async def made_current() -> bool:
                # Refused until version 2's workers have polled every queue version 1 serves.
                try:
                    await deployments.set_current(client, deployment, "2")
                except RPCError as err:
                    if err.status not in (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.NOT_FOUND):
                        raise
                    return False
                return True

            await eventually(made_current, what="version 2 made current")

            second = factories.application()
            new = await start(dev_stack, second, task_queue=queue, portal_webhooks=[portal])
            await until(dev_stack, second["application_id"], carving_the_seals)
            for case in (first, second):
                await dev_stack.finish_seal_orders(case["application_id"])
            done_old: StatusDocument = await old.result()
            done_new: StatusDocument = await new.result()

            state = await deployments.describe(client, deployment)

    assert done_old.stage == done_new.stage == "completed"
    assert (await build_of(old), await build_of(new)) == ("1", "2")
    assert not await took_the_version_2_step(old)
    assert await took_the_version_2_step(new)
    assert state is not None and state.current == "2"
    # The cases are pinned; their portal pushes move to the current version (workflows/versioned.py).
    for case, behaviour in (
        (old, VersioningBehavior.VERSIONING_BEHAVIOR_PINNED),
        (
            client.get_workflow_handle(portal_push_workflow_id(old.id)),
            VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE,
        ),
    ):
        described = await case.describe()
        assert described.raw_description.workflow_execution_info.versioning_info.behavior == behaviour
