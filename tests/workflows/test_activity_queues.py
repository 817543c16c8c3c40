"""Alerts never queue behind partners (domain/task_queues.py): with one partner hanging and its cap
of calls in flight reached, a case's alert is still stored and delivered, and its calls to the
other partners are answered."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowHandle

from activities.documents import DocumentActivities
from activities.facts import CaseFactActivities
from activities.partners import PartnerClient
from activities.registry import WorkerResources, all_activities
from activities.sla import SlaActivities
from activities.subsidy import SubsidyActivities
from domain.case_ids import workflow_id_for
from domain.sla_policy import SlaLimits, SlaPolicy
from domain.task_queues import PARTNER_ACTIVITIES, RECORD_ACTIVITIES
from infra.settings import Settings
from tests import factories
from tests.conftest import Stack
from tests.helpers import eventually, start, until
from worker import running_worker

TAX_CALL = "issue_first_invoices"
FAR = "1000h"
# Longer than the test: the tax bureau's answers do not come while it runs.
HANG_S = 120.0
STARTED = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
SCHEDULED = PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED


def test_every_activity_of_a_case_has_its_queue() -> None:
    names = {a.__name__ for a in all_activities(_resources())}
    placed = set(RECORD_ACTIVITIES).union(*PARTNER_ACTIVITIES.values())
    assert placed <= names, placed - names
    # Not placed by the case: the documents have their own queue (documents-apart-v1), the
    # webhooks' posts run on their workflows' queue, the partner-trouble look-up (Temporal only)
    # stays on the cases' own, and so do the retention schedule's erasures (no case's activity).
    assert names - placed == {
        "issue_document",
        "partner_trouble",
        "post_alert_webhook",
        "post_portal_event",
        "erase_expired_cases",
    }


def _resources() -> WorkerResources:
    """The activities as a worker builds them, with nothing behind them (none is run here)."""
    settings = Settings()
    nothing: Any = None
    return WorkerResources(
        partners=PartnerClient(settings),
        sla=SlaActivities(settings, None, None),
        subsidy=SubsidyActivities(nothing),
        documents=DocumentActivities(nothing),
        facts=CaseFactActivities(None),
    )


async def _tax_call(handle: WorkflowHandle[Any, Any]) -> Any:
    pending = (await handle.describe()).raw_description.pending_activities
    return next((p for p in pending if p.activity_type.name == TAX_CALL), None)


async def test_a_hanging_partner_at_its_cap_holds_neither_alerts_nor_other_partners(dev_stack: Stack) -> None:
    await dev_stack.reset_sandbox()
    await dev_stack.behave(tax={"hang_s": HANG_S})
    settings = dev_stack.settings.model_copy(update={"partner_concurrency": 1})
    queue = f"queues-{uuid.uuid4()}"
    handles: list[WorkflowHandle[Any, Any]] = []
    try:
        async with running_worker(dev_stack.client, settings, task_queue=queue):
            # Two cases whose promises keep quiet: the first holds the one tax slot, the second waits.
            quiet = SlaPolicy(clock="wall", partner_patience=FAR)
            for _ in range(2):
                handles.append(
                    await start(dev_stack, factories.application(), policy=quiet, task_queue=queue)
                )
            first, second = handles
            await eventually(
                lambda: _states(first, second), what="one tax call in flight, one waiting", timeout=60
            )

            # A case whose overall promise is at risk within a second, asking for the whole scope.
            limits = {name: FAR for name in SlaLimits.model_fields} | {"overall": "2s"}
            urgent = SlaPolicy(
                clock="wall", at_risk_fraction=0.5, partner_patience=FAR, limits=SlaLimits(**limits)
            )
            body = factories.whole_scope(factories.application())
            app_id = body["application_id"]
            handles.append(await start(dev_stack, body, policy=urgent, task_queue=queue))
            workflow_id = workflow_id_for(app_id)

            delivered = await eventually(
                lambda: [
                    a
                    for a in dev_stack.webhooks.received
                    if a["workflow_id"] == workflow_id and (a["stage"], a["level"]) == ("overall", "at_risk")
                ],
                what="the at-risk alert delivered to the subscriber",
                timeout=60,
            )
            stored, _ = await dev_stack.alerts.list(stage="overall", level="at_risk", limit=1000)
            assert [a.id for a in stored if a.workflow_id == workflow_id] == [delivered[0]["id"]]

            # The other partners answer the urgent case meanwhile.
            status = await until(
                dev_stack,
                app_id,
                lambda s: None not in (s.social_insurance, s.housing_fund, s.bank_account),
                timeout=60,
            )
            assert status.stages.invoice is not None and status.stages.invoice.state == "running"
            # And the tax bureau still has its one call of this worker: the cap held throughout.
            assert await _states(first, second)
    finally:
        for handle in handles:
            await handle.terminate("test over")
        await dev_stack.behave(tax={"hang_s": 0.0})


async def _states(first: WorkflowHandle[Any, Any], second: WorkflowHandle[Any, Any]) -> bool:
    """The first case's tax call is in flight and the second's waits for the slot."""
    ones, twos = await _tax_call(first), await _tax_call(second)
    return ones is not None and twos is not None and ones.state == STARTED and twos.state == SCHEDULED
