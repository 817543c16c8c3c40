"""The registration system issues licences with real USCCs and refuses what it should."""

from __future__ import annotations

import httpx

from domain.identifiers import uscc_problem
from tests.factories import resident_id_ending_in_x
from tests.partner_sandbox.conftest import effects, invalid_fields
from tests.partner_sandbox.samples import INVESTOR_USCC, ZHANG_ID, filing, idem

FILINGS = "/registration/v1/filings"


async def test_a_filing_gets_a_licence_whose_uscc_is_valid_and_names_the_district(
    partner: httpx.AsyncClient,
) -> None:
    answer = await partner.post(FILINGS, json=filing(district_code="410523"), headers=idem())

    assert answer.status_code == 201
    body = answer.json()
    licence = body["licence"]
    assert body["status"] == "registered" and body["filing_id"].startswith("REG-")
    assert uscc_problem(licence["uscc"]) is None
    assert licence["uscc"][:2] == "91"  # market regulation; an enterprise
    assert licence["uscc"][2:8] == "410523"
    assert licence["authority"] == "汤阴县市场监督管理局"
    assert licence["registered_capital_cny"] == "500000.00"
    assert licence["issued_at"].endswith("+08:00")
    assert await effects(partner, "registration") == {"requests": 1, "effects": 1}
    again = await partner.get(f"{FILINGS}/{body['filing_id']}")
    assert again.json() == body


async def test_every_licence_gets_its_own_uscc_and_individual_businesses_kind_2(
    partner: httpx.AsyncClient,
) -> None:
    usccs = set()
    for _ in range(5):
        answer = await partner.post(FILINGS, json=filing(), headers=idem())
        usccs.add(answer.json()["licence"]["uscc"])
    shop = filing("安阳市文峰区晨曦小吃店", kind="individual_business")
    individual = (await partner.post(FILINGS, json=shop, headers=idem())).json()["licence"]

    assert len(usccs) == 5
    assert individual["uscc"].startswith("92410502")
    assert individual["authority"] == "安阳市文峰区市场监督管理局"


async def test_a_conflicting_name_asks_for_another_and_a_forbidden_one_is_refused(
    partner: httpx.AsyncClient,
) -> None:
    conflict = await partner.post(FILINGS, json=filing("安阳市冲突餐饮有限公司"), headers=idem())
    refused = await partner.post(FILINGS, json=filing("安阳市禁止餐饮有限公司"), headers=idem())
    renamed = await partner.post(FILINGS, json=filing("安阳市和顺餐饮有限公司"), headers=idem())

    assert conflict.status_code == 422
    assert conflict.json()["error"]["code"] == "name_conflict"
    assert conflict.json()["error"]["fields"] == ["enterprise.name"]
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "registration_refused"
    assert renamed.status_code == 201
    assert await effects(partner, "registration") == {"requests": 3, "effects": 1}


async def test_invalid_filings_are_400_naming_every_bad_field(partner: httpx.AsyncClient) -> None:
    body = filing()
    body["enterprise"]["district_code"] = "410101"  # Zhengzhou, not Anyang
    good = ZHANG_ID
    body["legal_representative"]["id_number"] = good[:17] + ("1" if good[17] == "0" else "0")
    body["shareholders"][1]["uscc"] = INVESTOR_USCC[:17] + "Z"
    body["shareholders"][0]["contribution_cny"] = "300000.005"

    answer = await partner.post(FILINGS, json=body, headers=idem())

    assert set(invalid_fields(answer)) == {
        "enterprise.district_code",
        "legal_representative.id_number",
        "shareholders.1.uscc",
        "shareholders.0.contribution_cny",
    }
    assert await effects(partner, "registration") == {"requests": 1, "effects": 0}


async def test_the_kind_of_enterprise_is_checked_against_name_capital_and_shareholders(
    partner: httpx.AsyncClient,
) -> None:
    short = filing()
    short["shareholders"][1]["contribution_cny"] = "100000.00"
    not_a_company = filing("安阳市文峰区晨曦餐饮有限公司", kind="individual_business")
    lonely_partner = filing("安阳市晨曦咨询中心（普通合伙）", kind="partnership")
    lonely_partner["shareholders"] = lonely_partner["shareholders"][:1]
    lower_x = filing()
    lower_x["shareholders"][0]["id_number"] = resident_id_ending_in_x().lower()

    answers = [
        await partner.post(FILINGS, json=b, headers=idem())
        for b in (short, not_a_company, lonely_partner, lower_x)
    ]

    assert [a.status_code for a in answers[:3]] == [400, 400, 400]
    assert answers[0].json()["error"]["fields"] == ["shareholders"]
    assert answers[1].json()["error"]["fields"] == ["enterprise.name"]
    assert answers[2].json()["error"]["fields"] == ["shareholders"]
    assert answers[3].status_code == 201, answers[3].text  # an x is read as X
