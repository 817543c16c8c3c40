"""The seal shop's ``hold`` behaviour: orders are taken as usual but carved only when the sandbox
control ``POST /_sandbox/seal-shop/orders/{order_id}/finish`` says so, so a test decides when a set
of seals is done instead of guessing how long its own steps take."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest

from tests.partner_sandbox.conftest import CallbackReceiver, effects, held_then_not
from tests.partner_sandbox.samples import idem, seal_order

ORDERS = "/seal-shop/v1/orders"
HOLD = {"seal_shop": {"hold": True}}


def finish(order_id: str) -> str:
    return f"/_sandbox/seal-shop/orders/{order_id}/finish"


async def take(partner: httpx.AsyncClient, receiver: CallbackReceiver, **kw: Any) -> dict[str, Any]:
    body = seal_order(receiver.callback_url("seal_shop"), **kw)
    answer = await partner.post(ORDERS, json=body, headers=idem())
    assert answer.status_code == 201, answer.text
    order: dict[str, Any] = answer.json()
    return order


async def status_of(partner: httpx.AsyncClient, order_id: str) -> str:
    status: str = (await partner.get(f"{ORDERS}/{order_id}")).json()["status"]
    return status


def completed_ids(receiver: CallbackReceiver) -> list[str]:
    return [e["data"]["order_id"] for e in receiver.accepted]


async def test_hold_is_part_of_the_seal_shops_behaviour_and_off_by_default(
    partner: httpx.AsyncClient,
) -> None:
    assert (await partner.get("/_sandbox/behaviour")).json()["seal_shop"]["hold"] is False

    held = await partner.put("/_sandbox/behaviour", json=HOLD)
    not_a_flag = await partner.put("/_sandbox/behaviour", json={"seal_shop": {"hold": "yes"}})

    assert held.status_code == 200
    assert held.json()["seal_shop"] == {
        "latency_s": 0,
        "error_rate": 0,
        "faults": None,
        "hang_s": 0,
        "carving_s": 0.05,
        "hold": True,
    }
    assert not_a_flag.status_code == 422
    assert not_a_flag.json()["error"] == {
        "code": "invalid_behaviour",
        "message": not_a_flag.json()["error"]["message"],
        "fields": ["seal_shop.hold"],
    }
    assert (await partner.get("/_sandbox/behaviour")).json()["seal_shop"]["hold"] is True


async def test_a_held_order_is_taken_as_usual_and_waits_while_others_carve(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    held, carved = await held_then_not(partner, "seal_shop", partial(take, partner, receiver), carving_s=0)

    # The order taken later, not held, carves and reports; the held one, taken first, does not.
    await receiver.wait_until(lambda r: len(r.accepted) == 1)

    assert held["status"] == "carving" and held["order_id"].startswith("SO-")
    assert "completed_at" not in held and "serials" not in held
    assert completed_ids(receiver) == [carved["order_id"]]
    assert await status_of(partner, held["order_id"]) == "carving"
    assert await effects(partner, "seal_shop") == {"requests": 3, "effects": 2}


async def test_finishing_a_held_order_completes_it_as_carving_does_with_the_signed_callback(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    carved = await take(partner, receiver, application_id="AY20261127-0002")
    await receiver.wait_until(lambda r: completed_ids(r) == [carved["order_id"]])
    await partner.put("/_sandbox/behaviour", json=HOLD)
    held = await take(partner, receiver)

    finished = await partner.post(finish(held["order_id"]))
    await receiver.wait_until(lambda r: len(r.accepted) == 2)

    assert finished.status_code == 200, finished.text
    done = finished.json()
    assert done["order_id"] == held["order_id"] and done["status"] == "completed"
    assert done["completed_at"] and done["filing_no"]
    assert [s["kind"] for s in done["serials"]] == held["seals"]
    assert done == (await partner.get(f"{ORDERS}/{held['order_id']}")).json()
    first, second = receiver.deliveries
    assert second.partner == "seal_shop" and second.signature_problem is None and second.answered == 202
    event = second.event
    assert event["event"] == "seal_order.completed"
    assert event["application_id"] == held["application_id"]
    assert event["occurred_at"] == done["completed_at"]
    # The very same completion as an order carved by itself: serials and filing as the order says.
    assert set(event["data"]) == set(first.event["data"])
    assert event["data"]["order_id"] == held["order_id"]
    assert event["data"]["seals"] == done["serials"]
    assert event["data"]["filing_no"] == done["filing_no"]
    assert event["data"]["completed_at"] == done["completed_at"]
    assert len({s["serial_no"] for s in event["data"]["seals"]}) == 4
    # Finishing is a sandbox control, not a partner call: two orders and one read are counted.
    assert await effects(partner, "seal_shop") == {"requests": 3, "effects": 2}


async def test_turning_hold_off_releases_nothing_already_held(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    held, later = await held_then_not(partner, "seal_shop", partial(take, partner, receiver), carving_s=0)
    await receiver.wait_until(lambda r: len(r.accepted) == 1)

    assert completed_ids(receiver) == [later["order_id"]]
    assert await status_of(partner, held["order_id"]) == "carving"
    assert (await partner.post(finish(held["order_id"]))).status_code == 200
    await receiver.wait_until(lambda r: len(r.accepted) == 2)
    assert completed_ids(receiver) == [later["order_id"], held["order_id"]]


async def test_a_held_order_can_be_cancelled_and_is_then_never_finished(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await partner.put("/_sandbox/behaviour", json=HOLD)
    held = await take(partner, receiver)

    cancelled = await partner.post(f"{ORDERS}/{held['order_id']}/cancel", json={"reason": "撤回"})
    refused = await partner.post(finish(held["order_id"]))

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "cancelled"
    assert refused.json()["error"]["message"]
    assert await status_of(partner, held["order_id"]) == "cancelled"
    assert receiver.deliveries == []


@pytest.mark.parametrize("state", ["finished", "carving by itself", "completed by itself"])
async def test_only_a_held_order_can_be_finished_and_only_once(
    partner: httpx.AsyncClient, receiver: CallbackReceiver, state: str
) -> None:
    if state == "finished":
        await partner.put("/_sandbox/behaviour", json=HOLD)
        order = await take(partner, receiver)
        assert (await partner.post(finish(order["order_id"]))).status_code == 200
        code = "already_completed"
    elif state == "carving by itself":
        # An hour of carving: still under way when asked (the reset of the next test stops it).
        await partner.put("/_sandbox/behaviour", json={"seal_shop": {"carving_s": 3600}})
        order = await take(partner, receiver)
        code = "not_held"
    else:
        order = await take(partner, receiver)
        await receiver.wait_until(lambda r: len(r.accepted) == 1)
        code = "already_completed"

    again = await partner.post(finish(order["order_id"]))

    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == code and order["order_id"] in error["message"]
    assert await effects(partner, "seal_shop") == {"requests": 1, "effects": 1}


async def test_finishing_an_unknown_order_is_404_in_the_partner_error_format(
    partner: httpx.AsyncClient,
) -> None:
    answer = await partner.post(finish("SO-NOPE"))

    assert answer.status_code == 404
    assert answer.json() == {"error": {"code": "not_found", "message": "no seal order SO-NOPE"}}


async def test_reset_forgets_held_orders_and_the_hold(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await partner.put("/_sandbox/behaviour", json=HOLD)
    held = await take(partner, receiver)

    await partner.post("/_sandbox/reset")

    assert (await partner.get(f"{ORDERS}/{held['order_id']}")).status_code == 404
    assert (await partner.post(finish(held["order_id"]))).status_code == 404
    assert (await partner.get("/_sandbox/behaviour")).json()["seal_shop"]["hold"] is False
    assert receiver.deliveries == []
