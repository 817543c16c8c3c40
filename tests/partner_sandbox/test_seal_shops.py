"""Each district has several licensed seal shops in a fixed order: an order names its shop or goes to
the first one, and the first shop refuses the orders of an enterprise named with 拒刻."""

from __future__ import annotations

import httpx

from domain.districts import ANYANG_DISTRICTS
from tests.factories import uscc
from tests.partner_sandbox.conftest import CallbackReceiver, effects
from tests.partner_sandbox.samples import ORG, idem, seal_order

SHOPS = "/seal-shop/v1/shops"
ORDERS = "/seal-shop/v1/orders"
REFUSED_NAME = "安阳市文峰区拒刻餐饮有限公司"


async def test_each_district_lists_its_shops_in_a_fixed_order_the_first_the_one_orders_went_to(
    partner: httpx.AsyncClient,
) -> None:
    listings = {d: await partner.get(SHOPS, params={"district_code": d}) for d in ANYANG_DISTRICTS}
    again = await partner.get(SHOPS, params={"district_code": "410502"})

    assert {a.status_code for a in listings.values()} == {200}
    shops = {d: a.json()["shops"] for d, a in listings.items()}
    assert shops["410502"] == [
        {"shop_id": "SHOP-410502-01", "shop_name": "安阳市文峰区诚信刻章店", "district_code": "410502"},
        {"shop_id": "SHOP-410502-02", "shop_name": "安阳市文峰区永安印章服务部", "district_code": "410502"},
        {"shop_id": "SHOP-410502-03", "shop_name": "安阳市文峰区金石刻字社", "district_code": "410502"},
    ]
    assert again.content == listings["410502"].content
    assert shops["410523"][0]["shop_name"] == "汤阴县诚信刻章店"
    for district, listed in shops.items():
        assert [s["shop_id"] for s in listed] == [f"SHOP-{district}-0{n}" for n in (1, 2, 3)]
        assert {s["district_code"] for s in listed} == {district}
    names = [s["shop_name"] for listed in shops.values() for s in listed]
    assert len(set(names)) == len(names) == 27
    assert await effects(partner, "seal_shop") == {"requests": 10, "effects": 0}


async def test_a_shop_listing_needs_one_of_anyangs_districts(partner: httpx.AsyncClient) -> None:
    missing = await partner.get(SHOPS)
    beijing = await partner.get(SHOPS, params={"district_code": "110101"})
    garbage = await partner.get(SHOPS, params={"district_code": "文峰区"})

    for answer in (missing, beijing, garbage):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "invalid_request"
        assert answer.json()["error"]["fields"] == ["district_code"]
    assert await effects(partner, "seal_shop") == {"requests": 3, "effects": 0}


async def test_a_shop_listing_is_a_partner_read_that_may_find_the_partner_down(
    partner: httpx.AsyncClient,
) -> None:
    await partner.put("/_sandbox/behaviour", json={"seal_shop": {"error_rate": 1}})

    answer = await partner.get(SHOPS, params={"district_code": "410502"})

    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"


async def test_an_order_at_a_named_shop_is_taken_carved_and_reported_by_that_shop(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    body = seal_order(
        receiver.callback_url("seal_shop"), company_uscc=uscc("410506", org=ORG), shop_id="SHOP-410506-03"
    )

    taken = await partner.post(ORDERS, json=body, headers=idem())
    await receiver.wait_until(lambda r: len(r.accepted) == 1)

    assert taken.status_code == 201
    order = taken.json()
    assert (order["shop_id"], order["shop_name"]) == ("SHOP-410506-03", "安阳市龙安区金石刻字社")
    data = receiver.accepted[0]["data"]
    assert (data["order_id"], data["shop_id"], data["shop_name"]) == (
        order["order_id"],
        "SHOP-410506-03",
        "安阳市龙安区金石刻字社",
    )
    status = (await partner.get(f"{ORDERS}/{order['order_id']}")).json()
    assert (status["status"], status["shop_id"]) == ("completed", "SHOP-410506-03")
    assert await effects(partner, "seal_shop") == {"requests": 2, "effects": 1}


async def test_a_shop_of_another_district_or_none_at_all_is_invalid_and_may_be_corrected_under_the_key(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    url = receiver.callback_url("seal_shop")
    wrong = [seal_order(url, shop_id=shop) for shop in ("SHOP-410503-01", "SHOP-410502-04", "", "诚信刻章店")]
    key = idem()

    answers = [await partner.post(ORDERS, json=body, headers=key) for body in wrong]
    corrected = await partner.post(ORDERS, json=seal_order(url, shop_id="SHOP-410502-02"), headers=key)

    assert [a.status_code for a in answers] == [400, 400, 400, 400]
    assert {a.json()["error"]["code"] for a in answers} == {"invalid_request"}
    assert [a.json()["error"]["fields"] for a in answers] == [["shop_id"]] * 4
    assert "SHOP-410502-01" in answers[0].json()["error"]["message"]
    assert corrected.status_code == 201  # a 400 is not stored under the key
    assert corrected.json()["shop_id"] == "SHOP-410502-02"
    assert await effects(partner, "seal_shop") == {"requests": 5, "effects": 1}


async def test_the_first_shop_refuses_an_enterprise_named_with_the_refusal_word_and_the_next_shop_takes_it(
    partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    url = receiver.callback_url("seal_shop")
    unnamed = seal_order(url, enterprise_name=REFUSED_NAME)
    named_first = seal_order(url, enterprise_name=REFUSED_NAME, shop_id="SHOP-410502-01")
    at_second = seal_order(url, enterprise_name=REFUSED_NAME, shop_id="SHOP-410502-02")
    key = idem()

    refused = await partner.post(ORDERS, json=unnamed, headers=key)
    replayed = await partner.post(ORDERS, json=unnamed, headers=key)
    key_reused = await partner.post(ORDERS, json=at_second, headers=key)
    refused_by_name = await partner.post(ORDERS, json=named_first, headers=idem())
    nothing_taken = (await partner.get(ORDERS, params={"application_id": "AY20261127-0001"})).json()
    before = await effects(partner, "seal_shop")
    taken = await partner.post(ORDERS, json=at_second, headers=idem())
    await receiver.wait_until(lambda r: len(r.accepted) == 1)

    assert refused.status_code == refused_by_name.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "order_refused"
    assert error["fields"] == ["shop_id"]
    assert "本店（安阳市文峰区诚信刻章店）暂停承接该企业印章刻制" in error["message"]
    assert "order refused" in error["message"]
    assert refused_by_name.json()["error"]["code"] == "order_refused"
    # A business refusal is stored under its key, as the first answer.
    assert replayed.status_code == 422
    assert replayed.content == refused.content
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert key_reused.status_code == 409
    assert key_reused.json()["error"]["code"] == "idempotency_key_reused"
    assert nothing_taken == {"orders": []}
    assert before == {"requests": 5, "effects": 0}
    assert taken.status_code == 201
    assert (taken.json()["shop_id"], taken.json()["shop_name"]) == (
        "SHOP-410502-02",
        "安阳市文峰区永安印章服务部",
    )
    assert receiver.accepted[0]["data"]["shop_id"] == "SHOP-410502-02"
    assert await effects(partner, "seal_shop") == {"requests": 6, "effects": 1}
