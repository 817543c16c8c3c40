"""Every refused or stuck case has an owner: a partner's refusal after registration, or a partner
silent past the policy's patience, waits for an operator with ``attention`` set, and the
operator's action (``service.cases.act``, behind ``POST /v1/applications/{id}/actions`` and
``starter.py act``) carries the case on, or ends it without holding anything.

On the time-skipping server: the patience is skipped with ``env.sleep`` while the partner is held
or down, never waited for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from domain.actions import OperatorAction
from domain.sla_policy import SlaPolicy
from domain.status import StatusDocument
from infra.temporal import SA_NEEDS_ATTENTION
from service import cases
from store.subsidies import SubsidyLedger
from tests.conftest import Stack
from tests.helpers import eventually, fresh_application, start, until

# The wall clock, so that skipping the test server's clock past the patience is easy to follow.
WALL = SlaPolicy(clock="wall", partner_patience="30m")
PAST_THE_PATIENCE = timedelta(minutes=31)


def waiting_on(stage: str) -> Any:
    return lambda s: any(a.stage == stage for a in s.attentions)


async def needs_attention_attribute(stack: Stack, workflow_id: str) -> bool | None:
    described = await stack.client.get_workflow_handle(workflow_id).describe()
    return described.typed_search_attributes.get(SA_NEEDS_ATTENTION)


async def current_details(stack: Stack, workflow_id: str) -> str:
    """What the Web UI shows as the case's current details (the SDK's metadata query)."""
    metadata = await stack.client.get_workflow_handle(workflow_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return metadata.current_details


async def attention_alerts(stack: Stack, workflow_id: str, stage: str) -> list[Any]:
    page, _ = await stack.alerts.list(limit=1000, stage=stage, level="needs_attention")
    return [a for a in page if a.workflow_id == workflow_id]


async def orders_of(stack: Stack, application_id: str) -> list[dict[str, Any]]:
    resp = await stack.sandbox.get("/seal-shop/v1/orders", params={"application_id": application_id})
    resp.raise_for_status()
    return resp.json()["orders"]  # type: ignore[no-any-return]


def act(stack: Stack, application_id: str, action: str, **fields: Any) -> Any:
    return cases.act(
        stack.client,
        application_id,
        OperatorAction(action=action, operator=fields.pop("operator", "王敏"), **fields),  # type: ignore[arg-type]
    )


async def test_a_shop_that_refuses_is_reassigned_and_the_subsidy_follows_the_order(ts_stack: Stack) -> None:
    body, app_id = await fresh_application(ts_stack, name="安阳市文峰区拒刻餐饮有限公司", invoice=False)
    handle = await start(ts_stack, body, policy=WALL)

    status = await until(ts_stack, app_id, waiting_on("seal_carving"))
    attention = status.attention
    assert attention is not None and attention.stage == "seal_carving"
    assert attention.actions == ["retry_stage", "reassign_seal_shop", "reject"]
    assert "本店" in attention.reason and "SHOP-410502-01" in attention.reason
    assert [c.shop_id for c in attention.candidates or []] == ["SHOP-410502-02", "SHOP-410502-03"]
    assert status.stages.seal_carving.state == "waiting"
    assert await needs_attention_attribute(ts_stack, handle.id) is True
    details = await current_details(ts_stack, handle.id)
    assert "needs an operator" in details and "reassign_seal_shop" in details
    assert body["legal_representative"]["id_number"] not in details
    [alert] = await eventually(
        lambda: attention_alerts(ts_stack, handle.id, "seal_carving"), what="the needs_attention alert"
    )
    assert alert.episode == 1 and alert.reason == attention.reason
    # Nothing was taken at the refusing shop, so nothing is held for it.
    assert await orders_of(ts_stack, app_id) == []
    assert status.subsidy is None or not status.subsidy.granted

    # An action the case does not offer is refused, naming those it does; nothing changes.
    with pytest.raises(cases.ActionNotOffered) as refused:
        await act(ts_stack, app_id, "switch_to_pickup", note="wrong button")
    assert refused.value.offered == ["retry_stage", "reassign_seal_shop", "reject"]

    # A double click: the same Idempotency-Key is recorded once.
    for _ in range(2):
        answered = await act(
            ts_stack,
            app_id,
            "reassign_seal_shop",
            note="shop 01 refuses; next shop",
            idempotency_key="click-1",
        )
        assert isinstance(answered, StatusDocument)
    final = await until(ts_stack, app_id, lambda s: s.is_final)
    assert final.stage == "completed", final.model_dump_json(indent=1)
    assert final.attention is None and final.attentions == []
    assert await needs_attention_attribute(ts_stack, handle.id) is False

    actions = [h for h in final.history if h.event.startswith("action.")]
    assert [(h.event, h.detail) for h in actions] == [
        ("action.reassign_seal_shop", "reassign_seal_shop by 王敏: shop 01 refuses; next shop")
    ]
    orders = await orders_of(ts_stack, app_id)
    assert [(o["shop_id"], o["status"]) for o in orders] == [("SHOP-410502-02", "completed")]
    assert (await ts_stack.effects())["seal_shop"]["effects"] == 1
    grant = await SubsidyLedger(ts_stack.alerts.engine).grant(final.uscc or "")
    assert grant is not None and grant.state == "settled" and grant.shop_id == "SHOP-410502-02"
    assert final.subsidy is not None and final.subsidy.granted


async def test_a_tax_record_not_ready_is_retried_as_a_new_request(ts_stack: Stack) -> None:
    body, app_id = await fresh_application(ts_stack, name="安阳市文峰区税务异常餐饮有限公司")
    await start(ts_stack, body, policy=WALL)

    status = await until(ts_stack, app_id, waiting_on("invoice"))
    assert status.attention is not None
    assert status.attention.actions == ["retry_stage", "reject"]
    assert status.attention.candidates is None
    assert "尚未同步" in status.attention.reason
    assert (await ts_stack.effects())["tax"]["effects"] == 0

    # Only one stage waits: retry_stage needs no stage named.
    await act(ts_stack, app_id, "retry_stage", note="the bureau has synced the record")
    final = await until(ts_stack, app_id, lambda s: s.is_final)
    assert final.stage == "completed", final.model_dump_json(indent=1)
    assert final.stages.invoice.state == "done"
    assert (await ts_stack.effects())["tax"]["effects"] == 1
    events = [h.event for h in final.history]
    assert events.index("invoice.needs_attention") < events.index("action.retry_stage")
    assert events.index("action.retry_stage") < events.index("invoice.allotted")


@pytest.mark.parametrize(
    ("down", "back", "words"),
    [
        ({"error_rate": 1.0}, {"error_rate": 0.0}, "the tax bureau is failing (503)"),
        # A credential refused (sandbox fault, ended by the test) is no refusal of the case.
        (
            {"faults": {"status": 401, "for_s": 3600}},
            {"faults": None},
            "the tax bureau refuses our credentials (401)",
        ),
    ],
)
async def test_a_partner_down_past_the_patience_asks_naming_what_it_answers_and_clears_by_itself(
    ts_stack: Stack,
    time_skipping_env: WorkflowEnvironment,
    down: dict[str, Any],
    back: dict[str, Any],
    words: str,
) -> None:
    body, app_id = await fresh_application(ts_stack)
    handle = await start(ts_stack, body, policy=WALL)
    try:
        await ts_stack.behave(tax=down)
        await until(ts_stack, app_id, lambda s: s.stages.invoice.state == "running")
        await time_skipping_env.sleep(PAST_THE_PATIENCE)
        status = await until(ts_stack, app_id, waiting_on("invoice"))
        assert status.attention is not None
        reason = status.attention.reason
        assert reason.startswith(f"{words}; no successful answer since"), reason
        assert reason.endswith("still being retried")
        assert status.attention.actions == ["retry_stage", "reject"]
        assert not status.is_final
        assert await needs_attention_attribute(ts_stack, handle.id) is True
        [alert] = await eventually(
            lambda: attention_alerts(ts_stack, handle.id, "invoice"), what="the needs_attention alert"
        )
        assert alert.reason == reason
    finally:
        await ts_stack.behave(tax=back)
    # The call goes on underneath: once the bureau answers, the attention clears by itself.
    await time_skipping_env.sleep(timedelta(seconds=31))
    final = await until(ts_stack, app_id, lambda s: s.is_final, timeout=60)
    assert final.stage == "completed"
    assert final.attention is None
    events = [h.event for h in final.history]
    assert "invoice.attention_cleared" in events
    cleared = next(h for h in final.history if h.event == "invoice.attention_cleared")
    assert cleared.detail == "the tax bureau answered again"
    assert not [h for h in final.history if h.event.startswith("action.")]
    assert (await ts_stack.effects())["tax"]["effects"] == 1
    assert await needs_attention_attribute(ts_stack, handle.id) is False


async def test_reject_while_a_shop_is_silent_cancels_the_order_and_releases_the_subsidy(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    body, app_id = await fresh_application(ts_stack, invoice=False)
    async with ts_stack.seal_orders_held():
        await start(ts_stack, body, policy=WALL)
        await until(ts_stack, app_id, lambda s: s.subsidy is not None and s.subsidy.granted)
        await time_skipping_env.sleep(PAST_THE_PATIENCE)
        status = await until(ts_stack, app_id, waiting_on("seal_carving"))
    assert status.attention is not None
    assert "no completion of order" in status.attention.reason
    assert status.attention.actions == ["retry_stage", "reassign_seal_shop", "reject"]

    await act(ts_stack, app_id, "reject", reason="the shop cannot carve; applicant informed", note="")
    final = await until(ts_stack, app_id, lambda s: s.is_final)
    assert final.stage == "rejected"
    assert final.reason == "the shop cannot carve; applicant informed"
    assert final.attention is None
    assert final.subsidy is not None and not final.subsidy.granted
    grant = await SubsidyLedger(ts_stack.alerts.engine).grant(final.uscc or "")
    assert grant is not None and grant.state == "released"
    assert [o["status"] for o in await orders_of(ts_stack, app_id)] == ["cancelled"]
    # Closed: any action now is a conflict, checked before what is offered.
    with pytest.raises(cases.CaseStateConflict):
        await act(ts_stack, app_id, "retry_stage", note="too late")


async def test_an_action_on_a_healthy_case_is_refused_naming_what_it_offers(ts_stack: Stack) -> None:
    body, app_id = await fresh_application(ts_stack, invoice=False)
    async with ts_stack.seal_orders_held():
        await start(ts_stack, body, policy=WALL)
        await until(ts_stack, app_id, lambda s: s.stages.seal_carving.state == "waiting")
        with pytest.raises(cases.ActionNotOffered) as refused:
            await act(ts_stack, app_id, "retry_stage", note="just in case")
        assert refused.value.offered == ["reject"]
        status = await cases.get_status(ts_stack.client, app_id)
        assert not [h for h in status.history if h.event.startswith("action.")]
        await ts_stack.finish_seal_orders(app_id)
    assert (await until(ts_stack, app_id, lambda s: s.is_final)).stage == "completed"


async def test_ems_silent_past_the_patience_switches_to_pickup(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    body, app_id = await fresh_application(ts_stack, invoice=False)
    await start(ts_stack, body, policy=WALL)
    try:
        await ts_stack.behave(postal={"error_rate": 1.0})
        await until(ts_stack, app_id, lambda s: s.stage == "delivery")
        await time_skipping_env.sleep(PAST_THE_PATIENCE)
        status = await until(ts_stack, app_id, waiting_on("delivery"))
        assert status.attention is not None
        assert status.attention.actions == ["retry_stage", "switch_to_pickup", "reject"]
        # Read from the delivery child's pending booking.
        assert status.attention.reason.startswith("EMS (no waybill booked) is failing (503);")
        await act(ts_stack, app_id, "switch_to_pickup", note="EMS down; the applicant collects")
        final = await until(ts_stack, app_id, lambda s: s.is_final)
    finally:
        await ts_stack.behave(postal={"error_rate": 0.0})
    assert final.stage == "completed"
    assert final.delivery is not None
    assert (final.delivery.method, final.delivery.state) == ("pickup", "ready_for_pickup")
    assert final.attention is None


async def test_reject_while_registration_is_down_ends_the_case_holding_nothing(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    body, app_id = await fresh_application(ts_stack)
    try:
        await ts_stack.behave(registration={"error_rate": 1.0})
        await start(ts_stack, body, policy=WALL)
        await until(ts_stack, app_id, lambda s: s.stages.registration.state == "running")
        await time_skipping_env.sleep(PAST_THE_PATIENCE)
        status = await until(ts_stack, app_id, waiting_on("registration"))
        assert status.attention is not None
        assert status.attention.actions == ["retry_stage", "reject"]
        assert "registration system" in status.attention.reason
        await act(ts_stack, app_id, "reject", reason="the registration system is down for the day")
        final = await until(ts_stack, app_id, lambda s: s.is_final)
    finally:
        await ts_stack.behave(registration={"error_rate": 0.0})
    assert final.stage == "rejected" and final.uscc is None
    assert final.stages.registration.state == "cancelled"
    assert final.subsidy is None and await orders_of(ts_stack, app_id) == []
    effects = await ts_stack.effects()
    assert effects["seal_shop"]["effects"] == effects["tax"]["effects"] == 0


async def test_reject_while_ems_is_down_keeps_the_carved_seals_paid_and_books_nothing(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    body, app_id = await fresh_application(ts_stack, invoice=False)
    try:
        await ts_stack.behave(postal={"error_rate": 1.0})
        await start(ts_stack, body, policy=WALL)
        await until(ts_stack, app_id, lambda s: s.stage == "delivery")
        await time_skipping_env.sleep(PAST_THE_PATIENCE)
        await until(ts_stack, app_id, waiting_on("delivery"))
        await act(ts_stack, app_id, "reject", reason="the applicant cannot be reached")
        final = await until(ts_stack, app_id, lambda s: s.is_final)
    finally:
        await ts_stack.behave(postal={"error_rate": 0.0})
    assert final.stage == "rejected"
    assert final.stages.seal_carving.state == "done"
    assert final.stages.delivery is not None and final.stages.delivery.state == "cancelled"
    # The shop carved the seals: the city owes it, so the grant stays settled.
    grant = await SubsidyLedger(ts_stack.alerts.engine).grant(final.uscc or "")
    assert grant is not None and grant.state == "settled"
    assert final.delivery is not None and final.delivery.waybill_no is None
