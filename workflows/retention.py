"""``Retention``: one run of the retention schedule (``domain/retention.py``, ``infra/retention.py``).

It works out the cut-off (``erase_closed_after_days`` before the run's start, or before ``as_of``),
has one activity erase every case of the task queue that closed before it (``activities/retention.py``:
its heartbeat carries the counts so far), and returns the cut-off and the counts. No personal data in
its input, details or result. The schedule starts it on the cases' task queue with the id
``ods-retention`` (plus the time the schedule adds), which names no case: its payloads are under the
master key.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.retention import (
        ERASE_EXPIRED_CASES,
        RETENTION_WORKFLOW,
        ExpiredCases,
        RetentionCounts,
        RetentionInput,
        RetentionOutcome,
    )

# Each case is a few database writes and a describe; the heartbeat shows that the run goes on.
ERASE_TIMEOUT = timedelta(hours=2)
ERASE_HEARTBEAT = timedelta(minutes=2)
# Erasing again is harmless (a case erased before is counted, not erased twice): retried a while;
# the next day's run takes whatever this one left.
ERASE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10), maximum_interval=timedelta(minutes=5), maximum_attempts=10
)


@workflow.defn(name=RETENTION_WORKFLOW)
class Retention:
    @workflow.run
    async def run(self, input: RetentionInput) -> RetentionOutcome:
        closed_before = (input.as_of or workflow.now()) - timedelta(days=input.erase_closed_after_days)
        workflow.set_current_details(f"erasing the cases closed before {closed_before.isoformat()}")
        counts = await workflow.execute_activity(
            ERASE_EXPIRED_CASES,
            ExpiredCases(task_queue=input.task_queue, closed_before=closed_before),
            result_type=RetentionCounts,
            start_to_close_timeout=ERASE_TIMEOUT,
            heartbeat_timeout=ERASE_HEARTBEAT,
            retry_policy=ERASE_RETRY,
        )
        outcome = RetentionOutcome(closed_before=closed_before, **counts.model_dump())
        workflow.set_current_details(
            f"cases closed before {closed_before.isoformat()}: {outcome.erased} erased, "
            f"{outcome.already_erased} erased before, {outcome.skipped} skipped"
        )
        return outcome
