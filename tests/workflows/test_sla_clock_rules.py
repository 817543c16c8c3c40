"""Every working-time clock rule of the SLA policy (docs/architecture.md), through real cases
on the time-skipping server.

Each test skips the server's clock forward to the next suitable local instant (Asia/Shanghai),
starts cases with a working-hours policy, lets them complete (the sandbox answers within a fraction
of a real second, so every stage keeps its promise and raises nothing) and compares the stage
deadlines of the status document with local times worked out by hand in the comments.

Stages start a few milliseconds after their nominal instant (registration after acceptance, seal
carving and invoice after registration). Promises count from the whole second a stage starts, so
the deadline moves by that lag truncated to the second (``carried`` checks precisely that; in
practice no move at all); where the start lies outside working time (a weekend, the lunch break,
early morning) the deadline is the exact local instant.

The test server's clock only moves forward and is shared by the whole session, so each test looks
for the *next* fitting day from the current time, and the test that needs a year without official
holiday data (it skips to 31 December) is the last one in this file, which is the last file of
``tests/workflows``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.sla_policy import SlaPolicy
from domain.status import StageStatus, StatusDocument
from tests import factories, helpers
from tests.conftest import Stack

SHANGHAI = ZoneInfo("Asia/Shanghai")
PLUS_EIGHT = timedelta(hours=8)
# A stage starts this soon after its nominal instant at most (in practice some 50 ms of real time:
# partners answer at once). No start here is within this much of a working block's edge.
LAG = timedelta(seconds=5)
DAY = timedelta(days=1)
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
TRACKED = ("registration", "seal_carving", "invoice", "overall")


# --- the calendar, read independently of the product --------------------------------------------


def covered(day: date) -> bool:
    """Does the State Council schedule in ``chinese_calendar`` cover this day's year?"""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def ordinary(day: date) -> bool:
    """A plain weekday or weekend day: no official holiday, no official make-up working day.

    Days of a year without official data count weekends only, so they are ordinary too.
    """
    if not covered(day):
        return True
    return bool(chinese_calendar.is_workday(day)) == (day.weekday() < SAT)


def plain_days(first: date, count: int) -> bool:
    return all(ordinary(first + k * DAY) for k in range(count))


def at(day: date, hm: str) -> datetime:
    """``day`` at local ``HH:MM`` in Asia/Shanghai."""
    hours, minutes = (int(part) for part in hm.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=SHANGHAI)


# --- moving the clock, running cases --------------------------------------------------------------


async def skip_to_next(
    env: WorkflowEnvironment, hm: str, fits: Callable[[date], bool], *, within_days: int = 45
) -> datetime:
    """Skip the server's clock to the next local ``hm`` on a day that ``fits``; that instant."""
    now = (await env.get_current_time()).astimezone(SHANGHAI)
    day = now.date()
    while at(day, hm) <= now + timedelta(seconds=1) or not fits(day):
        day += DAY
        assert (day - now.date()).days <= within_days, f"no day fits {hm} within {within_days} days of {now}"
    target = at(day, hm)
    await env.sleep(target - await env.get_current_time())
    arrived = await env.get_current_time()
    assert target <= arrived < target + LAG, (target, arrived)
    return target


async def run_case(stack: Stack, policy: SlaPolicy) -> StatusDocument:
    """Start a case now, poll (never await the result: that would skip time) until it is done."""
    body = factories.application()
    await helpers.start(stack, body, policy=policy)
    return await finished(stack, body["application_id"])


async def finished(stack: Stack, application_id: str) -> StatusDocument:
    status = await helpers.until(stack, application_id, lambda s: s.is_final)
    assert status.stage == "completed", status.model_dump_json(indent=1)
    return status


def stage(status: StatusDocument, name: str) -> StageStatus:
    return status.stages.of(name)  # type: ignore[arg-type]


def exactly(status: StatusDocument, name: str, expected: datetime) -> None:
    """The stage started outside working time: its deadline is exactly ``expected``, in +08:00."""
    deadline = stage(status, name).deadline
    assert deadline is not None, name
    assert deadline.utcoffset() == PLUS_EIGHT, f"{name}: {deadline.isoformat()}"
    assert deadline == expected, f"{name}: {deadline.isoformat()}, expected {expected.isoformat()}"


def carried(status: StatusDocument, name: str, expected: datetime, nominal_start: datetime) -> None:
    """The stage started inside working time, a little after ``nominal_start``: its deadline is
    ``expected`` (worked out from ``nominal_start``) moved by that lag in whole seconds, in +08:00."""
    part = stage(status, name)
    assert part.deadline is not None and part.started_at is not None, name
    assert part.deadline.utcoffset() == PLUS_EIGHT, f"{name}: {part.deadline.isoformat()}"
    lag = part.started_at.replace(microsecond=0) - nominal_start
    assert timedelta(0) <= lag < LAG, f"{name} started {part.started_at.isoformat()}"
    assert part.deadline - expected == lag, (
        f"{name}: {part.deadline.isoformat()}, expected {expected.isoformat()} + {lag}"
    )


async def kept_every_promise(stack: Stack, status: StatusDocument, *, calendar_known: bool = True) -> None:
    assert status.sla_status == "on_track"
    for name in TRACKED:
        assert stage(status, name).sla == "on_track", name
        assert stage(status, name).state == "done", name
    assert await stack.alerts_of(status.workflow_id) == []
    if calendar_known:
        assert status.calendar_note is None
        assert "calendar.uncovered" not in [h.event for h in status.history]


def working_hours(**extras: Any) -> SlaPolicy:
    """The default policy (working hours 09:00-12:00, 13:00-17:00; 4h/2h/1h/7h), plus extras."""
    return SlaPolicy(clock="working_hours", **extras)


# --- the rules -----------------------------------------------------------------------------------


async def test_a_weekend_start_counts_from_monday_morning(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    start = await skip_to_next(time_skipping_env, "10:00", lambda d: d.weekday() == SAT and plain_days(d, 3))
    monday = start.date() + 2 * DAY
    status = await run_case(ts_stack, working_hours())
    # Every stage starts on the Saturday, so every clock starts Monday 09:00.
    exactly(status, "registration", at(monday, "14:00"))  # 09-12 (3h), lunch skipped, 13-14 (1h)
    exactly(status, "overall", at(monday, "17:00"))  # 3h + 4h: ends with the block, not Tue 09:00
    exactly(status, "seal_carving", at(monday, "11:00"))
    exactly(status, "invoice", at(monday, "10:00"))
    await kept_every_promise(ts_stack, status, calendar_known=covered(monday))


async def test_a_make_up_saturday_counts_as_a_working_day(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    start = await skip_to_next(time_skipping_env, "10:30", lambda d: d.weekday() == SAT and plain_days(d, 3))
    saturday, monday = start.date(), start.date() + 2 * DAY
    status = await run_case(ts_stack, working_hours(extra_workdays=[saturday]))
    carried(status, "registration", at(saturday, "15:30"), start)  # 10:30-12 (1.5h) + 13-15:30
    # 1.5h + 4h on the Saturday, Sunday off, then Monday 09:00-10:30.
    carried(status, "overall", at(monday, "10:30"), start)
    carried(status, "seal_carving", at(saturday, "13:30"), start)  # 1.5h + 0.5h after lunch
    carried(status, "invoice", at(saturday, "11:30"), start)
    await kept_every_promise(ts_stack, status, calendar_known=covered(monday))


async def test_a_start_before_office_hours_counts_from_0900(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    start = await skip_to_next(time_skipping_env, "07:45", lambda d: d.weekday() <= FRI and plain_days(d, 1))
    day = start.date()
    status = await run_case(ts_stack, working_hours())
    exactly(status, "registration", at(day, "14:00"))
    exactly(status, "overall", at(day, "17:00"))
    exactly(status, "seal_carving", at(day, "11:00"))
    exactly(status, "invoice", at(day, "10:00"))
    await kept_every_promise(ts_stack, status, calendar_known=covered(day))


async def test_a_start_late_in_the_morning_skips_the_lunch_break(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    start = await skip_to_next(time_skipping_env, "11:30", lambda d: d.weekday() <= THU and plain_days(d, 2))
    day, next_day = start.date(), start.date() + DAY
    status = await run_case(ts_stack, working_hours())
    carried(status, "registration", at(day, "16:30"), start)  # 0.5h + 13:00-16:30
    carried(status, "overall", at(next_day, "11:30"), start)  # 0.5h + 4h, then 09:00-11:30
    carried(status, "seal_carving", at(day, "14:30"), start)
    carried(status, "invoice", at(day, "13:30"), start)
    await kept_every_promise(ts_stack, status, calendar_known=covered(next_day))


async def test_a_start_in_the_lunch_break_counts_from_1300(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    start = await skip_to_next(time_skipping_env, "12:30", lambda d: d.weekday() <= THU and plain_days(d, 2))
    day, next_day = start.date(), start.date() + DAY
    status = await run_case(ts_stack, working_hours())
    exactly(status, "registration", at(day, "17:00"))  # 13-17 is 4h: ends with the block
    exactly(status, "overall", at(next_day, "12:00"))  # 4h + next morning's 3h: ends with the block
    exactly(status, "seal_carving", at(day, "15:00"))
    exactly(status, "invoice", at(day, "14:00"))
    await kept_every_promise(ts_stack, status, calendar_known=covered(next_day))


async def test_an_extra_holiday_skips_a_weekday(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    start = await skip_to_next(time_skipping_env, "14:30", lambda d: d.weekday() <= WED and plain_days(d, 3))
    day, holiday, after = start.date(), start.date() + DAY, start.date() + 2 * DAY
    status = await run_case(ts_stack, working_hours(extra_holidays=[holiday]))
    carried(status, "registration", at(after, "10:30"), start)  # 2.5h, the holiday, then 1.5h
    carried(status, "overall", at(after, "14:30"), start)  # 2.5h, the holiday, then 3h + 1.5h
    carried(status, "seal_carving", at(day, "16:30"), start)
    carried(status, "invoice", at(day, "15:30"), start)
    await kept_every_promise(ts_stack, status, calendar_known=covered(after))

    # The same start without the extra holiday counts that day: the policy, not chance, moved it.
    plain = await run_case(ts_stack, working_hours())
    carried(plain, "registration", at(holiday, "10:30"), start)
    carried(plain, "overall", at(holiday, "14:30"), start)


async def test_friday_afternoon_runs_over_the_weekend(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    await ts_stack.reset_sandbox()
    start = await skip_to_next(time_skipping_env, "12:30", lambda d: d.weekday() == FRI and plain_days(d, 4))
    friday, monday = start.date(), start.date() + 3 * DAY

    # 12:30, the lunch break: every clock starts at 13:00 sharp.
    lunch = await run_case(ts_stack, working_hours())
    exactly(lunch, "registration", at(friday, "17:00"))  # 4h: Friday's afternoon block, to its end
    exactly(lunch, "overall", at(monday, "12:00"))  # 4h + Monday's 3h: not Monday 13:00
    exactly(lunch, "seal_carving", at(friday, "15:00"))
    exactly(lunch, "invoice", at(friday, "14:00"))
    await kept_every_promise(ts_stack, lunch, calendar_known=covered(monday))

    # 15:30: 1.5h on Friday, the weekend skipped, the rest on Monday.
    start = await skip_to_next(time_skipping_env, "15:30", lambda d: d == friday)
    late = await run_case(ts_stack, working_hours())
    carried(late, "registration", at(monday, "11:30"), start)  # 1.5h + 2.5h
    carried(late, "overall", at(monday, "15:30"), start)  # 1.5h + 3h + 2.5h
    carried(late, "seal_carving", at(monday, "09:30"), start)  # 1.5h + 0.5h
    carried(late, "invoice", at(friday, "16:30"), start)
    await kept_every_promise(ts_stack, late, calendar_known=covered(monday))

    # 16:00: registration ends with Monday's morning block (1h + 3h: 12:00, not 13:00 after lunch),
    # the invoice with Friday's last block (17:00), although the stages start a few ms after
    # 16:00: promises count from the whole second.
    start = await skip_to_next(time_skipping_env, "16:00", lambda d: d == friday)
    last = await run_case(ts_stack, working_hours())
    for name, at_block_end, else_next_block in (
        ("registration", at(monday, "12:00"), at(monday, "13:00")),
        ("invoice", at(friday, "17:00"), at(monday, "09:00")),
    ):
        part = stage(last, name)
        assert part.started_at is not None and part.deadline is not None
        lag = part.started_at.replace(microsecond=0) - start
        assert timedelta(0) <= lag < LAG
        expected = at_block_end if lag == timedelta(0) else else_next_block + lag
        assert part.deadline == expected, f"{name}: {part.deadline.isoformat()} != {expected.isoformat()}"
    carried(last, "overall", at(monday, "16:00"), start)  # 1h + 3h + 3h
    carried(last, "seal_carving", at(monday, "10:00"), start)  # 1h + 1h
    await kept_every_promise(ts_stack, last, calendar_known=covered(monday))


# Keep this test last: it moves the session's clock to the end of the calendar's data.
async def test_a_year_without_official_data_counts_weekends_only_and_says_so(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    """A Thursday afternoon whose Friday lies in a year ``chinese_calendar`` has no data for (with
    the package of 2026: Thursday 31 December 2026): the Friday counts as a working day (New Year's
    Day or not: weekends only), unless the policy's ``extra_holidays`` say otherwise."""
    await ts_stack.reset_sandbox()

    def fits(day: date) -> bool:
        return (
            day.weekday() == THU
            and (not covered(day) or bool(chinese_calendar.is_workday(day)))
            and not covered(day + DAY)
        )

    now = (await time_skipping_env.get_current_time()).astimezone(SHANGHAI)
    horizon = [now.date() + k * DAY for k in range(60)]
    if not any(fits(d) for d in horizon):
        pytest.skip("chinese_calendar covers the next two months: no year without data within reach")
    start = await skip_to_next(time_skipping_env, "15:30", fits, within_days=60)
    thursday, friday, monday = start.date(), start.date() + DAY, start.date() + 4 * DAY
    year = friday.year

    # Both cases start together, at 15:30 and a few ms.
    bodies = [factories.application(), factories.application()]
    policies = [working_hours(), working_hours(extra_holidays=[friday])]
    for body, policy in zip(bodies, policies, strict=True):
        await helpers.start(ts_stack, body, policy=policy)
    plain, with_holiday = [await finished(ts_stack, b["application_id"]) for b in bodies]

    # Weekends only: the Friday is a working day.
    carried(plain, "registration", at(friday, "11:30"), start)  # 1.5h + 2.5h
    carried(plain, "overall", at(friday, "15:30"), start)  # 1.5h + 3h + 2.5h
    carried(plain, "seal_carving", at(friday, "09:30"), start)  # 1.5h + 0.5h
    carried(plain, "invoice", at(thursday, "16:30"), start)
    # The policy's extra holiday covers it: Friday and the weekend skipped.
    carried(with_holiday, "registration", at(monday, "11:30"), start)
    carried(with_holiday, "overall", at(monday, "15:30"), start)
    carried(with_holiday, "seal_carving", at(monday, "09:30"), start)
    carried(with_holiday, "invoice", at(thursday, "16:30"), start)

    for status in (plain, with_holiday):
        await kept_every_promise(ts_stack, status, calendar_known=False)
        # The status says so, once, and so does the case's history (and the worker's log).
        assert status.calendar_note is not None and str(year) in status.calendar_note
        assert "weekends only" in status.calendar_note
        noted = [h for h in status.history if h.event == "calendar.uncovered"]
        assert len(noted) == 1 and str(year) in noted[0].detail
