"""The promises of a case, watched on its policy's clock (workflow side; deterministic).

In the shape of the samples-go ``timer`` workflow: each stage races a durable timer. At the
at-risk point and at the deadline an alert is raised and the stage goes on; a breached stage
that finally finishes raises ``recovered``. The promise is watched, never enforced by killing
the work. Calendar look-ups come from an activity as a ``CalendarSlice``, so a package update
never changes a recorded history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.sla import SlaActivities
    from domain.alerts import AlertLevel, CalendarRequest
    from domain.sla_policy import SlaPolicy
    from domain.status import SLA_ORDER, SlaState, StageName
    from domain.working_time import (
        CalendarSlice,
        DayCalendar,
        OutsideCalendarSlice,
        add_working_time,
        working_time_between,
    )

from workflows.alarms import Alarms, wait_until
from workflows.calls import CALENDAR_RETRY, execute
from workflows.case_record import local_hm

CALENDAR_DAYS_AHEAD = 60

# (stage, level, deadline) -> the workflow raises the alert and updates its status.
LevelReached = Callable[[StageName, AlertLevel, datetime | None], None]
# (stage, deadline) -> the stage's deadline, first set or moved, in the status document.
DeadlineSet = Callable[[StageName, datetime], None]


class PromiseClock:
    """Working-time arithmetic for one case, fetching calendar slices as far as it needs."""

    def __init__(self, policy: SlaPolicy) -> None:
        self.policy = policy
        # Package data and the policy: a lean case (workflows/versions.py) reads them in its own
        # worker, as a local activity.
        self.local = False
        self._slice: CalendarSlice | None = None
        self.uncovered_years: set[int] = set()

    async def _fetch(self, first_day: datetime, days: int) -> None:
        local = first_day.astimezone(self.policy.zone).date()
        first = local - timedelta(days=1)
        if self._slice is not None:
            first = min(first, self._slice.first_day)
        self._slice = await execute(
            SlaActivities.load_working_calendar,
            CalendarRequest(first_day=first, last_day=local + timedelta(days=days), policy=self.policy),
            local=self.local,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=CALENDAR_RETRY,
            summary=f"working calendar from {first.isoformat()}",
        )

    async def _with_calendar(self, around: datetime, compute: Callable[[DayCalendar], datetime | timedelta]):  # type: ignore[no-untyped-def]
        if self.policy.clock == "wall":
            return compute(DayCalendar.from_days({}))
        if self._slice is None:
            await self._fetch(around, CALENDAR_DAYS_AHEAD)
        for _ in range(20):
            assert self._slice is not None
            calendar = DayCalendar.from_slice(self._slice)
            try:
                result = compute(calendar)
            except OutsideCalendarSlice as missing:
                await self._fetch(around, (missing.day - around.date()).days + CALENDAR_DAYS_AHEAD)
                continue
            self.uncovered_years |= set(calendar.uncovered_years)
            return result
        raise RuntimeError("calendar slice keeps falling short")

    async def add(self, start: datetime, duration: timedelta) -> datetime:
        result = await self._with_calendar(start, lambda c: add_working_time(start, duration, self.policy, c))
        assert isinstance(result, datetime)
        return result

    async def between(self, a: datetime, b: datetime) -> timedelta:
        result = await self._with_calendar(a, lambda c: working_time_between(a, b, self.policy, c))
        assert isinstance(result, timedelta)
        return result

    def local_hm(self, moment: datetime) -> str:
        return local_hm(moment, self.policy.zone)


class StageWatch:
    """One stage's promise: at-risk point and deadline timers, pausable while awaiting a supplement."""

    def __init__(
        self,
        clock: PromiseClock,
        name: StageName,
        started_at: datetime,
        on_deadline: DeadlineSet,
        on_level: LevelReached,
        alarms: Alarms | None = None,
    ) -> None:
        self.clock = clock
        # The case's one timer (a lean case, workflows/alarms.py); None: a timer of its own.
        self.alarms = alarms
        self.name = name
        self.started_at = started_at
        self.on_deadline = on_deadline
        self.on_level = on_level
        self.level: SlaState = "on_track"
        self.deadline: datetime | None = None
        self.at_risk_at: datetime | None = None
        self._paused_since: datetime | None = None
        # Working time spent paused (awaiting a supplement), which the stage's duration leaves out.
        self.paused_total = timedelta(0)
        self._version = 0
        self._task: asyncio.Task[None] | None = None

    async def begin(self) -> None:
        limit = self.clock.policy.limit(self.name)
        # Promises are counted from the whole second a stage starts: a stage that starts at
        # 16:00:00.024 is due at 12:00 on the next working day, not at 13:00:00.024 after lunch.
        start = self.started_at.replace(microsecond=0)
        self.deadline = await self.clock.add(start, limit)
        self.at_risk_at = await self.clock.add(start, limit * self.clock.policy.at_risk_fraction)
        self.on_deadline(self.name, self.deadline)
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            if self._paused_since is not None:
                version = self._version
                await workflow.wait_condition(lambda v=version: self._version != v)  # type: ignore[misc]
                continue
            if self.level == "on_track":
                target, next_level, what = self.at_risk_at, "at_risk", "at risk"
            elif self.level == "at_risk":
                target, next_level, what = self.deadline, "breached", "due"
            else:
                return
            assert target is not None
            remaining = target - workflow.now()
            if remaining > timedelta(0):
                version = self._version
                summary = f"{self.name.replace('_', ' ')} {what} {self.clock.local_hm(target)}"
                try:
                    await wait_until(self.alarms, lambda v=version: self._version != v, remaining, summary)  # type: ignore[misc]
                    continue  # paused or moved: look again
                except TimeoutError:
                    pass
            self._reach(next_level)  # type: ignore[arg-type]

    def _reach(self, level: SlaState) -> None:
        if SLA_ORDER[level] <= SLA_ORDER[self.level]:
            return
        self.level = level
        self.on_level(self.name, "breached" if level == "breached" else "at_risk", self.deadline)

    def pause(self) -> None:
        if self._paused_since is None:
            self._paused_since = workflow.now()
            self._version += 1

    async def resume(self) -> timedelta:
        """Move the at-risk point and deadline by the working time spent paused."""
        if self._paused_since is None:
            return timedelta(0)
        paused = await self.clock.between(self._paused_since, workflow.now())
        self.paused_total += paused
        assert self.deadline is not None and self.at_risk_at is not None
        if paused > timedelta(0):
            self.deadline = await self.clock.add(self.deadline, paused)
            self.on_deadline(self.name, self.deadline)
            if self.level == "on_track":
                self.at_risk_at = await self.clock.add(self.at_risk_at, paused)
        self._paused_since = None
        self._version += 1
        return paused

    def finish(self, *, succeeded: bool) -> None:
        """Stop the timers; a breached stage that finally finished raises ``recovered``."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if succeeded and self.level == "breached":
            self.on_level(self.name, "recovered", self.deadline)
