"""Every partner fails 30 % of its calls and is slow: the activities retry with the same idempotency
keys (half the failures come after the work was done, the answer lost), and every case completes
with every effect once."""

from __future__ import annotations

import pytest

from tests import factories
from tests.faults.harness import FaultStack, check_exactly_once

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PARTNERS = ("registration", "seal_shop", "tax", "postal")


async def test_partners_failing_30_percent_of_calls_and_slow_still_do_everything_once(
    stack: FaultStack,
) -> None:
    flaky = {"error_rate": 0.3, "latency_s": 0.2}
    await stack.behave(
        registration=flaky,
        seal_shop={**flaky, "carving_s": 0.2},
        tax=flaky,
        postal={**flaky, "collect_after_s": 0.05},
    )
    bodies = [
        factories.application(district="410502"),
        factories.application(district="410503"),
        factories.application(district="410505", delivery="pickup"),
        factories.application(district="410506", invoice=False),
        factories.application(district="410522"),
        factories.application(district="410581"),
    ]
    ids = [await stack.submit(body) for body in bodies]
    try:
        docs = await stack.all_completed(ids)
    finally:
        # The checks read the partners too: those reads must not fail.
        await stack.behave(**{p: {"error_rate": 0.0, "latency_s": 0.0} for p in PARTNERS})
    outages = stack.sandbox_log_events("outage")
    stack.mark(
        f"{len(outages)} outages: "
        + ", ".join(f"{p} {sum(1 for o in outages if o['partner'] == p)}" for p in PARTNERS)
        + f"; {sum(1 for o in outages if o['when'] == 'after_work')} after the work was done"
    )
    assert outages, "no partner call failed: the test proved nothing"
    await check_exactly_once(stack, bodies, docs)
