"""EMS's ``hold`` behaviour: waybills are booked as usual but take each tracking step only when the
sandbox control ``POST /_sandbox/postal/waybills/{waybill_no}/advance`` says so, so a test decides
when a parcel is collected and how far it has come instead of guessing how long its own steps take.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest

from tests.partner_sandbox.conftest import CallbackReceiver, effects, held_then_not
from tests.partner_sandbox.samples import idem, waybill

WAYBILLS = "/postal/v1/waybills"
HOLD = {"postal": {"hold": True}}
HAPPY = ["collected", "in_transit", "out_for_delivery", "delivered"]
UNDELIVERABLE = "文峰区查无此地路1号"


def advance_url(waybill_no: str) -> str:
    return f"/_sandbox/postal/waybills/{waybill_no}/advance"


async def book(partner: httpx.AsyncClient, receiver: CallbackReceiver, **kw: Any) -> dict[str, Any]:
    answer = await partner.post(WAYBILLS, json=waybill(receiver.callback_url("postal"), **kw), headers=idem())
    assert answer.status_code == 201, answer.text
    booked: dict[str, Any] = answer.json()
    return booked


async def advance(partner: httpx.AsyncClient, waybill_no: str) -> dict[str, Any]:
    answer = await partner.post(advance_url(waybill_no))
    assert answer.status_code == 200, answer.text
    moved: dict[str, Any] = answer.json()
    return moved


async def tracked(partner: httpx.AsyncClient, waybill_no: str) -> dict[str, Any]:
    answer = await partner.get(f"{WAYBILLS}/{waybill_no}")
    assert answer.status_code == 200, answer.text
    doc: dict[str, Any] = answer.json()
    return doc


def events_of(receiver: CallbackReceiver, waybill_no: str) -> list[str]:
    return [e["data"]["status"] for e in receiver.accepted if e["data"]["waybill_no"] == waybill_no]


async def refused(partner: httpx.AsyncClient, waybill_no: str) -> dict[str, Any]:
    answer = await partner.post(advance_url(waybill_no))
    assert answer.status_code == 409, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"code", "message"} and waybill_no in error["message"]
    return error


async def test_hold_is_part_of_the_postal_behaviour_off_by_default_and_a_strict_flag(
    partner: httpx.AsyncClient,
) -> None:
    assert (await partner.get("/_sandbox/behaviour")).json()["postal"]["hold"] is False

    held = await partner.put("/_sandbox/behaviour", json=HOLD)
    not_flags = [
        await partner.put("/_sandbox/behaviour", json={"postal": {"hold": value}})
        for value in ("yes", 1, None)
    ]

    assert held.status_code == 200
    assert held.json()["postal"] == {
        "latency_s": 0,
        "error_rate": 0,
        "faults": None,
        "hang_s": 0,
        "collect_after_s": 0.05,
        "hold": True,
    }
    assert held.json()["seal_shop"]["hold"] is False  # each partner its own
    for answer in not_flags:
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "invalid_behaviour"
        assert answer.json()["error"]["fields"] == ["postal.hold"]
    assert (await partner.get("/_sandbox/behaviour")).json()["postal"]["hold"] is True


async def test_a_held_waybill_is_booked_as_usual_and_stays_booked_while_others_move(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    held, moving = await held_then_not(partner, "postal", partial(book, partner, receiver), collect_after_s=0)

    # The waybill booked later, not held, is collected and delivered; the held one, booked first,
    # is still waiting for the courier.
    await receiver.wait_until(lambda r: events_of(r, moving["waybill_no"]) == HAPPY)

    assert held["status"] == "booked" and held["events"] == []
    assert events_of(receiver, held["waybill_no"]) == []
    still = await tracked(partner, held["waybill_no"])
    assert still["status"] == "booked" and still["events"] == [] and still["attempts"] == 0
    assert await effects(partner, "postal") == {"requests": 3, "effects": 2}


async def test_advancing_moves_a_held_parcel_one_step_at_a_time_with_the_same_signed_events(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    by_itself = await book(partner, receiver, application_id="AY20261127-0002")
    await receiver.wait_until(lambda r: len(r.accepted) == 4)
    await partner.put("/_sandbox/behaviour", json=HOLD)
    held = await book(partner, receiver)
    no = held["waybill_no"]

    steps: list[dict[str, Any]] = []

    def heard_every_step(r: CallbackReceiver) -> bool:
        return len(events_of(r, no)) == len(steps)

    for _ in HAPPY:
        steps.append(await advance(partner, no))
        # The step's callback is sent at once: wait for it (not for a time) before the next step.
        await receiver.wait_until(heard_every_step)

    assert [s["status"] for s in steps] == HAPPY
    assert [len(s["events"]) for s in steps] == [1, 2, 3, 4]
    assert steps[-1] == await tracked(partner, no)
    assert steps[-1]["attempts"] == 1
    assert events_of(receiver, no) == HAPPY
    deliveries = [d for d in receiver.deliveries if d.event["data"]["waybill_no"] == no]
    assert all(d.partner == "postal" and d.signature_problem is None for d in deliveries)
    assert [d.event for d in deliveries] == steps[-1]["events"]
    # The very same events as a parcel that moved by itself.
    own = [d.event for d in receiver.deliveries if d.event["data"]["waybill_no"] == by_itself["waybill_no"]]
    assert [e["event"] for e in own] == [e["event"] for e in steps[-1]["events"]]
    for mine, theirs in zip(steps[-1]["events"], own, strict=True):
        assert set(mine) == set(theirs) and set(mine["data"]) == set(theirs["data"])
        assert mine["application_id"] == held["application_id"]
    assert steps[-1]["events"][-1]["data"]["signed_by"] == "张艳鹏"
    # Delivered: nothing more to do. Advancing is a control, not a partner call.
    assert (await refused(partner, no))["code"] == "nothing_to_advance"
    assert await effects(partner, "postal") == {"requests": 3, "effects": 2}


async def test_a_held_parcel_can_be_amended_until_it_is_advanced_past_booked(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await partner.put("/_sandbox/behaviour", json=HOLD)
    booked = await book(partner, receiver)
    no = booked["waybill_no"]
    first = {**booked["recipient"], "address": "北关区红旗路8号", "district_code": "410503"}

    amended = await partner.patch(f"{WAYBILLS}/{no}", json={"recipient": first})
    collected = await advance(partner, no)
    too_late = await partner.patch(f"{WAYBILLS}/{no}", json={"recipient": booked["recipient"]})

    assert amended.status_code == 200 and amended.json()["amendments"] == 1
    assert collected["status"] == "collected" and collected["recipient"] == first
    assert too_late.status_code == 409 and too_late.json()["error"]["code"] == "already_collected"
    await receiver.wait_until(lambda r: events_of(r, no) == ["collected"])
    assert (await tracked(partner, no))["recipient"] == first


async def test_a_held_parcel_that_cannot_be_delivered_waits_for_a_redelivery_or_the_return(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await partner.put("/_sandbox/behaviour", json=HOLD)
    no = (await book(partner, receiver, address=UNDELIVERABLE))["waybill_no"]

    statuses = [(await advance(partner, no))["status"] for _ in range(4)]
    idle = await refused(partner, no)
    again = await partner.post(f"{WAYBILLS}/{no}/redeliver", headers=idem())
    statuses += [(await advance(partner, no))["status"] for _ in range(2)]
    back = await partner.post(f"{WAYBILLS}/{no}/return", headers=idem())
    returned = await advance(partner, no)
    over = await refused(partner, no)
    await receiver.wait_until(lambda r: len(events_of(r, no)) == 7)

    assert statuses == [
        "collected",
        "in_transit",
        "out_for_delivery",
        "failed_attempt",
        "out_for_delivery",
        "failed_attempt",
    ]
    assert idle["code"] == "nothing_to_advance" and "failed_attempt" in idle["message"]
    assert again.status_code == 202 and again.json()["attempt"] == 2
    assert back.status_code == 202 and back.json()["status"] == "returning"
    assert returned["status"] == "returned" and returned["attempts"] == 2
    assert over["code"] == "nothing_to_advance"
    assert events_of(receiver, no) == [*statuses, "returned"]
    failures = [e["data"] for e in receiver.accepted if e["event"] == "postal.failed_attempt"]
    assert [f["attempt"] for f in failures] == [1, 2] and all(f["reason"] for f in failures)
    assert receiver.accepted[-1]["data"]["returned_to"] == "安阳市文峰区政务服务中心"


async def test_a_held_parcel_returned_before_collection_is_back_once_advanced(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await partner.put("/_sandbox/behaviour", json=HOLD)
    no = (await book(partner, receiver))["waybill_no"]

    back = await partner.post(f"{WAYBILLS}/{no}/return", headers=idem())
    returning = await tracked(partner, no)
    returned = await advance(partner, no)
    await receiver.wait_until(lambda r: len(r.accepted) == 1)

    assert back.status_code == 202 and returning["status"] == "returning"
    assert returned["status"] == "returned" and returned["attempts"] == 0
    assert events_of(receiver, no) == ["returned"]
    assert (await refused(partner, no))["code"] == "nothing_to_advance"


async def test_a_held_inbound_label_moves_once_posted_and_then_step_by_step(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await partner.put("/_sandbox/behaviour", json=HOLD)
    no = (await book(partner, receiver, direction="inbound"))["waybill_no"]

    unposted = await refused(partner, no)
    posted = await partner.post(f"/_sandbox/postal/waybills/{no}/post")
    collected = await advance(partner, no)
    await receiver.wait_until(lambda r: len(r.accepted) == 1)

    assert unposted["code"] == "nothing_to_advance" and "posted" in unposted["message"]
    assert posted.status_code == 202
    assert collected["status"] == "collected" and collected["direction"] == "inbound"
    assert events_of(receiver, no) == ["collected"]


async def test_turning_hold_off_releases_nothing_already_held(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    held, later = await held_then_not(partner, "postal", partial(book, partner, receiver), collect_after_s=0)
    await receiver.wait_until(lambda r: events_of(r, later["waybill_no"]) == HAPPY)

    assert (await tracked(partner, held["waybill_no"]))["status"] == "booked"
    assert (await advance(partner, held["waybill_no"]))["status"] == "collected"
    await receiver.wait_until(lambda r: events_of(r, held["waybill_no"]) == ["collected"])


@pytest.mark.parametrize("state", ["waiting for the courier", "delivered by itself"])
async def test_only_a_held_waybill_can_be_advanced(
    partner: httpx.AsyncClient, receiver: CallbackReceiver, state: str
) -> None:
    if state == "waiting for the courier":
        # Collected in an hour: still booked when asked (the reset of the next test stops it).
        await partner.put("/_sandbox/behaviour", json={"postal": {"collect_after_s": 3600}})
        no = (await book(partner, receiver))["waybill_no"]
    else:
        no = (await book(partner, receiver))["waybill_no"]
        await receiver.wait_until(lambda r: len(r.accepted) == 4)
    before = (await tracked(partner, no))["status"]

    error = await refused(partner, no)

    assert error["code"] == "not_held"
    assert (await tracked(partner, no))["status"] == before
    assert await effects(partner, "postal") == {"requests": 3, "effects": 1}


async def test_advancing_an_unknown_waybill_is_404_in_the_partner_error_format(
    partner: httpx.AsyncClient,
) -> None:
    answer = await partner.post(advance_url("EA000000000CN"))

    assert answer.status_code == 404
    assert answer.json() == {"error": {"code": "not_found", "message": "no waybill EA000000000CN"}}


async def test_reset_forgets_held_waybills_and_the_hold(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    await partner.put("/_sandbox/behaviour", json=HOLD)
    no = (await book(partner, receiver))["waybill_no"]

    await partner.post("/_sandbox/reset")

    assert (await partner.get(f"{WAYBILLS}/{no}")).status_code == 404
    assert (await partner.post(advance_url(no))).status_code == 404
    assert (await partner.get("/_sandbox/behaviour")).json()["postal"]["hold"] is False
    assert receiver.deliveries == []
