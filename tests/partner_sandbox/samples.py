"""Valid requests to the partner sandbox, built from real check digits, for tests to vary."""

from __future__ import annotations

import itertools
from typing import Any

from tests.factories import resident_id, uscc

_keys = itertools.count(1)


def idem(prefix: str = "key") -> dict[str, str]:
    """Headers with a fresh idempotency key."""
    return {"Idempotency-Key": f"{prefix}-{next(_keys)}"}


# The samples' identifiers are the same on every call, so that a test may compare them.
ORG = "MA0000001"
ZHANG_ID = resident_id("410502", birth="19850312", serial="123")
INVESTOR_USCC = uscc("410503", org=ORG)
COMPANY_USCC = uscc("410502", org=ORG)


def filing(
    name: str = "安阳市文峰区晨曦餐饮有限公司",
    *,
    kind: str = "limited_company",
    district_code: str = "410502",
    application_id: str = "AY20261127-0001",
) -> dict[str, Any]:
    shareholders: list[dict[str, Any]] = [
        {"name": "张艳鹏", "id_number": ZHANG_ID, "contribution_cny": "300000.00"},
        {"name": "安阳市某某投资有限公司", "uscc": INVESTOR_USCC, "contribution_cny": "200000.00"},
    ]
    capital = "500000.00"
    if kind == "individual_business":
        shareholders, capital = [], "0.00"
    elif kind == "sole_proprietorship":
        shareholders = shareholders[:1]
    return {
        "application_id": application_id,
        "enterprise": {
            "name": name,
            "kind": kind,
            "registered_capital_cny": capital,
            "business_scope": ["餐饮服务", "食品销售"],
            "district_code": district_code,
            "address": "文峰区文明大道100号",
        },
        "legal_representative": {
            "name": "张艳鹏",
            "id_number": ZHANG_ID,
            "phone": "13803720000",
        },
        "shareholders": shareholders,
    }


def enterprise_request(
    application_id: str = "AY20261127-0001",
    *,
    company_uscc: str | None = None,
    enterprise_name: str = "安阳市文峰区晨曦餐饮有限公司",
    **fields: Any,
) -> dict[str, Any]:
    """A request about a registered enterprise: its case, its USCC (one of 文峰区 unless given), its
    name, then ``fields``."""
    return {
        "application_id": application_id,
        "uscc": company_uscc or COMPANY_USCC,
        "enterprise_name": enterprise_name,
        **fields,
    }


def seal_order(
    callback_url: str,
    *,
    seals: tuple[str, ...] = ("official", "financial", "invoice", "legal_representative"),
    shop_id: str | None = None,
    **enterprise: Any,
) -> dict[str, Any]:
    body = enterprise_request(
        legal_representative_name="张艳鹏", seals=list(seals), callback_url=callback_url, **enterprise
    )
    if shop_id is not None:
        body["shop_id"] = shop_id
    return body


def allotment(application_id: str = "AY20261127-0001", **enterprise: Any) -> dict[str, Any]:
    return enterprise_request(application_id, kind="electronic_general", monthly_quota=25, **enterprise)


def waybill(
    callback_url: str | None,
    *,
    address: str = "文峰区文明大道100号",
    direction: str = "outbound",
    application_id: str = "AY20261127-0001",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application_id": application_id,
        "direction": direction,
        "recipient": {
            "name": "张艳鹏",
            "phone": "13803720000",
            "district_code": "410502",
            "address": address,
        },
        "contents": ["business_licence", "seals"],
    }
    if callback_url is not None:
        body["callback_url"] = callback_url
    return body


def si_registration(
    application_id: str = "AY20261127-0001", *, employees: int = 3, **enterprise: Any
) -> dict[str, Any]:
    """A social insurance registration (员工参保登记) request; a housing provident fund account
    (住房公积金缴存登记) request has the same fields (``hf_account``)."""
    return enterprise_request(application_id, employees=employees, **enterprise)


hf_account = si_registration


def bank_appointment(
    application_id: str = "AY20261127-0001",
    *,
    bank: str = "中国建设银行",
    branch: str | None = "安阳分行",
    **enterprise: Any,
) -> dict[str, Any]:
    """A bank account appointment (银行预约开户) request; ``branch=None`` leaves the branch out."""
    body = enterprise_request(application_id, bank=bank, legal_representative_name="张艳鹏", **enterprise)
    if branch is not None:
        body["branch"] = branch
    return body
