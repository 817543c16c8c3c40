"""The housing provident fund centre: 安阳市住房公积金管理中心 opens a new employer's unit account at the
managing department of its district, checks requests like the real centre, and refuses the first
request of an enterprise named with the test word 公积金异常."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest

from tests.factories import uscc
from tests.partner_sandbox.conftest import effects, invalid_fields
from tests.partner_sandbox.samples import ORG, hf_account, idem

ACCOUNTS = "/housing-fund/v1/accounts"


@pytest.mark.parametrize(
    ("district", "office"),
    [
        ("410503", "安阳市住房公积金管理中心北关区管理部"),
        ("410526", "安阳市住房公积金管理中心滑县管理部"),
        ("410581", "安阳市住房公积金管理中心林州市管理部"),
    ],
)
async def test_the_centre_opens_a_unit_account_at_the_districts_managing_department(
    partner: httpx.AsyncClient, district: str, office: str
) -> None:
    body = hf_account(company_uscc=uscc(district, org=ORG), employees=7)

    answer = await partner.post(ACCOUNTS, json=body, headers=idem())

    assert answer.status_code == 201
    made = answer.json()
    assert re.fullmatch(rf"{district}[0-9]{{6}}", made["account_no"])
    assert datetime.fromisoformat(made["opened_at"]).utcoffset() == timedelta(hours=8)
    assert made == {
        "account_no": made["account_no"],
        "application_id": body["application_id"],
        "uscc": body["uscc"],
        "enterprise_name": body["enterprise_name"],
        "employees": 7,
        "district_code": district,
        "centre": "安阳市住房公积金管理中心",
        "office": office,
        "opened_at": made["opened_at"],
    }
    assert await effects(partner, "housing_fund") == {"requests": 1, "effects": 1}


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"employees": 0}, ["employees"]),
        ({"employees": 10_001}, ["employees"]),
        ({"employees": "7"}, ["employees"]),
        ({"uscc": uscc("320102", org=ORG)}, ["uscc"]),
        ({"uscc": "91410502MA0000001"}, ["uscc"]),
        ({"enterprise_name": ""}, ["enterprise_name"]),
        ({"employees": -1, "uscc": "nope"}, ["uscc", "employees"]),
    ],
)
async def test_an_invalid_request_is_400_naming_the_fields_and_opens_nothing(
    partner: httpx.AsyncClient, change: dict[str, object], fields: list[str]
) -> None:
    answer = await partner.post(ACCOUNTS, json={**hf_account(), **change}, headers=idem())

    assert invalid_fields(answer) == fields
    assert await effects(partner, "housing_fund") == {"requests": 1, "effects": 0}
