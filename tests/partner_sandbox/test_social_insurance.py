"""The human resources and social security bureau: a new employer's social insurance registration
(员工参保登记) at the bureau of its district, checked like a real bureau checks it, and the test name
参保异常 refusing an enterprise's first request."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest

from tests.factories import uscc
from tests.partner_sandbox.conftest import effects, invalid_fields
from tests.partner_sandbox.samples import ORG, idem, si_registration

REGISTRATIONS = "/social-insurance/v1/registrations"
NOT_READY_NAME = "安阳市文峰区参保异常餐饮有限公司"
_GOOD = uscc("410502", org=ORG)
BAD_CHECK_DIGIT = _GOOD[:-1] + ("1" if _GOOD[-1] != "1" else "2")


@pytest.mark.parametrize(
    ("district", "bureau"),
    [
        ("410502", "安阳市文峰区人力资源和社会保障局"),
        ("410506", "安阳市龙安区人力资源和社会保障局"),
        ("410523", "汤阴县人力资源和社会保障局"),
        ("410581", "林州市人力资源和社会保障局"),
    ],
)
async def test_the_bureau_of_the_enterprises_district_registers_it_with_a_unit_number(
    partner: httpx.AsyncClient, district: str, bureau: str
) -> None:
    body = si_registration(company_uscc=uscc(district, org=ORG), employees=12)

    answer = await partner.post(REGISTRATIONS, json=body, headers=idem())

    assert answer.status_code == 201
    made = answer.json()
    registered_at = datetime.fromisoformat(made["registered_at"])
    assert registered_at.utcoffset() == timedelta(hours=8)
    assert re.fullmatch(rf"{district}{registered_at.year % 100:02d}[0-9]{{6}}", made["registration_no"])
    assert made == {
        "registration_no": made["registration_no"],
        "application_id": body["application_id"],
        "uscc": body["uscc"],
        "enterprise_name": body["enterprise_name"],
        "employees": 12,
        "district_code": district,
        "bureau": bureau,
        "registered_at": made["registered_at"],
    }
    assert await effects(partner, "social_insurance") == {"requests": 1, "effects": 1}


async def test_registration_numbers_are_never_issued_twice(partner: httpx.AsyncClient) -> None:
    numbers = set()
    for n in range(20):
        body = si_registration(f"AY20261127-{n:04d}", company_uscc=uscc("410502", org=f"MA{n:07d}"))
        numbers.add((await partner.post(REGISTRATIONS, json=body, headers=idem())).json()["registration_no"])

    assert len(numbers) == 20


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"employees": 0}, ["employees"]),
        ({"employees": 10_001}, ["employees"]),
        ({"employees": "3"}, ["employees"]),
        ({"employees": 2.5}, ["employees"]),
        ({"employees": None}, ["employees"]),
        ({"uscc": BAD_CHECK_DIGIT}, ["uscc"]),
        ({"uscc": uscc("110101", org=ORG)}, ["uscc"]),
        ({"enterprise_name": "  "}, ["enterprise_name"]),
        ({"application_id": "AY 1"}, ["application_id"]),
    ],
)
async def test_an_invalid_registration_is_400_naming_the_field_and_registers_nothing(
    partner: httpx.AsyncClient, change: dict[str, object], fields: list[str]
) -> None:
    answer = await partner.post(REGISTRATIONS, json={**si_registration(), **change}, headers=idem())

    assert invalid_fields(answer) == fields
    assert [d["field"] for d in answer.json()["error"]["details"]] == fields
    assert await effects(partner, "social_insurance") == {"requests": 1, "effects": 0}


async def test_missing_fields_are_all_named(partner: httpx.AsyncClient) -> None:
    answer = await partner.post(REGISTRATIONS, json={"uscc": uscc("410502", org=ORG)}, headers=idem())

    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == ["application_id", "enterprise_name", "employees"]


async def test_the_refusal_is_per_enterprise_and_a_reset_forgets_it(partner: httpx.AsyncClient) -> None:
    one = si_registration(company_uscc=uscc("410502", org="MA0000001"), enterprise_name=NOT_READY_NAME)
    other = si_registration(
        company_uscc=uscc("410581", org="MA0000002"), enterprise_name="林州市参保异常建材有限公司"
    )

    first = await partner.post(REGISTRATIONS, json=one, headers=idem())
    other_first = await partner.post(REGISTRATIONS, json=other, headers=idem())
    await partner.post("/_sandbox/reset")
    after_reset = await partner.post(REGISTRATIONS, json=one, headers=idem())

    assert first.status_code == other_first.status_code == after_reset.status_code == 422
    assert "林州市人力资源和社会保障局" in other_first.json()["error"]["message"]
