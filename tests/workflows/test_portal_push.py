"""The portal's status push (docs/operations.md) on the time-skipping Temporal test server: a stand-in
case starts ``PortalPush`` as an abandoned child, tells it its changes and closes; real portals on
127.0.0.1 verify every POST with ``standardwebhooks``. Every wait waits for an event (a POST
received, a workflow closed); skipping the server's clock past the retry backoff stands in for
the hours a portal is down."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer
from temporalio.workflow import Info

from domain.portal import PortalEvent, PortalPushOutcome
from infra.temporal import data_converter
from tests.helpers import closed, eventually
from tests.workflows.portal_push_harness import (
    DEV_SECRET,
    STORY_EVENTS,
    WHSEC_SECRET,
    PortalHarness,
    PortalReceiver,
    case_story,
)
from tests.workflows.portal_push_stand_ins import Change
from workflows.portal_push import PORTAL_IDLE, PortalPush

N = len(STORY_EVENTS)
CONTRACT_FIELDS = {"id", "type", "application_id", "workflow_id", "stage", "sequence", "at"}
# The server's clock moves on in steps this long while the push retries: the step in which the push
# completes may run on the real clock (see ``time_skipping_env`` in tests/conftest.py).
STEP = timedelta(seconds=1)


async def skip_until(portal: PortalHarness, done: Callable[[], bool], what: str) -> None:
    """Move the server's clock on, a step at a time, until ``done()`` (within 10 minutes of it)."""
    for _ in range(600):
        if done():
            return
        await portal.env.sleep(STEP)
    await eventually(done, what=what)


async def running(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def replays(handle: WorkflowHandle[Any, Any]) -> None:
    replayer = Replayer(workflows=[PortalPush], data_converter=data_converter())
    await replayer.replay_workflow(await handle.fetch_history())


def assert_in_order_once(receiver: PortalReceiver, case_id: str) -> None:
    assert receiver.bad == []
    assert receiver.sequences == list(range(1, N + 1))
    assert receiver.ids == [f"{case_id}/{n}" for n in range(1, N + 1)]


@pytest.mark.parametrize("portal", [DEV_SECRET, WHSEC_SECRET], ids=["plain", "whsec"], indirect=True)
async def test_a_portal_gets_every_change_of_a_case_once_in_order_exactly_as_the_contract_says(
    portal: PortalHarness,
) -> None:
    receiver = await portal.receiver()
    case, push = await portal.run_case([receiver.url], case_story())

    assert await closed(portal.env, case) == N
    assert await closed(portal.env, push) == PortalPushOutcome(taken={receiver.url: N})
    assert_in_order_once(receiver, case.id)

    application_id = case.id.removeprefix("setup-")
    story = case_story()
    attention = next(c.attention for c in story if c.attention is not None)
    for got, (kind, stage, carries_attention) in zip(receiver.received, STORY_EVENTS, strict=True):
        body = got.body
        fields = CONTRACT_FIELDS | ({"attention"} if kind == "case.attention_changed" else set())
        assert set(body) == fields, body
        assert (body["type"], body["stage"]) == (kind, stage)
        assert (body["application_id"], body["workflow_id"]) == (application_id, case.id)
        assert body["id"] == f"{case.id}/{body['sequence']}" == got.headers["webhook-id"]
        assert datetime.fromisoformat(body["at"]).tzinfo is not None
        if kind == "case.attention_changed":
            # Set: the status document's attention object; cleared: null.
            assert body["attention"] == (attention if carries_attention else None)
        # The body is exactly the contract's object, in its order, nothing added.
        expected: dict[str, Any] = {
            "id": f"{case.id}/{body['sequence']}",
            "type": kind,
            "application_id": application_id,
            "workflow_id": case.id,
            "stage": stage,
            "sequence": body["sequence"],
            "at": body["at"],
        }
        if kind == "case.attention_changed":
            expected["attention"] = attention if carries_attention else None
        assert got.raw == json.dumps(expected, ensure_ascii=False).encode()
        assert got.headers["content-type"] == "application/json"
        assert abs(int(got.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 300
        assert got.headers["webhook-signature"].startswith("v1,")

    # The push is a child the case abandoned: it outlived it, and replays on the current code.
    description = await push.describe()
    assert description.parent_id == case.id
    await replays(push)


async def test_a_portal_down_for_hours_gets_every_event_in_order_once_it_is_back_and_never_held_the_case(
    portal: PortalHarness,
) -> None:
    receiver = await portal.receiver()
    receiver.down = True
    case, push = await portal.run_case([receiver.url], case_story())

    # The case closes while its portal answers 503.
    assert await closed(portal.env, case) == N
    await eventually(lambda: receiver.refused >= 2, what="the push retrying the first event")
    assert receiver.received == [] and await running(push)

    # Hours pass: the retries are the server's, the push's history does not grow with them.
    before = len((await push.fetch_history()).events)
    await portal.env.sleep(timedelta(hours=2))
    assert receiver.received == [] and await running(push)
    assert len((await push.fetch_history()).events) == before

    receiver.down = False
    await skip_until(portal, lambda: receiver.has(N), "every event after the portal came back")
    assert await closed(portal.env, push) == PortalPushOutcome(taken={receiver.url: N})
    assert_in_order_once(receiver, case.id)
    await replays(push)


async def test_with_two_portals_one_down_the_other_gets_everything_at_once(portal: PortalHarness) -> None:
    down, up = await portal.receiver(), await portal.receiver()
    down.down = True
    case, push = await portal.run_case([down.url, up.url], case_story())

    await eventually(lambda: up.has(N), what="every event at the portal that is up")
    assert_in_order_once(up, case.id)
    assert await closed(portal.env, case) == N
    assert down.received == [] and down.refused >= 1 and await running(push)
    assert (await push.query(PortalPush.progress)).taken == {down.url: 0, up.url: N}

    down.down = False
    await skip_until(portal, lambda: down.has(N), "every event at the portal that came back")
    assert await closed(portal.env, push) == PortalPushOutcome(taken={down.url: N, up.url: N})
    assert_in_order_once(down, case.id)
    assert len(up.received) == N


async def test_changes_signalled_out_of_order_and_twice_are_posted_once_each_in_sequence_order(
    portal: PortalHarness,
) -> None:
    receiver = await portal.receiver()
    case_id = "setup-PPREPEATS01"
    push = await portal.start_push("PPREPEATS01", [receiver.url])

    def event(sequence: int, stage: str) -> PortalEvent:
        return PortalEvent.change(
            type="case.stage_changed",
            application_id="PPREPEATS01",
            workflow_id=case_id,
            stage=stage,
            sequence=sequence,
            at=datetime(2026, 11, 27, 9, sequence, tzinfo=UTC),
        )

    await push.signal(PortalPush.event, event(2, "registration"))
    await push.signal(PortalPush.event, event(2, "registration"))
    # Nothing goes before the first event has come.
    assert (await push.query(PortalPush.progress)).taken == {receiver.url: 0}
    await push.signal(PortalPush.event, event(1, "accepted"))
    await eventually(lambda: receiver.has(2), what="events 1 and 2")
    await push.signal(PortalPush.event, event(1, "accepted"))  # already taken: dropped
    await push.signal(PortalPush.finish, 3)
    assert await running(push)
    await push.signal(PortalPush.event, event(3, "seal_carving_and_invoice"))
    await push.signal(PortalPush.event, event(3, "seal_carving_and_invoice"))

    assert await closed(portal.env, push) == PortalPushOutcome(taken={receiver.url: 3})
    assert receiver.sequences == [1, 2, 3]
    assert [r.body["stage"] for r in receiver.received] == [
        "accepted",
        "registration",
        "seal_carving_and_invoice",
    ]
    assert receiver.bad == []


async def test_a_portal_that_answers_410_gone_gets_nothing_more_and_the_others_everything(
    portal: PortalHarness,
) -> None:
    gone, up = await portal.receiver(), await portal.receiver()
    gone.gone = True
    case, push = await portal.run_case([gone.url, up.url], case_story())

    assert await closed(portal.env, case) == N
    assert await closed(portal.env, push) == PortalPushOutcome(
        taken={gone.url: 0, up.url: N}, gone=[gone.url]
    )
    assert gone.refused == 1 and gone.received == []
    assert_in_order_once(up, case.id)


async def test_a_long_push_continues_as_new_with_its_queue_and_positions(
    portal: PortalHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The time-skipping server never suggests it: here a run does once its history passes 25 events.
    def suggested(info: Info) -> bool:
        return (
            info.workflow_type == "PortalPush"
            and info.continued_run_id is None
            and (info.get_current_history_length() > 25)
        )

    monkeypatch.setattr(Info, "is_continue_as_new_suggested", suggested)
    down, up = await portal.receiver(), await portal.receiver()
    down.down = True
    # Changes a moment apart: the push takes them one signal at a time while its history grows.
    story = [c.model_copy(update={"then_wait_s": 0.05}) for c in case_story()]
    case, push = await portal.run_case([down.url, up.url], story)

    await eventually(lambda: up.has(N), what="every event at the portal that is up")
    assert await closed(portal.env, case) == N
    first_run = await eventually(lambda: _continued_from(push), what="the first run continued as new")
    assert await running(push) and down.received == []

    down.down = False
    await skip_until(portal, lambda: down.has(N), "every event at the portal that came back")
    assert await closed(portal.env, push) == PortalPushOutcome(taken={down.url: N, up.url: N})
    for receiver in (down, up):
        # An event whose post was in flight when the run continued may come twice, under its id.
        assert receiver.bad == []
        assert list(dict.fromkeys(receiver.sequences)) == list(range(1, N + 1))
        assert set(receiver.ids) == {f"{case.id}/{n}" for n in range(1, N + 1)}
    await replays(portal.env.client.get_workflow_handle(push.id, run_id=first_run))
    await replays(push)


async def _continued_from(push: WorkflowHandle[Any, Any]) -> str:
    """The run the push's current run continued from ("" while it is the first)."""
    started = (await push.fetch_history()).events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    return started.workflow_execution_started_event_attributes.continued_execution_run_id


async def test_a_case_without_portal_urls_starts_no_push(portal: PortalHarness) -> None:
    case, push = await portal.run_case([], [Change(stage="accepted"), Change(stage="completed")])
    assert await closed(portal.env, case) == 0
    with pytest.raises(RPCError) as refused:
        await push.describe()
    assert refused.value.status == RPCStatusCode.NOT_FOUND


async def test_a_push_terminated_by_hand_never_fails_its_case(portal: PortalHarness) -> None:
    receiver = await portal.receiver()
    story = [Change(stage="accepted", then_wait_s=3600), Change(stage="completed")]
    case, push = await portal.run_case([receiver.url], story)
    # Terminated once its POST has completed, not while it is in flight (the portal has the event
    # before the push has its answer): the test server never skips time again after a workflow is
    # terminated with an activity running, and the case's hour would never pass.
    await eventually(lambda: receiver.has(1), what="the first event")
    await eventually(lambda: _taken(push, receiver.url, 1), what="the push's answer from the portal")
    await push.terminate("an operator stops it")

    # The case's next change finds no push to signal: it says so in its log and goes on. Its
    # result is awaited with time skipping on (no partner works in real time here): a two-hour
    # ``env.sleep`` once outlived the test server's RPC timeout on a loaded machine.
    try:
        async with asyncio.timeout(60):
            assert await case.result() == 2
    except TimeoutError:
        pytest.fail(f"{case.id} still running 60 s after its push was terminated (time not skipped?)")
    assert receiver.sequences == [1]


async def _taken(push: WorkflowHandle[Any, PortalPushOutcome], url: str, n: int) -> bool:
    return (await push.query(PortalPush.progress)).taken.get(url) == n


async def test_a_push_whose_case_goes_quiet_for_good_ends_by_itself(portal: PortalHarness) -> None:
    # A case terminated or reset never says ``finish``: its push ends once the case has been quiet
    # for the idle limit with nothing left to post (the time-skipping server jumps the month).
    receiver = await portal.receiver()
    case_id = "setup-PPQUIET0001"
    push = await portal.start_push("PPQUIET0001", [receiver.url])
    await push.signal(
        PortalPush.event,
        PortalEvent.change(
            type="case.stage_changed",
            application_id="PPQUIET0001",
            workflow_id=case_id,
            stage="accepted",
            sequence=1,
            at=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        ),
    )
    await eventually(lambda: receiver.has(1), what="event 1 at the portal")
    assert await running(push)

    await portal.env.sleep(PORTAL_IDLE + timedelta(hours=2))
    outcome = await closed(portal.env, push)
    assert outcome == PortalPushOutcome(taken={receiver.url: 1}, idle=True)
    described = await push.describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED
    assert described.close_time is not None
    assert described.close_time - described.start_time >= PORTAL_IDLE
