"""``FirstSealSubsidy``: the free first set of seals (免费刻制首套印章) as the case sees it.

Reserved against the city's annual budget when the seal order is placed (a voucher is issued),
settled with the shop when carving completes, released if the case ends first. The ledger
(``store/subsidies.py``) grants once per USCC, so retries and replays never pay twice; whether a
grant is settled is the ledger's answer, not a second flag here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.subsidy import SubsidyActivities
    from documents.models import SealLine, SubsidyVoucherData
    from domain.partners import Licence, SealOrder
    from domain.subsidy import SubsidyDecision, SubsidyReservation, SubsidySettlement
    from domain.subsidy_policy import SubsidyPolicy

from workflows.calls import SERVICE_CALL_TIMEOUT, SERVICE_RETRY, execute, honour_cancellation, run_activity
from workflows.case_record import CaseRecord
from workflows.documents import Documents
from workflows.promises import Promises
from workflows.versions import patched

# A reservation interrupted by a withdrawal is waited for, then released; older histories replay without.
RESERVE_WAITS_PATCH = "subsidy-reserve-waits-v1"


class FirstSealSubsidy:
    def __init__(
        self, policy: SubsidyPolicy, record: CaseRecord, promises: Promises, documents: Documents
    ) -> None:
        self._policy = policy
        self._record = record
        self._promises = promises
        self._documents = documents
        self.enabled = False
        self.decision: SubsidyDecision | None = None
        # From the reservation's start the ledger may hold one, answered or not (a withdrawal).
        self._requested = False

    @property
    def granted(self) -> bool:
        return self.decision is not None and self.decision.granted

    @property
    def settled(self) -> bool:
        return self.decision is not None and self.decision.state == "settled"

    async def reserve(self, licence: Licence, order: SealOrder) -> None:
        """Reserve the city's payment for the standard set when the order is placed."""
        if not self.enabled:
            return
        app = self._record.app
        waits = patched(RESERVE_WAITS_PATCH)
        self._requested = waits
        decision = await run_activity(
            SubsidyActivities.reserve_first_seal_subsidy,
            SubsidyReservation(
                application_id=self._record.application_id,
                workflow_id=self._record.workflow_id,
                uscc=licence.uscc,
                enterprise_name=licence.name,
                enterprise_kind=app.enterprise.kind,
                district_code=app.enterprise.district_code,
                shop_id=order.shop_id,
                shop_name=order.shop_name,
                seals=list(order.seals),
                prices_cny=dict(order.prices_cny),
                policy=self._policy,
                at=workflow.now(),
            ),
            start_to_close_timeout=SERVICE_CALL_TIMEOUT,
            retry_policy=SERVICE_RETRY,
            summary="免费刻章 reserve the first-seal subsidy",
            # The ledger write commits however it is cancelled: wait for its answer, so that a
            # withdrawal meanwhile knows what to release.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
            if waits
            else ActivityCancellationType.TRY_CANCEL,
        )
        self._decided(decision)
        self._record.record(
            "subsidy.reserved" if decision.granted else "subsidy.not_granted", decision.reason
        )
        honour_cancellation()  # after the decision is kept: release() knows what to give back
        if decision.budget_exhausted:
            self._promises.raise_alert("subsidy", "budget_exhausted", None)
        if decision.granted and decision.grant_id:
            await self._documents.issue(_voucher(self._record.application_id, licence, order, decision))

    async def settle(self, uscc: str) -> None:
        """Carving completed: the reservation is owed to the shop."""
        if self.granted:
            await self._settle_or_release(
                SubsidyActivities.settle_first_seal_subsidy,
                uscc,
                "subsidy.settled",
                "免费刻章 settle the first-seal subsidy with the shop",
            )

    async def release(self) -> None:
        """The case ended before carving was done: an unsettled reservation goes back to the budget."""
        unanswered = self._requested and self.decision is None  # releasing is idempotent
        if (self.granted and not self.settled) or unanswered:
            assert self._record.status.uscc is not None
            await self._settle_or_release(
                SubsidyActivities.release_first_seal_subsidy,
                self._record.status.uscc,
                "subsidy.released",
                "免费刻章 release the first-seal subsidy",
            )

    async def _settle_or_release(
        self,
        step: Callable[[SubsidyActivities, SubsidySettlement], Awaitable[SubsidyDecision]],
        uscc: str,
        event: str,
        summary: str,
    ) -> None:
        decision = await execute(
            step,
            SubsidySettlement(uscc=uscc, at=workflow.now()),
            start_to_close_timeout=SERVICE_CALL_TIMEOUT,
            retry_policy=SERVICE_RETRY,
            summary=summary,
        )
        self._decided(decision)
        self._record.record(event, decision.reason)

    def _decided(self, decision: SubsidyDecision) -> None:
        self.decision = decision
        self._record.set_subsidy(decision)


def _voucher(
    application_id: str, licence: Licence, order: SealOrder, decision: SubsidyDecision
) -> SubsidyVoucherData:
    """免费刻章凭证: which seals the city pays for and which the enterprise does."""
    assert decision.grant_id is not None
    lines = [
        SealLine(
            kind=kind,
            price_cny=decision.prices_cny.get(kind, order.prices_cny.get(kind)),
            paid_by="city" if kind in decision.covered_seals else "enterprise",
        )
        for kind in order.seals
    ]
    now = workflow.now()
    return SubsidyVoucherData(
        application_id=application_id,
        generated_at=now,
        grant_id=decision.grant_id,
        enterprise_name=licence.name,
        uscc=licence.uscc,
        shop_id=order.shop_id,
        shop_name=order.shop_name,
        order_id=order.order_id,
        seals=lines,
        city_pays_cny=decision.amount_cny,
        enterprise_pays_cny=decision.enterprise_pays_cny,
        granted_at=now,
    )
