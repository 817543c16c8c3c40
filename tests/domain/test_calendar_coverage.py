"""How far ahead the official calendar is known (domain/calendar_coverage.py), and
``starter.py calendar`` run as operators run it, a real process.

Expected days come from ``chinese_calendar`` itself, never typed in from memory: the test follows
the package's data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from domain.calendar_coverage import WARN_DAYS_AHEAD, calendar_coverage, year_calendar
from domain.sla_policy import SlaPolicy
from domain.working_time import official_data_years

ROOT = Path(__file__).resolve().parents[2]
FIRST_OFFICIAL, LAST_OFFICIAL = official_data_years()
NEXT = LAST_OFFICIAL + 1  # the first year the package has no data for (2027 with 1.11.0)
END = date(LAST_OFFICIAL, 12, 31)


def official_days(year: int) -> tuple[list[date], list[date]]:
    """(weekdays off, weekend days on) of ``year`` by chinese_calendar."""
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(366)]
    days = [d for d in days if d.year == year]
    off = [d for d in days if d.weekday() < 5 and not chinese_calendar.is_workday(d)]
    on = [d for d in days if d.weekday() >= 5 and chinese_calendar.is_workday(d)]
    return off, on


def policy_for(year: int) -> SlaPolicy:
    """An SLA policy that enters a (made-up, example) State Council notice for ``year``."""
    return SlaPolicy(extra_holidays=[date(year, 1, 1), date(year, 10, 1)], extra_workdays=[date(year, 9, 26)])


# --- coverage ------------------------------------------------------------------------------------


def test_the_package_data_ends_on_the_last_day_of_its_last_year() -> None:
    assert LAST_OFFICIAL >= 2026
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(NEXT, 1, 4))
    chinese_calendar.is_workday(END)  # the last day is still covered
    coverage = calendar_coverage(SlaPolicy(), today=date(LAST_OFFICIAL, 12, 1))
    assert coverage.official_until == END
    assert coverage.known_until == END
    assert coverage.extended_by_policy == ()
    assert coverage.days_ahead == 30


def test_fewer_than_60_days_ahead_is_a_warning_naming_the_year_and_the_fix() -> None:
    coverage = calendar_coverage(SlaPolicy(), today=date(LAST_OFFICIAL, 12, 1))
    assert coverage.warning is not None
    assert f"enter the State Council notice for {NEXT}" in coverage.warning
    assert "extra_holidays/extra_workdays" in coverage.warning
    assert "docs/operations.md" in coverage.warning
    assert f"{END.isoformat()} (30 days ahead)" in coverage.warning
    # Exactly 60 days ahead: no warning yet; 59: a warning.
    assert calendar_coverage(SlaPolicy(), today=END - timedelta(days=WARN_DAYS_AHEAD)).warning is None
    assert calendar_coverage(SlaPolicy(), today=END - timedelta(days=WARN_DAYS_AHEAD - 1)).warning


def test_once_passed_the_days_ahead_are_negative_and_the_warning_says_so() -> None:
    coverage = calendar_coverage(SlaPolicy(), today=date(NEXT, 1, 10))
    assert coverage.days_ahead == -10
    assert coverage.warning is not None
    assert "ran out" in coverage.warning and "10 days ago" in coverage.warning
    assert f"notice for {NEXT}" in coverage.warning


def test_a_policy_with_extras_in_the_next_year_extends_the_calendar_to_its_end() -> None:
    coverage = calendar_coverage(policy_for(NEXT), today=date(LAST_OFFICIAL, 12, 1))
    assert coverage.official_until == END
    assert coverage.known_until == date(NEXT, 12, 31)
    assert coverage.extended_by_policy == (NEXT,)
    assert coverage.days_ahead == 30 + (date(NEXT, 12, 31) - END).days
    assert coverage.warning is None


def test_a_year_counts_only_with_an_extra_day_in_it_and_only_without_a_gap() -> None:
    # Extras only in the year after next: the next year would still be counted weekends only.
    gap = SlaPolicy(extra_holidays=[date(NEXT + 1, 1, 1)])
    assert calendar_coverage(gap, today=date(LAST_OFFICIAL, 12, 1)).known_until == END
    # A make-up workday alone counts too; two years in a row extend to the end of the second.
    both = SlaPolicy(extra_workdays=[date(NEXT, 2, 6)], extra_holidays=[date(NEXT + 1, 1, 1)])
    coverage = calendar_coverage(both, today=date(LAST_OFFICIAL, 12, 1))
    assert coverage.known_until == date(NEXT + 1, 12, 31)
    assert coverage.extended_by_policy == (NEXT, NEXT + 1)
    # Extras inside the official years change nothing about how far ahead it is known.
    inside = SlaPolicy(extra_holidays=[date(LAST_OFFICIAL, 3, 3)])
    assert calendar_coverage(inside, today=date(LAST_OFFICIAL, 12, 1)).known_until == END


def test_today_is_taken_in_the_policy_time_zone() -> None:
    shanghai, samoa = SlaPolicy(), SlaPolicy(timezone="Pacific/Pago_Pago")  # UTC+8 and UTC-11
    a, b = calendar_coverage(shanghai), calendar_coverage(samoa)
    assert 0 <= (a.today - b.today).days <= 1
    assert a.days_ahead - b.days_ahead == (b.today - a.today).days


# --- one year ------------------------------------------------------------------------------------


def test_an_official_year_lists_exactly_the_package_holidays_and_make_up_days() -> None:
    off, on = official_days(LAST_OFFICIAL)
    found = year_calendar(LAST_OFFICIAL)
    assert found.official
    assert [d.day for d in found.days if d.kind == "holiday"] == off
    assert [d.day for d in found.days if d.kind == "make-up workday"] == on
    assert {d.source for d in found.days} == {"official"}
    assert found.by_source == {"official": 365, "policy": 0, "weekends-only guess": 0}
    # Weekend days of an official holiday period are shown too, named, as no change to working time.
    weekend_off = [d for d in found.days if d.kind == "holiday on a weekend"]
    assert weekend_off and all(d.day.weekday() >= 5 and d.name for d in weekend_off)
    assert found.working_days + found.days_off == 365


def test_a_year_without_data_is_a_weekends_only_guess_plus_the_policy() -> None:
    found = year_calendar(NEXT)
    assert not found.official and not found.covered_by_policy
    assert found.days == ()
    assert found.by_source["weekends-only guess"] == (date(NEXT, 12, 31) - date(NEXT, 1, 1)).days + 1
    entered = year_calendar(NEXT, policy_for(NEXT))
    assert entered.covered_by_policy
    assert [(d.day, d.working, d.source) for d in entered.days] == [
        (date(NEXT, 1, 1), False, "policy"),
        (date(NEXT, 9, 26), True, "policy"),
        (date(NEXT, 10, 1), False, "policy"),
    ]
    for d in entered.days:
        weekend = d.day.weekday() >= 5
        if d.working:
            assert d.kind == ("make-up workday" if weekend else "workday")
        else:
            assert d.kind == ("holiday on a weekend" if weekend else "holiday")


def test_year_calendar_refuses_what_is_not_a_year() -> None:
    for year in (0, 10000):
        with pytest.raises(ValueError, match="is not a year"):
            year_calendar(year)
    assert year_calendar(9999).working_days > 0  # the last representable day does not overflow


# --- starter.py calendar, a real process ----------------------------------------------------------


def starter(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    env["ODS_TEMPORAL_ADDRESS"] = "127.0.0.1:1"  # nothing there: the command needs no Temporal
    return subprocess.run(
        [sys.executable, "starter.py", "calendar", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def line_of(output: str, day: date) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(day.isoformat())]
    return line


def columns_of(output: str, day: date) -> list[str]:
    """date, weekday, kind, source, name of ``day``'s line."""
    return re.split(r"\s{2,}", line_of(output, day))


def test_calendar_command_prints_an_official_year() -> None:
    done = starter("--year", str(LAST_OFFICIAL))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    first = out.splitlines()[0]
    assert first.startswith(f"{LAST_OFFICIAL}: official State Council schedule"), first
    off, on = official_days(LAST_OFFICIAL)
    for day in off:
        assert columns_of(out, day)[2:4] == ["holiday", "official"]
    for day in on:
        assert columns_of(out, day)[2:4] == ["make-up workday", "official"]
    # National Day (1 October) is an official holiday, named.
    october_1 = date(LAST_OFFICIAL, 10, 1)
    assert october_1 in off
    assert columns_of(out, october_1)[4].startswith("国庆节 National Day")
    # An ordinary working day is not listed.
    ordinary = next(
        date(LAST_OFFICIAL, 3, d)
        for d in range(1, 29)
        if date(LAST_OFFICIAL, 3, d).weekday() < 5 and chinese_calendar.is_workday(date(LAST_OFFICIAL, 3, d))
    )
    assert ordinary.isoformat() not in out
    assert f"holidays on weekdays {len(off)}," in out and f"make-up workdays {len(on)}" in out, (
        out.splitlines()[-4:]
    )
    assert "days decided by: official data 365, the policy 0, weekends-only guess 0" in out


def test_calendar_command_says_plainly_when_a_year_has_no_official_data() -> None:
    done = starter("--year", str(NEXT))
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()[:2]
    assert first.startswith(f"NO OFFICIAL DATA FOR {NEXT}:"), first
    assert "weekends only" in first
    assert f"enter the State Council notice for {NEXT}" in second
    assert "weekends-only guess 365" in done.stdout or "weekends-only guess 366" in done.stdout


def test_calendar_command_shows_the_days_a_policy_enters(tmp_path: Path) -> None:
    policy = tmp_path / "sla.toml"
    policy.write_text(
        f'extra_holidays = ["{NEXT}-01-01", "{NEXT}-10-01"]\nextra_workdays = ["{NEXT}-09-26"]\n',
        encoding="utf-8",
    )
    done = starter("--year", str(NEXT), "--policy", str(policy))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith(f"NO OFFICIAL DATA FOR {NEXT}:")
    assert "counts as covered by the policy" in out
    for day in ("01-01", "09-26", "10-01"):
        columns = columns_of(out, date.fromisoformat(f"{NEXT}-{day}"))
        assert columns[3] == "policy" and columns[4].startswith("the policy's extra_")
    assert f"calendar known until {NEXT}-12-31" in out


def test_calendar_command_refuses_an_invalid_year_with_exit_1() -> None:
    for year in ("20x7", "0", "12345", "-1"):
        done = starter("--year", year)
        assert done.returncode == 1, (year, done.stdout, done.stderr)
        assert "is not a year" in done.stderr
        assert done.stdout == ""


def test_calendar_command_refuses_a_broken_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "sla.toml"
    policy.write_text('extra_holidays = ["2027-13-01"]\n', encoding="utf-8")
    done = starter("--year", "2027", "--policy", str(policy))
    assert done.returncode == 1
    assert "extra_holidays" in done.stderr
