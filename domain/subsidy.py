"""The first-seal subsidy (免费刻制首套印章) as the workflow sees it: what it asks the ledger, and the
decision it gets back (the status document's ``subsidy``, ``SubsidyStatus`` in ``/openapi.json``).

A grant goes ``reserved`` when the seal order is placed, ``settled`` (paid to the shop) when carving
completes, or ``released`` (the money back in the budget) when the case is withdrawn first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.application import EnterpriseKind, Money, SealKind
from domain.status import SubsidyStatus
from domain.subsidy_policy import SubsidyPolicy

GrantState = Literal["reserved", "settled", "released"]

# Reasons, in Chinese for the applicant and English for everyone else.
BUDGET_EXHAUSTED = "本年度首套印章免费刻制预算已用完 / the annual budget is spent"
NOT_RESERVED = "该企业没有预留的首套印章补贴 / no first-seal subsidy was reserved for this enterprise"


def not_covered_reason(kind: str) -> str:
    return f"该类市场主体不在首套印章免费刻制范围内 / enterprise kind {kind} is not covered by the policy"


def no_standard_seal_reason() -> str:
    return "所刻印章均不在免费标准套内 / none of the ordered seals is in the standard set"


def _seal_list(seals: list[SealKind]) -> str:
    return ", ".join(seals)


def granted_reason(
    state: GrantState, amount: Decimal, enterprise_pays: Decimal, extra_seals: list[SealKind]
) -> str:
    if state == "released":
        return (
            f"案件已撤回，补贴 ¥{amount:.2f} 已释放 / "
            f"the case was withdrawn; ¥{amount:.2f} went back to the budget"
        )
    done = "已结算给刻章店" if state == "settled" else "已预留"
    done_en = "settled to the shop" if state == "settled" else "reserved"
    text = (
        f"首套印章免费刻制，政府承担 ¥{amount:.2f}（{done}） / "
        f"first seals free: the city pays ¥{amount:.2f} ({done_en})"
    )
    if enterprise_pays > 0:
        extras = f" ({_seal_list(extra_seals)})" if extra_seals else ""
        text += f"；企业自付 ¥{enterprise_pays:.2f} / the enterprise pays ¥{enterprise_pays:.2f}{extras}"
    return text


class SubsidyReservation(BaseModel):
    """Reserve the first-seal subsidy when the seal order is placed (activity input)."""

    model_config = ConfigDict(frozen=True)

    application_id: str
    workflow_id: str
    uscc: str = Field(min_length=18, max_length=18)
    enterprise_name: str
    enterprise_kind: EnterpriseKind
    district_code: str
    shop_id: str
    shop_name: str
    seals: list[SealKind]
    # The shop's prices from the seal order (SealOrder.prices_cny); the policy's stand in for a missing one.
    prices_cny: dict[str, Money] = Field(default_factory=dict)
    # Captured when the case started.
    policy: SubsidyPolicy = Field(default_factory=SubsidyPolicy)
    at: AwareDatetime


class SubsidySettlement(BaseModel):
    """Settle (carving done) or release (case withdrawn) an enterprise's reservation (activity input)."""

    model_config = ConfigDict(frozen=True)

    uscc: str = Field(min_length=18, max_length=18)
    at: AwareDatetime


class SubsidyDecision(BaseModel):
    """The ledger's answer; ``to_status()`` is the status document's ``subsidy``."""

    model_config = ConfigDict(frozen=True)

    eligible: bool
    granted: bool
    amount_cny: Money = Decimal("0.00")
    enterprise_pays_cny: Money = Decimal("0.00")
    covered_seals: list[SealKind] = Field(default_factory=list)
    extra_seals: list[SealKind] = Field(default_factory=list)
    # The price of each ordered seal (for the voucher: covered ones the city's, extras the enterprise's).
    prices_cny: dict[str, Money] = Field(default_factory=dict)
    reason: str
    budget_exhausted: bool = False
    # The grant's state, or None when there is no grant (not eligible, budget spent, nothing reserved).
    state: GrantState | None = None
    grant_id: str | None = None

    def to_status(self) -> SubsidyStatus:
        return SubsidyStatus(
            eligible=self.eligible, granted=self.granted, amount_cny=self.amount_cny, reason=self.reason
        )
