"""A part of the stack dies or restarts mid-case: a worker killed with SIGKILL, the Temporal dev
server stopped and started again on its database file, the gateway killed while partners call
back. Each case still completes, with every effect once (``check_exactly_once``).

The seal shop holds its orders (the sandbox's ``hold``): the test decides when a set of seals is
carved, so the fault always lands while the cases wait for the shop, however fast this machine is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests import factories
from tests.faults.harness import SEAL_ALERTS, FaultStack, carving, check_exactly_once, finish_held_orders_once

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CONFLICTING_NAME = "安阳市文峰区冲突科技有限公司"
CORRECTED_NAME = "安阳市文峰区晨光科技有限公司"
FAST_POST = {"collect_after_s": 0.05}


def some_cases(n: int) -> list[dict[str, Any]]:
    """Companies of several districts; one is fetched at the service centre, one needs no invoices."""
    districts = ["410502", "410503", "410505", "410506", "410522", "410581"]
    bodies = [factories.application(district=districts[i % len(districts)]) for i in range(n)]
    if n >= 3:
        bodies[1] = factories.application(district=districts[1], delivery="pickup")
        bodies[2] = factories.application(district=districts[2], invoice=False)
    return bodies


async def submit_all(stack: FaultStack, bodies: list[dict[str, Any]]) -> list[str]:
    return [await stack.submit(body) for body in bodies]


async def all_carving(stack: FaultStack, ids: list[str]) -> None:
    for app_id in ids:
        await stack.case_until(app_id, carving, what="waiting for the seal shop")
    stack.mark(f"{len(ids)} cases wait for the seal shop")


async def nothing_running(stack: FaultStack, ids: list[str]) -> bool:
    """No activity of these cases is being worked on by a worker right now."""
    for app_id in ids:
        if any(state.endswith("STARTED") for _, state, _ in await stack.pending_activities(app_id)):
            return False
    return True


async def breached(stack: FaultStack, app_id: str) -> bool:
    return ("seal_carving", "breached") in await stack.alerts_of(app_id)


async def test_a_worker_killed_mid_flight_is_replaced_and_every_case_completes(stack: FaultStack) -> None:
    await stack.behave(seal_shop={"hold": True}, postal=FAST_POST)
    carvers = some_cases(3)
    conflict = factories.application(name=CONFLICTING_NAME)
    bodies = [*carvers, conflict]
    ids = await submit_all(stack, bodies)
    conflict_id = conflict["application_id"]
    # Mid-flight: three cases wait for the shop, their seal-carving timers running; one is still in
    # registration, awaiting the applicant's supplement.
    await all_carving(stack, ids[:3])
    await stack.case_until(
        conflict_id, lambda d: d["stage"] == "awaiting_supplement", what="asks for a supplement"
    )
    # Killed between activities: an activity a SIGKILLed worker had started is retried only after
    # its start-to-close timeout (75 s for a partner call, no heartbeats), too slow for this test.
    await stack.until(lambda: nothing_running(stack, ids), what="no activity in hand")
    assert await stack.kill("worker") == -9
    await stack.start_worker()

    # The timers the dead worker left behind fire on the new one: at risk, then breached.
    for app_id in ids[:3]:
        await stack.until(lambda a=app_id: breached(stack, a), what=f"{app_id}: the seal promise broken")
    await stack.supplement(conflict_id, {**conflict["enterprise"], "name": CORRECTED_NAME})
    await stack.case_until(conflict_id, carving, what="the corrected application registered")
    for app_id in ids:
        await stack.finish_held_orders(app_id)

    docs = await stack.all_completed(ids)
    await check_exactly_once(stack, bodies, docs)
    for app_id in ids[:3]:
        assert await stack.alerts_of(app_id) >= SEAL_ALERTS
    assert docs[conflict_id]["uscc"] and any(
        h["event"].startswith("supplement") for h in docs[conflict_id]["history"]
    )


async def test_the_dev_server_restarted_on_its_database_file_keeps_every_case_and_timer(
    stack: FaultStack,
) -> None:
    await stack.behave(seal_shop={"hold": True}, postal=FAST_POST)
    bodies = some_cases(4)
    ids = await submit_all(stack, bodies)
    await all_carving(stack, ids)
    runs = {app_id: await stack.run_id(app_id) for app_id in ids}
    called_back, held = ids[:2], ids[2:]

    deadlines = {a: (await stack.status(a) or {}).get("stages", {}).get("seal_carving") for a in held}
    stopped_at = datetime.now(UTC)
    assert await stack.stop("temporal") == 0
    # While Temporal is down the shop finishes two orders: their callbacks reach a gateway that
    # cannot signal the cases; it answers 503 (or holds the call until Temporal is back) and the
    # shop retries.
    for app_id in called_back:
        await stack.finish_held_orders(app_id)
    await stack.start_temporal()

    # Same runs, same state: nothing started again from scratch.
    assert {app_id: await stack.run_id(app_id) for app_id in ids} == runs
    # The held cases' seal deadlines were pending timers across the restart: they fire after it.
    for app_id in held:
        await stack.until(lambda a=app_id: breached(stack, a), what=f"{app_id}: the seal promise broken")
    feed = await stack.alert_feed()
    for app_id in held:
        [alert] = [a for a in feed if a["application_id"] == app_id and a["level"] == "breached"]
        assert datetime.fromisoformat(alert["raised_at"]) > stopped_at, (deadlines, alert)
    await finish_held_orders_once(stack, bodies, ids, held=held)
    assert not stack.sandbox_log_events("callback_refused")
    answered = {e["application_id"] for e in stack.sandbox_log_events("callback_delivered")}
    assert answered >= set(ids)


async def test_a_gateway_restarted_while_partners_call_back_loses_no_callback(stack: FaultStack) -> None:
    await stack.behave(seal_shop={"hold": True}, postal=FAST_POST)
    bodies = some_cases(4)
    ids = await submit_all(stack, bodies)
    await all_carving(stack, ids)
    early, late = ids[:2], ids[2:]

    # Two sets of seals are carved and their callbacks are on their way as the gateway dies.
    for app_id in early:
        await stack.finish_held_orders(app_id)
    assert await stack.kill("gateway") == -9
    for app_id in late:
        await stack.finish_held_orders(app_id)

    def failed() -> set[str]:
        return {e["application_id"] for e in stack.sandbox_log_events("callback_failed")}

    await stack.until(lambda: set(late) <= failed(), what="the shop's callbacks failing and retried")
    await stack.start_gateway()

    docs = await stack.all_completed(ids)
    await check_exactly_once(stack, bodies, docs)
    assert not stack.sandbox_log_events("callback_refused")
    delivered = [
        e
        for e in stack.sandbox_log_events("callback_delivered")
        if e["callback_event"] == "seal_order.completed"
    ]
    assert sorted(e["application_id"] for e in delivered) == sorted(ids)
