"""Tests of the domain models; the helpers below make identifiers with correct check digits."""

from __future__ import annotations

import copy
from typing import Any

from domain.identifiers import resident_id_check_char, uscc_check_char


def resident_id(first17: str) -> str:
    """An ID number with its check character (GB 11643-1999)."""
    return first17 + resident_id_check_char(first17)


def uscc(first17: str) -> str:
    """A USCC with its check character (GB 32100-2015)."""
    return first17 + uscc_check_char(first17)


def resident_id_ending_in_x() -> str:
    """A valid ID number whose check character is X (one body in eleven has one)."""
    for serial in range(1000):
        number = resident_id(f"41050619900101{serial:03d}")
        if number.endswith("X"):
            return number
    raise AssertionError("no serial gives X")  # pragma: no cover


ZHANG_ID = resident_id("41050219850312001")  # 张艳鹏, born 1985-03-12 in 文峰区
LI_ID = resident_id("41052219900601002")  # 李华, born 1990-06-01 in 安阳县
INVESTOR_USCC = uscc("91410502MA0000001")  # 安阳市某某投资有限公司


SAMPLE: dict[str, Any] = {
    "application_id": "AY20261127-0001",
    "enterprise": {
        "name": "安阳市文峰区晨曦餐饮有限公司",
        "kind": "limited_company",
        "registered_capital_cny": "500000.00",
        "business_scope": ["餐饮服务", "食品销售"],
        "district_code": "410502",
        "address": "文峰区文明大道100号",
    },
    "legal_representative": {"name": "张艳鹏", "id_number": ZHANG_ID, "phone": "13803720000"},
    "shareholders": [
        {"name": "张艳鹏", "id_number": ZHANG_ID, "contribution_cny": "300000.00"},
        {"name": "安阳市某某投资有限公司", "uscc": INVESTOR_USCC, "contribution_cny": "200000.00"},
    ],
    "seals": ["official", "financial", "invoice", "legal_representative"],
    "invoice": {"kind": "electronic_general", "monthly_quota": 25},
    "delivery": {
        "method": "postal",
        "recipient": "张艳鹏",
        "phone": "13803720000",
        "district_code": "410502",
        "address": "文峰区文明大道100号",
    },
}


def sample_application() -> dict[str, Any]:
    """A fresh copy of the sample application body (valid identifiers), free to modify."""
    return copy.deepcopy(SAMPLE)
