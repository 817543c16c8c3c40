"""Tests of the domain models; below, a sample application with correct check digits."""

from __future__ import annotations

import copy
from typing import Any

from tests.factories import resident_id, uscc

ZHANG_ID = resident_id("410502", birth="19850312", serial="001")  # 张艳鹏, born 1985-03-12 in 文峰区
LI_ID = resident_id("410522", birth="19900601", serial="002")  # 李华, born 1990-06-01 in 安阳县
INVESTOR_USCC = uscc("410502", org="MA0000001")  # 安阳市某某投资有限公司


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
