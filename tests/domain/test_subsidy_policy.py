"""The subsidy policy file (domain/subsidy_policy.py): defaults, partial files, the quote, and
errors that name file and key."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest

from domain.subsidy import SubsidyReservation
from domain.subsidy_policy import SubsidyPolicy, SubsidyPolicyError, load_subsidy_policy
from tests.factories import a_reservation, policy_file

CONTRACT_EXAMPLE = """
kinds = ["limited_company", "sole_proprietorship", "partnership", "individual_business"]
standard_set = ["official", "financial", "invoice", "legal_representative"]
cap_per_enterprise_cny = "800.00"
annual_budget_cny = "1500000.00"
[prices_cny]                      # contracted price per seal kind
official = "200.00"
financial = "160.00"
invoice = "160.00"
legal_representative = "120.00"
contract = "160.00"
"""


write = partial(policy_file, name="subsidy.toml")


def test_no_file_means_the_defaults_of_the_contract() -> None:
    policy = load_subsidy_policy(None)
    assert policy.kinds == ["limited_company", "sole_proprietorship", "partnership", "individual_business"]
    assert policy.standard_set == ["official", "financial", "invoice", "legal_representative"]
    assert policy.cap_per_enterprise_cny == Decimal("800.00")
    assert policy.annual_budget_cny == Decimal("1500000.00")
    assert {seal: str(policy.prices_cny.of(seal)) for seal in ("official", "contract")} == {
        "official": "200.00",
        "contract": "160.00",
    }


def test_the_contract_example_file_is_the_default_policy(tmp_path: Path) -> None:
    assert load_subsidy_policy(write(tmp_path, CONTRACT_EXAMPLE)) == SubsidyPolicy()


def test_keys_left_out_take_their_defaults(tmp_path: Path) -> None:
    policy = load_subsidy_policy(
        write(
            tmp_path,
            'annual_budget_cny = "2000.00"\nkinds = ["limited_company"]\n[prices_cny]\nofficial = 150\n',
        )
    )
    assert policy.annual_budget_cny == Decimal("2000.00")
    assert policy.kinds == ["limited_company"]
    assert policy.prices_cny.official == Decimal("150.00")
    assert policy.prices_cny.financial == Decimal("160.00")
    assert policy.cap_per_enterprise_cny == Decimal("800.00")
    assert load_subsidy_policy(write(tmp_path, "")) == SubsidyPolicy()


def test_the_policy_travels_as_json_and_comes_back_equal() -> None:
    """It is captured into the workflow input: money as decimal strings, back exactly."""
    policy = SubsidyPolicy(cap_per_enterprise_cny=Decimal("700.5"))
    text = policy.model_dump_json()
    assert json.loads(text)["cap_per_enterprise_cny"] == "700.50"
    assert json.loads(text)["prices_cny"]["official"] == "200.00"
    assert SubsidyPolicy.model_validate_json(text) == policy
    reservation = a_reservation(policy=policy)
    assert SubsidyReservation.model_validate_json(reservation.model_dump_json()) == reservation


def test_the_standard_set_is_paid_and_extras_are_the_enterprises() -> None:
    quote = SubsidyPolicy().quote("limited_company", ["official", "financial", "invoice", "contract"])
    assert quote.eligible
    assert quote.covered_seals == ["official", "financial", "invoice"]
    assert quote.extra_seals == ["contract"]
    assert quote.amount_cny == Decimal("520.00")
    assert quote.enterprise_pays_cny == Decimal("160.00")


def test_the_cap_limits_what_the_city_pays_and_the_rest_is_the_enterprises() -> None:
    policy = SubsidyPolicy(cap_per_enterprise_cny=Decimal("500.00"))
    quote = policy.quote("limited_company", ["official", "financial", "invoice", "legal_representative"])
    assert quote.amount_cny == Decimal("500.00") and quote.capped
    assert quote.enterprise_pays_cny == Decimal("140.00")  # 640.00 bill


def test_the_city_pays_the_shops_price_but_never_above_the_contracted_one() -> None:
    quote = SubsidyPolicy().quote(
        "limited_company", ["official", "financial"], {"official": Decimal("250.00"), "financial": "100.00"}
    )
    assert quote.prices_cny == {"official": Decimal("250.00"), "financial": Decimal("100.00")}
    assert quote.amount_cny == Decimal("300.00")  # 200.00 contracted + 100.00 asked
    assert quote.enterprise_pays_cny == Decimal("50.00")


def test_a_kind_the_policy_leaves_out_gets_nothing() -> None:
    quote = SubsidyPolicy(kinds=["limited_company"]).quote("partnership", ["official", "financial"])
    assert not quote.eligible
    assert quote.amount_cny == Decimal("0.00") and quote.covered_seals == []
    assert quote.enterprise_pays_cny == Decimal("360.00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('kinds = ["limited_company", "cooperative"]', "kinds[1]: 'cooperative' is not allowed"),
        ('standard_set = ["official", "official"]', "standard_set: listed more than once: official"),
        ('cap_per_enterprise_cny = "八百"', "cap_per_enterprise_cny: "),
        (
            'cap_per_enterprise_cny = "-1.00"',
            "cap_per_enterprise_cny: an amount of money must not be negative",
        ),
        (
            'annual_budget_cny = "1.005"',
            "annual_budget_cny: an amount of money has at most two decimal places",
        ),
        ('annual_budget_cny = "1000000000000.00"', "annual_budget_cny: an amount of money in the subsidy"),
        ("budget = 5", "budget: unknown key (known keys: kinds, standard_set,"),
        ('[prices_cny]\nseal = "1.00"', "prices_cny.seal: unknown key (known keys: official,"),
        ("[prices_cny]\nofficial = true", "prices_cny.official: "),
        ('kinds = "limited_company"', "kinds: "),
    ],
)
def test_a_bad_value_names_the_file_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SubsidyPolicyError) as caught:
        load_subsidy_policy(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, 'cap_per_enterprise_cny = "x"\n[prices_cny]\ncontract = "-5"\n')
    with pytest.raises(SubsidyPolicyError) as caught:
        load_subsidy_policy(path)
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["cap_per_enterprise_cny", "prices_cny.contract"]


def test_an_unreadable_or_broken_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(SubsidyPolicyError, match=f"{missing}: cannot read the subsidy policy file"):
        load_subsidy_policy(missing)
    broken = write(tmp_path, "kinds = [")
    with pytest.raises(SubsidyPolicyError, match=f"{broken}: not valid TOML"):
        load_subsidy_policy(broken)
