"""The promises on the time-skipping server: timers, alerts exactly once, pauses, the calendar."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain.sla_policy import SlaLimits, SlaPolicy
from domain.status import StatusDocument
from domain.working_time import DayCalendar, add_working_time, official_data_years
from infra.temporal import SA_BREACHED_STAGES, SA_SLA_STATUS
from tests import factories
from tests.conftest import Stack
from tests.helpers import breach_the_seal_promise, closed, eventually, fresh_application, rename, start, until

WALL = SlaPolicy(clock="wall")


async def test_stages_that_keep_their_promise_raise_nothing(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application()
    handle = await start(ts_stack, body, policy=SlaPolicy())  # working hours, the real calendar
    # Poll instead of awaiting the result, so the test server does not skip time.
    status = await until(ts_stack, body["application_id"], lambda s: s.is_final)
    assert status.stage == "completed" and status.sla_status == "on_track"
    for name in ("registration", "seal_carving", "invoice", "overall"):
        stage = status.stages.of(name)  # type: ignore[arg-type]
        assert stage.deadline is not None and stage.sla == "on_track"
        assert stage.deadline.utcoffset() == timedelta(hours=8)
    await closed(time_skipping_env, handle)  # every alert it raised is stored by then
    assert await ts_stack.alerts_of(status.workflow_id) == []


async def test_deadlines_follow_the_working_time_clock(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application()
    probe = SlaPolicy()
    handle = await start(ts_stack, body, policy=probe)
    status = await until(ts_stack, body["application_id"], lambda s: s.is_final)
    calendar = DayCalendar.official(probe)
    # Promises count from the whole second a stage starts (workflows/sla.py, StageWatch.begin).
    expected = add_working_time(
        status.accepted_at.replace(microsecond=0), timedelta(hours=7), probe, calendar
    )
    assert status.stages.overall.deadline == expected
    reg = status.stages.registration
    assert reg.started_at is not None
    assert reg.deadline == add_working_time(
        reg.started_at.replace(microsecond=0), timedelta(hours=4), probe, calendar
    )
    await closed(time_skipping_env, handle)

    # Four upcoming days made holidays by the policy: the deadlines skip them.
    first = status.accepted_at.astimezone(probe.zone).date()
    holidays = [first + timedelta(days=d) for d in range(0, 4)]
    with_holidays = SlaPolicy(extra_holidays=holidays, extra_workdays=[])
    body2 = factories.application()
    await start(ts_stack, body2, policy=with_holidays)
    status2 = await until(ts_stack, body2["application_id"], lambda s: s.is_final)
    deadline2 = status2.stages.overall.deadline
    assert deadline2 is not None
    assert deadline2.astimezone(probe.zone).date() > holidays[-1]
    assert deadline2 == add_working_time(
        status2.accepted_at.replace(microsecond=0),
        timedelta(hours=7),
        with_holidays,
        DayCalendar.official(with_holidays),
    )


async def test_a_slow_seal_shop_is_at_risk_then_breached_then_recovered_once_each(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    body, app_id = await fresh_application(ts_stack, invoice=False)
    async with ts_stack.seal_orders_held():
        handle = await start(ts_stack, body, policy=WALL)
        # Past the 2h promise while the shop still holds the order (it cannot finish meanwhile).
        mid = await breach_the_seal_promise(ts_stack, time_skipping_env, app_id)
        assert mid.stages.seal_carving.sla == "breached"
        assert mid.stages.seal_carving.state == "waiting"
        await ts_stack.finish_seal_orders(app_id)
        status = await closed(time_skipping_env, handle)
    assert status.stage == "completed"
    assert status.sla_status == "breached"
    alerts = await ts_stack.alerts_of(status.workflow_id)
    # The shop silent past the patience (30 m) asked an operator first; the shop's completion
    # cleared that by itself. Attention explains the breach; it does not stop the promise's clock.
    seal_alerts = [a for a in alerts if a[0] == "seal_carving"]
    assert seal_alerts == [
        ("seal_carving", "needs_attention"),
        ("seal_carving", "at_risk"),
        ("seal_carving", "breached"),
        ("seal_carving", "recovered"),
    ]
    assert "seal_carving.attention_cleared" in [h.event for h in status.history]
    assert not [a for a in alerts if a[0] == "registration"]
    described = await handle.describe()
    assert described.typed_search_attributes.get(SA_SLA_STATUS) == "breached"
    assert "seal_carving" in (described.typed_search_attributes.get(SA_BREACHED_STAGES) or [])
    events = [h.event for h in status.history]
    assert "alert.seal_carving.breached" in events


async def test_time_awaiting_a_supplement_pauses_the_registration_clock(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    body, app_id = await fresh_application(ts_stack, name="安阳市文峰区冲突商贸有限公司")
    handle = await start(ts_stack, body, policy=WALL)
    waiting = await until(ts_stack, app_id, lambda s: s.stage == "awaiting_supplement")
    before = waiting.stages.registration.deadline
    overall_before = waiting.stages.overall.deadline
    assert before is not None and overall_before is not None
    assert waiting.supplement is not None and waiting.supplement.due is not None
    assert waiting.supplement.due - waiting.history[-1].at <= timedelta(hours=35, seconds=1)

    await time_skipping_env.sleep(timedelta(hours=10))  # the applicant takes 10 hours
    await rename(ts_stack, app_id, body, "安阳市文峰区晨星商贸有限公司")
    # Polled, not awaited: awaiting would let the server skip to the next promise's timer while
    # the partners work in real time.
    status: StatusDocument = await closed(time_skipping_env, handle)
    assert status.stage == "completed"
    after = status.stages.registration.deadline
    assert after is not None and timedelta(hours=10) <= after - before <= timedelta(hours=10, minutes=1)
    assert status.stages.overall.deadline is not None
    assert status.stages.overall.deadline - overall_before >= timedelta(hours=10)
    # Ten hours waiting on the applicant broke no promise.
    assert await ts_stack.alerts_of(status.workflow_id) == []


async def test_no_supplement_within_the_window_rejects_the_case(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application(name="安阳市文峰区冲突物流有限公司")
    handle = await start(ts_stack, body, policy=WALL)
    await until(ts_stack, body["application_id"], lambda s: s.stage == "awaiting_supplement")
    await time_skipping_env.sleep(timedelta(hours=35, minutes=1))  # the applicant never answers
    status: StatusDocument = await closed(time_skipping_env, handle)
    assert status.stage == "rejected"
    assert status.reason is not None and "supplement window" in status.reason


async def test_a_deadline_in_a_year_without_official_data_says_so(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    far = SlaPolicy(limits=SlaLimits(overall="600h"))  # ~75 working days: into 2027
    body = factories.application()
    await start(ts_stack, body, policy=far)
    status = await until(ts_stack, body["application_id"], lambda s: s.is_final)
    assert status.stages.overall.deadline is not None
    # The test server's clock is wherever earlier tests skipped it: the deadline's year says.
    year = status.stages.overall.deadline.astimezone(far.zone).year
    if year > max(official_data_years()):
        assert status.calendar_note is not None and str(year) in status.calendar_note
        assert "calendar.uncovered" in [h.event for h in status.history]


async def test_an_alert_subscriber_that_is_down_gets_every_alert_when_it_comes_back(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    webhooks = ts_stack.webhooks
    webhooks.down = True
    body = factories.application(invoice=False)
    app_id = body["application_id"]
    try:
        async with ts_stack.seal_orders_held():
            handle = await start(ts_stack, body, policy=WALL)
            await breach_the_seal_promise(ts_stack, time_skipping_env, app_id)
            await ts_stack.finish_seal_orders(app_id)  # recovered: the third alert
            status = await closed(time_skipping_env, handle)
        # The case closed although the subscriber is down.
        assert status.stage == "completed"
        ids = await ts_stack.alert_ids_of(status.workflow_id)
        assert len(ids) == 4  # the shop silent past the patience, then the promise's three
        # Each alert was offered while the subscriber was down, and refused.
        await eventually(lambda: webhooks.refused_ids >= ids, what=f"a refused post of each of {ids}")
        assert webhooks.refused > 0
        webhooks.down = False
        await time_skipping_env.sleep(timedelta(minutes=5))  # the deliverer's backoff
        await eventually(
            lambda: {a["id"] for a in webhooks.received} >= ids,
            what=f"every alert of {status.workflow_id} posted to the subscriber",
        )
    finally:
        webhooks.down = False
    mine = [a for a in webhooks.received if a["workflow_id"] == status.workflow_id]
    assert sorted(a["level"] for a in mine) == ["at_risk", "breached", "needs_attention", "recovered"]
