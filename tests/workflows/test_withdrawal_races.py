"""A withdrawal that arrives in the same workflow task as an activity's result still withdraws.

The SDK returns such a result and drops the cancellation (temporalio/sdk-python#620); the case
must not go on (and hang waiting for a seal shop) nor keep a subsidy reservation. The race is
made certain, not hoped for: the workflow worker stops while the activity runs on a worker of
its own, the withdrawal is sent, and the workflow worker comes back to find both at once.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from domain.case_ids import workflow_id_for
from intake import cases
from store.subsidies import SubsidyLedger
from tests import factories
from tests.conftest import Stack
from tests.helpers import eventually, start, until
from worker import running_worker

REPLAY_HISTORIES = Path(__file__).parent.parent / "replay" / "histories"
SCHEDULED = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
COMPLETED = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
UPDATE_ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED


async def _events(stack: Stack, workflow_id: str) -> list[HistoryEvent]:
    return list((await stack.client.get_workflow_handle(workflow_id).fetch_history()).events)


def _scheduled_id(events: list[HistoryEvent], activity: str, nth: int) -> int | None:
    """The event id of the ``nth`` scheduling of ``activity`` (1 the first), once there is one."""
    found = [
        e.event_id
        for e in events
        if e.event_type == SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    ]
    return found[nth - 1] if len(found) >= nth else None


def _met_in_one_task(events: list[HistoryEvent], scheduled_id: int) -> bool:
    """The activity's result and the withdrawal reached the case in the same workflow task: the
    first task completed after the result is the one that accepted the update."""
    done = next(
        e.event_id
        for e in events
        if e.event_type == COMPLETED
        and e.activity_task_completed_event_attributes.scheduled_event_id == scheduled_id
    )
    next_task = min(e.event_id for e in events if e.event_type == TASK_COMPLETED and e.event_id > done)
    accepted = next(e.event_id for e in events if e.event_type == UPDATE_ACCEPTED)
    return accepted == next_task + 1


@pytest.mark.parametrize(
    ("activity", "nth"),
    [
        ("file_registration", 1),
        ("reserve_first_seal_subsidy", 1),
        ("issue_document", 3),  # the subsidy voucher, after the receipt and the licence
    ],
)
async def test_a_withdrawal_meeting_an_activity_result_withdraws_and_releases(
    dev_stack: Stack, activity: str, nth: int
) -> None:
    await dev_stack.reset_sandbox()
    await dev_stack.behave(seal_shop={"hold": True})
    if activity == "file_registration":
        # The registration system answers after the workflow worker has stopped, not while it stops.
        await dev_stack.behave(registration={"latency_s": 2})
    settings = dev_stack.settings
    queue = f"race-{uuid.uuid4()}"
    ledger = SubsidyLedger(dev_stack.alerts.engine)
    for _attempt in range(5):
        body = factories.application()
        app_id = body["application_id"]
        workflow_id = workflow_id_for(app_id)
        async with running_worker(dev_stack.client, settings, task_queue=queue, workflows=False):
            async with running_worker(dev_stack.client, settings, task_queue=queue, activities=False):
                await start(dev_stack, body, task_queue=queue)
                scheduled = await eventually(
                    lambda wid=workflow_id: _scheduled_of(dev_stack, wid, activity, nth),  # type: ignore[misc]
                    what=f"{activity} scheduled",
                )
            # The workflow worker is gone; the activity worker finishes the call.
            await eventually(
                lambda wid=workflow_id, sid=scheduled: _completed(dev_stack, wid, sid),  # type: ignore[misc]
                what=f"{activity} done",
            )
            withdrawal = asyncio.create_task(cases.withdraw(dev_stack.client, app_id, "changed plans"))
            await asyncio.sleep(0.5)  # the update reaches the server first (checked below, else retried)
            async with running_worker(dev_stack.client, settings, task_queue=queue, activities=False):
                await withdrawal
                status = await until(dev_stack, app_id, lambda s: s.is_final, timeout=60)
        assert status.stage == "withdrawn", status.model_dump_json(indent=1)
        if status.uscc is not None:
            grant = await ledger.grant(status.uscc)
            assert grant is None or grant.state == "released", grant
        if _met_in_one_task(await _events(dev_stack, workflow_id), scheduled):
            if os.environ.get("ODS_RECORD_HISTORIES"):  # the replay test's histories of this path
                history = await dev_stack.client.get_workflow_handle(workflow_id).fetch_history()
                name = f"enc_withdrawn_with_{activity}_result__{workflow_id}.json"
                (REPLAY_HISTORIES / name).write_text(history.to_json())
            return
    pytest.fail(f"the withdrawal never met the result of {activity} in one workflow task")


async def _scheduled_of(stack: Stack, workflow_id: str, activity: str, nth: int) -> int | None:
    return _scheduled_id(await _events(stack, workflow_id), activity, nth)


async def _completed(stack: Stack, workflow_id: str, scheduled_id: int) -> bool:
    return any(
        e.event_type == COMPLETED
        and e.activity_task_completed_event_attributes.scheduled_event_id == scheduled_id
        for e in await _events(stack, workflow_id)
    )
