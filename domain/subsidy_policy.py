"""The subsidy policy file (``ODS_SUBSIDY_POLICY``, a TOML file): the free first set of seals.

免费刻制首套印章: which enterprise kinds qualify, which seals make up the standard set the city pays
for, the shops' contracted price per seal kind, a cap per enterprise and an annual budget.

The policy is a pydantic model so that the policy in force when a case starts is captured into the
workflow input (editing the file later never changes a running case). Money is ``Decimal`` with two
places, written in JSON as ``"800.00"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from domain.application import EnterpriseKind, Money, SealKind
from domain.policy_files import PolicyFileError, load_policy_file

# What the ledger's NUMERIC(14,2) columns hold: below 10^12 yuan.
MONEY_LIMIT = Decimal("1e12")
ZERO = Decimal("0.00")

T = TypeVar("T")


class SubsidyPolicyError(PolicyFileError):
    """The subsidy policy file cannot be used; the message names the file and every offending key."""


def _below_the_ledger_limit(amount: Decimal) -> Decimal:
    if amount >= MONEY_LIMIT:
        raise ValueError("an amount of money in the subsidy policy must be below 10^12 yuan")
    return amount


PolicyMoney = Annotated[Money, AfterValidator(_below_the_ledger_limit)]


def _no_repeats(values: list[T]) -> list[T]:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"listed more than once: {', '.join(repeated)}")
    return values


class SealPrices(BaseModel):
    """The shops' contracted price per seal kind (``[prices_cny]``), in yuan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    official: PolicyMoney = Decimal("200.00")
    financial: PolicyMoney = Decimal("160.00")
    invoice: PolicyMoney = Decimal("160.00")
    legal_representative: PolicyMoney = Decimal("120.00")
    contract: PolicyMoney = Decimal("160.00")

    def of(self, seal: SealKind | str) -> Decimal:
        if seal not in SealPrices.model_fields:
            raise ValueError(f"unknown seal kind {seal!r}; seal kinds: {', '.join(SealPrices.model_fields)}")
        price: Decimal = getattr(self, seal)
        return price


def _all_kinds() -> list[EnterpriseKind]:
    return ["limited_company", "sole_proprietorship", "partnership", "individual_business"]


def _standard_seals() -> list[SealKind]:
    return ["official", "financial", "invoice", "legal_representative"]


class SubsidyQuote(BaseModel):
    """What the policy pays for one seal order, before the budget is asked (see ``SubsidyPolicy.quote``)."""

    model_config = ConfigDict(frozen=True)

    eligible: bool
    # The seals of the order that are in the standard set, and the others (paid by the enterprise).
    covered_seals: list[SealKind]
    extra_seals: list[SealKind]
    # The price of each ordered seal (the shop's price; the policy's where the shop named none).
    prices_cny: dict[str, Money]
    # What the city pays: the covered seals at their contracted prices, at most the cap.
    amount_cny: Money
    # Everything else on the shop's bill: extra seals, and anything above the contracted prices or the cap.
    enterprise_pays_cny: Money
    capped: bool = False


class SubsidyPolicy(BaseModel):
    """The subsidy policy in force for a case. Every key may be left out of the file: it then has the
    default written here (summed up in the README's configuration table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: Annotated[list[EnterpriseKind], AfterValidator(_no_repeats)] = Field(default_factory=_all_kinds)
    standard_set: Annotated[list[SealKind], AfterValidator(_no_repeats)] = Field(
        default_factory=_standard_seals
    )
    cap_per_enterprise_cny: PolicyMoney = Decimal("800.00")
    annual_budget_cny: PolicyMoney = Decimal("1500000.00")
    prices_cny: SealPrices = Field(default_factory=SealPrices)

    def covers(self, kind: str) -> bool:
        """Whether an enterprise of this kind gets its first seals free."""
        return kind in self.kinds

    def quote(
        self,
        kind: str,
        seals: Iterable[SealKind],
        shop_prices: Mapping[str, Decimal | str] | None = None,
    ) -> SubsidyQuote:
        """The subsidy for an enterprise of ``kind`` ordering ``seals`` at ``shop_prices`` (the seal
        order's prices; the policy's contracted price stands in for a seal the shop did not price).

        The city pays each covered seal at the shop's price but never above the contracted price,
        and at most ``cap_per_enterprise_cny`` in all; the enterprise pays the rest of the bill."""
        ordered = list(dict.fromkeys(seals))
        shop_prices = shop_prices or {}
        prices = {
            seal: Decimal(shop_prices[seal]).quantize(ZERO)
            if seal in shop_prices
            else self.prices_cny.of(seal)
            for seal in ordered
        }
        bill = sum(prices.values(), ZERO)
        eligible = self.covers(kind)
        covered = [seal for seal in ordered if eligible and seal in self.standard_set]
        extras = [seal for seal in ordered if seal not in covered]
        uncapped = sum((min(prices[seal], self.prices_cny.of(seal)) for seal in covered), ZERO)
        amount = min(uncapped, self.cap_per_enterprise_cny)
        return SubsidyQuote(
            eligible=eligible,
            covered_seals=covered,
            extra_seals=extras,
            prices_cny=prices,
            amount_cny=amount,
            enterprise_pays_cny=bill - amount,
            capped=amount < uncapped,
        )


def load_subsidy_policy(path: Path | None) -> SubsidyPolicy:
    """The subsidy policy file at ``path`` (None → the defaults); SubsidyPolicyError otherwise."""
    return load_policy_file(
        path, SubsidyPolicy, SubsidyPolicyError, what="subsidy policy", sections={"prices_cny": SealPrices}
    )
