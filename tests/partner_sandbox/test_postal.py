"""EMS books S10 waybills, moves outbound parcels on its own and reports each step signed."""

from __future__ import annotations

import asyncio

import httpx

from domain.identifiers import s10_problem
from tests.partner_sandbox.conftest import CallbackReceiver, effects
from tests.partner_sandbox.samples import idem, waybill

WAYBILLS = "/postal/v1/waybills"
HAPPY = ["postal.collected", "postal.in_transit", "postal.out_for_delivery", "postal.delivered"]


def events(receiver: CallbackReceiver) -> list[str]:
    return [e["event"] for e in receiver.accepted]


async def test_a_parcel_is_collected_carried_and_delivered_with_signed_events_in_order(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    booked = await partner.post(WAYBILLS, json=waybill(receiver.callback_url("postal")), headers=idem())
    await receiver.wait_until(lambda r: len(r.accepted) == 4)

    no = booked.json()["waybill_no"]
    assert booked.status_code == 201
    assert booked.json()["status"] == "booked"
    assert s10_problem(no) is None and no.startswith("E") and no.endswith("CN")
    assert events(receiver) == HAPPY
    assert all(d.signature_problem is None for d in receiver.deliveries)
    assert {e["data"]["waybill_no"] for e in receiver.accepted} == {no}
    assert len({e["event_id"] for e in receiver.accepted}) == 4
    tracked = (await partner.get(f"{WAYBILLS}/{no}")).json()
    assert tracked["status"] == "delivered"
    assert [e["event"] for e in tracked["events"]] == HAPPY
    assert await effects(partner, "postal") == {"requests": 2, "effects": 1}


async def test_an_address_that_does_not_exist_fails_every_attempt_until_returned(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    body = waybill(receiver.callback_url("postal"), address="文峰区查无此地路1号")
    no = (await partner.post(WAYBILLS, json=body, headers=idem())).json()["waybill_no"]
    await receiver.wait_until(lambda r: len(r.accepted) == 4)

    again = await partner.post(f"{WAYBILLS}/{no}/redeliver", headers=idem())
    await receiver.wait_until(lambda r: len(r.accepted) == 6)
    back = await partner.post(f"{WAYBILLS}/{no}/return", headers=idem())
    await receiver.wait_until(lambda r: len(r.accepted) == 7)

    assert events(receiver) == [
        "postal.collected",
        "postal.in_transit",
        "postal.out_for_delivery",
        "postal.failed_attempt",
        "postal.out_for_delivery",
        "postal.failed_attempt",
        "postal.returned",
    ]
    failures = [e["data"] for e in receiver.accepted if e["event"] == "postal.failed_attempt"]
    assert [f["attempt"] for f in failures] == [1, 2]
    assert all(f["reason"] for f in failures)
    assert again.status_code == back.status_code == 202
    assert receiver.accepted[-1]["data"]["returned_to"] == "安阳市文峰区政务服务中心"
    assert await effects(partner, "postal") == {"requests": 3, "effects": 1}


async def test_the_recipient_can_change_until_collection_and_that_is_no_new_waybill(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    # Held by EMS: the courier collects the parcel when the test says so (advance), not after a
    # time the test would have to beat.
    await partner.put("/_sandbox/behaviour", json={"postal": {"hold": True}})
    body = waybill(receiver.callback_url("postal"))
    no = (await partner.post(WAYBILLS, json=body, headers=idem())).json()["waybill_no"]
    new_recipient = {**body["recipient"], "address": "北关区红旗路8号", "district_code": "410503"}
    advance = f"/_sandbox/postal/waybills/{no}/advance"

    amended = await partner.patch(f"{WAYBILLS}/{no}", json={"recipient": new_recipient})
    collected = await partner.post(advance)
    await receiver.wait_until(lambda r: events(r) == ["postal.collected"])
    too_late = await partner.patch(f"{WAYBILLS}/{no}", json={"recipient": body["recipient"]})
    for _ in range(3):
        assert (await partner.post(advance)).status_code == 200
    await receiver.wait_until(lambda r: len(r.accepted) == 4)

    assert amended.status_code == 200
    assert amended.json()["recipient"]["address"] == "北关区红旗路8号"
    assert collected.status_code == 200 and collected.json()["status"] == "collected"
    assert too_late.status_code == 409
    assert too_late.json()["error"]["code"] == "already_collected"
    tracked = (await partner.get(f"{WAYBILLS}/{no}")).json()
    assert tracked["recipient"]["address"] == "北关区红旗路8号"
    assert tracked["status"] == "delivered" and events(receiver) == HAPPY
    assert receiver.accepted[-1]["data"]["signed_by"] == "张艳鹏"
    assert (await effects(partner, "postal"))["effects"] == 1


async def test_an_inbound_label_is_booked_but_emits_nothing_by_itself(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    body = waybill(receiver.callback_url("postal"), direction="inbound")

    booked = await partner.post(WAYBILLS, json=body, headers=idem())
    await asyncio.sleep(0.3)

    assert booked.status_code == 201
    assert s10_problem(booked.json()["waybill_no"]) is None
    assert receiver.deliveries == []
    assert await effects(partner, "postal") == {"requests": 1, "effects": 1}


async def test_an_outbound_waybill_needs_a_callback_url_and_an_anyang_district(
    partner: httpx.AsyncClient,
) -> None:
    body = waybill(None)
    body["recipient"]["district_code"] = "110101"

    answer = await partner.post(WAYBILLS, json=body, headers=idem())

    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == ["recipient.district_code"]
    body["recipient"]["district_code"] = "410502"
    answer = await partner.post(WAYBILLS, json=body, headers=idem())
    assert answer.json()["error"]["fields"] == ["callback_url"]
