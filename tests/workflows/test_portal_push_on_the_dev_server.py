"""The portal push on the real Temporal server (the dev server): the abandoned child outlives
its case and completes there, every event once and in order (the time-skipping server mishandles
that ending, see ``time_skipping_env`` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.portal import PortalPushOutcome
from tests.helpers import closed, eventually
from tests.workflows.portal_push_harness import STORY_EVENTS, PortalHarness, case_story, open_portal

N = len(STORY_EVENTS)


@pytest_asyncio.fixture
async def portal_on_dev(dev_env: WorkflowEnvironment) -> AsyncIterator[PortalHarness]:
    async for harness in open_portal(dev_env, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"):
        yield harness


async def test_a_push_outlives_its_closed_case_and_delivers_everything_in_order(
    portal_on_dev: PortalHarness,
) -> None:
    portal = portal_on_dev
    down, up = await portal.receiver(), await portal.receiver()
    down.down = True
    case, push = await portal.run_case([down.url, up.url], case_story())

    assert await closed(portal.env, case) == N
    await eventually(lambda: up.has(N) and down.refused >= 1, what="the portal that is up served")
    down.down = False
    # The real clock: the second retry comes within two seconds of the first.
    await eventually(lambda: down.has(N), what="every event at the portal that came back")
    assert await closed(portal.env, push) == PortalPushOutcome(taken={down.url: N, up.url: N})
    for receiver in (down, up):
        assert receiver.bad == []
        assert receiver.ids == [f"{case.id}/{n}" for n in range(1, N + 1)]
    assert (await push.describe()).parent_id == case.id
