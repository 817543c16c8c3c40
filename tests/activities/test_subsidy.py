"""The subsidy activities as a worker runs them: the ledger's answers, and refusals the workflow
can branch on (non-retryable, typed)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.subsidy import GRANT_NOT_FOUND, STATE_CONFLICT, SubsidyActivities
from domain.subsidy import SubsidySettlement
from store.subsidies import SubsidyLedger
from tests import factories
from tests.factories import a_reservation

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


async def test_reserve_settle_and_release_through_the_activities(ledger: SubsidyLedger) -> None:
    acts = SubsidyActivities(ledger)
    env = ActivityEnvironment()
    kept, withdrawn = a_reservation(case=1), a_reservation(case=2, seals=["official", "contract"])

    decision = await env.run(acts.reserve_first_seal_subsidy, kept)
    assert decision.granted and decision.amount_cny == Decimal("640.00")
    assert await env.run(acts.reserve_first_seal_subsidy, kept) == decision
    other = await env.run(acts.reserve_first_seal_subsidy, withdrawn)
    assert other.amount_cny == Decimal("200.00") and other.enterprise_pays_cny == Decimal("160.00")

    settled = await env.run(acts.settle_first_seal_subsidy, SubsidySettlement(uscc=kept.uscc, at=NOW))
    assert settled.state == "settled"
    released = await env.run(acts.release_first_seal_subsidy, SubsidySettlement(uscc=withdrawn.uscc, at=NOW))
    assert released.state == "released" and not released.granted
    # Releasing whatever was (or was not) reserved is always safe.
    nothing = await env.run(acts.release_first_seal_subsidy, SubsidySettlement(uscc=factories.uscc(), at=NOW))
    assert nothing.state is None and not nothing.granted

    with pytest.raises(ApplicationError) as not_found:
        await env.run(acts.settle_first_seal_subsidy, SubsidySettlement(uscc=factories.uscc(), at=NOW))
    assert not_found.value.type == GRANT_NOT_FOUND and not_found.value.non_retryable
    with pytest.raises(ApplicationError) as conflict:
        await env.run(acts.settle_first_seal_subsidy, SubsidySettlement(uscc=withdrawn.uscc, at=NOW))
    assert conflict.value.type == STATE_CONFLICT and conflict.value.non_retryable
