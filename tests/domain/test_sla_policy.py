"""The SLA policy file (domain/sla_policy.py): defaults, partial files, and errors that name
file and key."""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import pytest

from domain.sla_policy import SlaPolicy, SlaPolicyError, WorkingBlock, load_sla_policy, parse_duration
from tests.factories import policy_file

CONTRACT_EXAMPLE = """
clock = "working_hours"          # or "wall"
timezone = "Asia/Shanghai"
working_hours = ["09:00-12:00", "13:00-17:00"]
at_risk_fraction = 0.75
supplement_window = "35h"        # applicant's time to supplement, then rejected
extra_holidays = []              # ["2027-01-01", …] for years the calendar lacks
extra_workdays = []
[limits]
registration = "4h"
seal_carving = "2h"
invoice = "1h"
overall = "7h"
delivery = "14h"
"""


write = partial(policy_file, name="sla.toml")


def test_no_file_means_the_defaults_of_the_contract() -> None:
    policy = load_sla_policy(None)
    assert policy.clock == "working_hours"
    assert policy.timezone == "Asia/Shanghai"
    assert policy.working_blocks == (
        WorkingBlock(timedelta(hours=9), timedelta(hours=12)),
        WorkingBlock(timedelta(hours=13), timedelta(hours=17)),
    )
    assert policy.at_risk_fraction == 0.75
    assert policy.supplement_window_td == timedelta(hours=35)
    assert policy.extra_holidays == [] and policy.extra_workdays == []
    assert {stage: policy.limit(stage) for stage in ("registration", "seal_carving", "invoice")} == {
        "registration": timedelta(hours=4),
        "seal_carving": timedelta(hours=2),
        "invoice": timedelta(hours=1),
    }
    assert policy.limit("overall") == timedelta(hours=7)
    assert policy.limit("delivery") == timedelta(hours=14)


def test_the_contract_example_file_is_the_default_policy(tmp_path: Path) -> None:
    assert load_sla_policy(write(tmp_path, CONTRACT_EXAMPLE)) == SlaPolicy()


def test_keys_left_out_take_their_defaults(tmp_path: Path) -> None:
    policy = load_sla_policy(write(tmp_path, 'clock = "wall"\n[limits]\nregistration = "90s"\n'))
    assert policy.clock == "wall"
    assert policy.limit("registration") == timedelta(seconds=90)
    assert policy.limit("seal_carving") == timedelta(hours=2)
    assert policy.timezone == "Asia/Shanghai"
    assert load_sla_policy(write(tmp_path, "")) == SlaPolicy()


def test_extra_days_take_toml_dates_and_iso_strings(tmp_path: Path) -> None:
    policy = load_sla_policy(
        write(tmp_path, 'extra_holidays = [2027-01-01, "2027-02-10"]\nextra_workdays = ["2027-02-07"]\n')
    )
    assert policy.extra_holidays == [date(2027, 1, 1), date(2027, 2, 10)]
    assert policy.extra_workdays == [date(2027, 2, 7)]


def test_the_policy_survives_json_so_a_workflow_input_can_capture_it(tmp_path: Path) -> None:
    policy = load_sla_policy(
        write(
            tmp_path,
            'extra_holidays = [2027-01-01]\nsupplement_window = "1h30m"\n[limits]\ninvoice = "45m"\n',
        )
    )
    text = json.dumps(policy.model_dump(mode="json"))
    again = SlaPolicy.model_validate_json(text)
    assert again == policy
    assert again.limits.invoice == "45m"  # the operator's own words are kept
    assert again.supplement_window_td == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4h", timedelta(hours=4)),
        ("90m", timedelta(minutes=90)),
        ("30s", timedelta(seconds=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h0m5s", timedelta(hours=1, seconds=5)),
        ("100h", timedelta(hours=100)),
    ],
)
def test_durations_take_hours_minutes_and_seconds(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["4x", "", "h", "-1h", "1.5h", "30m1h", "4 h", "4H", "4d", "0h", "0m0s"])
def test_a_duration_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("toml", "key", "says"),
    [
        (
            '[limits]\nregistration = "4x"',
            "limits.registration",
            '"4x" is not a duration (use s, m or h, e.g. "4h")',
        ),
        ("[limits]\ninvoice = 1", "limits.invoice", "valid string"),
        ('[limits]\nseal = "2h"', "limits.seal", "unknown key"),
        ('[limits]\ndelivery = "0s"', "limits.delivery", "not a positive duration"),
        ('limits = "7h"', "limits", "SlaLimits"),
        ('colour = "red"', "colour", "unknown key"),
        ('clock = "sundial"', "clock", "'working_hours' or 'wall'"),
        ('timezone = "Mars/Olympus"', "timezone", "not a known IANA time zone"),
        ('working_hours = ["9-5"]', "working_hours[0]", "not a working block"),
        ('working_hours = ["09:00-12:00", "25:00-26:00"]', "working_hours[1]", "not a time of day"),
        ('working_hours = ["17:00-09:00"]', "working_hours[0]", "ends before it starts"),
        ('working_hours = ["09:00-12:00", "11:00-17:00"]', "working_hours", '"11:00-17:00" starts before'),
        ('working_hours = ["13:00-17:00", "09:00-12:00"]', "working_hours", '"09:00-12:00" starts before'),
        ("working_hours = []", "working_hours", "at least one block"),
        ("at_risk_fraction = 1.0", "at_risk_fraction", "less than 1"),
        ("at_risk_fraction = 0", "at_risk_fraction", "greater than 0"),
        ('at_risk_fraction = "0.75"', "at_risk_fraction", "valid number"),
        ('supplement_window = "35"', "supplement_window", '"35" is not a duration'),
        ('extra_holidays = ["2027-02-30"]', "extra_holidays[0]", "not an ISO date"),
        ("extra_holidays = [20270101]", "extra_holidays[0]", "not an ISO date"),
        ("extra_workdays = [2027-01-02T09:00:00]", "extra_workdays[0]", "not an ISO date"),
        (
            'extra_holidays = ["2027-01-01"]\nextra_workdays = [2027-01-01]',
            "extra_workdays",
            "2027-01-01 also listed in extra_holidays",
        ),
    ],
)
def test_every_error_names_the_file_and_the_key(tmp_path: Path, toml: str, key: str, says: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(SlaPolicyError) as caught:
        load_sla_policy(path)
    assert f"{path}: {key}: " in str(caught.value)
    assert says in str(caught.value)


def test_all_the_problems_of_a_file_are_told_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, 'clock = "sundial"\nsurprise = 1\n[limits]\nregistration = "4x"\ninvoice = "1y"\n')
    with pytest.raises(SlaPolicyError) as caught:
        load_sla_policy(path)
    lines = str(caught.value).splitlines()
    assert sorted(line.split(": ")[1] for line in lines) == [
        "clock",
        "limits.invoice",
        "limits.registration",
        "surprise",
    ]
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_a_file_that_is_not_toml_or_not_there_is_named(tmp_path: Path) -> None:
    broken = write(tmp_path, "clock = \n")
    with pytest.raises(SlaPolicyError, match=f"^{broken}: not valid TOML"):
        load_sla_policy(broken)
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(SlaPolicyError, match=f"^{missing}: cannot read"):
        load_sla_policy(missing)


def test_the_policy_error_is_a_value_error() -> None:
    assert issubclass(SlaPolicyError, ValueError)


def test_a_stage_without_a_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stage 'notary'"):
        SlaPolicy().limit("notary")


def test_a_block_may_end_at_midnight_and_blocks_may_touch() -> None:
    policy = SlaPolicy(working_hours=["00:00-12:00", "12:00-24:00"])
    assert policy.working_blocks[-1] == WorkingBlock(timedelta(hours=12), timedelta(hours=24))
