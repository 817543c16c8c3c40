"""The social insurance, housing fund and bank activities against the sandbox over real HTTP: each
returns its model; the partners' business refusals (拒开户 at the first bank asked, 参保异常 and
公积金异常 on the first request) are non-retryable ``PartnerRefused`` errors carrying the partner's code,
words and fields; an invalid request is a ``PartnerRejectedRequest``; an outage is retried."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.bank import BankActivities
from activities.filings import FilingActivities
from activities.partners import (
    PARTNER_REJECTED_REQUEST,
    PartnerClient,
    PartnerUnavailable,
)
from domain.partners import (
    BankAppointment,
    BankAppointmentRequest,
    HousingFundAccount,
    HousingFundRequest,
    SocialInsuranceRegistration,
    SocialInsuranceRequest,
)
from tests.activities.refusals import refused
from tests.factories import uscc
from tests.partner_sandbox.conftest import effects
from tests.partner_sandbox.samples import ORG

APPLICATION_ID = "AY20261127-0042"
COMPANY = uscc("410505", org=ORG)


def si_request(key: str, *, name: str = "安阳市殷都区晨光五金有限公司") -> SocialInsuranceRequest:
    return SocialInsuranceRequest(
        application_id=APPLICATION_ID, uscc=COMPANY, enterprise_name=name, employees=3, idempotency_key=key
    )


def hf_request(key: str, *, name: str = "安阳市殷都区晨光五金有限公司") -> HousingFundRequest:
    return HousingFundRequest(
        application_id=APPLICATION_ID, uscc=COMPANY, enterprise_name=name, employees=3, idempotency_key=key
    )


def bank_request(
    key: str,
    *,
    name: str = "安阳市殷都区晨光五金有限公司",
    bank: str = "中国建设银行",
    branch: str | None = None,
) -> BankAppointmentRequest:
    return BankAppointmentRequest(
        application_id=APPLICATION_ID,
        uscc=COMPANY,
        enterprise_name=name,
        bank=bank,
        branch=branch,
        legal_representative_name="张艳鹏",
        idempotency_key=key,
    )


async def test_register_social_insurance_returns_the_bureaus_registration(
    partners: PartnerClient, partner: httpx.AsyncClient
) -> None:
    activities = FilingActivities(partners)

    made = await ActivityEnvironment().run(activities.register_social_insurance, si_request("si-1"))
    again = await ActivityEnvironment().run(activities.register_social_insurance, si_request("si-1"))

    assert isinstance(made, SocialInsuranceRegistration)
    assert re.fullmatch(r"410505[0-9]{8}", made.registration_no)
    assert (made.uscc, made.employees) == (COMPANY, 3)
    assert made.bureau == "安阳市殷都区人力资源和社会保障局"
    assert made.registered_at.utcoffset() == timedelta(hours=8)
    assert again == made
    stored = await partner.get(f"/social-insurance/v1/registrations/{made.registration_no}")
    assert SocialInsuranceRegistration.model_validate(stored.json()) == made
    assert await effects(partner, "social_insurance") == {"requests": 3, "effects": 1}


async def test_open_housing_fund_account_returns_the_centres_account(
    partners: PartnerClient, partner: httpx.AsyncClient
) -> None:
    activities = FilingActivities(partners)

    made = await ActivityEnvironment().run(activities.open_housing_fund_account, hf_request("hf-1"))

    assert isinstance(made, HousingFundAccount)
    assert re.fullmatch(r"410505[0-9]{6}", made.account_no)
    assert (made.uscc, made.employees) == (COMPANY, 3)
    assert made.centre == "安阳市住房公积金管理中心"
    assert made.office == "安阳市住房公积金管理中心殷都区管理部"
    assert await effects(partner, "housing_fund") == {"requests": 1, "effects": 1}


async def test_book_bank_appointment_returns_the_appointment_at_the_main_branch_or_the_named_one(
    partners: PartnerClient, partner: httpx.AsyncClient
) -> None:
    activities = BankActivities(partners)
    env = ActivityEnvironment()

    main = await env.run(activities.book_bank_appointment, bank_request("bank-1"))
    named = await env.run(
        activities.book_bank_appointment, bank_request("bank-2", bank="中国银行", branch="殷都支行")
    )

    assert isinstance(main, BankAppointment)
    assert (main.bank, main.branch, main.branch_address) == (
        "中国建设银行",
        "安阳分行",
        "安阳市北关区红旗路北段68号",
    )
    assert main.appointment_at - main.booked_at >= timedelta(hours=2)
    assert (named.bank, named.branch) == ("中国银行", "殷都支行")
    stored = await partner.get(f"/bank/v1/appointments/{main.appointment_id}")
    assert BankAppointment.model_validate(stored.json()) == main
    assert await effects(partner, "bank") == {"requests": 3, "effects": 2}


async def test_the_banks_refusal_is_a_non_retryable_partner_refusal_and_a_new_request_books_it(
    partners: PartnerClient, partner: httpx.AsyncClient
) -> None:
    activities = BankActivities(partners)
    env = ActivityEnvironment()
    name = "安阳市殷都区拒开户五金有限公司"

    first = await refused(env.run(activities.book_bank_appointment, bank_request("bank-1", name=name)))
    # The same key: the stored refusal.
    replayed = await refused(env.run(activities.book_bank_appointment, bank_request("bank-1", name=name)))
    refused_effects = await effects(partner, "bank")
    booked = await env.run(activities.book_bank_appointment, bank_request("bank-2", name=name))

    for refusal in (first, replayed):
        assert refusal.code == "account_opening_refused"
        assert refusal.message.startswith("经尽职调查，中国建设银行安阳分行暂不受理该企业开户预约")
        assert "declines to book" in refusal.message
        assert refusal.fields == ["bank"]
    assert refused_effects == {"requests": 2, "effects": 0}
    assert (booked.bank, booked.branch) == ("中国建设银行", "安阳分行")
    assert await effects(partner, "bank") == {"requests": 3, "effects": 1}


async def test_the_bureaus_and_the_centres_first_refusals_are_partner_refusals_and_a_new_key_succeeds(
    partners: PartnerClient, partner: httpx.AsyncClient
) -> None:
    si = FilingActivities(partners)
    hf = FilingActivities(partners)
    env = ActivityEnvironment()

    si_refusal = await refused(
        env.run(si.register_social_insurance, si_request("si-1", name="安阳市殷都区参保异常五金有限公司"))
    )
    hf_refusal = await refused(
        env.run(hf.open_housing_fund_account, hf_request("hf-1", name="安阳市殷都区公积金异常五金有限公司"))
    )
    registration = await env.run(
        si.register_social_insurance, si_request("si-2", name="安阳市殷都区参保异常五金有限公司")
    )
    account = await env.run(
        hf.open_housing_fund_account, hf_request("hf-2", name="安阳市殷都区公积金异常五金有限公司")
    )

    assert si_refusal.code == "social_insurance_record_not_ready"
    assert "安阳市殷都区人力资源和社会保障局" in si_refusal.message
    assert si_refusal.fields == ["uscc"]
    assert hf_refusal.code == "housing_fund_record_not_ready"
    assert "安阳市住房公积金管理中心殷都区管理部" in hf_refusal.message
    assert hf_refusal.fields == ["uscc"]
    assert registration.uscc == account.uscc == COMPANY
    assert await effects(partner, "social_insurance") == {"requests": 2, "effects": 1}
    assert await effects(partner, "housing_fund") == {"requests": 2, "effects": 1}


async def test_a_branch_the_bank_does_not_have_is_a_rejected_request_naming_the_branch(
    partners: PartnerClient,
) -> None:
    activities = BankActivities(partners)

    refusal = await refused(
        ActivityEnvironment().run(
            activities.book_bank_appointment, bank_request("bank-1", bank="交通银行", branch="林州支行")
        ),
        kind=PARTNER_REJECTED_REQUEST,
    )

    assert (refusal.code, refusal.fields) == ("invalid_request", ["branch"])


async def test_a_partner_that_is_down_is_an_ordinary_error_temporal_retries(
    partners: PartnerClient, partner: httpx.AsyncClient
) -> None:
    await partner.put(
        "/_sandbox/behaviour",
        json={p: {"error_rate": 1} for p in ("social_insurance", "housing_fund", "bank")},
    )
    env = ActivityEnvironment()

    with pytest.raises(PartnerUnavailable):
        await env.run(FilingActivities(partners).register_social_insurance, si_request("si-1"))
    with pytest.raises(PartnerUnavailable):
        await env.run(FilingActivities(partners).open_housing_fund_account, hf_request("hf-1"))
    with pytest.raises(PartnerUnavailable):
        await env.run(BankActivities(partners).book_bank_appointment, bank_request("bank-1"))
