"""Valid applications, alerts and subsidy reservations for tests, with identifiers correct to their
check digits."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from domain.alerts import AlertIn
from domain.identifiers import resident_id_check_char, uscc_check_char
from domain.partners import PartnerEvent
from domain.subsidy import SubsidyReservation
from domain.subsidy_policy import SubsidyPolicy

_counter = itertools.count(1)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SHANGHAI = timezone(timedelta(hours=8))
RESERVED_AT = datetime(2026, 11, 27, 10, 30, tzinfo=SHANGHAI)
STANDARD_SEALS = ["official", "financial", "invoice", "legal_representative"]
SANDBOX_SEAL_PRICES = {
    "official": "200.00",
    "financial": "160.00",
    "invoice": "160.00",
    "legal_representative": "120.00",
    "contract": "160.00",
}


def resident_id(
    area: str = "410502",
    *,
    birth: str | None = None,
    serial: str | None = None,
    rng: random.Random | None = None,
) -> str:
    """A valid ID number (GB 11643-1999) of someone born in ``area``: ``birth`` (YYYYMMDD) and
    ``serial`` (three digits) as given, or drawn from ``rng``."""
    r = rng or random.Random()
    birth = birth or f"{r.randint(1960, 2000)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
    serial = serial or f"{r.randint(0, 999):03d}"
    body = f"{area}{birth}{serial}"
    return body + resident_id_check_char(body)


def uscc(
    district: str = "410502",
    *,
    org: str | None = None,
    kind: str = "91",
    rng: random.Random | None = None,
) -> str:
    """A valid USCC (GB 32100-2015): ``kind`` (an enterprise registered by the market regulator,
    by default), the ``district`` and ``org``, the nine characters of the organisation code, as
    given or drawn from ``rng``."""
    r = rng or random.Random()
    org = org or "".join(r.choice(USCC_ALPHABET) for _ in range(9))
    body = kind + district + org
    return body + uscc_check_char(body)


def resident_id_ending_in_x() -> str:
    """A valid ID number whose check character is X (one body in eleven has one)."""
    for serial in range(1000):
        number = resident_id("410506", birth="19900101", serial=f"{serial:03d}")
        if number.endswith("X"):
            return number
    raise AssertionError("no serial gives X")  # pragma: no cover


def new_application_id(prefix: str = "T") -> str:
    return f"{prefix}{random.randint(10**7, 10**8 - 1)}-{next(_counter):04d}"


def application(
    *,
    application_id: str | None = None,
    name: str = "安阳市文峰区晨曦餐饮有限公司",
    district: str = "410502",
    invoice: bool = True,
    delivery: str = "postal",
    seals: list[str] | None = None,
) -> dict[str, Any]:
    """A limited company with a natural-person and a corporate shareholder."""
    rng = random.Random()
    person_id = resident_id(rng=rng)
    body: dict[str, Any] = {
        "application_id": application_id or new_application_id(),
        "enterprise": {
            "name": name,
            "kind": "limited_company",
            "registered_capital_cny": "500000.00",
            "business_scope": ["餐饮服务", "食品销售"],
            "district_code": district,
            "address": "文峰区文明大道100号",
        },
        "legal_representative": {"name": "张艳鹏", "id_number": person_id, "phone": "13803720000"},
        "shareholders": [
            {"name": "张艳鹏", "id_number": person_id, "contribution_cny": "300000.00"},
            {
                "name": "安阳市某某投资有限公司",
                "uscc": uscc(district, rng=rng),
                "contribution_cny": "200000.00",
            },
        ],
        "seals": seals or ["official", "financial", "invoice", "legal_representative"],
        "delivery": {"method": "pickup"}
        if delivery == "pickup"
        else {
            "method": "postal",
            "recipient": "张艳鹏",
            "phone": "13803720000",
            "district_code": district,
            "address": "文峰区文明大道100号",
        },
    }
    if invoice:
        body["invoice"] = {"kind": "electronic_general", "monthly_quota": 25}
    return body


def whole_scope(body: dict[str, Any], *, employees: int = 6, bank: str = "中国建设银行") -> dict[str, Any]:
    """The application asking for the rest of the 企业开办 scope too: social insurance, the housing
    fund and a bank account appointment (workflows/more_items.py)."""
    return {
        **body,
        "social_insurance": {"employees": employees},
        "housing_fund": {"employees": employees},
        "bank_account": {"bank": bank},
    }


def individual_business(application_id: str | None = None, district: str = "410506") -> dict[str, Any]:
    """个体工商户: no shareholders, no capital, no invoice, pickup."""
    person_id = resident_id("410506")
    return {
        "application_id": application_id or new_application_id("IB"),
        "enterprise": {
            "name": "安阳市龙安区李记早餐店",
            "kind": "individual_business",
            "registered_capital_cny": "0.00",
            "business_scope": ["早餐服务"],
            "district_code": district,
            "address": "龙安区文昌大道18号",
        },
        "legal_representative": {"name": "李秀兰", "id_number": person_id, "phone": "15937200001"},
        "shareholders": [],
        "seals": ["official"],
        "delivery": {"method": "pickup"},
    }


def an_alert(case: int = 1, **changes: Any) -> AlertIn:
    """An at-risk registration alert of case ``AY20261127-{case}``, with ``changes``."""
    fields: dict[str, Any] = {
        "application_id": f"AY20261127-{case:04d}",
        "workflow_id": f"setup-AY20261127-{case:04d}",
        "stage": "registration",
        "level": "at_risk",
        "deadline": datetime(2026, 11, 27, 14, 30, tzinfo=SHANGHAI),
        "raised_at": datetime(2026, 11, 27, 13, 45, tzinfo=SHANGHAI),
        "district_code": "410502",
        "enterprise_name": "安阳市文峰区晨曦餐饮有限公司",
    }
    return AlertIn(**(fields | changes))


def an_attention_alert(case: int = 1, **changes: Any) -> AlertIn:
    """A seal shop's refusal waiting for an operator: no deadline, an episode and its reason."""
    needs_attention: dict[str, Any] = {
        "stage": "seal_carving",
        "level": "needs_attention",
        "deadline": None,
        "reason": "the seal shop takes no orders",
    }
    return an_alert(case, **(needs_attention | changes))


def a_reservation(enterprise_uscc: str | None = None, case: int = 1, **changes: Any) -> SubsidyReservation:
    """The standard seals of case ``AY20261127-{case}`` at the sandbox's prices, with ``changes``."""
    seals = changes.pop("seals", STANDARD_SEALS)
    fields: dict[str, Any] = {
        "application_id": f"AY20261127-{case:04d}",
        "workflow_id": f"setup-AY20261127-{case:04d}",
        "uscc": enterprise_uscc or uscc(),
        "enterprise_name": f"安阳市文峰区晨曦{case}餐饮有限公司",
        "enterprise_kind": "limited_company",
        "district_code": "410502",
        "shop_id": "KZ410502",
        "shop_name": "文峰区公安备案刻章店",
        "seals": seals,
        "prices_cny": {seal: SANDBOX_SEAL_PRICES[seal] for seal in seals},
        "policy": SubsidyPolicy(),
        "at": RESERVED_AT,
    }
    return SubsidyReservation.model_validate(fields | changes)


def partner_event(
    application_id: str, event: str, event_id: str, *, partner: str = "seal_shop", **data: Any
) -> PartnerEvent:
    """A partner's callback as the gateway hands it to a case, occurring now; ``data`` its body."""
    return PartnerEvent(
        partner=partner,
        event_id=event_id,
        event=event,
        application_id=application_id,
        occurred_at=datetime.now(UTC),
        data=data,
    )


def policy_file(tmp_path: Path, text: str, *, name: str) -> Path:
    """A policy file ``name`` in ``tmp_path`` holding ``text``."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
