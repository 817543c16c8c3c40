"""``SealCarving``: the first set of seals (印章刻制) at the district's licensed seal shop.

The order is one activity with its idempotency key made once here; the shop then carves and
reports completion by a signed callback, which the gateway passes on as a ``partner_event``
signal: no worker slot is held while the shop works. The completion may overtake the order's
answer; it is matched when that lands. A case that ends first cancels what is still carving.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.seals import SealActivities
    from domain.partners import Licence, PartnerEvent, PendingOrdersCancellation, SealOrder, SealOrderRequest

from workflows.calls import CLEANUP_RETRY, PARTNER_CALL_TIMEOUT, PARTNER_RETRY, execute
from workflows.case_record import CaseRecord
from workflows.subsidy import FirstSealSubsidy

COMPLETED = "seal_order.completed"


class SealCarving:
    def __init__(self, record: CaseRecord, subsidy: FirstSealSubsidy) -> None:
        self._record = record
        self._subsidy = subsidy
        self.order: SealOrder | None = None
        self.completion: PartnerEvent | None = None

    async def carve(self, licence: Licence) -> PartnerEvent:
        app, record = self._record.app, self._record
        order = await execute(
            SealActivities.order_seals,
            SealOrderRequest(
                application_id=record.application_id,
                uscc=licence.uscc,
                enterprise_name=licence.name,
                legal_representative_name=app.legal_representative.name,
                seals=app.seals,
                idempotency_key=f"{record.workflow_id}/seal-order/{workflow.uuid4()}",
            ),
            start_to_close_timeout=PARTNER_CALL_TIMEOUT,
            retry_policy=PARTNER_RETRY,
            summary=f"刻章 seal order ({', '.join(app.seals)})",
        )
        self.order = order
        record.status.stages.seal_carving.state = "waiting"
        record.record("seal_carving.ordered", f"order {order.order_id} at {order.shop_name}")
        await self._subsidy.reserve(licence, order)
        record.wait_for(f"the seal shop {order.shop_name} to finish carving")
        await workflow.wait_condition(lambda: self.completion is not None)
        assert self.completion is not None
        filing = self.completion.data.get("filing_no", "-")
        record.record("seal_carving.completed", f"order {order.order_id}; filing {filing}")
        await self._subsidy.settle(licence.uscc)
        return self.completion

    def take_completion(self, event: PartnerEvent) -> bool:
        """The shop's completion callback; False if it is not this case's order (or a repeat)."""
        if event.event != COMPLETED or self.completion is not None:
            return False
        if self.order is not None and self.order.order_id != event.data.get("order_id"):
            return False
        self.completion = event
        return True

    async def cancel_pending(self, reason: str) -> None:
        """The case ends before the seals are carved: cancel every order still being carved."""
        if self._record.status.uscc is None or self.completion is not None:
            return
        cancelled = await workflow.execute_activity_method(
            SealActivities.cancel_pending_seal_orders,
            PendingOrdersCancellation(application_id=self._record.application_id, reason=reason),
            start_to_close_timeout=PARTNER_CALL_TIMEOUT,
            retry_policy=CLEANUP_RETRY,
            summary="撤回 cancel pending seal orders",
        )
        if cancelled:
            self._record.record("seal_carving.cancelled", f"cancelled orders {', '.join(cancelled)}")
