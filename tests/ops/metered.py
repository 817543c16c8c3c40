"""Workflows for tests/ops/test_worker_metrics.py, in a module of their own so the workflow sandbox
imports them without the test's fixtures."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from domain.alerts import AlertIn

ONCE = RetryPolicy(maximum_attempts=1)


@workflow.defn
class Metered:
    """Calls a partner that is not there (once), raises an alert, waits for a signal, ends."""

    def __init__(self) -> None:
        self.poked = False

    @workflow.run
    async def run(self, application_id: str) -> str:
        try:
            await workflow.execute_activity(
                "call_absent_partner", start_to_close_timeout=timedelta(seconds=10), retry_policy=ONCE
            )
        except ActivityError:
            pass
        alert = AlertIn(
            application_id=application_id,
            workflow_id=workflow.info().workflow_id,
            stage="registration",
            level="needs_attention",
            raised_at=workflow.now(),
            district_code="410502",
            enterprise_name="安阳市文峰区晨曦餐饮有限公司",
            reason="the test asks",
        )
        await workflow.execute_activity("raise_alert", alert, start_to_close_timeout=timedelta(seconds=10))
        await workflow.wait_condition(lambda: self.poked)
        return "done"

    @workflow.signal
    def poke(self) -> None:
        self.poked = True


@workflow.defn
class FailsItsTask:
    """A bug: every workflow task fails (the task is retried until the workflow is terminated)."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in the workflow")
