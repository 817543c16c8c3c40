"""The first-seal subsidy (免费刻制首套印章) as the workflow sees it: what it asks the ledger, and the
decision it gets back (the status document's ``subsidy``, ``SubsidyStatus`` in ``/openapi.json``).

A grant goes ``reserved`` when the seal order is placed, ``settled`` (paid to the shop) when carving
completes, or ``released`` (the money back in the budget) when the case is withdrawn first.

The ledger's decisions are made here, without a database: a grant already in force answers again
(``decide_reservation``), a kind the policy leaves out or an order without a standard seal gets
nothing, the city pays the covered seals up to the cap (``SubsidyPolicy.quote``), and a budget that
cannot cover the amount grants nothing (``within_budget``, ``budget_exhausted``). The ledger
(``store/subsidies.py``) reads what they need and records what they decide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.application import EnterpriseKind, Money, SealKind
from domain.districts import CITY_ZONE
from domain.status import SubsidyStatus
from domain.subsidy_policy import SubsidyPolicy, SubsidyQuote

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


def month_of(at: datetime) -> str:
    """The ledger's month of a moment (Beijing time), ``YYYY-MM``."""
    return at.astimezone(CITY_ZONE).strftime("%Y-%m")


class SubsidyEntry(BaseModel):
    """One enterprise's grant as the ledger and the statements show it."""

    model_config = ConfigDict(frozen=True)

    grant_id: str
    uscc: str
    application_id: str
    workflow_id: str
    enterprise_name: str
    district_code: str
    shop_id: str
    shop_name: str
    covered_seals: list[SealKind]
    extra_seals: list[SealKind]
    prices_cny: dict[str, Money]
    amount_cny: Money
    enterprise_pays_cny: Money
    state: GrantState
    budget_year: int
    month: str
    reserved_at: AwareDatetime
    settled_at: AwareDatetime | None
    released_at: AwareDatetime | None


_ZERO = Decimal("0.00")


def decision_of(entry: SubsidyEntry) -> SubsidyDecision:
    """What a grant means to the enterprise: the same answer every time it is asked."""
    granted = entry.state != "released"
    return SubsidyDecision(
        eligible=True,
        granted=granted,
        amount_cny=entry.amount_cny if granted else _ZERO,
        enterprise_pays_cny=entry.enterprise_pays_cny if granted else _ZERO,
        covered_seals=entry.covered_seals,
        extra_seals=entry.extra_seals,
        prices_cny=entry.prices_cny,
        reason=granted_reason(entry.state, entry.amount_cny, entry.enterprise_pays_cny, entry.extra_seals),
        state=entry.state,
        grant_id=entry.grant_id,
    )


class GrantTerms(BaseModel):
    """A reservation the budget is asked for (``decide_reservation``): the policy's quote, and the
    year whose budget pays it. Recorded as the enterprise's grant when the budget covers it."""

    model_config = ConfigDict(frozen=True)

    quote: SubsidyQuote
    budget_year: int
    # The policy's annual budget: the year's budget follows the policy of the latest reservation.
    annual_budget_cny: Money
    reserved_at: AwareDatetime
    month: str

    @property
    def amount_cny(self) -> Decimal:
        return self.quote.amount_cny


def decide_reservation(
    request: SubsidyReservation, standing: SubsidyEntry | None
) -> SubsidyDecision | GrantTerms:
    """The answer to a reservation, given the enterprise's grant on the ledger (``standing``, if any):
    a grant in force (reserved or settled) is answered again, unchanged (a retry, a replay, a duplicate
    case); a kind the policy does not cover, or an order with no seal of the standard set, gets a
    decision without a grant. Otherwise the terms of a grant (the covered seals at their prices, at
    most the cap) that the budget of the year is then asked for; a released grant is granted anew."""
    if standing is not None and standing.state != "released":
        return decision_of(standing)
    quote = request.policy.quote(request.enterprise_kind, request.seals, request.prices_cny)
    if not quote.eligible or quote.amount_cny <= 0:
        # Nothing the policy pays for: the enterprise pays the whole bill, and no grant is made.
        return SubsidyDecision(
            eligible=quote.eligible,
            granted=False,
            enterprise_pays_cny=quote.enterprise_pays_cny,
            extra_seals=quote.extra_seals,
            prices_cny=quote.prices_cny,
            reason=no_standard_seal_reason()
            if quote.eligible
            else not_covered_reason(request.enterprise_kind),
        )
    at = request.at.astimezone(UTC)
    return GrantTerms(
        quote=quote,
        budget_year=request.at.astimezone(CITY_ZONE).year,
        annual_budget_cny=request.policy.annual_budget_cny,
        reserved_at=at,
        month=month_of(at),
    )


def within_budget(terms: GrantTerms, reserved: Decimal, settled: Decimal) -> bool:
    """Whether the year's budget, with ``reserved`` and ``settled`` spoken for, covers the whole grant
    (never a part of one)."""
    return reserved + settled + terms.amount_cny <= terms.annual_budget_cny


def budget_exhausted(terms: GrantTerms) -> SubsidyDecision:
    """The answer when the budget cannot cover the grant: no subsidy, the enterprise pays every seal."""
    quote = terms.quote
    return SubsidyDecision(
        eligible=True,
        granted=False,
        enterprise_pays_cny=sum(quote.prices_cny.values(), _ZERO),
        extra_seals=list(quote.covered_seals) + list(quote.extra_seals),
        prices_cny=quote.prices_cny,
        reason=BUDGET_EXHAUSTED,
        budget_exhausted=True,
    )
