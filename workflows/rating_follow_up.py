"""``RatingFollowUp``: the follow-up of one bad rating (差评), id ``rating-follow-up-setup-<application_id>``
(``domain.case_ids.follow_up_workflow_id``; those started before, ``rating-follow-up-<rating_id>``).

The story, as docs/operations.md tells ops: the rating opens it; an operator of the unit claims it,
calls the applicant back (回访核实) and resolves it (立行立改 ``immediate``, 限期整改 ``by_date``,
解释说明 ``explained``) with an answer, which goes to the portal (``rating.follow_up_replied``); the
applicant rates the answer, and the follow-up closes. It never closes without an answer, unless an
appeal (申诉) is upheld by someone other than its author (复核). Until then it waits, however long.

Two promises of the SLA policy's ``[rating]`` section are watched on its clock, like a case's stages
(``workflows/sla.py``): the call back and the answer, each raising ``at_risk`` and ``breached`` (and
``recovered`` once kept late) alerts of stage ``rating_follow_up``, episode 1 and 2. Alerts and the
progress the reports count leave through one ordered outbox, like a case's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.ratings import RatingActivities
    from activities.sla import SlaActivities
    from domain.actions import ACTION_NOT_OFFERED
    from domain.alerts import AlertIn, AlertLevel
    from domain.ratings import (
        APPEAL_BY_ITS_AUTHOR,
        FOLLOW_UP_CLOSED,
        LEVEL_NAMES,
        RATING_FOLLOW_UP_WORKFLOW,
        VERDICT_NOT_DUE,
        Appeal,
        FollowUpAction,
        FollowUpActionName,
        FollowUpDocument,
        FollowUpEntry,
        FollowUpInput,
        FollowUpState,
        RatingProgress,
        Resolution,
        Verdict,
    )
    from domain.status import SLA_ORDER
    from domain.task_queues import records_task_queue, webhooks_task_queue
    from infra.temporal import SA_RATING_STATE, SA_SLA_STATUS

from workflows.calls import SERVICE_CALL_TIMEOUT, SERVICE_RETRY
from workflows.portal_push import PortalNotifier
from workflows.sla import PromiseClock

# What each state offers operators (the applicant's verdict comes from the portal).
OFFERED: dict[str, list[FollowUpActionName]] = {
    "open": ["claim", "appeal"],
    "claimed": ["claim", "called_back", "appeal"],
    "called_back": ["claim", "resolve", "appeal"],
    "appealed": ["decide_appeal"],
}
# The two promises: the alert's episode, and what it is about.
CALL_BACK, ANSWER = 1, 2
PROMISE_NAMES = {CALL_BACK: "call back", ANSWER: "answer to the applicant"}


@workflow.defn(name=RATING_FOLLOW_UP_WORKFLOW)
class RatingFollowUp:
    @workflow.init
    def __init__(self, input: FollowUpInput) -> None:
        rating = input.rating
        self._input = input
        self._doc = FollowUpDocument(
            rating_id=rating.rating_id,
            application_id=rating.application_id,
            workflow_id=workflow.info().workflow_id,
            level=rating.level,
            about=rating.about,
            unit=rating.unit,
            district_code=rating.district_code,
            rated_at=rating.rated_at,
            comment=input.comment,
        )
        self._clock = PromiseClock(input.policy)
        self._portal = PortalNotifier(self._doc.workflow_id, rating.application_id, input.portal_webhooks)
        self._outbox: list[AlertIn | RatingProgress] = []
        self._keys: set[str] = set()
        self._before_appeal: FollowUpState = "open"
        self._reply_sequence = 0
        self._sla = "on_track"

    # ------------------------------------------------------------------ the story
    @workflow.run
    async def run(self, input: FollowUpInput) -> FollowUpDocument:
        doc, policy, clock = self._doc, input.policy, self._clock
        self._note("rated", f"{LEVEL_NAMES[doc.level]} ({doc.level}) about {doc.about}; unit {doc.unit}")
        sender = asyncio.create_task(self._send())
        if self._portal.enabled:
            self._portal.start(webhooks_task_queue(workflow.info().task_queue))
        # Counted from the whole second the follow-up starts (at once after the rating), as a
        # case's promises are from the second a stage starts.
        start = workflow.now().replace(microsecond=0)
        call_back, resolve = policy.rating_limit("call_back"), policy.rating_limit("resolve")
        doc.call_back_due = await clock.add(start, call_back)
        doc.resolve_due = await clock.add(start, resolve)
        watches = [
            asyncio.create_task(
                self._watch(
                    CALL_BACK,
                    await clock.add(start, call_back * policy.at_risk_fraction),
                    doc.call_back_due,
                    lambda: doc.called_back_at is not None,
                )
            ),
            asyncio.create_task(
                self._watch(
                    ANSWER,
                    await clock.add(start, resolve * policy.at_risk_fraction),
                    doc.resolve_due,
                    lambda: doc.resolution is not None,
                )
            ),
        ]
        self._progress(call_back_due=doc.call_back_due, resolve_due=doc.resolve_due)
        self._show()

        await workflow.wait_condition(lambda: doc.resolution is not None or doc.state == "closed")
        answered = asyncio.create_task(self._answered())
        if doc.state != "closed":
            # The answer is out: the applicant rates it within the window, or it closes without.
            window = policy.rating_limit("verdict_window")
            due = await clock.add(workflow.now(), window)
            try:
                await workflow.wait_condition(
                    lambda: doc.state == "closed",
                    timeout=due - workflow.now(),
                    timeout_summary=f"applicant's verdict due {clock.local_hm(due)}",
                )
            except TimeoutError:
                self._close("closed.without_verdict", "the applicant did not rate the answer in time")
        for task in (*watches, answered):
            task.cancel()
        await workflow.wait_condition(lambda: not self._outbox)
        sender.cancel()
        await self._portal.close()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return doc

    async def _watch(self, episode: int, at_risk: datetime, due: datetime, kept: Callable[[], bool]) -> None:
        """One promise: at risk, then breached, then recovered once kept late; nothing once kept."""
        what = PROMISE_NAMES[episode]

        def over() -> bool:
            return kept() or self._doc.state == "closed"

        for level, target in (("at_risk", at_risk), ("breached", due)):
            remaining = target - workflow.now()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(
                        over,
                        timeout=remaining,
                        timeout_summary=f"{what} {level.replace('_', ' ')} {self._clock.local_hm(target)}",
                    )
                except TimeoutError:
                    pass
            if over():
                return
            self._alert(episode, level, due)  # type: ignore[arg-type]
        await workflow.wait_condition(over)
        if kept():
            self._alert(episode, "recovered", due)

    async def _answered(self) -> None:
        """``answered`` once the push has the answer (without portal URLs it stays ``resolved``)."""
        sequence = self._reply_sequence
        if not sequence:
            return
        await workflow.wait_condition(lambda: self._portal.signalled >= sequence)
        if self._doc.state == "resolved":
            self._move("answered", "answer.sent", "the answer went to the portal")

    # ------------------------------------------------------------------ operators
    @workflow.update
    async def act(self, action: FollowUpAction) -> FollowUpDocument:
        """An operator's action (docs/operations.md); answered once recorded."""
        key = action.idempotency_key
        if key is not None:
            if key in self._keys:
                return self._doc
            self._keys.add(key)
        doc, now, said = self._doc, workflow.now(), f" by {action.operator}"
        note = f": {action.note}" if action.note else ""
        if action.action == "claim":
            doc.owner = action.operator
            state: FollowUpState = "claimed" if doc.state == "open" else doc.state
            self._move(state, "claimed", f"claimed{said}{note}")
        elif action.action == "called_back":
            doc.called_back_at = now
            self._move("called_back", "called_back", f"{action.outcome}{said}{note}", called_back_at=now)
        elif action.action == "resolve":
            assert action.kind is not None and action.answer is not None
            doc.resolution = Resolution(
                kind=action.kind, answer=action.answer, by=action.operator, date=action.date, at=now
            )
            by = f" by {action.date.isoformat()}" if action.date else ""
            self._move(
                "resolved",
                "resolved",
                f"{action.kind}{by}{said}{note}",
                answered_at=now,
                resolution_kind=action.kind,
            )
            self._reply_sequence = self._portal.reply(
                "resolved",
                {"rating_id": doc.rating_id, **doc.resolution.model_dump(mode="json", exclude={"by"})},
            )
        elif action.action == "appeal":
            self._before_appeal = doc.state
            doc.appeal = Appeal(by=action.operator, reason=action.reason or action.note, at=now)
            self._move("appealed", "appealed", f"appealed{said}: {doc.appeal.reason}", appeal="pending")
        else:  # decide_appeal
            assert doc.appeal is not None and action.upheld is not None
            doc.appeal.upheld, doc.appeal.decided_by, doc.appeal.decided_at = (
                action.upheld,
                action.operator,
                now,
            )
            if action.upheld:
                self._progress(appeal="upheld")
                self._close("appeal.upheld", f"appeal upheld{said}{note}")
            else:
                self._move(
                    self._before_appeal, "appeal.refused", f"appeal refused{said}{note}", appeal="refused"
                )
        return doc

    @act.validator
    def _validate_act(self, action: FollowUpAction) -> None:
        if action.idempotency_key is not None and action.idempotency_key in self._keys:
            return
        doc = self._doc
        if doc.state == "closed":
            raise ApplicationError(f"follow-up {doc.rating_id} is closed", type=FOLLOW_UP_CLOSED)
        offered = OFFERED.get(doc.state, [])
        if action.action not in offered:
            raise ApplicationError(
                f"the follow-up is {doc.state}; it offers: {', '.join(offered) or 'nothing now'}",
                {"offered": offered},
                type=ACTION_NOT_OFFERED,
            )
        if action.action == "decide_appeal" and doc.appeal is not None and doc.appeal.by == action.operator:
            raise ApplicationError(
                f"{action.operator} made the appeal: someone else decides it (复核)",
                type=APPEAL_BY_ITS_AUTHOR,
            )
        if action.action == "resolve" and (not action.kind or not action.answer):
            raise ApplicationError(
                "a resolution says how, with the answer", {"offered": offered}, type=ACTION_NOT_OFFERED
            )
        if action.action == "decide_appeal" and action.upheld is None:
            raise ApplicationError(
                "a decision says upheld or not", {"offered": offered}, type=ACTION_NOT_OFFERED
            )

    @workflow.update
    async def verdict(self, verdict: Verdict) -> FollowUpDocument:
        """The applicant's verdict on the answer, from the portal; the follow-up closes."""
        self._doc.applicant_verdict = verdict
        self._close("verdict", f"the applicant finds the answer {verdict}")
        return self._doc

    @verdict.validator
    def _validate_verdict(self, verdict: Verdict) -> None:
        state = self._doc.state
        if state == "closed":
            raise ApplicationError(f"follow-up {self._doc.rating_id} is closed", type=FOLLOW_UP_CLOSED)
        if state not in ("resolved", "answered"):
            raise ApplicationError(
                f"the follow-up is {state}: there is no answer to rate yet", type=VERDICT_NOT_DUE
            )

    @workflow.query
    def status(self) -> FollowUpDocument:
        return self._doc

    @workflow.query
    def action_taken(self, idempotency_key: str) -> bool:
        """Whether an action with this Idempotency-Key was recorded (a repeat after it closed)."""
        return idempotency_key in self._keys

    # ------------------------------------------------------------------ what others see
    def _note(self, event: str, detail: str) -> None:
        self._doc.history.append(FollowUpEntry(at=workflow.now(), event=event, detail=detail))

    def _move(self, state: FollowUpState, event: str, detail: str, **progress: object) -> None:
        self._note(event, detail)
        if state != self._doc.state:
            self._doc.state = state
            workflow.upsert_search_attributes([SA_RATING_STATE.value_set(state)])
        self._progress(**progress)
        self._show()

    def _close(self, event: str, detail: str) -> None:
        self._move("closed", event, detail, closed_at=workflow.now(), verdict=self._doc.applicant_verdict)

    def _progress(self, **fields: object) -> None:
        self._outbox.append(
            RatingProgress(rating_id=self._doc.rating_id, state=self._doc.state, **fields)  # type: ignore[arg-type]
        )

    def _alert(self, episode: int, level: AlertLevel, due: datetime) -> None:
        doc = self._doc
        what = PROMISE_NAMES[episode]
        self._note(
            f"alert.{level}", f"{what} {level}; due {due.astimezone(self._clock.policy.zone).isoformat()}"
        )
        if level != "recovered" and SLA_ORDER[level] > SLA_ORDER[self._sla]:
            self._sla = level
            workflow.upsert_search_attributes([SA_SLA_STATUS.value_set(level)])
        self._outbox.append(
            AlertIn(
                application_id=doc.application_id,
                workflow_id=doc.workflow_id,
                stage="rating_follow_up",
                level=level,
                deadline=due,
                raised_at=workflow.now(),
                district_code=doc.district_code,
                enterprise_name=self._input.enterprise_name,
                episode=episode,
                reason=what,
            )
        )
        self._show()

    def _show(self) -> None:
        doc, hm = self._doc, self._clock.local_hm
        lines = [f"{LEVEL_NAMES[doc.level]} about {doc.about} · {doc.state}", f"unit: {doc.unit}"]
        if doc.owner:
            lines.append(f"owner: {doc.owner}")
        if doc.call_back_due and doc.called_back_at is None:
            lines.append(f"call back due {hm(doc.call_back_due)}")
        if doc.resolve_due and doc.resolution is None:
            lines.append(f"answer due {hm(doc.resolve_due)}")
        if self._sla != "on_track":
            lines.append(f"SLA: {self._sla}")
        workflow.set_current_details("\n".join(lines))

    async def _send(self) -> None:
        """Alerts and progress, in order, one at a time, on the records' task queue."""
        queue = records_task_queue(workflow.info().task_queue)
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox))
            item = self._outbox[0]
            if isinstance(item, AlertIn):
                await workflow.execute_activity_method(
                    SlaActivities.raise_alert,
                    item,
                    task_queue=queue,
                    start_to_close_timeout=SERVICE_CALL_TIMEOUT,
                    retry_policy=SERVICE_RETRY,
                    summary=f"alert: {PROMISE_NAMES[item.episode]} {item.level}",
                )
            else:
                await workflow.execute_activity_method(
                    RatingActivities.record_rating_progress,
                    item,
                    task_queue=queue,
                    start_to_close_timeout=SERVICE_CALL_TIMEOUT,
                    retry_policy=SERVICE_RETRY,
                    summary=f"progress: {item.state}",
                )
            self._outbox.pop(0)
