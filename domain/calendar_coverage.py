"""How far ahead the official working calendar is known, and what one year of it holds.

Working time (``domain.working_time``) follows the State Council holiday schedule that the
``chinese-calendar`` package carries, for whole years (2004 to 2026 in 1.11.0). The schedule for a
year is published late in the year before, so every year the package runs out until an update, or
until operations enter the notice in the SLA policy's ``extra_holidays`` / ``extra_workdays``.

The coverage rule:

- A year the package has data for is covered (``official``).
- A later year is covered by the policy only if the policy lists at least one day of that year in
  ``extra_holidays`` or ``extra_workdays``. A State Council notice always names public holidays, so
  a year with nothing entered is a year nobody has entered yet, not a year without holidays.
- The calendar is *known until* the last day of the unbroken run of covered years that starts with
  the package's: a policy that lists 2028 but nothing for 2027 still leaves it known until
  2026-12-31, because 2027 would be counted weekends only.

``days_ahead`` counts from today in the policy's time zone to ``known_until`` (negative once it has
passed). Fewer than ``WARN_DAYS_AHEAD`` days come with a warning that names the year to enter and
how. Every process logs the coverage when it starts (``log_calendar_coverage``); the gateway's
``/healthz`` and its ``ods_calendar_covered_days`` gauge report it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import metadata
from typing import Any, Literal

import chinese_calendar
import structlog
from chinese_calendar.constants import Holiday

from domain.sla_policy import SlaPolicy
from domain.working_time import DayCalendar, official_data_years, official_is_working_day

WARN_DAYS_AHEAD = 60
RUNBOOK = "docs/operations.md"

DayKind = Literal["holiday", "holiday on a weekend", "make-up workday", "workday"]
DaySource = Literal["official", "policy", "weekends-only guess"]
_ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=1)
def calendar_package_version() -> str:
    try:
        return metadata.version("chinesecalendar")
    except metadata.PackageNotFoundError:  # pragma: no cover - installed with the project
        return "unknown"


def policy_years(policy: SlaPolicy) -> frozenset[int]:
    """The years in which the policy lists at least one extra holiday or workday."""
    return frozenset(d.year for d in (*policy.extra_holidays, *policy.extra_workdays))


@dataclass(frozen=True)
class CalendarCoverage:
    """How far ahead working time rests on a known calendar (see the module's coverage rule)."""

    today: date
    """Today in the policy's time zone."""
    official_until: date
    """The last day of ``chinese-calendar``'s data."""
    known_until: date
    """The last day of the official data, extended by the years the policy covers."""
    extended_by_policy: tuple[int, ...]
    """The years after the official data that the policy covers (part of ``known_until``)."""
    days_ahead: int
    """Days from ``today`` to ``known_until``; negative once it has passed."""
    warning: str | None
    """Set when fewer than ``WARN_DAYS_AHEAD`` days are known: what runs out and how to fix it."""

    @property
    def missing_year(self) -> int:
        """The first year that would be counted weekends only."""
        return self.known_until.year + 1

    def log_fields(self) -> dict[str, Any]:
        return {
            "known_until": self.known_until.isoformat(),
            "days_ahead": self.days_ahead,
            "official_until": self.official_until.isoformat(),
            "extended_by_policy": list(self.extended_by_policy),
        }


def calendar_coverage(policy: SlaPolicy | None = None, *, today: date | None = None) -> CalendarCoverage:
    """How far ahead the calendar is known under ``policy`` (None: the built-in policy), as of
    ``today`` (None: today in the policy's time zone)."""
    policy = policy or SlaPolicy()
    if today is None:
        today = datetime.now(policy.zone).date()
    _, last_official = official_data_years()
    entered = policy_years(policy)
    extended: list[int] = []
    year = last_official + 1
    while year in entered:
        extended.append(year)
        year += 1
    known_until = date(year - 1, 12, 31)
    days_ahead = (known_until - today).days
    return CalendarCoverage(
        today=today,
        official_until=date(last_official, 12, 31),
        known_until=known_until,
        extended_by_policy=tuple(extended),
        days_ahead=days_ahead,
        warning=_warning(known_until, days_ahead, today) if days_ahead < WARN_DAYS_AHEAD else None,
    )


def _warning(known_until: date, days_ahead: int, today: date) -> str:
    first = known_until.year + 1
    # The years to enter: the first one missing, up to the year the warning window reaches.
    last = max(first, (today + timedelta(days=WARN_DAYS_AHEAD)).year)
    years = str(first) if last == first else f"{first} to {last}"
    start = (known_until + _ONE_DAY).isoformat()
    if days_ahead >= 0:
        when = (
            f"the official holiday calendar is known only until {known_until.isoformat()} "
            f"({days_ahead} days ahead): from {start} working time counts weekends only"
        )
    else:
        when = (
            f"the official holiday calendar ran out on {known_until.isoformat()} ({-days_ahead} days "
            f"ago): since {start} working time counts weekends only"
        )
    return (
        f"{when}; enter the State Council notice for {years} in the SLA policy's "
        f"extra_holidays/extra_workdays, {RUNBOOK}"
    )


def log_calendar_coverage(log: structlog.stdlib.BoundLogger, coverage: CalendarCoverage) -> None:
    """The start-up line every process writes: INFO, or WARNING when the calendar is running out."""
    if coverage.warning is None:
        log.info("working calendar known ahead", **coverage.log_fields())
    else:
        log.warning(
            "working calendar running out",
            year=coverage.missing_year,
            detail=coverage.warning,
            **coverage.log_fields(),
        )


# --- one year, for ``starter.py calendar`` ------------------------------------------------------


@dataclass(frozen=True)
class SpecialDay:
    """A day that is not an ordinary weekday-workday or weekend, or one the policy names."""

    day: date
    working: bool
    kind: DayKind
    source: DaySource
    name: str
    """The holiday's name (元旦 New Year's Day), what the policy says, or empty."""


@dataclass(frozen=True)
class YearCalendar:
    year: int
    official: bool
    """``chinese-calendar`` has the State Council schedule for this year."""
    covered_by_policy: bool
    """The policy lists at least one extra day in this year (the coverage rule)."""
    days: tuple[SpecialDay, ...]
    working_days: int
    days_off: int
    by_source: dict[DaySource, int]
    """How many days of the year each source decided."""

    def count(self, kind: DayKind) -> int:
        return sum(1 for d in self.days if d.kind == kind)


def _holiday_name(day: date) -> str:
    _, name = chinese_calendar.get_holiday_detail(day)
    if not name:
        return ""
    try:
        text = f"{Holiday(name).chinese} {name}"
    except ValueError:  # pragma: no cover - a name the enum does not know
        text = str(name)
    if chinese_calendar.is_in_lieu(day):
        text += " (in lieu, 调休)"
    return text


def year_calendar(year: int, policy: SlaPolicy | None = None) -> YearCalendar:
    """Every special day of ``year`` under ``policy``: holidays (weekdays off, and the weekend days
    of an official holiday period), make-up workdays, and every day the policy lists, each with
    where the answer comes from. ValueError for a year ``datetime.date`` cannot hold."""
    if not 1 <= year <= 9999:
        raise ValueError(f"{year} is not a year (1 to 9999)")
    policy = policy or SlaPolicy()
    calendar = DayCalendar.official(policy)
    extra_holidays, extra_workdays = set(policy.extra_holidays), set(policy.extra_workdays)
    first_official, last_official = official_data_years()
    official = first_official <= year <= last_official
    special: list[SpecialDay] = []
    working_days = 0
    by_source: dict[DaySource, int] = {"official": 0, "policy": 0, "weekends-only guess": 0}
    first_day = date(year, 1, 1)
    total = (date(year, 12, 31) - first_day).days + 1
    for offset in range(total):
        day = first_day + timedelta(days=offset)
        working = calendar.is_working_day(day)
        working_days += working
        weekend = day.weekday() >= 5
        by_policy = day in extra_holidays or day in extra_workdays
        source: DaySource = "policy" if by_policy else "official" if official else "weekends-only guess"
        by_source[source] += 1
        name = _holiday_name(day) if official else ""
        if by_policy:
            was = official_is_working_day(day)
            said = "extra_workdays" if day in extra_workdays else "extra_holidays"
            overrides = (
                f", overrides the official {'workday' if was else 'day off'}"
                if was is not None and was != working
                else ""
            )
            name = f"{name}; " if name else ""
            name += f"the policy's {said}{overrides}"
        if working != (not weekend) or by_policy or (weekend and name):
            kind: DayKind = (
                ("make-up workday" if weekend else "workday")
                if working
                else ("holiday on a weekend" if weekend else "holiday")
            )
            special.append(SpecialDay(day, working, kind, source, name))
    return YearCalendar(
        year=year,
        official=official,
        covered_by_policy=year in policy_years(policy),
        days=tuple(special),
        working_days=working_days,
        days_off=total - working_days,
        by_source=by_source,
    )
