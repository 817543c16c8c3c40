"""The production worker's sandbox (worker.workflow_runner) refuses what would not replay."""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.helpers import eventually
from tests.workflows.clock_reader import ClockReader
from worker import PASSED_THROUGH_MODULES, workflow_runner


async def test_a_workflow_reading_the_clock_fails_its_task_under_the_production_runner(
    dev_env: WorkflowEnvironment,
) -> None:
    # On the dev server: the time-skipping test server stops skipping time for every later test
    # once a workflow task has failed on it.
    client = dev_env.client
    queue = f"determinism-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[ClockReader], workflow_runner=workflow_runner()):
        handle = await client.start_workflow(ClockReader.run, id=f"clock-{uuid.uuid4()}", task_queue=queue)

        async def task_failure() -> str | None:
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failure = event.workflow_task_failed_event_attributes.failure
                    # Read through the client's converter: with the production converter the
                    # message is sealed in the history ("Encoded failure").
                    assert failure.application_failure_info.type == "RestrictedWorkflowAccessError"
                    return str(await client.data_converter.decode_failure(failure))
            return None

        message = await eventually(task_failure, what="the clock reader's workflow task failing")
        await handle.terminate("the test is over")
    assert message.startswith("RestrictedWorkflowAccessError: Cannot access datetime.datetime.now")


def test_workflow_code_is_not_passed_through() -> None:
    assert not {"workflows", "tests"} & {m.split(".")[0] for m in PASSED_THROUGH_MODULES}
