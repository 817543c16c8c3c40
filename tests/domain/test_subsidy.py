"""The first-seal subsidy's decisions (domain/subsidy.py), without a database: a grant in force is
answered again, a kind not covered and an order without a standard seal get nothing, the cap limits
what the city pays, and a budget that cannot cover the whole grant grants nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.subsidy import (
    BUDGET_EXHAUSTED,
    GrantState,
    GrantTerms,
    SubsidyDecision,
    SubsidyEntry,
    SubsidyReservation,
    budget_exhausted,
    decide_reservation,
    decision_of,
    within_budget,
)
from domain.subsidy_policy import SubsidyPolicy
from tests.factories import RESERVED_AT, STANDARD_SEALS, a_reservation


def a_grant(request: SubsidyReservation, state: GrantState) -> SubsidyEntry:
    """The enterprise's grant on the ledger as reserving ``request`` recorded it, now in ``state``."""
    terms = terms_of(request)
    return SubsidyEntry.model_validate(
        request.model_dump(include=set(SubsidyEntry.model_fields))
        | terms.quote.model_dump(include=set(SubsidyEntry.model_fields))
        | terms.model_dump(include={"budget_year", "month", "reserved_at"})
        | {
            "grant_id": "FS2026-0123456789AB",
            "state": state,
            "settled_at": RESERVED_AT + timedelta(hours=2) if state == "settled" else None,
            "released_at": RESERVED_AT + timedelta(hours=1) if state == "released" else None,
        }
    )


def terms_of(request: SubsidyReservation) -> GrantTerms:
    terms = decide_reservation(request, None)
    assert isinstance(terms, GrantTerms), terms
    return terms


@pytest.mark.parametrize("state", ["reserved", "settled"])
def test_a_grant_in_force_is_answered_again_unchanged(state: GrantState) -> None:
    request = a_reservation()
    standing = a_grant(request, state)
    again = decide_reservation(request, standing)
    assert again == decision_of(standing)
    assert isinstance(again, SubsidyDecision) and again.granted and again.state == state
    assert again.grant_id == standing.grant_id and again.amount_cny == Decimal("640.00")


def test_a_released_grant_is_granted_anew() -> None:
    request = a_reservation()
    released = a_grant(request, "released")
    assert not decision_of(released).granted and decision_of(released).amount_cny == Decimal("0.00")
    assert decide_reservation(request, released) == terms_of(request)


def test_the_standard_set_is_granted_at_its_prices_for_the_budget_of_the_year() -> None:
    terms = terms_of(a_reservation(seals=[*STANDARD_SEALS, "contract"]))
    assert terms.amount_cny == Decimal("640.00") and terms.quote.enterprise_pays_cny == Decimal("160.00")
    assert terms.quote.covered_seals == STANDARD_SEALS and terms.quote.extra_seals == ["contract"]
    assert terms.budget_year == 2026 and terms.month == "2026-11"
    assert terms.annual_budget_cny == SubsidyPolicy().annual_budget_cny
    assert terms.reserved_at == RESERVED_AT and terms.reserved_at.utcoffset() == timedelta(0)


def test_the_year_and_month_are_beijings() -> None:
    new_years_eve_utc = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 01:00 on 1 January in Beijing
    terms = terms_of(a_reservation(at=new_years_eve_utc))
    assert terms.budget_year == 2027 and terms.month == "2027-01"


def test_over_the_cap_the_city_pays_the_cap_and_the_enterprise_the_rest() -> None:
    policy = SubsidyPolicy(cap_per_enterprise_cny=Decimal("500.00"))
    terms = terms_of(a_reservation(policy=policy, seals=[*STANDARD_SEALS, "contract"]))
    assert terms.amount_cny == Decimal("500.00") and terms.quote.capped
    assert terms.quote.enterprise_pays_cny == Decimal("300.00")  # 140.00 over the cap + the contract seal


def test_a_kind_the_policy_does_not_cover_gets_no_grant() -> None:
    policy = SubsidyPolicy(kinds=["limited_company"])
    decision = decide_reservation(a_reservation(enterprise_kind="individual_business", policy=policy), None)
    assert isinstance(decision, SubsidyDecision)
    assert not decision.eligible and not decision.granted and not decision.budget_exhausted
    assert decision.state is None and decision.amount_cny == Decimal("0.00")
    assert decision.enterprise_pays_cny == Decimal("640.00") and "individual_business" in decision.reason


def test_an_order_without_a_standard_seal_gets_no_grant() -> None:
    decision = decide_reservation(a_reservation(seals=["contract"]), None)
    assert isinstance(decision, SubsidyDecision)
    assert decision.eligible and not decision.granted and decision.state is None
    assert decision.enterprise_pays_cny == Decimal("160.00") and decision.extra_seals == ["contract"]


def test_the_budget_covers_a_grant_whole_or_not_at_all() -> None:
    terms = terms_of(a_reservation(policy=SubsidyPolicy(annual_budget_cny=Decimal("1000.00"))))
    assert within_budget(terms, reserved=Decimal("0.00"), settled=Decimal("0.00"))
    assert within_budget(terms, reserved=Decimal("200.00"), settled=Decimal("160.00"))  # exactly 1000.00
    assert not within_budget(terms, reserved=Decimal("200.01"), settled=Decimal("160.00"))
    assert not within_budget(terms, reserved=Decimal("0.00"), settled=Decimal("640.00"))


def test_over_the_budget_the_enterprise_pays_every_seal() -> None:
    decision = budget_exhausted(terms_of(a_reservation(seals=[*STANDARD_SEALS, "contract"])))
    assert decision.eligible and not decision.granted and decision.budget_exhausted
    assert decision.reason == BUDGET_EXHAUSTED and decision.state is None and decision.grant_id is None
    assert decision.amount_cny == Decimal("0.00") and decision.enterprise_pays_cny == Decimal("800.00")
    assert decision.extra_seals == [*STANDARD_SEALS, "contract"]
