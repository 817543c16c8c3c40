"""The whole 企业开办 end to end on the Temporal dev server: every item done once at its partner
while every partner fails 30 % of its calls, and the portal told of every stage and attention
change of every case, in order, each id once, signed as Standard Webhooks say — even though its
receiver was down for the first part of the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
import pytest_asyncio

from domain.actions import OperatorAction
from domain.case_ids import workflow_id_for
from domain.portal import PortalPushOutcome
from intake import cases
from tests import factories
from tests.conftest import Stack
from tests.helpers import eventually, start, until
from tests.workflows.portal_push_harness import PortalHarness, PortalReceiver
from workflows.portal_push import portal_push_workflow_id

pytestmark = pytest.mark.e2e
PARTNERS = ("registration", "seal_shop", "tax", "social_insurance", "housing_fund", "bank", "postal")


@pytest_asyncio.fixture
async def receiver(dev_stack: Stack) -> AsyncIterator[PortalReceiver]:
    async with AsyncExitStack() as exits:
        harness = PortalHarness(env=None, settings=dev_stack.settings, exits=exits)  # type: ignore[arg-type]
        yield await harness.receiver()


async def test_six_items_each_once_under_30_percent_failures_and_the_portal_told_in_order(
    dev_stack: Stack, receiver: PortalReceiver
) -> None:
    await dev_stack.reset_sandbox()
    await dev_stack.behave(**{p: {"error_rate": 0.3} for p in PARTNERS})
    receiver.down = True
    bodies = [
        factories.whole_scope(factories.application(district="410502")),
        factories.whole_scope(factories.individual_business(), bank="中原银行"),
        factories.whole_scope(
            factories.application(name="安阳市北关区拒开户商贸有限公司", district="410503")
        ),
    ]
    try:
        for body in bodies:
            await start(dev_stack, body, portal_webhooks=[receiver.url])
        # The refused appointment waits for an operator: retry it once it asks.
        refused = bodies[2]["application_id"]
        await until(
            dev_stack, refused, lambda s: any(a.stage == "bank_account" for a in s.attentions), timeout=120
        )
        await cases.act(
            dev_stack.client,
            refused,
            OperatorAction(action="retry_stage", stage="bank_account", operator="王敏"),
        )
        finals = [
            await until(dev_stack, b["application_id"], lambda s: s.is_final, timeout=180) for b in bodies
        ]
    finally:
        await dev_stack.behave(**{p: {"error_rate": 0.0} for p in PARTNERS})
    assert [s.stage for s in finals] == ["completed"] * 3, [s.model_dump_json(indent=1) for s in finals]
    effects = await dev_stack.effects()
    for partner in ("social_insurance", "housing_fund", "bank"):
        assert effects[partner]["effects"] == 3, (partner, effects)
    assert effects["social_insurance"]["requests"] + effects["bank"]["requests"] > 6  # failures happened
    for status in finals:
        assert status.social_insurance is not None and status.housing_fund is not None
        assert status.bank_account is not None

    # The portal was down all along: now it comes back and gets everything.
    assert receiver.received == []
    receiver.down = False
    for status in finals:
        push = dev_stack.client.get_workflow_handle(
            portal_push_workflow_id(status.workflow_id), result_type=PortalPushOutcome
        )
        await eventually(
            lambda wid=status.workflow_id: any(
                r.body["workflow_id"] == wid and r.body["stage"] == "completed" for r in receiver.received
            ),  # type: ignore[misc]
            what=f"{status.workflow_id} completed, told the portal",
            timeout=120,
        )
        outcome = await push.result()
        assert outcome.taken == {
            receiver.url: max(
                r.body["sequence"] for r in receiver.received if r.body["workflow_id"] == status.workflow_id
            )
        }
    assert receiver.bad == []
    for status in finals:
        mine = [r.body for r in receiver.received if r.body["workflow_id"] == status.workflow_id]
        assert [e["sequence"] for e in mine] == list(range(1, len(mine) + 1)), mine
        assert len({e["id"] for e in mine}) == len(mine)
        stages = [e["stage"] for e in mine if e["type"] == "case.stage_changed"]
        assert stages == ["accepted", "registration", "seal_carving_and_invoice", "delivery", "completed"]
    told = [r.body for r in receiver.received if r.body["workflow_id"] == workflow_id_for(refused)]
    changes = [e["attention"] for e in told if e["type"] == "case.attention_changed"]
    assert changes and changes[0]["stage"] == "bank_account" and changes[-1] is None
