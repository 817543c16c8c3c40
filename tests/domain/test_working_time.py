"""The working-time clock (domain/working_time.py), across the 2026 State Council schedule and beyond it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.sla_policy import SlaPolicy
from domain.working_time import (
    CalendarSlice,
    DayCalendar,
    OutsideCalendarSlice,
    add_working_time,
    at_risk_point,
    calendar_slice,
    deadline_command,
    stage_deadline,
    working_time_between,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = SlaPolicy()


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def deadline(start: datetime, hours: float, policy: SlaPolicy = POLICY) -> datetime:
    return add_working_time(start, timedelta(hours=hours), policy, DayCalendar.official(policy))


def between(a: datetime, b: datetime, policy: SlaPolicy = POLICY) -> timedelta:
    return working_time_between(a, b, policy, DayCalendar.official(policy))


def at_risk(start: datetime, hours: float, policy: SlaPolicy = POLICY) -> datetime:
    return at_risk_point(start, timedelta(hours=hours), policy, DayCalendar.official(policy))


# --- the working day -----------------------------------------------------------------------------


def test_a_four_hour_registration_from_monday_ten_skips_lunch() -> None:
    assert deadline(at(2026, 11, 23, 10), 4) == at(2026, 11, 23, 15)


def test_a_limit_that_runs_out_at_noon_is_due_at_noon_not_after_lunch() -> None:
    assert deadline(at(2026, 11, 23, 11), 1) == at(2026, 11, 23, 12)


def test_a_limit_that_runs_out_at_five_is_due_at_five_not_next_morning() -> None:
    assert deadline(at(2026, 11, 23, 15), 2) == at(2026, 11, 23, 17)


def test_what_is_left_at_five_carries_over_to_the_next_working_morning() -> None:
    assert deadline(at(2026, 11, 23, 16), 2) == at(2026, 11, 24, 10)


def test_friday_afternoon_carries_over_the_weekend_to_monday() -> None:
    assert deadline(at(2026, 11, 27, 16), 2) == at(2026, 11, 30, 10)


def test_a_saturday_start_counts_from_monday_nine() -> None:
    assert deadline(at(2026, 11, 28, 13, 30), 1) == at(2026, 11, 30, 10)


def test_a_lunchtime_start_counts_from_one() -> None:
    assert deadline(at(2026, 11, 23, 12, 30), 1) == at(2026, 11, 23, 14)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (at(2026, 11, 23, 7, 15), at(2026, 11, 23, 10)),  # before opening
        (at(2026, 11, 23, 12), at(2026, 11, 23, 14)),  # exactly at the start of lunch
        (at(2026, 11, 23, 17), at(2026, 11, 24, 10)),  # exactly at closing
        (at(2026, 11, 23, 22), at(2026, 11, 24, 10)),  # at night
        (at(2026, 11, 23, 11, 59, 59), at(2026, 11, 23, 13, 59, 59)),
    ],
)
def test_a_start_outside_working_hours_counts_from_the_next_block(start: datetime, due: datetime) -> None:
    assert deadline(start, 1) == due


def test_the_deadline_is_in_the_policy_zone_whatever_zone_the_start_was_given_in() -> None:
    due = deadline(datetime(2026, 11, 23, 2, tzinfo=UTC), 4)  # 10:00 in Shanghai
    assert due == at(2026, 11, 23, 15)
    assert due.utcoffset() == timedelta(hours=8)
    assert due.isoformat() == "2026-11-23T15:00:00+08:00"


def test_no_time_at_all_is_due_at_once() -> None:
    assert deadline(at(2026, 11, 28, 3), 0) == at(2026, 11, 28, 3)


def test_a_naive_start_or_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        deadline(datetime(2026, 11, 23, 10), 1)
    with pytest.raises(ValueError, match="negative"):
        deadline(at(2026, 11, 23, 10), -1)


def test_hundreds_of_hours_skip_whole_days() -> None:
    start = at(2026, 1, 5, 9)
    due = deadline(start, 700)  # 100 working days
    assert working_time_between(start, due, POLICY, DayCalendar.official()) == timedelta(hours=700)
    assert due.hour == 17


# --- the State Council schedule of 2026 -----------------------------------------------------------


def test_national_day_2026_is_seven_days_off() -> None:
    calendar = DayCalendar.official()
    assert [calendar.is_working_day(date(2026, 10, d)) for d in range(1, 9)] == [False] * 7 + [True]
    # Wednesday 30 September 16:00 + 2h: one hour that day, the next after the holiday.
    assert deadline(at(2026, 9, 30, 16), 2) == at(2026, 10, 8, 10)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        # Sunday 20 September is a make-up working day (调休) for National Day.
        (at(2026, 9, 18, 16), at(2026, 9, 20, 10)),
        # So is Saturday 10 October.
        (at(2026, 10, 9, 16), at(2026, 10, 10, 10)),
        # Saturday 14 February works before the Spring Festival (15-23 February off) …
        (at(2026, 2, 13, 16), at(2026, 2, 14, 10)),
        # … and Saturday 28 February after it.
        (at(2026, 2, 27, 16), at(2026, 2, 28, 10)),
        # Sunday 4 January works after New Year (1-3 January off).
        (at(2025, 12, 31, 16), at(2026, 1, 4, 10)),
        # Saturday 9 May works after Labour Day (1-5 May off).
        (at(2026, 5, 8, 16), at(2026, 5, 9, 10)),
    ],
)
def test_official_make_up_working_days_count(start: datetime, due: datetime) -> None:
    assert deadline(start, 2) == due


def test_the_spring_festival_2026_is_nine_days_off() -> None:
    assert deadline(at(2026, 2, 14, 16), 2) == at(2026, 2, 24, 10)


def test_mid_autumn_2026_is_its_own_holiday_before_national_day() -> None:
    assert deadline(at(2026, 9, 24, 16), 2) == at(2026, 9, 28, 10)  # Fri 25 September off


def test_a_year_the_calendar_covers_is_not_reported() -> None:
    calendar = DayCalendar.official()
    add_working_time(at(2026, 11, 23, 10), timedelta(hours=4), POLICY, calendar)
    assert calendar.uncovered_years == frozenset()


# --- beyond the calendar, and the policy's own days ------------------------------------------------


def test_a_year_beyond_the_calendar_counts_weekends_only_and_says_so() -> None:
    calendar = DayCalendar.official()
    # 1 January 2027 is a Friday; without official data it is a working day.
    due = add_working_time(at(2026, 12, 31, 16), timedelta(hours=2), POLICY, calendar)
    assert due == at(2027, 1, 1, 10)
    assert calendar.uncovered_years == frozenset({2027})
    weekend = DayCalendar.official()
    assert add_working_time(at(2027, 1, 2, 10), timedelta(hours=1), POLICY, weekend) == at(2027, 1, 4, 10)


def test_extra_holidays_close_a_day_of_a_year_beyond_the_calendar_which_stays_reported() -> None:
    policy = SlaPolicy(extra_holidays=[date(2027, 1, 1)])
    calendar = DayCalendar.official(policy)
    due = add_working_time(at(2026, 12, 31, 16), timedelta(hours=2), policy, calendar)
    assert due == at(2027, 1, 4, 10)
    assert calendar.uncovered_years == frozenset({2027})


def test_extra_days_override_the_official_schedule() -> None:
    # A local closure on an ordinary Tuesday.
    closed = SlaPolicy(extra_holidays=[date(2026, 11, 24)])
    assert deadline(at(2026, 11, 23, 16), 2, closed) == at(2026, 11, 25, 10)
    # The centre opens on Saturday 3 October despite National Day.
    opened = SlaPolicy(extra_workdays=[date(2026, 10, 3)])
    assert deadline(at(2026, 9, 30, 16), 2, opened) == at(2026, 10, 3, 10)


def test_other_working_hours_and_time_zones() -> None:
    around_the_clock = SlaPolicy(working_hours=["00:00-24:00"])
    assert deadline(at(2026, 11, 27, 20), 10, around_the_clock) == at(2026, 11, 30, 6)
    # Berlin moves its clocks on Sunday 29 March 2026; blocks are local wall time either side.
    berlin = SlaPolicy(timezone="Europe/Berlin", working_hours=["09:00-17:00"])
    start = datetime(2026, 3, 27, 16, tzinfo=ZoneInfo("Europe/Berlin"))
    due = deadline(start, 2, berlin)
    assert due.isoformat() == "2026-03-30T10:00:00+02:00"
    assert working_time_between(start, due, berlin, DayCalendar.official()) == timedelta(hours=2)


# --- the wall clock, the at-risk point, pauses ------------------------------------------------------


def test_the_wall_clock_counts_plain_time() -> None:
    wall = SlaPolicy(clock="wall")
    start = at(2026, 11, 28, 23, 59, 50)  # a Saturday night
    assert deadline(start, 30 / 3600, wall) == at(2026, 11, 29, 0, 0, 20)
    assert between(start, at(2026, 11, 30, 0), wall) == timedelta(days=1, seconds=10)


def test_the_at_risk_point_is_three_quarters_of_the_working_time() -> None:
    assert at_risk(at(2026, 11, 23, 10), 4) == at(2026, 11, 23, 14)
    assert at_risk(at(2026, 11, 23, 11, 30), 1) == at(2026, 11, 23, 13, 15)
    assert at_risk(at(2026, 11, 23, 16), 2, SlaPolicy(at_risk_fraction=0.5)) == at(2026, 11, 23, 17)


def test_working_time_between_counts_only_working_blocks() -> None:
    assert between(at(2026, 11, 23, 10), at(2026, 11, 24, 10)) == timedelta(hours=7)
    assert between(at(2026, 11, 23, 12), at(2026, 11, 23, 13)) == timedelta(0)
    assert between(at(2026, 9, 30, 16), at(2026, 10, 8, 10)) == timedelta(hours=2)
    assert between(at(2026, 11, 24), at(2026, 11, 23)) == timedelta(0)


def test_a_pause_while_awaiting_a_supplement_moves_the_deadline_by_the_paused_working_time() -> None:
    calendar = DayCalendar.official()
    start = at(2026, 11, 23, 10)
    due = add_working_time(start, POLICY.limit("registration"), POLICY, calendar)
    paused = working_time_between(at(2026, 11, 23, 11), at(2026, 11, 24, 11), POLICY, calendar)
    assert paused == timedelta(hours=7)
    assert add_working_time(due, paused, POLICY, calendar) == at(2026, 11, 24, 15)


# --- properties -----------------------------------------------------------------------------------

working_days_2026 = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)).filter(
    DayCalendar.official().is_working_day
)
seconds_into_blocks = st.one_of(
    st.integers(min_value=9 * 3600, max_value=12 * 3600 - 1),
    st.integers(min_value=13 * 3600, max_value=17 * 3600 - 1),
)
any_start = st.datetimes(datetime(2025, 12, 1), datetime(2027, 6, 30), timezones=st.just(SHANGHAI))
durations = st.integers(min_value=0, max_value=300 * 3600).map(lambda s: timedelta(seconds=s))


@given(day=working_days_2026, offset=seconds_into_blocks, duration=durations)
@settings(max_examples=150, deadline=None)
def test_the_working_time_up_to_a_deadline_is_the_limit(day: date, offset: int, duration: timedelta) -> None:
    start = datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI) + timedelta(seconds=offset)
    calendar = DayCalendar.official()
    due = add_working_time(start, duration, POLICY, calendar)
    assert working_time_between(start, due, POLICY, calendar) == duration


@given(start=any_start, first=durations, second=durations)
@settings(max_examples=100, deadline=None)
def test_deadlines_chain_and_never_go_back(start: datetime, first: timedelta, second: timedelta) -> None:
    calendar = DayCalendar.official()

    def due(begin: datetime, duration: timedelta) -> datetime:
        return add_working_time(begin, duration, POLICY, calendar)

    assert due(start, first) >= start
    assert working_time_between(start, due(start, first), POLICY, calendar) == first
    assert due(due(start, first), second) == due(start, first + second)


# --- the calendar slice a workflow works from --------------------------------------------------------


def test_a_slice_from_an_activity_gives_the_workflow_the_same_answers() -> None:
    computed = calendar_slice(date(2026, 9, 20), date(2026, 10, 20), POLICY)
    carried = CalendarSlice.model_validate_json(computed.model_dump_json())  # through the workflow history
    assert carried == computed
    assert carried.working[date(2026, 9, 20)] is True and carried.working[date(2026, 10, 1)] is False
    in_workflow = DayCalendar.from_slice(carried)
    two_hours = timedelta(hours=2)
    assert add_working_time(at(2026, 9, 30, 16), two_hours, POLICY, in_workflow) == at(2026, 10, 8, 10)
    with pytest.raises(OutsideCalendarSlice, match="2026-10-21"):
        add_working_time(at(2026, 10, 20, 16), two_hours, POLICY, in_workflow)


def test_a_slice_reaching_beyond_the_calendar_names_the_year_and_carries_the_extras() -> None:
    policy = SlaPolicy(extra_holidays=[date(2027, 1, 1)])
    computed = calendar_slice(date(2026, 12, 28), date(2027, 1, 10), policy)
    assert computed.uncovered_years == [2027]
    assert computed.working[date(2027, 1, 1)] is False
    within_2026 = DayCalendar.from_slice(computed)
    add_working_time(at(2026, 12, 28, 10), timedelta(hours=4), policy, within_2026)
    assert within_2026.uncovered_years == frozenset()  # this deadline did not need 2027
    into_2027 = DayCalendar.from_days(computed.working, computed.uncovered_years)
    assert add_working_time(at(2026, 12, 31, 16), timedelta(hours=2), policy, into_2027) == at(2027, 1, 4, 10)
    assert into_2027.uncovered_years == frozenset({2027})


# --- starter.py deadline ------------------------------------------------------------------------------


def test_the_deadline_command_answers_in_shanghai_time(tmp_path: Path) -> None:
    assert deadline_command("registration", "2026-11-23T10:00", None) == "2026-11-23T15:00:00+08:00"
    assert deadline_command("invoice", "2026-11-23T03:00Z", None) == "2026-11-23T12:00:00+08:00"
    assert deadline_command("overall", "2026-09-30T10:00:00+08:00", None) == "2026-10-08T10:00:00+08:00"
    wall = tmp_path / "sla.toml"
    wall.write_text('clock = "wall"\n[limits]\nseal_carving = "30s"\n', encoding="utf-8")
    assert deadline_command("seal_carving", "2026-11-28T23:59:50", wall) == "2026-11-29T00:00:20+08:00"


def test_the_deadline_command_refuses_bad_input_clearly() -> None:
    with pytest.raises(ValueError, match="unknown stage 'notary'"):
        deadline_command("notary", "2026-11-23T10:00", None)
    with pytest.raises(ValueError, match="not an ISO 8601 date-time"):
        deadline_command("registration", "next tuesday", None)


def test_stage_deadline_uses_the_stage_limit() -> None:
    calendar = DayCalendar.official()
    assert stage_deadline("delivery", at(2026, 11, 23, 9), POLICY, calendar) == at(2026, 11, 24, 17)
