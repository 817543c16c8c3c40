"""The promises on the time-skipping server: timers, alerts exactly once, pauses, the calendar."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.application import parse_application
from domain.sla_policy import SlaLimits, SlaPolicy
from domain.status import StatusDocument
from domain.working_time import DayCalendar, add_working_time
from infra.temporal import SA_BREACHED_STAGES, SA_SLA_STATUS
from intake import cases
from tests import factories
from tests.conftest import Stack

WALL = SlaPolicy(clock="wall")


async def start(stack: Stack, body: dict[str, Any], policy: SlaPolicy) -> WorkflowHandle[Any, StatusDocument]:
    app = parse_application(body)
    outcome = await cases.submit_application(
        stack.client, app, task_queue=stack.settings.task_queue, sla_policy=policy
    )
    return stack.client.get_workflow_handle(outcome.workflow_id, result_type=StatusDocument)


async def until(stack: Stack, app_id: str, check: Any, timeout: float = 30) -> StatusDocument:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await cases.get_status(stack.client, app_id)
        if check(status):
            return status
        assert asyncio.get_running_loop().time() < deadline, status.model_dump_json(indent=1)
        await asyncio.sleep(0.05)


async def test_stages_that_keep_their_promise_raise_nothing(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application()
    await start(ts_stack, body, SlaPolicy())  # working hours, the real calendar
    # Poll instead of awaiting the result, so the test server does not skip time.
    status = await until(ts_stack, body["application_id"], lambda s: s.is_final)
    assert status.stage == "completed" and status.sla_status == "on_track"
    for name in ("registration", "seal_carving", "invoice", "overall"):
        stage = status.stages.of(name)  # type: ignore[arg-type]
        assert stage.deadline is not None and stage.sla == "on_track"
        assert stage.deadline.utcoffset() == timedelta(hours=8)
    assert await ts_stack.alerts_of(status.workflow_id) == []


async def test_deadlines_follow_the_working_time_clock(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application()
    probe = SlaPolicy()
    handle = await start(ts_stack, body, probe)
    status = await until(ts_stack, body["application_id"], lambda s: s.is_final)
    calendar = DayCalendar.official(probe)
    expected = add_working_time(status.accepted_at, timedelta(hours=7), probe, calendar)
    assert status.stages.overall.deadline == expected
    reg = status.stages.registration
    assert reg.started_at is not None
    assert reg.deadline == add_working_time(reg.started_at, timedelta(hours=4), probe, calendar)
    await handle.result()

    # Four upcoming days made holidays by the policy: the deadlines skip them.
    first = status.accepted_at.astimezone(probe.zone).date()
    holidays = [first + timedelta(days=d) for d in range(0, 4)]
    with_holidays = SlaPolicy(extra_holidays=holidays, extra_workdays=[])
    body2 = factories.application()
    await start(ts_stack, body2, with_holidays)
    status2 = await until(ts_stack, body2["application_id"], lambda s: s.is_final)
    deadline2 = status2.stages.overall.deadline
    assert deadline2 is not None
    assert deadline2.astimezone(probe.zone).date() > holidays[-1]
    assert deadline2 == add_working_time(
        status2.accepted_at, timedelta(hours=7), with_holidays, DayCalendar.official(with_holidays)
    )


async def test_a_slow_seal_shop_is_at_risk_then_breached_then_recovered_once_each(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    await ts_stack.behave(seal_shop={"carving_s": 3})
    try:
        body = factories.application(invoice=False)
        handle = await start(ts_stack, body, WALL)
        status = await until(
            ts_stack, body["application_id"], lambda s: s.stages.seal_carving.state == "waiting"
        )
        # Skip past the 2h promise while the shop is still carving (real seconds).
        await time_skipping_env.sleep(timedelta(hours=2, minutes=1))
        mid = await cases.get_status(ts_stack.client, body["application_id"])
        assert mid.stages.seal_carving.sla == "breached"
        status = await asyncio.wait_for(handle.result(), 60)
    finally:
        await ts_stack.behave(seal_shop={"carving_s": 0.05})
    assert status.stage == "completed"
    assert status.sla_status == "breached"
    alerts = await ts_stack.alerts_of(status.workflow_id)
    seal_alerts = [a for a in alerts if a[0] == "seal_carving"]
    assert seal_alerts == [
        ("seal_carving", "at_risk"),
        ("seal_carving", "breached"),
        ("seal_carving", "recovered"),
    ]
    assert not [a for a in alerts if a[0] == "registration"]
    described = await handle.describe()
    assert described.typed_search_attributes.get(SA_SLA_STATUS) == "breached"
    assert "seal_carving" in (described.typed_search_attributes.get(SA_BREACHED_STAGES) or [])
    events = [h.event for h in status.history]
    assert "alert.seal_carving.breached" in events


async def test_time_awaiting_a_supplement_pauses_the_registration_clock(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application(name="安阳市文峰区冲突商贸有限公司")
    app_id = body["application_id"]
    handle = await start(ts_stack, body, WALL)
    waiting = await until(ts_stack, app_id, lambda s: s.stage == "awaiting_supplement")
    before = waiting.stages.registration.deadline
    overall_before = waiting.stages.overall.deadline
    assert before is not None and overall_before is not None
    assert waiting.supplement is not None and waiting.supplement.due is not None
    assert waiting.supplement.due - waiting.history[-1].at <= timedelta(hours=35, seconds=1)

    await time_skipping_env.sleep(timedelta(hours=10))  # the applicant takes 10 hours
    await cases.supplement(
        ts_stack.client,
        app_id,
        {"enterprise": {**body["enterprise"], "name": "安阳市文峰区晨星商贸有限公司"}},
    )
    status: StatusDocument = await asyncio.wait_for(handle.result(), 60)
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
    handle = await start(ts_stack, body, WALL)
    await until(ts_stack, body["application_id"], lambda s: s.stage == "awaiting_supplement")
    await time_skipping_env.sleep(timedelta(hours=35, minutes=1))  # the applicant never answers
    status: StatusDocument = await asyncio.wait_for(handle.result(), 60)
    assert status.stage == "rejected"
    assert status.reason is not None and "supplement window" in status.reason


async def test_a_deadline_in_a_year_without_official_data_says_so(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    far = SlaPolicy(limits=SlaLimits(overall="600h"))  # ~75 working days: into 2027
    body = factories.application()
    await start(ts_stack, body, far)
    status = await until(ts_stack, body["application_id"], lambda s: s.is_final)
    assert status.stages.overall.deadline is not None
    if status.stages.overall.deadline.year > 2026:
        assert status.calendar_note is not None and "2027" in status.calendar_note
        assert "calendar.uncovered" in [h.event for h in status.history]


async def test_an_alert_subscriber_that_is_down_gets_every_alert_when_it_comes_back(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    ts_stack.webhooks.down = True
    await ts_stack.behave(seal_shop={"carving_s": 2})
    try:
        body = factories.application(invoice=False)
        handle = await start(ts_stack, body, WALL)
        await until(ts_stack, body["application_id"], lambda s: s.stages.seal_carving.state == "waiting")
        await time_skipping_env.sleep(timedelta(hours=2, minutes=1))
        status = await asyncio.wait_for(handle.result(), 60)
        # The case closed although the subscriber is down.
        assert status.stage == "completed"
        ids = {
            a.id
            for a in (await ts_stack.alerts.list(after=None, limit=1000))[0]
            if a.workflow_id == status.workflow_id
        }
        assert len(ids) == 3
        assert ts_stack.webhooks.refused > 0
        ts_stack.webhooks.down = False
        await time_skipping_env.sleep(timedelta(minutes=5))  # the deliverer's backoff
        deadline = asyncio.get_running_loop().time() + 30
        while {a["id"] for a in ts_stack.webhooks.received} < ids:
            assert asyncio.get_running_loop().time() < deadline, ts_stack.webhooks.received
            await asyncio.sleep(0.2)
    finally:
        ts_stack.webhooks.down = False
        await ts_stack.behave(seal_shop={"carving_s": 0.05})
    mine = [a for a in ts_stack.webhooks.received if a["workflow_id"] == status.workflow_id]
    assert sorted(a["level"] for a in mine) == ["at_risk", "breached", "recovered"]
