"""The seal and invoice activities against the sandbox over real HTTP: the district's seal shops
listed, an order at a named shop, and the two business refusals (拒刻 at the first seal shop,
税务异常 at the tax bureau) turned into non-retryable ``PartnerRefused`` errors that carry the
partner's code, words and fields."""

from __future__ import annotations

import httpx
from temporalio.testing import ActivityEnvironment

from activities.filings import FilingActivities
from activities.partners import PARTNER_REJECTED_REQUEST, PartnerClient
from activities.seals import SealActivities
from domain.partners import InvoiceAllotmentRequest, SealOrderRequest, SealShop
from tests.activities.refusals import refused
from tests.factories import uscc
from tests.partner_sandbox.conftest import CallbackReceiver, effects
from tests.partner_sandbox.samples import ORG


def seal_request(key: str, *, name: str, shop_id: str | None = None) -> SealOrderRequest:
    return SealOrderRequest(
        application_id="AY20261127-0042",
        uscc=uscc("410505", org=ORG),
        enterprise_name=name,
        legal_representative_name="张艳鹏",
        seals=["official", "financial"],
        idempotency_key=key,
        shop_id=shop_id,
    )


def allotment_request(key: str, *, name: str) -> InvoiceAllotmentRequest:
    return InvoiceAllotmentRequest(
        application_id="AY20261127-0042",
        uscc=uscc("410505", org=ORG),
        enterprise_name=name,
        kind="electronic_general",
        monthly_quota=25,
        idempotency_key=key,
    )


async def test_list_seal_shops_answers_the_districts_shops_in_the_partners_order(
    partners: PartnerClient,
) -> None:
    seals = SealActivities(partners)

    shops = await ActivityEnvironment().run(seals.list_seal_shops, "410505")

    assert shops == [
        SealShop(shop_id="SHOP-410505-01", shop_name="安阳市殷都区诚信刻章店"),
        SealShop(shop_id="SHOP-410505-02", shop_name="安阳市殷都区永安印章服务部"),
        SealShop(shop_id="SHOP-410505-03", shop_name="安阳市殷都区金石刻字社"),
    ]


async def test_list_seal_shops_of_a_district_outside_anyang_is_a_rejected_request(
    partners: PartnerClient,
) -> None:
    seals = SealActivities(partners)

    refusal = await refused(
        ActivityEnvironment().run(seals.list_seal_shops, "110101"), kind=PARTNER_REJECTED_REQUEST
    )

    assert (refusal.code, refusal.fields) == ("invalid_request", ["district_code"])


async def test_the_first_shops_refusal_is_a_non_retryable_partner_refusal_and_the_next_shop_takes_the_order(
    partners: PartnerClient, partner: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    seals = SealActivities(partners)
    env = ActivityEnvironment()
    name = "安阳市殷都区拒刻五金有限公司"

    refusal = await refused(env.run(seals.order_seals, seal_request("seal-1", name=name)))
    refused_effects = await effects(partner, "seal_shop")
    shops = await env.run(seals.list_seal_shops, "410505")
    order = await env.run(seals.order_seals, seal_request("seal-2", name=name, shop_id=shops[1].shop_id))
    await receiver.wait_until(lambda r: len(r.accepted) == 1)

    assert refusal.code == "order_refused"
    assert refusal.message.startswith("本店（安阳市殷都区诚信刻章店）暂停承接该企业印章刻制")
    assert refusal.fields == ["shop_id"]
    assert refused_effects == {"requests": 1, "effects": 0}
    assert (order.shop_id, order.shop_name) == ("SHOP-410505-02", "安阳市殷都区永安印章服务部")
    event = receiver.accepted[0]
    assert (event["data"]["order_id"], event["data"]["shop_id"]) == (order.order_id, "SHOP-410505-02")
    assert await effects(partner, "seal_shop") == {"requests": 3, "effects": 1}


async def test_an_order_naming_no_shop_goes_to_the_districts_first_shop(partners: PartnerClient) -> None:
    seals = SealActivities(partners)

    order = await ActivityEnvironment().run(
        seals.order_seals, seal_request("seal-3", name="安阳市殷都区晨光五金有限公司")
    )

    assert order.shop_id == "SHOP-410505-01"
    assert order.shop_name == "安阳市殷都区诚信刻章店"


async def test_the_tax_bureaus_first_refusal_is_a_partner_refusal_and_a_new_key_gets_the_invoices(
    partners: PartnerClient, partner: httpx.AsyncClient
) -> None:
    invoices = FilingActivities(partners)
    env = ActivityEnvironment()
    name = "安阳市殷都区税务异常五金有限公司"

    first = await refused(env.run(invoices.issue_first_invoices, allotment_request("tax-1", name=name)))
    same_key = await refused(env.run(invoices.issue_first_invoices, allotment_request("tax-1", name=name)))
    allotment = await env.run(invoices.issue_first_invoices, allotment_request("tax-2", name=name))

    for refusal in (first, same_key):
        assert refusal.code == "tax_record_not_ready"
        assert "税务登记信息尚未同步" in refusal.message
        assert refusal.fields == ["uscc"]
    assert allotment.uscc == uscc("410505", org=ORG)
    assert allotment.tax_authority == "国家税务总局安阳市殷都区税务局"
    assert await effects(partner, "tax") == {"requests": 3, "effects": 1}


async def test_an_id_number_or_phone_in_a_partners_words_is_masked_before_it_goes_on(
    partners: PartnerClient, partner: httpx.AsyncClient
) -> None:
    id_number = "410502199003071234"
    words = f"经营者身份证号{id_number}与登记不符，请致电13812345678或0372-2345678"
    fault = {"status": 422, "for_s": 600, "message": words}
    await partner.put("/_sandbox/behaviour", json={"seal_shop": {"faults": fault}})

    refusal = await refused(ActivityEnvironment().run(SealActivities(partners).list_seal_shops, "410505"))

    masked = "经营者身份证号410502********1234与登记不符，请致电138****5678或0372-***5678"
    assert refusal.message == masked
    assert refusal.error.endswith(f": 422 unprocessable_entity: {masked}")
