"""The licensed seal-carving shops (刻章店), several per district in a fixed order: take an order
for a set of seals, carve it, file the seals with public security (印章备案) and report completion
by callback. An order names its shop (``shop_id``) or goes to the district's first one.

The first shop of a district refuses, at once and for good, the orders of an enterprise whose
name contains ``拒刻`` (422 ``order_refused``, nothing taken); the district's other shops take
them.

Carving takes ``carving_s`` of real time, unless the ``hold`` behaviour was on when the order was
taken: a held order is carved only when the sandbox control ``POST
/_sandbox/seal-shop/orders/{order_id}/finish`` says so, so a test decides when it completes
instead of racing a guess of how long its steps take.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Query, Response
from pydantic import BaseModel, ConfigDict, Field

from domain.districts import ANYANG_DISTRICTS
from infra.logging import get_logger
from partner_sandbox.booking import Bookings
from partner_sandbox.calls import Answer, PartnerError, Sandbox, read_call
from partner_sandbox.localities import district_of_uscc, seal_shops
from partner_sandbox.state import SandboxState, SealOrder, iso, now
from partner_sandbox.validation import CallbackUrl, EnterpriseRequest, Name, invalid, parse

log = get_logger("partner_sandbox.seal_shop")

SealKind = Literal["official", "financial", "invoice", "contract", "legal_representative"]
SEAL_PRICES_CNY: dict[str, str] = {
    "official": "200.00",  # 公章
    "financial": "160.00",  # 财务专用章
    "invoice": "160.00",  # 发票专用章
    "legal_representative": "120.00",  # 法定代表人名章
    "contract": "160.00",  # 合同专用章
}
# The sandbox's test name: the district's first shop refuses such an enterprise's orders.
REFUSED_BY_FIRST_SHOP = "拒刻"


class SealOrderRequest(EnterpriseRequest):
    legal_representative_name: Name | None = None
    seals: list[SealKind] = Field(min_length=1, max_length=5)
    callback_url: CallbackUrl
    shop_id: str | None = Field(
        default=None,
        max_length=64,
        description="one of the district's shops (GET /seal-shop/v1/shops); absent: its first shop",
    )


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: str | None = Field(default=None, max_length=500)


def order_problems(req: SealOrderRequest) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    repeated = sorted({s for s in req.seals if req.seals.count(s) > 1})
    if repeated:
        problems.append(("seals", f"each kind of seal once; repeated: {', '.join(repeated)}"))
    if "official" not in req.seals:
        problems.append(("seals", "a set of seals always includes the official seal (公章)"))
    if "legal_representative" in req.seals and not req.legal_representative_name:
        problems.append(("legal_representative_name", "the legal representative's name seal needs the name"))
    district = district_of_uscc(req.uscc)
    if district is None:
        problems.append(
            (
                "uscc",
                f"registered in division {req.uscc[2:8]}, outside Anyang: no seal shop here serves it",
            )
        )
    elif req.shop_id is not None and req.shop_id not in dict(seal_shops(district)):
        problems.append(
            (
                "shop_id",
                f"not a licensed seal shop of district {district}, where the enterprise is registered "
                f"(its shops: {', '.join(shop for shop, _ in seal_shops(district))})",
            )
        )
    return problems


def order_document(order: SealOrder) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "order_id": order.order_id,
        "application_id": order.application_id,
        "uscc": order.uscc,
        "enterprise_name": order.enterprise_name,
        "status": order.status,
        "shop_id": order.shop_id,
        "shop_name": order.shop_name,
        "seals": order.seals,
        "prices_cny": order.prices_cny,
        "total_cny": order.total_cny,
        "accepted_at": iso(order.accepted_at),
    }
    if order.completed_at is not None:
        doc["completed_at"] = iso(order.completed_at)
        doc["filing_no"] = order.filing_no
        doc["serials"] = [{"kind": k, "serial_no": n} for k, n in order.serials.items()]
    if order.cancelled_at is not None:
        doc["cancelled_at"] = iso(order.cancelled_at)
    return doc


def take_order(sandbox: SandboxState, req: SealOrderRequest) -> SealOrder:
    problems = order_problems(req)
    if problems:
        raise invalid(problems)
    district = district_of_uscc(req.uscc)
    assert district is not None
    shops = seal_shops(district)
    shop_id = req.shop_id or shops[0][0]
    shop_name = dict(shops)[shop_id]
    if REFUSED_BY_FIRST_SHOP in req.enterprise_name and shop_id == shops[0][0]:
        log.info(
            "seal_order_refused",
            application_id=req.application_id,
            uscc=req.uscc,
            shop_id=shop_id,
        )
        raise PartnerError(
            422,
            "order_refused",
            f"本店（{shop_name}）暂停承接该企业印章刻制，请选择本辖区其他备案刻章店"
            f" / order refused: this shop does not take seal orders for “{req.enterprise_name}” "
            "at present; order at another licensed seal shop of the district",
            ["shop_id"],
        )
    prices: dict[str, str] = {kind: SEAL_PRICES_CNY[kind] for kind in req.seals}
    order = SealOrder(
        order_id=sandbox.new_id("SO"),
        application_id=req.application_id,
        uscc=req.uscc,
        enterprise_name=req.enterprise_name,
        legal_representative_name=req.legal_representative_name,
        district_code=district,
        shop_id=shop_id,
        shop_name=shop_name,
        seals=list(req.seals),
        prices_cny=prices,
        total_cny=f"{sum(Decimal(p) for p in prices.values()):.2f}",
        callback_url=req.callback_url,
        accepted_at=now(),
    )
    if sandbox.behaviour.seal_shop.hold:
        order.held = True  # carved when the finish control says so (finish_order)
    else:
        order.carving = sandbox.spawn(carve(sandbox, order), name=f"carving {order.order_id}")
    log.info(
        "seal_order_taken",
        application_id=order.application_id,
        order_id=order.order_id,
        shop_id=shop_id,
        seals=order.seals,
        held=order.held,
    )
    return order


async def carve(sandbox: SandboxState, order: SealOrder) -> None:
    """Carve the seals, file them with public security, then tell the caller (signed callback)."""
    behaviour = sandbox.behaviour.seal_shop
    await asyncio.sleep(behaviour.carving_s + behaviour.latency_s)
    if order.status != "carving":
        return
    event = complete(sandbox, order)
    await sandbox.callbacks.deliver(order.callback_url, event)


def complete(sandbox: SandboxState, order: SealOrder) -> dict[str, Any]:
    """The seals are carved: serial numbers, the public-security filing; the completion event."""
    finished = now()
    order.status = "completed"
    order.completed_at = finished
    order.serials = {
        kind: sandbox.unique(lambda rng: f"{order.district_code}{rng.randrange(10**7):07d}")
        for kind in order.seals
    }
    order.filing_no = sandbox.unique(
        lambda rng: f"{order.district_code}{finished.year}{rng.randrange(10**6):06d}"
    )
    order.event = sandbox.new_event(
        "seal_order.completed",
        order.application_id,
        {
            "order_id": order.order_id,
            "uscc": order.uscc,
            "shop_id": order.shop_id,
            "shop_name": order.shop_name,
            "seals": [{"kind": k, "serial_no": n} for k, n in order.serials.items()],
            "filing_no": order.filing_no,
            "completed_at": iso(finished),
        },
        at=finished,
    )
    log.info("seals_carved", application_id=order.application_id, order_id=order.order_id)
    return order.event


async def report(sandbox: SandboxState, order: SealOrder, event: dict[str, Any]) -> None:
    """The completion callback of a finished held order, ``latency_s`` after the finish."""
    await asyncio.sleep(sandbox.behaviour.seal_shop.latency_s)
    await sandbox.callbacks.deliver(order.callback_url, event)


async def finish_order(sandbox: SandboxState, order: SealOrder) -> Answer:
    """Carve a held order now, exactly as carving would have: the order completes at once (200
    with the completed order), the signed callback follows after ``latency_s``."""
    order_id = order.order_id
    if order.status == "cancelled":
        raise PartnerError(409, "cancelled", f"seal order {order_id} was cancelled: nothing to finish")
    if order.status == "completed":
        raise PartnerError(409, "already_completed", f"seal order {order_id} is already completed")
    if not order.held:
        raise PartnerError(
            409,
            "not_held",
            f"seal order {order_id} is not held: it finishes by itself after carving_s",
        )
    order.held = False
    event = complete(sandbox, order)
    order.carving = sandbox.spawn(report(sandbox, order, event), name=f"completion callback {order_id}")
    return Answer(200, order_document(order))


def cancel_order(sandbox: SandboxState, order: SealOrder, body: Any) -> Answer:
    order_id = order.order_id
    req = parse(CancelRequest, body if body is not None else {})
    if order.status == "completed":
        raise PartnerError(409, "already_completed", f"印章已刻制完成，订单 {order_id} 无法取消")
    if order.status == "carving":
        order.status = "cancelled"
        order.cancelled_at = now()
        order.held = False
        if order.carving is not None:
            order.carving.cancel()
        log.info(
            "seal_order_cancelled",
            application_id=order.application_id,
            order_id=order_id,
            reason=req.reason,
        )
    assert order.cancelled_at is not None
    return Answer(200, {"order_id": order_id, "status": "cancelled", "cancelled_at": iso(order.cancelled_at)})


def shop_listing(district_code: str | None) -> Answer:
    if district_code is None or district_code not in ANYANG_DISTRICTS:
        what = "required" if district_code is None else "not one of Anyang's districts"
        raise invalid([("district_code", f"{what} ({', '.join(ANYANG_DISTRICTS)})")])
    shops = [
        {"shop_id": shop_id, "shop_name": shop_name, "district_code": district_code}
        for shop_id, shop_name in seal_shops(district_code)
    ]
    return Answer(200, {"shops": shops})


SHOPS = Bookings[SealOrder](
    "seal_shop",
    "/seal-shop/v1/orders/{order_id}",
    tag="seal shops",
    what="seal order",
    kept=lambda sandbox: sandbox.seal_orders,
    document=order_document,
)
router, control_router = SHOPS.router, SHOPS.controls

SHOPS.book(
    "Order the carving of a set of seals; completion follows by callback", SealOrderRequest, take_order
)
SHOPS.follow_up("cancel", "Cancel an order still being carved; no callback follows", cancel_order)


@router.get(
    "/seal-shop/v1/shops",
    summary="The district's licensed seal shops in their fixed order; the first takes orders naming none",
)
async def list_shops(
    sandbox: Sandbox,
    district_code: Annotated[str | None, Query(description="one of Anyang's districts, as 410502")] = None,
) -> Response:
    return await read_call(sandbox, "seal_shop", lambda: shop_listing(district_code))


SHOPS.list_per_case("The orders of a case (or all), oldest first")
SHOPS.show("An order and its status")
SHOPS.control(
    "/_sandbox/seal-shop/orders/{order_id}/finish",
    "Finish carving a held order now: it completes and its callback follows (sandbox only)",
    finish_order,
    responses={
        404: {"description": "no such order"},
        409: {"description": "the order is not held, already completed or cancelled"},
    },
    done=lambda order_id, _: log.info("held_seal_order_finished", order_id=order_id),
)
