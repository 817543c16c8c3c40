"""``Promises``: the SLA of one case — each stage run under its promise, and the alerts it raises.

:meth:`Promises.run_stage` is the one place a stage is wrapped by its timers
(:class:`workflows.sla.StageWatch`): it keeps the stage's part of the status document current
and, when the stage ends, stops its timers (a breached stage that finished raises
``recovered``). Alerts go out through an outbox, one at a time and in order, by a task that is
never cancelled with the stage that raised them; the case closes only once every alert is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.facts import CaseFactActivities
    from activities.sla import SlaActivities
    from domain.alerts import AlertIn, AlertLevel, AlertStage
    from domain.facts import CaseFact, FactKind
    from domain.sla_policy import SlaPolicy
    from domain.status import StageName

from workflows.alarms import Alarms
from workflows.calls import SERVICE_CALL_TIMEOUT, SERVICE_RETRY, is_cancellation, run_activity
from workflows.case_record import CaseRecord
from workflows.sla import PromiseClock, StageWatch

T = TypeVar("T")


class Promises:
    def __init__(self, policy: SlaPolicy, record: CaseRecord) -> None:
        self.clock = PromiseClock(policy)
        self._record = record
        self._watches: dict[StageName, StageWatch] = {}
        self._outbox: list[AlertIn | CaseFact] = []
        self._sender: asyncio.Task[None] | None = None
        # Facts for the daily report and the metrics (``case-facts-v1``; older cases keep none).
        self.facts_enabled = False
        # A lean run (``workflows/versions.py``) writes its facts as local activities: one marker
        # each in its history instead of an activity's three events and a workflow task's three.
        self.local_facts = False
        # A lean case's one timer for all its promises and patiences (workflows/alarms.py).
        self.alarms: Alarms | None = None

    @property
    def policy(self) -> SlaPolicy:
        return self.clock.policy

    # ------------------------------------------------------------- stages under their promise
    async def run_stage(self, name: StageName, work: Callable[[], Awaitable[T]]) -> T:
        """Run one stage of the promise, keeping its part of the status document current."""
        await self.watch(name, self._record.stage_started(name))
        # Not ``BaseException``: a GeneratorExit (the worker evicting the case from its cache)
        # must pass through untouched, outside the workflow's event loop.
        try:
            result = await work()
        except (asyncio.CancelledError, Exception) as err:
            cancelled = is_cancellation(err)
            self._record.stage_stopped(name, cancelled=cancelled)
            self.unwatch(name, succeeded=False)
            if not cancelled:
                self._record.record(f"{name}.failed", str(err))
            raise
        watch = self._watches.get(name)
        self.unwatch(name, succeeded=True)
        self._record.stage_done(name)
        await self.stage_done(name, watch)
        return result

    async def watch(self, name: StageName, started_at: datetime) -> None:
        watch = StageWatch(
            self.clock, name, started_at, self._record.promise_due, self._level_reached, self.alarms
        )
        self._watches[name] = watch
        self._record.promise_watched(name)
        await watch.begin()
        self.note_calendar()

    def unwatch(self, name: StageName, *, succeeded: bool) -> None:
        watch = self._watches.pop(name, None)
        self._record.promise_unwatched(name)
        if watch is not None:
            watch.finish(succeeded=succeeded)

    async def finish(self, name: StageName) -> None:
        """A promise kept that no ``run_stage`` wraps (the one-day promise, at dispatch)."""
        watch = self._watches.get(name)
        self.unwatch(name, succeeded=True)
        await self.stage_done(name, watch)

    async def stage_done(self, name: StageName, watch: StageWatch | None) -> None:
        """The fact of a stage done: by its deadline or not, and how long on each clock."""
        if not self.facts_enabled or watch is None:
            return
        started, finished = watch.started_at, workflow.now()
        working = await self.clock.between(started, finished) - watch.paused_total
        self.fact(
            "stage_done",
            stage=name,
            within_sla=watch.deadline is None or finished <= watch.deadline,
            wall_seconds=(finished - started).total_seconds(),
            working_seconds=max(working.total_seconds(), 0.0),
        )

    def fact(self, kind: FactKind, **fields: object) -> None:
        """Record a fact of the case once, in order with its alerts."""
        if not self.facts_enabled:
            return
        record = self._record
        self._outbox.append(
            CaseFact(
                workflow_id=record.workflow_id,
                application_id=record.application_id,
                kind=kind,
                at=workflow.now(),
                district_code=record.app.enterprise.district_code,
                **fields,  # type: ignore[arg-type]
            )
        )

    def unwatch_all(self) -> None:
        for name in list(self._watches):
            self.unwatch(name, succeeded=False)

    def pause(self, names: Iterable[StageName]) -> list[StageWatch]:
        """Stop the clocks of these stages (time awaiting the applicant does not count)."""
        paused = [w for n, w in self._watches.items() if n in names]
        for watch in paused:
            watch.pause()
        return paused

    def note_calendar(self) -> None:
        """Say so, once, when a deadline falls in a year without official holiday data."""
        years = sorted(self.clock.uncovered_years)
        if years and self._record.status.calendar_note is None:
            note = (
                f"no official holiday data for {', '.join(map(str, years))}: "
                "deadlines there count weekends only (plus the policy's extra holidays)"
            )
            self._record.calendar_uncovered(note)
            workflow.logger.warning(note)

    # ------------------------------------------------------------- alerts
    def start_alerts(self) -> None:
        self._sender = asyncio.create_task(self._send_alerts())

    async def alerts_stored(self) -> None:
        """Every alert raised (and fact) is stored before the case closes."""
        await workflow.wait_condition(lambda: not self._outbox)
        if self._sender is not None:
            self._sender.cancel()

    def raise_alert(
        self,
        stage: AlertStage,
        level: AlertLevel,
        deadline: datetime | None,
        *,
        episode: int = 1,
        reason: str | None = None,
    ) -> None:
        record, enterprise = self._record, self._record.app.enterprise
        if level != "needs_attention":  # the case's history has said why already
            due = f"; deadline {deadline.astimezone(self.policy.zone).isoformat()}" if deadline else ""
            record.record(f"alert.{stage}.{level}", f"{stage} {level}{due}")
        extra = {"episode": episode, "reason": reason} if level == "needs_attention" else {}
        self._outbox.append(
            AlertIn(
                application_id=record.application_id,
                workflow_id=record.workflow_id,
                stage=stage,
                level=level,
                deadline=deadline,
                raised_at=workflow.now(),
                district_code=enterprise.district_code,
                enterprise_name=enterprise.name,
                **extra,
            )
        )
        record.publish()

    def _level_reached(self, stage: StageName, level: AlertLevel, deadline: datetime | None) -> None:
        """A promise is at risk, broken, or kept after all: update the case and raise the alert."""
        self._record.promise_reached(stage, level)
        self.raise_alert(stage, level, deadline)

    async def _send_alerts(self) -> None:
        """Raise alerts (and record facts) in order, one at a time; never cancelled with the stage
        that raised them."""
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox))
            alert = self._outbox[0]
            if isinstance(alert, CaseFact):
                await run_activity(
                    CaseFactActivities.record_case_fact,
                    alert,
                    local=self.local_facts,
                    start_to_close_timeout=SERVICE_CALL_TIMEOUT,
                    retry_policy=SERVICE_RETRY,
                    summary=f"fact: {alert.kind} {alert.stage}".rstrip(),
                )
                self._outbox.pop(0)
                continue
            await run_activity(
                SlaActivities.raise_alert,
                alert,
                start_to_close_timeout=SERVICE_CALL_TIMEOUT,
                retry_policy=SERVICE_RETRY,
                summary=f"alert: {alert.stage} {alert.level}"
                + (f" #{alert.episode}" if alert.level == "needs_attention" else ""),
            )
            self._outbox.pop(0)
