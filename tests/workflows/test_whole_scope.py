"""The whole 企业开办 in one day: social insurance, the housing fund and a bank account appointment
beside seal carving and the first invoices, each under its own promise inside the overall one,
each done once at its partner, refusals waiting for an operator like the other stages."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain.actions import OperatorAction
from domain.sla_policy import SlaPolicy
from service import cases
from tests import factories
from tests.conftest import Stack
from tests.helpers import eventually, start, until
from tests.workflows.test_free_services import pdf_text

WALL = SlaPolicy(clock="wall", partner_patience="30m")
ITEMS = ("social_insurance", "housing_fund", "bank_account")


async def test_all_six_items_in_one_application_are_each_done_once(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    body = factories.whole_scope(factories.application(district="410581"), employees=12)
    app_id = body["application_id"]
    await start(ts_stack, body)
    status = await until(ts_stack, app_id, lambda s: s.is_final, timeout=60)
    assert status.stage == "completed", status.model_dump_json(indent=1)
    for name in ("registration", "seal_carving", "invoice", *ITEMS, "delivery", "overall"):
        part = status.stages.of(name)  # type: ignore[arg-type]
        assert part.state == "done", (name, part)
        assert part.deadline is not None and part.finished_at is not None
    # Each item inside the one-day promise: done before the overall promise was kept.
    overall = status.stages.overall.finished_at
    assert overall is not None
    assert all(status.stages.of(n).finished_at <= overall for n in ITEMS)  # type: ignore[arg-type,operator]

    assert status.social_insurance is not None and status.social_insurance.employees == 12
    assert status.social_insurance.registration_no.startswith("410581")
    assert status.social_insurance.bureau == "林州市人力资源和社会保障局"
    assert status.housing_fund is not None and status.housing_fund.account_no.startswith("410581")
    appointment = status.bank_account
    assert appointment is not None and appointment.bank == "中国建设银行"
    local = appointment.appointment_at.astimezone(WALL.zone)
    assert local.weekday() < 5 or local.date().isoformat() in {"2026-09-20", "2026-10-10"}
    assert 9 <= local.hour < 17
    effects = await ts_stack.effects()
    assert {p: effects[p]["effects"] for p in ("social_insurance", "housing_fund", "bank")} == {
        "social_insurance": 1,
        "housing_fund": 1,
        "bank": 1,
    }

    receipt = await pdf_text(ts_stack, app_id, "acceptance_receipt")
    for label in ("员工参保登记", "住房公积金缴存登记", "银行预约开户", "12 名员工", "中国建设银行"):
        assert label in receipt, f"{label} not in the receipt:\n{receipt}"
    notice = await pdf_text(ts_stack, app_id, "completion_notice")
    for label in ("员工参保登记", "住房公积金", "银行预约开户"):  # (a narrow cell may wrap a label)
        assert label in notice, f"{label} not in the notice:\n{notice}"


async def test_an_application_without_them_skips_them(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application()
    status = await until(
        ts_stack, (await start(ts_stack, body)).id.removeprefix("setup-"), lambda s: s.is_final, timeout=60
    )
    assert status.stage == "completed"
    assert [status.stages.of(n).state for n in ITEMS] == ["skipped"] * 3  # type: ignore[arg-type]
    assert status.social_insurance is None and status.bank_account is None
    effects = await ts_stack.effects()
    assert effects["social_insurance"]["effects"] == effects["housing_fund"]["effects"] == 0
    assert "员工参保登记" not in await pdf_text(ts_stack, body["application_id"], "completion_notice")


async def test_a_bank_that_declines_waits_for_an_operator_and_books_on_retry(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    body = factories.whole_scope(factories.application(name="安阳市文峰区拒开户餐饮有限公司"))
    app_id = body["application_id"]
    await start(ts_stack, body, policy=WALL)
    status = await until(ts_stack, app_id, lambda s: any(a.stage == "bank_account" for a in s.attentions))
    attention = next(a for a in status.attentions if a.stage == "bank_account")
    assert attention.actions == ["retry_stage", "reject"]
    assert "暂不受理该企业开户预约" in attention.reason
    assert status.stages.bank_account is not None and status.stages.bank_account.state == "waiting"
    await cases.act(
        ts_stack.client,
        app_id,
        OperatorAction(action="retry_stage", stage="bank_account", operator="李娜", note="explained"),
    )
    final = await until(ts_stack, app_id, lambda s: s.is_final, timeout=60)
    assert final.stage == "completed"
    assert final.bank_account is not None and final.attention is None
    assert (await ts_stack.effects())["bank"]["effects"] == 1


async def test_the_overall_promise_covers_the_new_items(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    """The bureau down past the one-day promise: its own promise and the overall one are broken,
    although seals and invoices were done in time."""
    await ts_stack.reset_sandbox()
    body = factories.whole_scope(factories.application())
    app_id = body["application_id"]
    handle = await start(ts_stack, body, policy=WALL)
    try:
        await ts_stack.behave(social_insurance={"error_rate": 1.0})
        await until(
            ts_stack,
            app_id,
            lambda s: s.stages.social_insurance is not None and s.stages.social_insurance.state == "running",
        )
        await until(ts_stack, app_id, lambda s: s.stages.seal_carving.state == "done")
        await time_skipping_env.sleep(timedelta(hours=7, minutes=1))
        await eventually(
            lambda: ts_stack.has_alert(handle.id, "overall", "breached"), what="the overall promise broken"
        )
        assert await ts_stack.has_alert(handle.id, "social_insurance", "breached")
        assert not await ts_stack.has_alert(handle.id, "seal_carving", "breached")
    finally:
        await ts_stack.behave(social_insurance={"error_rate": 0.0})
    await time_skipping_env.sleep(timedelta(seconds=31))
    final = await until(ts_stack, app_id, lambda s: s.is_final, timeout=60)
    assert final.stage == "completed"
    assert final.breached_stages == ["social_insurance", "overall"]
    assert final.stages.overall.finished_at is not None and final.stages.social_insurance is not None
    assert final.stages.social_insurance.finished_at is not None
    assert final.stages.overall.finished_at >= final.stages.social_insurance.finished_at
