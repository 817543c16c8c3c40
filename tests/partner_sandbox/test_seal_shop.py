"""The seal shops carve, file and report completion by signed callback, retried until taken."""

from __future__ import annotations

import asyncio

import httpx

from tests.factories import uscc
from tests.partner_sandbox.conftest import CallbackReceiver, effects
from tests.partner_sandbox.samples import ORG, idem, seal_order

ORDERS = "/seal-shop/v1/orders"


async def test_the_districts_shop_takes_the_order_and_reports_completion_signed(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    body = seal_order(receiver.callback_url("seal_shop"), company_uscc=uscc("410506", org=ORG))

    taken = await partner.post(ORDERS, json=body, headers=idem())
    await receiver.wait_until(lambda r: len(r.accepted) == 1)

    order = taken.json()
    assert taken.status_code == 201
    assert order["status"] == "carving"
    assert order["shop_id"] == "SHOP-410506-01"
    assert order["shop_name"] == "安阳市龙安区诚信刻章店"
    assert order["prices_cny"] == {
        "official": "200.00",
        "financial": "160.00",
        "invoice": "160.00",
        "legal_representative": "120.00",
    }
    delivery = receiver.deliveries[0]
    assert delivery.partner == "seal_shop"
    assert delivery.signature_problem is None
    event = delivery.event
    assert event["event"] == "seal_order.completed"
    assert event["event_id"].startswith("evt-")
    assert event["application_id"] == body["application_id"]
    data = event["data"]
    assert data["order_id"] == order["order_id"]
    assert [s["kind"] for s in data["seals"]] == body["seals"]
    assert len({s["serial_no"] for s in data["seals"]}) == 4
    assert data["filing_no"]
    status = (await partner.get(f"{ORDERS}/{order['order_id']}")).json()
    assert status["status"] == "completed"
    assert await effects(partner, "seal_shop") == {"requests": 2, "effects": 1}


async def test_a_callback_answered_500_is_retried_with_the_same_event_until_taken(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    receiver.fail_next = 2

    await partner.post(ORDERS, json=seal_order(receiver.callback_url("seal_shop")), headers=idem())
    await receiver.wait_until(lambda r: len(r.accepted) == 1, timeout_s=6)

    assert [d.answered for d in receiver.deliveries] == [500, 500, 202]
    assert len({d.event["event_id"] for d in receiver.deliveries}) == 1
    assert all(d.signature_problem is None for d in receiver.deliveries)


async def test_a_callback_refused_with_a_4xx_is_not_retried(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    receiver.refuse_next = 1

    await partner.post(ORDERS, json=seal_order(receiver.callback_url("seal_shop")), headers=idem())
    await receiver.wait_until(lambda r: len(r.deliveries) == 1)
    await asyncio.sleep(0.8)  # past the first retry's time

    assert [d.answered for d in receiver.deliveries] == [400]


async def test_a_cancelled_order_sends_no_callback_and_a_carved_one_cannot_be_cancelled(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    url = receiver.callback_url("seal_shop")
    # Held by the shop: still being carved when cancelled, however long each step here takes.
    await partner.put("/_sandbox/behaviour", json={"seal_shop": {"hold": True}})
    doomed = (await partner.post(ORDERS, json=seal_order(url), headers=idem())).json()
    # An hour of carving: still under way when cancelled (the next test's reset stops it).
    await partner.put("/_sandbox/behaviour", json={"seal_shop": {"hold": False, "carving_s": 3600}})
    slow = (await partner.post(ORDERS, json=seal_order(url), headers=idem())).json()
    await partner.put("/_sandbox/behaviour", json={"seal_shop": {"carving_s": 0.05}})
    carved = (await partner.post(ORDERS, json=seal_order(url), headers=idem())).json()

    cancelled = await partner.post(f"{ORDERS}/{doomed['order_id']}/cancel", json={"reason": "撤回"})
    twice = await partner.post(f"{ORDERS}/{doomed['order_id']}/cancel")
    stopped = await partner.post(f"{ORDERS}/{slow['order_id']}/cancel")
    await receiver.wait_until(lambda r: len(r.accepted) == 1)
    too_late = await partner.post(f"{ORDERS}/{carved['order_id']}/cancel")
    # The held order, once cancelled, cannot be finished into a callback either.
    not_finished = await partner.post(f"/_sandbox/seal-shop/orders/{doomed['order_id']}/finish")

    assert cancelled.status_code == twice.status_code == stopped.status_code == 200
    assert cancelled.json()["status"] == stopped.json()["status"] == "cancelled"
    assert [e["data"]["order_id"] for e in receiver.accepted] == [carved["order_id"]]
    assert too_late.status_code == 409
    assert too_late.json()["error"]["code"] == "already_completed"
    assert not_finished.status_code == 409
    listing = (await partner.get(ORDERS, params={"application_id": "AY20261127-0001"})).json()
    assert {o["order_id"]: o["status"] for o in listing["orders"]} == {
        doomed["order_id"]: "cancelled",
        slow["order_id"]: "cancelled",
        carved["order_id"]: "completed",
    }


async def test_a_set_without_the_official_seal_or_with_repeats_is_invalid(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    url = receiver.callback_url("seal_shop")
    no_official = seal_order(url, seals=("financial", "invoice"))
    repeated = seal_order(url, seals=("official", "official"))
    unknown = seal_order(url, seals=("official", "steel"))

    answers = [await partner.post(ORDERS, json=b, headers=idem()) for b in (no_official, repeated, unknown)]

    assert [a.status_code for a in answers] == [400, 400, 400]
    assert [a.json()["error"]["fields"] for a in answers] == [["seals"], ["seals"], ["seals.1"]]
    assert await effects(partner, "seal_shop") == {"requests": 3, "effects": 0}
