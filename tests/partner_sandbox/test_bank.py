"""The banks: the project's list of banks with branches in Anyang (``domain.banks``), served by the
bank partner; an appointment to open the basic account in a free half-hour slot on a working day
within opening hours, at least two hours ahead; and the test name 拒开户, which makes the first bank
an enterprise asks decline it every time while the other banks book it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta

import chinese_calendar
import httpx
import pytest

from domain.banks import ANYANG_BANKS, Branch, branch_of, is_known_bank, main_branch
from domain.districts import ANYANG_DISTRICTS
from partner_sandbox.bank import first_free_slot
from tests.factories import uscc
from tests.partner_sandbox.conftest import effects, invalid_fields
from tests.partner_sandbox.samples import ORG, bank_appointment, idem

BANKS = "/bank/v1/banks"
APPOINTMENTS = "/bank/v1/appointments"
REFUSED_NAME = "安阳市文峰区拒开户贸易有限公司"
CST = timedelta(hours=8)


# -- the list ---------------------------------------------------------------------------------


def test_the_banks_in_anyang_are_the_big_state_banks_national_joint_stock_banks_and_the_local_ones() -> None:
    assert list(ANYANG_BANKS) == [
        "中国工商银行",
        "中国农业银行",
        "中国银行",
        "中国建设银行",
        "交通银行",
        "中国邮政储蓄银行",
        "中信银行",
        "浦发银行",
        "郑州银行",
        "中原银行",
        "安阳农商银行",
    ]
    assert "安阳银行" not in ANYANG_BANKS  # merged into 中原银行 in 2014


def test_each_bank_has_one_to_three_branches_in_anyangs_districts_with_local_addresses() -> None:
    for bank, branches in ANYANG_BANKS.items():
        assert 1 <= len(branches) <= 3, bank
        assert len({b.name for b in branches}) == len(branches), bank
        for branch in branches:
            assert branch.district_code in ANYANG_DISTRICTS, (bank, branch)
            district = ANYANG_DISTRICTS[branch.district_code]
            local = f"安阳市{district}" if district.endswith("区") else district
            assert branch.address.startswith(local), (bank, branch)
            assert branch.name.endswith(("分行", "支行", "营业部")), (bank, branch)
    assert main_branch("中国建设银行").name == "安阳分行"
    assert main_branch("中国邮政储蓄银行").name == "安阳市分行"


def test_banks_and_branches_are_looked_up_by_their_exact_names() -> None:
    assert is_known_bank("中国建设银行")
    assert not is_known_bank("建设银行")
    assert not is_known_bank("上海浦东发展银行")
    assert not is_known_bank("")
    assert branch_of("中国建设银行", None) == ANYANG_BANKS["中国建设银行"][0]
    assert branch_of("中国建设银行", "龙安支行") == Branch(
        name="龙安支行", district_code="410506", address="安阳市龙安区文明大道西段309号"
    )
    assert branch_of("中国建设银行", "殷都支行") is None
    assert branch_of("中国银行", "殷都支行") is not None
    assert branch_of("安阳银行", None) is None


async def test_the_bank_partner_lists_the_projects_banks_and_branches_in_order(
    partner: httpx.AsyncClient,
) -> None:
    answer = await partner.get(BANKS)

    assert answer.status_code == 200
    assert answer.json() == {
        "banks": [
            {
                "bank": bank,
                "branches": [
                    {
                        "branch": b.name,
                        "address": b.address,
                        "district_code": b.district_code,
                        "opening_hours": "工作日 09:00-17:00",
                    }
                    for b in branches
                ],
            }
            for bank, branches in ANYANG_BANKS.items()
        ]
    }
    assert await effects(partner, "bank") == {"requests": 1, "effects": 0}
    await partner.put("/_sandbox/behaviour", json={"bank": {"error_rate": 1}})
    assert (await partner.get(BANKS)).status_code == 503


# -- booking ----------------------------------------------------------------------------------


async def test_an_appointment_naming_no_branch_goes_to_the_banks_main_branch(
    partner: httpx.AsyncClient,
) -> None:
    body = bank_appointment(bank="中国邮政储蓄银行", branch=None)

    answer = await partner.post(APPOINTMENTS, json=body, headers=idem())
    with_null = await partner.post(APPOINTMENTS, json={**body, "branch": None}, headers=idem())

    assert answer.status_code == with_null.status_code == 201
    made = answer.json()
    assert (made["bank"], made["branch"], made["branch_address"]) == (
        "中国邮政储蓄银行",
        "安阳市分行",
        "安阳市文峰区解放大道中段77号",
    )
    assert with_null.json()["branch"] == "安阳市分行"
    assert made["appointment_id"].startswith("APT-")
    assert made["status"] == "booked"
    assert made["account_kind"] == "basic_deposit_account"
    assert made["legal_representative_name"] == "张艳鹏"
    assert (made["application_id"], made["uscc"], made["enterprise_name"]) == (
        body["application_id"],
        body["uscc"],
        body["enterprise_name"],
    )
    assert "营业执照正本" in made["materials"]
    at = datetime.fromisoformat(made["appointment_at"])
    assert datetime.fromisoformat(made["appointment_ends_at"]) - at == timedelta(minutes=30)
    assert await effects(partner, "bank") == {"requests": 2, "effects": 2}


async def test_an_appointment_at_a_named_branch_is_booked_there(partner: httpx.AsyncClient) -> None:
    body = bank_appointment(bank="中原银行", branch="滑县支行", company_uscc=uscc("410526", org=ORG))

    answer = await partner.post(APPOINTMENTS, json=body, headers=idem())

    assert answer.status_code == 201
    made = answer.json()
    assert (made["bank"], made["branch"], made["district_code"]) == ("中原银行", "滑县支行", "410526")
    assert made["branch_address"] == "滑县道口镇文明路中段45号"


def _working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package has no schedule for: weekdays
        return day.weekday() < 5


def _expected_slot(booked_at: datetime, taken: Collection[datetime] = ()) -> datetime:
    """Walk half-hour boundaries from two hours after booking to the first open, free one."""
    earliest = booked_at + timedelta(hours=2)
    t = earliest.replace(minute=0, second=0, microsecond=0)
    while t < earliest:
        t += timedelta(minutes=30)
    while not (_working_day(t.date()) and time(9) <= t.time() <= time(16, 30)) or t in taken:
        t += timedelta(minutes=30)
    return t


def _check_slot(made: dict[str, str]) -> datetime:
    booked_at = datetime.fromisoformat(made["booked_at"])
    at = datetime.fromisoformat(made["appointment_at"])
    ends = datetime.fromisoformat(made["appointment_ends_at"])
    assert at.utcoffset() == booked_at.utcoffset() == CST
    assert _working_day(at.date())
    assert time(9) <= at.time() and ends.time() <= time(17) and ends.date() == at.date()
    assert at - booked_at >= timedelta(hours=2)
    assert (at.minute, at.second, at.microsecond) in ((0, 0, 0), (30, 0, 0))
    return at


async def test_the_appointment_is_the_first_slot_on_a_working_day_within_opening_hours_two_hours_ahead(
    partner: httpx.AsyncClient,
) -> None:
    answer = await partner.post(APPOINTMENTS, json=bank_appointment(), headers=idem())

    made = answer.json()
    at = _check_slot(made)
    assert at == _expected_slot(datetime.fromisoformat(made["booked_at"]))


async def test_a_taken_slot_is_not_given_twice_at_a_branch_but_another_branch_has_its_own(
    partner: httpx.AsyncClient,
) -> None:
    first = (await partner.post(APPOINTMENTS, json=bank_appointment("AY-0001"), headers=idem())).json()
    second = (await partner.post(APPOINTMENTS, json=bank_appointment("AY-0002"), headers=idem())).json()
    elsewhere = (
        await partner.post(APPOINTMENTS, json=bank_appointment("AY-0003", branch="文峰支行"), headers=idem())
    ).json()

    taken = {_check_slot(first)}
    assert _check_slot(second) == _expected_slot(datetime.fromisoformat(second["booked_at"]), taken)
    assert _check_slot(second) > _check_slot(first)
    assert _check_slot(elsewhere) == _expected_slot(datetime.fromisoformat(elsewhere["booked_at"]))


def _cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


@pytest.mark.parametrize(
    ("booked", "slot"),
    [
        ("2025-11-27T07:00:00", "2025-11-27T09:00:00"),  # before opening: 09:00
        ("2025-11-27T10:10:00", "2025-11-27T12:30:00"),  # two hours on, the next half hour
        ("2025-11-27T10:30:00", "2025-11-27T12:30:00"),  # exactly on a boundary
        ("2025-11-27T14:30:00", "2025-11-27T16:30:00"),  # the last slot of the day
        ("2025-11-27T14:30:00.001", "2025-11-28T09:00:00"),  # just too late: next working day
        ("2025-11-28T16:00:00", "2025-12-01T09:00:00"),  # Friday afternoon: Monday
        ("2025-09-26T16:00:00", "2025-09-28T09:00:00"),  # a Sunday that is a make-up working day
        ("2025-09-30T15:30:00", "2025-10-09T09:00:00"),  # National Day and Mid-Autumn: Oct 1-8 off
        ("2026-02-13T15:00:00", "2026-02-14T09:00:00"),  # Saturday 2026-02-14 is a make-up day
        ("2030-12-31T16:00:00", "2031-01-01T09:00:00"),  # no official data: weekdays only
        ("2031-01-03T16:00:00", "2031-01-06T09:00:00"),
    ],
)
def test_the_first_free_slot_follows_the_official_working_days(booked: str, slot: str) -> None:
    assert first_free_slot(_cst(booked), set()) == _cst(slot)


def test_the_first_free_slot_skips_taken_slots_and_reads_any_time_zone() -> None:
    taken = {_cst("2025-11-27T16:30:00"), _cst("2025-11-28T09:00:00")}

    assert first_free_slot(_cst("2025-11-27T14:30:00"), taken) == _cst("2025-11-28T09:30:00")
    assert first_free_slot(datetime.fromisoformat("2025-11-27T02:10:00+00:00"), set()) == _cst(
        "2025-11-27T12:30:00"
    )


# -- invalid requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fields", "says"),
    [
        ({"bank": "安阳银行"}, ["bank"], "not a bank with branches in Anyang"),
        ({"bank": "建设银行"}, ["bank"], "中国建设银行"),
        ({"bank": "Bank of China"}, ["bank"], "中原银行"),
        ({"bank": ""}, ["bank"], ""),
        ({"branch": "殷都支行"}, ["branch"], "its branches: 安阳分行, 文峰支行, 龙安支行"),
        ({"bank": "交通银行", "branch": "文峰支行"}, ["branch"], "交通银行 has no branch '文峰支行'"),
        ({"legal_representative_name": None}, ["legal_representative_name"], ""),
        ({"uscc": "91410502MA0000001", "bank": "花旗银行"}, ["uscc", "bank"], ""),
    ],
)
async def test_an_invalid_appointment_is_400_naming_the_fields_and_books_nothing(
    partner: httpx.AsyncClient, change: dict[str, object], fields: list[str], says: str
) -> None:
    answer = await partner.post(APPOINTMENTS, json={**bank_appointment(), **change}, headers=idem())

    assert invalid_fields(answer) == fields
    assert says in answer.json()["error"]["message"]
    assert await effects(partner, "bank") == {"requests": 1, "effects": 0}


async def test_missing_fields_are_all_named(partner: httpx.AsyncClient) -> None:
    answer = await partner.post(APPOINTMENTS, json={"bank": "中国银行"}, headers=idem())

    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == [
        "application_id",
        "uscc",
        "enterprise_name",
        "legal_representative_name",
    ]


# -- 拒开户 -----------------------------------------------------------------------------------


async def test_a_declined_enterprise_is_booked_at_the_branch_it_asked_when_it_asks_again(
    partner: httpx.AsyncClient,
) -> None:
    body = bank_appointment(enterprise_name=REFUSED_NAME)

    refused = await partner.post(APPOINTMENTS, json=body, headers=idem())
    booked = await partner.post(APPOINTMENTS, json=body, headers=idem())

    assert refused.status_code == 422
    assert booked.status_code == 201, booked.text
    assert (booked.json()["bank"], booked.json()["branch"]) == ("中国建设银行", "安阳分行")
    _check_slot(booked.json())


async def test_each_enterprise_is_declined_once_whichever_bank_it_asks_and_a_reset_forgets_it(
    partner: httpx.AsyncClient,
) -> None:
    one = bank_appointment(company_uscc=uscc("410502", org="MA0000001"), enterprise_name=REFUSED_NAME)
    other = bank_appointment(
        company_uscc=uscc("410581", org="MA0000002"),
        enterprise_name="林州市拒开户建材有限公司",
        bank="中国工商银行",
        branch="林州支行",
    )
    ordinary = bank_appointment(company_uscc=uscc("410502", org="MA0000003"))

    invalid_first = await partner.post(APPOINTMENTS, json={**one, "bank": "花旗银行"}, headers=idem())
    one_refused = await partner.post(APPOINTMENTS, json=one, headers=idem())  # 中国建设银行
    other_refused = await partner.post(APPOINTMENTS, json=other, headers=idem())  # 中国工商银行
    other_at_ccb = await partner.post(
        APPOINTMENTS, json={**other, "bank": "中国建设银行", "branch": None}, headers=idem()
    )
    one_at_icbc = await partner.post(
        APPOINTMENTS, json={**one, "bank": "中国工商银行", "branch": None}, headers=idem()
    )
    ordinary_booked = await partner.post(APPOINTMENTS, json=ordinary, headers=idem())
    await partner.post("/_sandbox/reset")
    one_after_reset_at_icbc = await partner.post(
        APPOINTMENTS, json={**one, "bank": "中国工商银行", "branch": None}, headers=idem()
    )

    assert invalid_first.status_code == 400  # no work started: not the first bank asked
    assert one_refused.status_code == other_refused.status_code == 422
    assert "中国工商银行林州支行" in other_refused.json()["error"]["message"]
    assert other_at_ccb.status_code == one_at_icbc.status_code == ordinary_booked.status_code == 201
    assert one_after_reset_at_icbc.status_code == 422  # now 中国工商银行 is the first it asked
