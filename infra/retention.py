"""The retention schedule (``domain/retention.py``): the Temporal Schedule ``ods-retention`` made to
match the retention policy file, by ``python starter.py setup-namespace`` (run it again after editing
the file). Idempotent: created when missing, updated when there, removed when the policy keeps cases
for ever. Each day at ``daily_at`` (Asia/Shanghai) it starts ``workflows/retention.py`` on the cases'
task queue; a run still going when the next is due makes the next one skip.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from domain.districts import CITY_ZONE_NAME
from domain.retention import RETENTION_SCHEDULE_ID, RETENTION_WORKFLOW, RetentionInput, RetentionPolicy

# A run that has not finished by then is cut short; the next day's run takes up what it left.
RUN_TIMEOUT = timedelta(hours=12)


def retention_schedule(policy: RetentionPolicy, task_queue: str) -> Schedule:
    """The schedule of ``policy`` (which must keep cases for a number of days)."""
    assert policy.erase_closed_after_days is not None
    hour, minute = policy.hour_minute
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RETENTION_WORKFLOW,
            RetentionInput(erase_closed_after_days=policy.erase_closed_after_days, task_queue=task_queue),
            id=RETENTION_SCHEDULE_ID,
            task_queue=task_queue,
            execution_timeout=RUN_TIMEOUT,
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)])],
            time_zone_name=CITY_ZONE_NAME,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def apply_retention_policy(
    client: Client, policy: RetentionPolicy, task_queue: str
) -> Literal["created", "updated", "removed", "none"]:
    """Make the namespace's retention schedule match ``policy``; what was done."""
    handle = client.get_schedule_handle(RETENTION_SCHEDULE_ID)
    if policy.erase_closed_after_days is None:
        try:
            await handle.delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return "none"
        return "removed"
    schedule = retention_schedule(policy, task_queue)
    try:
        await client.create_schedule(RETENTION_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        return "updated"
    return "created"
