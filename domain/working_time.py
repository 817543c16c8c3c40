"""The SLA policy's working-time clock: deadlines and at-risk points counted in working hours.

Working time is the policy's working blocks (09:00-12:00, 13:00-17:00) on working days. A working day
follows the State Council holiday schedule from ``chinese_calendar``: weekends and official public
holidays are off, official make-up working days (调休) are on; the policy's ``extra_holidays`` and
``extra_workdays`` override both. A year the package has no data for counts weekends only (plus the
extras) and is reported in ``DayCalendar.uncovered_years`` so the case status and logs can say so.

Everything here is pure and deterministic. The workflow must not consult ``chinese_calendar``
itself (a package update would change a recorded history): an activity computes a ``CalendarSlice``
with ``calendar_slice`` and the workflow does the arithmetic with ``DayCalendar.from_slice``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, ConfigDict

from domain.sla_policy import SlaPolicy, load_sla_policy

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)
# A calendar with no working day for this long is broken (e.g. a slice marked all holidays); stop
# rather than loop for ever.
_MAX_IDLE_DAYS = 400


class OutsideCalendarSlice(LookupError):
    """The arithmetic needed a day the precomputed calendar slice does not hold; fetch a longer slice."""

    def __init__(self, day: date, first: date | None, last: date | None) -> None:
        self.day = day
        super().__init__(
            f"{day.isoformat()} is outside the calendar slice ({first} to {last}); fetch a longer one"
        )


class CalendarSlice(BaseModel):
    """Working-day answers for ``first_day``..``last_day`` (inclusive), computed in an activity.

    ``uncovered_years`` lists the years in the range that had no official holiday data and were
    counted weekends-only (plus the policy's extras).
    """

    model_config = ConfigDict(frozen=True)

    first_day: date
    last_day: date
    working: dict[date, bool]
    uncovered_years: list[int] = []


@lru_cache(maxsize=1)
def official_data_years() -> tuple[int, int]:
    """The first and last year ``chinese_calendar`` carries the State Council schedule for (whole years:
    the package refuses any date outside them)."""
    holidays = chinese_calendar.holidays
    return min(holidays).year, max(holidays).year


@lru_cache(maxsize=8192)  # chinese_calendar rescans its whole table on every call
def official_is_working_day(day: date) -> bool | None:
    """The State Council schedule for ``day`` (make-up days included), or None for a year without data."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


class DayCalendar:
    """Decides whether a date is a working day.

    ``uncovered_years`` is the set of years this calendar has answered for without official data,
    so after computing a deadline it says whether that deadline rests on a weekends-only guess.
    """

    def __init__(
        self,
        *,
        days: Mapping[date, bool] | None = None,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        uncovered_years: Iterable[int] = (),
    ) -> None:
        # days given: a precomputed slice, nothing outside it is known; else: the official schedule.
        self._days = dict(days) if days is not None else None
        self._extra_holidays = frozenset(extra_holidays)
        self._extra_workdays = frozenset(extra_workdays)
        self._slice_uncovered = frozenset(uncovered_years)
        self._uncovered: set[int] = set()

    @classmethod
    def official(cls, policy: SlaPolicy | None = None) -> DayCalendar:
        """The State Council schedule from ``chinese_calendar``, overridden by the policy's extras."""
        policy = policy or SlaPolicy()
        return cls(extra_holidays=policy.extra_holidays, extra_workdays=policy.extra_workdays)

    @classmethod
    def from_days(cls, days: Mapping[date, bool], uncovered_years: Iterable[int] = ()) -> DayCalendar:
        """A calendar that knows only ``days`` (extras already applied).

        Any other day raises OutsideCalendarSlice.
        """
        return cls(days=days, uncovered_years=uncovered_years)

    @classmethod
    def from_slice(cls, days: CalendarSlice) -> DayCalendar:
        return cls.from_days(days.working, days.uncovered_years)

    @property
    def uncovered_years(self) -> frozenset[int]:
        return frozenset(self._uncovered)

    def is_working_day(self, day: date) -> bool:
        if self._days is not None:
            if day not in self._days:
                known = (min(self._days), max(self._days)) if self._days else (None, None)
                raise OutsideCalendarSlice(day, *known)
            if day.year in self._slice_uncovered:
                self._uncovered.add(day.year)
            return self._days[day]
        official = official_is_working_day(day)
        if official is None:
            # Reported even when the extras decide the day: the year still lacks an official schedule.
            self._uncovered.add(day.year)
        if day in self._extra_workdays:
            return True
        if day in self._extra_holidays:
            return False
        return official if official is not None else day.weekday() < 5

    def slice(self, first_day: date, last_day: date) -> CalendarSlice:
        """This calendar's answers for ``first_day``..``last_day``, to hand to a workflow."""
        if last_day < first_day:
            raise ValueError(f"calendar slice ends ({last_day}) before it starts ({first_day})")
        probe = DayCalendar(
            days=self._days,
            extra_holidays=self._extra_holidays,
            extra_workdays=self._extra_workdays,
            uncovered_years=self._slice_uncovered,
        )
        working = {day: probe.is_working_day(day) for day in _days(first_day, last_day)}
        return CalendarSlice(
            first_day=first_day,
            last_day=last_day,
            working=working,
            uncovered_years=sorted(probe.uncovered_years),
        )


def calendar_slice(first_day: date, last_day: date, policy: SlaPolicy) -> CalendarSlice:
    """Working days from the official schedule plus the policy's extras; the body of the calendar activity."""
    return DayCalendar.official(policy).slice(first_day, last_day)


def add_working_time(
    start: datetime, duration: timedelta, policy: SlaPolicy, calendar: DayCalendar
) -> datetime:
    """The instant at which ``duration`` of working time counted from ``start`` has run out.

    A start outside working hours counts from the next block's start. Running out exactly at the end
    of a block (12:00, 17:00) gives that instant, not the start of the next block. ``clock = "wall"``
    counts plain elapsed time. The result is in the policy's time zone.
    """
    _require_aware(start, "start")
    if duration < _ZERO:
        raise ValueError(f"cannot count a negative duration ({duration})")
    zone = policy.zone
    if policy.clock == "wall" or duration == _ZERO:
        return (start.astimezone(UTC) + duration).astimezone(zone)
    start_utc = start.astimezone(UTC)
    remaining = duration
    for block_start, block_end in _working_intervals(start_utc, policy, calendar):
        begin = max(block_start, start_utc)
        available = block_end - begin
        if remaining <= available:
            return (begin + remaining).astimezone(zone)
        remaining -= available
    raise AssertionError("unreachable: _working_intervals never ends")  # pragma: no cover


def working_time_between(a: datetime, b: datetime, policy: SlaPolicy, calendar: DayCalendar) -> timedelta:
    """Working time elapsed from ``a`` to ``b`` (zero if ``b`` is not after ``a``).

    Used to pause a clock while awaiting a supplement: the deadline moves by this much.
    """
    _require_aware(a, "a")
    _require_aware(b, "b")
    a_utc, b_utc = a.astimezone(UTC), b.astimezone(UTC)
    if b_utc <= a_utc:
        return _ZERO
    if policy.clock == "wall":
        return b_utc - a_utc
    elapsed = _ZERO
    for block_start, block_end in _working_intervals(a_utc, policy, calendar, until=b_utc):
        elapsed += min(block_end, b_utc) - max(block_start, a_utc)
    return elapsed


def at_risk_point(start: datetime, limit: timedelta, policy: SlaPolicy, calendar: DayCalendar) -> datetime:
    """When ``at_risk_fraction`` of the limit's working time has run out, counted like the deadline."""
    return add_working_time(start, limit * policy.at_risk_fraction, policy, calendar)


def stage_deadline(stage: str, start: datetime, policy: SlaPolicy, calendar: DayCalendar) -> datetime:
    """The deadline of ``stage`` (registration, seal_carving, invoice, overall, delivery) from ``start``."""
    return add_working_time(start, policy.limit(stage), policy, calendar)


def deadline_command(stage: str, start: str, policy_path: Path | None) -> str:
    """``starter.py deadline``: the stage's deadline as ISO 8601 in the policy's zone, on the real calendar.

    ``start`` without an offset is read in the policy's time zone. Bad input raises ValueError.
    """
    policy = load_sla_policy(policy_path)
    try:
        started = datetime.fromisoformat(start.strip())
    except ValueError:
        raise ValueError(
            f"--start {start!r} is not an ISO 8601 date-time (e.g. 2026-11-23T10:00+08:00)"
        ) from None
    if started.tzinfo is None:
        started = started.replace(tzinfo=policy.zone)
    return stage_deadline(stage, started, policy, DayCalendar.official(policy)).isoformat()


def _working_intervals(
    start_utc: datetime, policy: SlaPolicy, calendar: DayCalendar, until: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """The working blocks (UTC start, UTC end) that end after ``start_utc``, in order.

    Endless unless ``until`` is given, in which case it stops before the first block starting at or
    after ``until``. Whole non-working days are skipped with one calendar look-up each.
    """
    zone = policy.zone
    blocks = policy.working_blocks
    day = start_utc.astimezone(zone).date()
    idle_days = 0
    while True:
        if until is not None and _local(day, timedelta(0), zone) >= until:
            return
        if calendar.is_working_day(day):
            idle_days = 0
            for block in blocks:
                block_start, block_end = _local(day, block.start, zone), _local(day, block.end, zone)
                if until is not None and block_start >= until:
                    return
                if block_end > start_utc:
                    yield block_start, block_end
        else:
            idle_days += 1
            if idle_days > _MAX_IDLE_DAYS:
                raise ValueError(
                    f"no working day in the {_MAX_IDLE_DAYS} days before {day}; check the calendar"
                )
        day += _ONE_DAY


def _local(day: date, offset: timedelta, zone: ZoneInfo) -> datetime:
    """Local wall time ``day`` + ``offset`` (24:00 is next midnight) as a UTC instant."""
    wall = datetime.combine(day, time(0)) + offset
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += _ONE_DAY


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone offset, got naive {moment.isoformat()}")
