"""The tax bureau: an enterprise named with 税务异常 is refused its first allotment request (its
taxpayer record not there yet) and granted a later one made with a new idempotency key."""

from __future__ import annotations

import httpx

from tests.factories import uscc
from tests.partner_sandbox.conftest import effects
from tests.partner_sandbox.samples import allotment, idem

ALLOTMENTS = "/tax/v1/invoice-allotments"
NOT_READY_NAME = "安阳市文峰区税务异常餐饮有限公司"


async def test_only_a_request_whose_work_started_is_the_first_and_each_enterprise_has_its_own(
    partner: httpx.AsyncClient,
) -> None:
    one = allotment(company_uscc=uscc("410502", org="MA0000001"), enterprise_name=NOT_READY_NAME)
    other = allotment(
        company_uscc=uscc("410523", org="MA0000002"), enterprise_name="汤阴县税务异常商贸有限公司"
    )
    ordinary = allotment(company_uscc=uscc("410502", org="MA0000003"))
    key = idem()

    invalid = await partner.post(ALLOTMENTS, json={**one, "monthly_quota": 0}, headers=key)
    refused = await partner.post(ALLOTMENTS, json=one, headers=key)  # a 400 left the key free
    granted = await partner.post(ALLOTMENTS, json=one, headers=idem())
    granted_again = await partner.post(ALLOTMENTS, json=one, headers=idem())
    other_refused = await partner.post(ALLOTMENTS, json=other, headers=idem())
    ordinary_granted = await partner.post(ALLOTMENTS, json=ordinary, headers=idem())

    assert invalid.status_code == 400
    assert invalid.json()["error"]["fields"] == ["monthly_quota"]
    assert refused.status_code == 422
    assert granted.status_code == granted_again.status_code == 201
    assert other_refused.status_code == 422
    assert "国家税务总局汤阴县税务局" in other_refused.json()["error"]["message"]
    assert ordinary_granted.status_code == 201
    assert await effects(partner, "tax") == {"requests": 6, "effects": 3}


async def test_a_reset_forgets_which_enterprises_were_refused(partner: httpx.AsyncClient) -> None:
    body = allotment(enterprise_name=NOT_READY_NAME)
    first = await partner.post(ALLOTMENTS, json=body, headers=idem())

    await partner.post("/_sandbox/reset")
    after_reset = await partner.post(ALLOTMENTS, json=body, headers=idem())

    assert first.status_code == after_reset.status_code == 422
