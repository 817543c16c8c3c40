"""A stand-in for the case: it goes through a planned list of changes, tells its portal push
through ``PortalNotifier`` as the case will, and closes, whatever the receivers do."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

from workflows.portal_push import PortalNotifier


class Change(BaseModel):
    """The case's ``stage`` and ``attention`` after one step."""

    stage: str
    attention: dict[str, Any] | None = None
    then_wait_s: float = 0
    """A pause after it (a timer), so later changes reach the push in a signal of their own."""


class CasePlan(BaseModel):
    application_id: str
    urls: list[str]
    changes: list[Change]


@workflow.defn(name="PortalCaseStandIn")
class PortalCaseStandIn:
    @workflow.run
    async def run(self, plan: CasePlan) -> int:
        """The number of events the case sent its push."""
        notifier = PortalNotifier(workflow.info().workflow_id, plan.application_id, plan.urls)
        notifier.start()
        for change in plan.changes:
            notifier.observe(change.stage, change.attention)
            if change.then_wait_s:
                await workflow.sleep(timedelta(seconds=change.then_wait_s))
        await notifier.close()
        return notifier.sequence
