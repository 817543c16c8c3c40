"""Seal carving (印章刻制) at one of the district's licensed seal shops."""

from __future__ import annotations

from temporalio import activity

from activities.partners import PartnerClient
from domain.partners import PendingOrdersCancellation, SealOrder, SealOrderRequest, SealShop


class SealActivities:
    def __init__(self, partners: PartnerClient) -> None:
        self.partners = partners

    @activity.defn
    async def list_seal_shops(self, district_code: str) -> list[SealShop]:
        """The district's licensed seal shops in the partner's fixed order (the first is where an
        order naming no shop goes)."""
        listing = await self.partners.request(
            "GET", "/seal-shop/v1/shops", params={"district_code": district_code}
        )
        return [SealShop.model_validate(shop) for shop in listing.get("shops", [])]

    @activity.defn
    async def order_seals(self, req: SealOrderRequest) -> SealOrder:
        """Place the carving order at ``req.shop_id`` (the district's first shop if None); the shop
        reports completion later through a signed callback."""
        body: dict[str, object] = {
            "application_id": req.application_id,
            "uscc": req.uscc,
            "enterprise_name": req.enterprise_name,
            "legal_representative_name": req.legal_representative_name,
            "seals": list(req.seals),
            "callback_url": f"{self.partners.callback_base}/seal_shop",
        }
        if req.shop_id is not None:
            body["shop_id"] = req.shop_id
        answer = await self.partners.request(
            "POST", "/seal-shop/v1/orders", json=body, idempotency_key=req.idempotency_key
        )
        return SealOrder.model_validate(answer)

    @activity.defn
    async def cancel_pending_seal_orders(self, req: PendingOrdersCancellation) -> list[str]:
        """Cancel every order of the case still being carved (a withdrawal); returns their ids.

        Looks orders up by the case's reference, so an order whose placing was interrupted
        mid-flight is found and cancelled too.
        """
        listing = await self.partners.request(
            "GET", "/seal-shop/v1/orders", params={"application_id": req.application_id}
        )
        cancelled: list[str] = []
        for order in listing.get("orders", []):
            if order.get("status") != "carving":
                continue
            await self.partners.request(
                "POST",
                f"/seal-shop/v1/orders/{order['order_id']}/cancel",
                json={"reason": req.reason},
            )
            cancelled.append(str(order["order_id"]))
        return cancelled
