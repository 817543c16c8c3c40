"""A partner's bad day never rejects a case (../shared/CONTRACT.md section 10): a 401 for a while
delays it, and a ``Retry-After`` spaces the attempts. (One past the policy's ``partner_patience``
asks an operator naming the partner and what it answers: tests/workflows/test_attention.py.)

On the time-skipping server with the sandbox's faults (docs/partner-api.md, "Sandbox controls"),
which last until the test ends them: time is skipped with ``env.sleep``, never waited for, and
what is asserted is counted (requests, attempts), never timed."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.conftest import Stack
from tests.helpers import fresh_application, start, until
from tests.workflows.test_attention import WALL

# Longer than any test: the test ends the fault itself.
FOR_THE_TEST = 3600
# The longest backoff between two attempts (workflows/calls.py PARTNER_RETRY), and a second.
NEXT_ATTEMPT = timedelta(seconds=31)


async def requests(stack: Stack, partner: str) -> int:
    return (await stack.effects())[partner]["requests"]


async def test_a_401_for_a_while_delays_the_case_and_rejects_none(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    body, app_id = await fresh_application(ts_stack)
    await ts_stack.behave(registration={"faults": {"status": 401, "for_s": FOR_THE_TEST}})
    try:
        await start(ts_stack, body, policy=WALL)
        await until(ts_stack, app_id, lambda s: s.stages.registration.state == "running")
        await time_skipping_env.sleep(timedelta(minutes=5))
        # Retried, not refused: the case still waits on registration, nobody asked yet.
        assert await requests(ts_stack, "registration") >= 3
        status = await until(ts_stack, app_id, lambda s: s.stage == "registration")
        assert not status.is_final and status.attention is None
        assert (await ts_stack.effects())["registration"]["effects"] == 0
    finally:
        await ts_stack.behave(registration={"faults": None})

    await time_skipping_env.sleep(NEXT_ATTEMPT)
    final = await until(ts_stack, app_id, lambda s: s.is_final, timeout=60)
    assert final.stage == "completed", final.model_dump_json(indent=1)
    assert final.uscc is not None
    assert (await ts_stack.effects())["registration"]["effects"] == 1
    assert not [h for h in final.history if h.event.endswith("needs_attention")]


async def test_a_429s_retry_after_spaces_the_attempts(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    body, app_id = await fresh_application(ts_stack)
    handle = await start(ts_stack, body, policy=WALL)
    try:
        await ts_stack.behave(tax={"faults": {"status": 429, "for_s": FOR_THE_TEST, "retry_after_s": 300}})
        await until(ts_stack, app_id, lambda s: s.stages.invoice.state == "running")
        before = await requests(ts_stack, "tax")
        await time_skipping_env.sleep(timedelta(minutes=20))
        asked = await requests(ts_stack, "tax") - before
        [pending] = [
            p
            for p in (await handle.describe()).raw_description.pending_activities
            if p.activity_type.name == "issue_first_invoices"
        ]
    finally:
        await ts_stack.behave(tax={"faults": None})

    # Every 300 s for 20 min: about 4 attempts (the backoff alone, capped at 30 s, would make ~40).
    assert 2 <= asked <= 6, asked
    assert pending.attempt <= 7, pending.attempt
    assert pending.last_failure.application_failure_info.type == "PartnerUnavailable"
    # The message is sealed in the history ("Encoded failure"): the client's converter opens it.
    assert pending.last_failure.message == "Encoded failure"
    failure = await ts_stack.client.data_converter.decode_failure(pending.last_failure)
    assert str(failure).endswith("HTTP 429"), failure

    await time_skipping_env.sleep(timedelta(seconds=301))
    final = await until(ts_stack, app_id, lambda s: s.is_final, timeout=60)
    assert final.stage == "completed", final.model_dump_json(indent=1)
    assert (await ts_stack.effects())["tax"]["effects"] == 1
