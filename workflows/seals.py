"""``SealCarving``: the first set of seals (印章刻制) at the district's licensed seal shop.

The order is one activity with its idempotency key made once here; the shop then carves and
reports completion by a signed callback, which the gateway passes on as a ``partner_event``
signal: no worker slot is held while the shop works. The completion may overtake the order's
answer; it is held until that lands, and taken only if it is that order's, from that order's shop
(``seal-completion-of-the-order-v1``; cases from before it took any completion that came while no
order was in). A completion for an order the case does not hold is refused at the gateway
(``refusal``). A case that ends first cancels what is still carving.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.partners import PartnerRefusal
    from activities.seals import SealActivities
    from domain.actions import OperatorAction
    from domain.partners import (
        Licence,
        PartnerEvent,
        PendingOrdersCancellation,
        SealOrder,
        SealOrderRequest,
        SealShop,
    )
    from domain.status import ActionName, ShopCandidate

from workflows.attention import OperatorDesk
from workflows.calls import (
    CLEANUP_RETRY,
    LOOKUP_RETRY,
    PARTNER_CALL_TIMEOUT,
    PARTNER_RETRY,
    execute,
    is_cancellation,
    run_activity,
)
from workflows.case_record import CaseRecord
from workflows.partner_step import PartnerStep, Refusal
from workflows.subsidy import FirstSealSubsidy

COMPLETED = "seal_order.completed"
# A completion is this case's only if it names the order the case holds (and that order's shop).
SEAL_ORDER_MATCH_PATCH = "seal-completion-of-the-order-v1"
# What an operator may do when a shop refuses an order, or stays silent past the patience.
SHOP_ACTIONS: tuple[ActionName, ...] = ("reassign_seal_shop", "retry_stage")


class SealCarving:
    def __init__(
        self, record: CaseRecord, subsidy: FirstSealSubsidy, desk: OperatorDesk, step: PartnerStep
    ) -> None:
        self._record = record
        self._subsidy = subsidy
        self._desk = desk
        self._step = step
        self.order: SealOrder | None = None
        self.completion: PartnerEvent | None = None
        self._shops: list[SealShop] | None = None
        # Orders given up by an operator (reassigned or retried): their callbacks are not ours.
        self._abandoned: set[str] = set()
        self._gave_up = False
        # Set at the case's start (``SEAL_ORDER_MATCH_PATCH``): completions are matched to the order.
        self.matching = False
        # While an order is being placed its answer is not in: completions wait here, by order id.
        self._placing = False
        self._early: dict[str, PartnerEvent] = {}

    async def carve(self, licence: Licence) -> PartnerEvent:
        record, desk = self._record, self._desk
        shop_id: str | None = None  # None: the district's first shop
        while True:
            self._placing = True
            try:
                order = await self._place(licence, shop_id)
            finally:
                self._placing = False
            self.order = order
            if self.matching and self.completion is None:
                self.completion = self._early.pop(order.order_id, None)
            record.stage_waiting("seal_carving")
            record.record("seal_carving.ordered", f"order {order.order_id} at {order.shop_name}")
            await self._subsidy.reserve(licence, order)
            record.wait_for(f"the seal shop {order.shop_name} to finish carving")
            acted = await desk.wait(
                "seal_carving",
                f"the seal shop {order.shop_name} (no completion of order {order.order_id})",
                order.accepted_at,
                lambda: self.completion is not None,
                SHOP_ACTIONS,
                lambda shop=order.shop_id: self._candidates(licence, shop),  # type: ignore[misc]
            )
            if acted is None:
                break
            # The operator gave up on this order: cancel it; the subsidy follows the next one.
            shop_id = await self._next_shop(licence, acted, order.shop_id)
            await self._give_up(order, acted)
        assert self.completion is not None
        filing = self.completion.data.get("filing_no", "-")
        record.record("seal_carving.completed", f"order {self.order.order_id}; filing {filing}")
        await self._subsidy.settle(licence.uscc)
        if self._gave_up:
            # An order placed by a call given up on may have landed after all: none may stay open.
            await self.cancel_pending("carved by another order of the same case")
        return self.completion

    async def _place(self, licence: Licence, shop_id: str | None) -> SealOrder:
        """Order at ``shop_id``; a refusal or a silent shop waits for an operator's action, who
        may send the order to another shop (``reassign_seal_shop``) or the same one again."""
        app, record = self._record.app, self._record
        at = shop_id

        async def order(key: str) -> SealOrder:
            request = SealOrderRequest(
                application_id=record.application_id,
                uscc=licence.uscc,
                enterprise_name=licence.name,
                legal_representative_name=app.legal_representative.name,
                seals=app.seals,
                idempotency_key=key,
                shop_id=at,
            )
            return await execute(
                SealActivities.order_seals,
                request,
                start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                retry_policy=PARTNER_RETRY,
                summary=f"刻章 seal order ({', '.join(app.seals)})"
                + (f" at {request.shop_id}" if request.shop_id else ""),
            )

        async def explain(refusal: PartnerRefusal) -> Refusal:
            where = await self._shop_name(licence, at)
            return Refusal(f"{where} refused the order: {refusal.message}", f"{where}: {refusal.message}")

        async def acted(action: OperatorAction) -> None:
            nonlocal at
            self._gave_up = True
            at = await self._next_shop(licence, action, at)

        return await self._step.attempt(
            "seal_carving",
            order,
            keys=f"{record.workflow_id}/seal-order",
            partner=lambda: f"the seal shop {at}" if at else "the district's seal shop",
            actions=SHOP_ACTIONS,
            candidates=lambda: self._candidates(licence, at),
            explain=explain,
            acted=acted,
        )

    # ------------------------------------------------------------- shops
    async def _district_shops(self, licence: Licence) -> list[SealShop]:
        """The district's shops (asked once); empty while the shops' system cannot say, so that
        asking an operator never waits on the very system that is down."""
        if self._shops is None:
            try:
                self._shops = await execute(
                    SealActivities.list_seal_shops,
                    licence.district_code,
                    start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                    retry_policy=LOOKUP_RETRY,
                    summary=f"the seal shops of district {licence.district_code}",
                )
            except ActivityError as err:
                self._record.record(
                    "seal_carving.shops_unknown", f"the shops could not be listed: {err.cause or err}"
                )
                return []
        return self._shops

    async def _candidates(self, licence: Licence, shop_id: str | None) -> list[ShopCandidate]:
        """The district's other shops, in the partner's order, for a reassignment."""
        shops = await self._district_shops(licence)
        current = shop_id or (shops[0].shop_id if shops else None)
        return [
            ShopCandidate(shop_id=s.shop_id, shop_name=s.shop_name) for s in shops if s.shop_id != current
        ]

    async def _shop_name(self, licence: Licence, shop_id: str | None) -> str:
        """How the attention names a shop: ``shop_id``, or the district's first (where an order
        naming none goes)."""
        shops = await self._district_shops(licence)
        wanted = shop_id or (shops[0].shop_id if shops else None)
        shop = next((s for s in shops if s.shop_id == wanted), None)
        if shop is None:
            return f"the seal shop {shop_id or 'of the district'}"
        return f"the seal shop {shop.shop_name} ({shop.shop_id})"

    async def _next_shop(self, licence: Licence, action: OperatorAction, shop_id: str | None) -> str | None:
        """retry_stage: the same shop again; reassign_seal_shop: the one named, or the next one."""
        if action.action != "reassign_seal_shop":
            return shop_id
        if action.shop_id is not None:
            return action.shop_id
        others = await self._candidates(licence, shop_id)
        return others[0].shop_id if others else shop_id

    async def _give_up(self, order: SealOrder, action: OperatorAction) -> None:
        self._gave_up = True
        self._abandoned.add(order.order_id)
        self.order = None
        await self.cancel_pending(f"{action.action} by {action.operator}")
        await self._subsidy.release()

    # ------------------------------------------------------------- callbacks and the end
    def take_completion(self, event: PartnerEvent) -> bool:
        """The shop's completion callback; False if it is not this case's order (or a repeat)."""
        if event.event != COMPLETED or self.completion is not None:
            return False
        order_id = event.data.get("order_id")
        if order_id in self._abandoned:
            return False
        if self.matching:
            if self._placing:
                # Perhaps the order being placed, whose answer is not in yet: matched when it is.
                if isinstance(order_id, str):
                    self._early[order_id] = event
                return True
            if not self._holds(event):
                return False
        elif self.order is not None and self.order.order_id != order_id:
            return False
        self.completion = event
        return True

    def _holds(self, event: PartnerEvent) -> bool:
        """Whether ``event`` completes the order the case holds, and comes from its shop."""
        shop = event.data.get("shop_id")
        return (
            self.order is not None
            and event.data.get("order_id") == self.order.order_id
            and (shop is None or shop == self.order.shop_id)
        )

    def refusal(self, event: PartnerEvent) -> str | None:
        """Why a completion callback is not this case's (the gateway answers 409), or None. Orders
        given up on and an order being placed (its answer not in yet) may still complete."""
        order_id = event.data.get("order_id")
        if event.event != COMPLETED or order_id in self._abandoned:
            return None
        if self.completion is not None:
            return (
                None if self.completion.data.get("order_id") == order_id else "the seals are carved already"
            )
        if self._holds(event) or self._placing:
            return None
        if self.order is not None and order_id == self.order.order_id:
            return f"order {self.order.order_id} is not the shop {event.data.get('shop_id')}'s"
        return f"the case holds no seal order {str(order_id)[:64]!r}"

    async def cancel_pending(self, reason: str) -> None:
        """Cancel every order of the case still being carved (the case ends first, or an operator
        moved the order to another shop)."""
        if self._record.status.uscc is None or (self.completion is not None and not self._gave_up):
            return
        try:
            cancelled = await run_activity(
                SealActivities.cancel_pending_seal_orders,
                PendingOrdersCancellation(application_id=self._record.application_id, reason=reason),
                start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                retry_policy=CLEANUP_RETRY,
                summary="撤回 cancel pending seal orders",
            )
        except ActivityError as err:
            if not self._desk.enabled or is_cancellation(err):
                raise
            # The shop's system would not answer for many minutes: a person must phone it.
            why = (
                f"the seal orders could not be cancelled at the shop ({err.cause or err}); "
                "cancel them by phone"
            )
            self._record.record("seal_carving.cancel_failed", why)
            self._desk.alert("seal_carving", why)
            return
        if cancelled:
            self._record.record("seal_carving.cancelled", f"cancelled orders {', '.join(cancelled)}")
