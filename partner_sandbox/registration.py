"""The registration system of the market regulation bureau (市场监督管理局): files a company and
issues its business licence (营业执照) with a fresh USCC (统一社会信用代码).
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.identifiers import USCC_ALPHABET, uscc_check_char
from infra.logging import get_logger
from partner_sandbox.calls import PartnerError
from partner_sandbox.filing import serve_filings
from partner_sandbox.localities import registration_authority
from partner_sandbox.state import SandboxState, iso, now
from partner_sandbox.validation import (
    ApplicationId,
    DistrictCode,
    Money,
    Name,
    Phone,
    ResidentId,
    Text,
    Uscc,
    invalid,
)

log = get_logger("partner_sandbox.registration")

EnterpriseKind = Literal["limited_company", "sole_proprietorship", "partnership", "individual_business"]

# GB 32100-2015: registration authority 9 (market regulation); the kind of entity it registers.
USCC_KIND_CODES: dict[str, str] = {
    "limited_company": "1",  # 企业
    "sole_proprietorship": "1",  # 个人独资企业: an enterprise too
    "partnership": "1",  # 合伙企业
    "individual_business": "2",  # 个体工商户
}
_COMPANY_SUFFIXES = ("有限责任公司", "有限公司")
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


class Enterprise(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name
    kind: EnterpriseKind
    registered_capital_cny: Money
    business_scope: list[Text] = Field(min_length=1, max_length=50)
    district_code: DistrictCode
    address: Text


class LegalRepresentative(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name
    id_number: ResidentId
    phone: Phone


class Shareholder(BaseModel):
    """A person (``id_number``) or an enterprise (``uscc``) that invests in the company."""

    model_config = ConfigDict(extra="ignore")

    name: Name
    id_number: ResidentId | None = None
    uscc: Uscc | None = None
    contribution_cny: Money

    @model_validator(mode="after")
    def _person_or_enterprise(self) -> Shareholder:
        if (self.id_number is None) == (self.uscc is None):
            raise ValueError(
                "a shareholder is a person (id_number) or an enterprise (uscc): exactly one of them"
            )
        return self


class FilingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    application_id: ApplicationId
    enterprise: Enterprise
    legal_representative: LegalRepresentative
    shareholders: list[Shareholder] = Field(default_factory=list, max_length=50)


def filing_problems(filing: FilingRequest) -> list[tuple[str, str]]:
    """What the registration system's checks beyond the shape of the request find wrong."""
    e = filing.enterprise
    holders = filing.shareholders
    capital = Decimal(e.registered_capital_cny)
    problems: list[tuple[str, str]] = []
    if e.kind == "limited_company":
        if not e.name.endswith(_COMPANY_SUFFIXES):
            problems.append(("enterprise.name", "a limited company's name ends in 有限公司 or 有限责任公司"))
        if capital <= 0:
            problems.append(
                ("enterprise.registered_capital_cny", "a limited company's capital is above zero")
            )
        if not holders:
            problems.append(("shareholders", "a limited company has at least one shareholder"))
        else:
            for i, holder in enumerate(holders):
                if Decimal(holder.contribution_cny) <= 0:
                    problems.append((f"shareholders.{i}.contribution_cny", "a contribution is above zero"))
            total = sum((Decimal(h.contribution_cny) for h in holders), Decimal("0"))
            if total != capital:
                problems.append(
                    (
                        "shareholders",
                        f"the contributions add up to {total:.2f}, "
                        f"not to the registered capital {capital:.2f}",
                    )
                )
    elif "公司" in e.name:
        problems.append(("enterprise.name", "only a limited company's name may contain 公司"))
    if e.kind == "sole_proprietorship" and (len(holders) != 1 or holders[0].id_number is None):
        problems.append(("shareholders", "a sole proprietorship has exactly one investor, a natural person"))
    if e.kind == "partnership" and len(holders) < 2:
        problems.append(("shareholders", "a partnership has two or more partners"))
    if e.kind == "individual_business" and holders:
        problems.append(("shareholders", "an individual business (个体工商户) has no shareholders"))
    seen: set[str] = set()
    for i, holder in enumerate(holders):
        field, identity = ("id_number", holder.id_number) if holder.id_number else ("uscc", holder.uscc or "")
        if identity in seen:
            problems.append((f"shareholders.{i}.{field}", "appears twice among the shareholders"))
        seen.add(identity)
    return problems


def _org_code_check(body8: str) -> str:
    """The check character of an organization code (GB 11714): characters 9–17 of a USCC."""
    total = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body8, _ORG_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def fresh_uscc(sandbox: SandboxState, kind: str, district_code: str) -> str:
    """A USCC never issued before: 9, the kind code, the district, an MA… organization code."""
    prefix = "9" + USCC_KIND_CODES[kind] + district_code

    def make(rng: random.Random) -> str:
        body8 = "MA" + "".join(rng.choice(USCC_ALPHABET) for _ in range(6))
        first17 = prefix + body8 + _org_code_check(body8)
        return first17 + uscc_check_char(first17)

    return sandbox.unique(make)


def file_company(sandbox: SandboxState, filing: FilingRequest) -> tuple[str, dict[str, Any]]:
    problems = filing_problems(filing)
    if problems:
        raise invalid(problems)
    e = filing.enterprise
    if "禁止" in e.name:
        raise PartnerError(
            422,
            "registration_refused",
            f"名称“{e.name}”含有禁止使用的字词，不予登记",
            ["enterprise.name"],
        )
    if "冲突" in e.name:
        raise PartnerError(
            422,
            "name_conflict",
            f"名称“{e.name}”与已登记的企业名称冲突，请更换名称后重新申请",
            ["enterprise.name"],
        )
    uscc = fresh_uscc(sandbox, e.kind, e.district_code)
    filing_id = sandbox.new_id("REG")
    log.info("licence_issued", application_id=filing.application_id, filing_id=filing_id, uscc=uscc)
    return filing_id, {
        "status": "registered",
        "application_id": filing.application_id,
        "licence": {
            "uscc": uscc,
            "name": e.name,
            "kind": e.kind,
            "registered_capital_cny": e.registered_capital_cny,
            "legal_representative": filing.legal_representative.name,
            "address": e.address,
            "business_scope": e.business_scope,
            "district_code": e.district_code,
            "issued_at": iso(now()),
            "authority": registration_authority(e.district_code),
        },
    }


router = serve_filings(
    "registration",
    "/registration/v1/filings/{filing_id}",
    tag="registration system",
    what="filing",
    model=FilingRequest,
    file=file_company,
    summaries=("File a company; a licence with a fresh USCC is issued", "The filing as registered"),
)
