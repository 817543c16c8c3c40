"""The first-seal subsidy (免费刻制首套印章): reserve it when the seals are ordered, settle it to the
shop when carving completes, release it when the case is withdrawn first.

Each step is idempotent in the ledger (one grant per USCC, a database rule), so Temporal may retry
or replay them freely. Refusals the workflow branches on are non-retryable ApplicationErrors.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.subsidy import SubsidyDecision, SubsidyReservation, SubsidySettlement
from infra.logging import get_logger
from store.subsidies import SubsidyGrantNotFound, SubsidyLedger, SubsidyStateConflict

log = get_logger("subsidy")

GRANT_NOT_FOUND = "SubsidyGrantNotFound"
STATE_CONFLICT = "SubsidyStateConflict"


class SubsidyActivities:
    def __init__(self, ledger: SubsidyLedger) -> None:
        self.ledger = ledger

    @activity.defn
    async def reserve_first_seal_subsidy(self, req: SubsidyReservation) -> SubsidyDecision:
        """Reserve the standard set's price (capped) from the annual budget; extras are the
        enterprise's. ``budget_exhausted`` in the answer means the case should raise the alert."""
        decision = await self.ledger.reserve(req)
        log.info(
            "first-seal subsidy decided",
            application_id=req.application_id,
            granted=decision.granted,
            amount_cny=str(decision.amount_cny),
            budget_exhausted=decision.budget_exhausted,
        )
        return decision

    @activity.defn
    async def settle_first_seal_subsidy(self, req: SubsidySettlement) -> SubsidyDecision:
        """Carving completed: the reservation is owed to the shop (on its monthly statement)."""
        try:
            return await self.ledger.settle(req.uscc, req.at)
        except SubsidyGrantNotFound as err:
            raise ApplicationError(str(err), type=GRANT_NOT_FOUND, non_retryable=True) from err
        except SubsidyStateConflict as err:
            raise ApplicationError(str(err), type=STATE_CONFLICT, non_retryable=True) from err

    @activity.defn
    async def release_first_seal_subsidy(self, req: SubsidySettlement) -> SubsidyDecision:
        """The case was withdrawn: a reservation goes back to the budget. Safe to call whether or not
        anything was reserved (or already settled, which stays settled)."""
        return await self.ledger.release(req.uscc, req.at)
