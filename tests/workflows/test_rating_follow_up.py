"""Ratings (好差评) end to end on the time-skipping server: a bad rating of a closed case opens one
follow-up, watched on the policy's working-time clock, claimed, called back and answered; the
applicant's verdict closes it; the month's report counts exactly the ratings made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from domain.case_ids import follow_up_workflow_id
from domain.ratings import RatingBody
from domain.sla_policy import SlaPolicy
from domain.working_time import DayCalendar, add_working_time
from infra.serving import serve_in_background
from reports.ratings import monthly_ratings
from service import ratings
from store.service import ServiceDatabase
from tests import factories
from tests.conftest import Stack
from tests.helpers import closed, eventually, start
from tests.workflows.portal_push_harness import PortalReceiver


def ops(stack: Stack, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {stack.settings.ops_token}"}
    return headers | ({"Idempotency-Key": key} if key else {})


async def completed_case(stack: Stack, env: WorkflowEnvironment) -> str:
    body = factories.application()
    await closed(env, await start(stack, body))
    return str(body["application_id"])


async def follow_up(stack: Stack, rating_id: str) -> dict[str, Any]:
    answer = await stack.gateway.get(f"/v1/ratings/{rating_id}", headers=ops(stack))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def act(stack: Stack, rating_id: str, key: str | None = None, **body: Any) -> httpx.Response:
    return await stack.gateway.post(f"/v1/ratings/{rating_id}/actions", json=body, headers=ops(stack, key))


def this_month() -> str:
    return datetime.now(UTC).astimezone(SlaPolicy().zone).strftime("%Y-%m")


async def test_a_bad_rating_of_the_seal_carving_is_followed_up_answered_and_rated(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    database = ServiceDatabase.on(ts_stack.alerts.engine)
    before = await monthly_ratings(database, this_month(), SlaPolicy().zone)
    app_id = await completed_case(ts_stack, time_skipping_env)
    receiver = PortalReceiver(ts_stack.settings.webhook_secret)
    async with serve_in_background(receiver.app()) as portal_url:
        rated = await ratings.rate(
            ts_stack.client,
            database,
            app_id,
            RatingBody(level="very_dissatisfied", about="seal_carving", comment="刻章慢，电话13803720000"),
            task_queue=ts_stack.settings.task_queue,
            portal_webhooks=[f"{portal_url}/portal"],
        )
        assert rated.follow_up == follow_up_workflow_id(app_id)
        again = await ts_stack.gateway.post(
            f"/v1/applications/{app_id}/rating", json={"level": "satisfied"}, headers=ts_stack.portal
        )
        assert again.status_code == 409, again.text

        doc = await eventually(lambda: follow_up(ts_stack, rated.rating_id), what="the follow-up")
        doc = await eventually(
            lambda: _with_dues(ts_stack, rated.rating_id), what="the follow-up's deadlines"
        )
        assert (doc["state"], doc["level"], doc["about"]) == ("open", "very_dissatisfied", "seal_carving")
        assert doc["comment"] == "刻章慢，电话138****0000"
        # The at-risk point is 3 of the call back's 4 working hours, on the official calendar.
        policy = SlaPolicy()
        watched_from = datetime.fromisoformat(doc["history"][0]["at"]).replace(microsecond=0)
        calendar = DayCalendar.official(policy)
        at_risk = add_working_time(watched_from, timedelta(hours=3), policy, calendar)
        due = add_working_time(watched_from, timedelta(hours=4), policy, calendar)
        assert datetime.fromisoformat(doc["call_back_due"]) == due
        await time_skipping_env.sleep(at_risk - watched_from + timedelta(seconds=1))
        workflow_id = str(rated.follow_up)
        await eventually(
            lambda: ts_stack.has_alert(workflow_id, "rating_follow_up", "at_risk"), what="the at-risk alert"
        )
        page, _ = await ts_stack.alerts.list(stage="rating_follow_up", limit=1000)
        [alert] = [a for a in page if a.workflow_id == workflow_id]
        assert (alert.application_id, alert.episode, alert.reason) == (app_id, 1, "call back")
        assert alert.deadline == due and abs(alert.raised_at - at_risk) < timedelta(seconds=2)
        assert not await ts_stack.has_alert(workflow_id, "rating_follow_up", "breached")

        claimed = await act(ts_stack, rated.rating_id, "claim-1", action="claim", operator="王敏")
        assert claimed.status_code == 202 and claimed.json()["owner"] == "王敏"
        repeat = await act(ts_stack, rated.rating_id, "claim-1", action="claim", operator="王敏")
        assert repeat.status_code == 202 and len(repeat.json()["history"]) == len(claimed.json()["history"])
        early = await ts_stack.gateway.post(
            f"/v1/ratings/{rated.rating_id}/verdict", json={"verdict": "satisfied"}, headers=ts_stack.portal
        )
        assert early.status_code == 409, early.text
        not_yet = await act(
            ts_stack, rated.rating_id, action="resolve", operator="王敏", kind="immediate", answer="x"
        )
        assert not_yet.status_code == 422 and "called_back" in not_yet.json()["offered"]
        called = await act(
            ts_stack, rated.rating_id, action="called_back", operator="王敏", outcome="情况属实"
        )
        assert called.status_code == 202 and called.json()["state"] == "called_back"
        resolved = await act(
            ts_stack,
            rated.rating_id,
            action="resolve",
            operator="王敏",
            kind="immediate",
            answer="已督促刻章店当日完成并致歉",
        )
        assert resolved.status_code == 202, resolved.text
        assert resolved.json()["resolution"]["kind"] == "immediate"

        replies = await eventually(
            lambda: [r.body for r in receiver.received if r.body["type"] == "rating.follow_up_replied"],
            what="the answer at the portal",
        )
        assert replies[0]["rating"]["answer"] == "已督促刻章店当日完成并致歉"
        assert replies[0]["application_id"] == app_id and "13803720000" not in str(replies)
        await eventually(
            lambda: _in_state(ts_stack, rated.rating_id, "answered"), what="the follow-up answered"
        )
        verdict = await ts_stack.gateway.post(
            f"/v1/ratings/{rated.rating_id}/verdict", json={"verdict": "satisfied"}, headers=ts_stack.portal
        )
        assert verdict.status_code == 202, verdict.text
        done = await closed(time_skipping_env, ts_stack.client.get_workflow_handle(workflow_id))
        assert done["state"] == "closed" and done["applicant_verdict"] == "satisfied"
        assert (await follow_up(ts_stack, rated.rating_id))["state"] == "closed"
        late = await act(ts_stack, rated.rating_id, action="claim", operator="王敏")
        assert late.status_code == 409

    after = await monthly_ratings(database, this_month(), SlaPolicy().zone)
    assert after.ratings - before.ratings == 1
    assert after.by_level["very_dissatisfied"] - before.by_level["very_dissatisfied"] == 1
    assert (after.bad - before.bad, after.called_back_on_time - before.called_back_on_time) == (1, 1)
    assert after.answered_on_time - before.answered_on_time == 1
    pdf = await ts_stack.gateway.get(
        f"/v1/reports/ratings?month={this_month()}", headers=ops(ts_stack) | {"Accept": "application/pdf"}
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    today = datetime.now(UTC).astimezone(SlaPolicy().zone).date().isoformat()
    daily = (await ts_stack.gateway.get(f"/v1/reports/daily?date={today}", headers=ops(ts_stack))).json()
    assert (
        daily["ratings"]["by_level"]["very_dissatisfied"] >= 1
    )  # made today (its follow-up ran on server time)
    metrics = (await ts_stack.gateway.get("/metrics")).text
    assert 'ods_ratings_total{about="seal_carving",district="410502",level="very_dissatisfied"}' in metrics
    assert "ods_rating_follow_ups_answered_on_time_total" in metrics and "13803720000" not in metrics


async def _with_dues(stack: Stack, rating_id: str) -> dict[str, Any] | None:
    doc = await follow_up(stack, rating_id)
    return doc if doc["call_back_due"] and doc["resolve_due"] else None


async def _in_state(stack: Stack, rating_id: str, state: str) -> bool:
    return (await follow_up(stack, rating_id))["state"] == state


async def test_an_open_case_is_not_rated_and_a_bad_field_is_named(dev_stack: Stack) -> None:
    # On the dev server: the case is left open (its seal order held), and on the shared time-skipping
    # server an open case's timers firing later hold up the time of the tests after it.
    async with dev_stack.seal_orders_held():
        body = factories.application()
        await start(dev_stack, body)
        url = f"/v1/applications/{body['application_id']}/rating"
        open_case = await dev_stack.gateway.post(url, json={"level": "satisfied"}, headers=dev_stack.portal)
        assert open_case.status_code == 409, open_case.text
        for wrong, field in (({"level": "great"}, "level"), ({"level": "satisfied", "about": "x"}, "about")):
            answer = await dev_stack.gateway.post(url, json=wrong, headers=dev_stack.portal)
            assert answer.status_code == 422
            assert [e["field"] for e in answer.json()["errors"]] == [field]
        too_long = await dev_stack.gateway.post(
            url, json={"level": "satisfied", "comment": "长" * 501}, headers=dev_stack.portal
        )
        assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "comment"


async def test_an_appeal_is_decided_by_someone_else_and_upheld_closes_without_an_answer(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    app_id = await completed_case(ts_stack, time_skipping_env)
    rated = await ts_stack.gateway.post(
        f"/v1/applications/{app_id}/rating",
        json={"level": "dissatisfied", "about": "staff"},
        headers=ts_stack.portal,
    )
    assert rated.status_code == 201, rated.text
    rating_id = rated.json()["rating_id"]
    assert rated.json()["follow_up"] == follow_up_workflow_id(app_id)
    await eventually(lambda: _in_state(ts_stack, rating_id, "open"), what="the follow-up")
    appealed = await act(ts_stack, rating_id, action="appeal", operator="李娜", reason="评价对象不是本窗口")
    assert appealed.status_code == 202 and appealed.json()["state"] == "appealed"
    own = await act(ts_stack, rating_id, action="decide_appeal", operator="李娜", upheld=True)
    assert own.status_code == 403, own.text
    upheld = await act(ts_stack, rating_id, action="decide_appeal", operator="赵强", upheld=True)
    assert upheld.status_code == 202, upheld.text
    done = await closed(time_skipping_env, ts_stack.client.get_workflow_handle(follow_up_workflow_id(app_id)))
    assert done["state"] == "closed" and done["resolution"] is None and done["appeal"]["upheld"] is True
    record = await (await ServiceDatabase.on(ts_stack.alerts.engine).ratings()).get(rating_id)
    assert record is not None and (record.appeal, record.state) == ("upheld", "closed")
    good = await ts_stack.gateway.get("/v1/ratings/nope-unknown", headers=ops(ts_stack))
    assert good.status_code == 404
