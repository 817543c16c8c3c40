"""``OperatorDesk``: where a case asks a person to act, and where their actions arrive.

A partner's business refusal after registration, or a partner with no successful answer for the
policy's ``partner_patience`` (counted on the policy's clock; the call goes on being retried
underneath), puts the stage in ``attention``: the status document says why, since when and what
can be done, ``NeedsAttention`` is true, the Web UI's current details say it, and a
``needs_attention`` alert is raised (one per episode). A partner that answers again clears it by
itself. Operators act through the case's ``act`` update; an action for a stage lands in that
stage's mailbox, where the stage's own code (``workflows/seals.py``, …) takes it. ``reject`` is
the case's, and ends it. The SLA timers are not touched: attention explains a breach, it does not
excuse it. docs/operations.md is the operator's guide.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.partner_trouble import PartnerTroubleActivities
    from domain.actions import ACTION_NOT_OFFERED, OperatorAction
    from domain.partner_trouble import PARTNER_CALLS, PartnerTrouble, TroubleQuery, trouble_words
    from domain.status import ACTION_NAMES, ActionName, Attention, ShopCandidate, StageName, StageState

from workflows.alarms import wait_until
from workflows.calls import LOOKUP_RETRY, is_cancellation
from workflows.case_record import CaseRecord
from workflows.promises import Promises
from workflows.versions import patched

T = TypeVar("T")
# Operators may act on cases from this release on; older histories replay without.
ATTENTION_PATCH = "operator-attention-v1"
# Past the patience, the partner's last failed answer is looked up and named in the reason ("the
# tax bureau refuses our credentials (401)"); older histories replay without the look-up.
TROUBLE_PATCH = "partner-trouble-reason-v1"
TROUBLE_LOOKUP_TIMEOUT = timedelta(seconds=10)


class OperatorDesk:
    def __init__(self, record: CaseRecord, promises: Promises) -> None:
        self._record = record
        self._promises = promises
        self.enabled = False
        self._open: dict[StageName, Attention] = {}
        self._state_before: dict[StageName, StageState] = {}
        self._episodes: dict[StageName, int] = {}
        self._mailbox: dict[StageName, OperatorAction] = {}
        self._keys: set[str] = set()
        self.rejection: OperatorAction | None = None

    # ------------------------------------------------------------- asking for a person
    def ask(
        self,
        stage: StageName,
        reason: str,
        actions: Sequence[ActionName],
        candidates: list[ShopCandidate] | None = None,
    ) -> None:
        """The stage waits for an operator: say why and what can be done, and raise the alert."""
        episode = self._next_episode(stage)
        offered = [a for a in ACTION_NAMES if a in actions or a == "reject"]
        before = self._record.stage_waiting(stage)
        if stage not in self._open:
            self._state_before[stage] = before
        else:  # a new reason while already waiting: the earlier episode is over
            self._promises.fact("attention_resolved", stage=stage, episode=self._open[stage].episode)
        self._open[stage] = Attention(
            stage=stage,
            reason=reason,
            since=workflow.now(),
            actions=offered,
            candidates=candidates,
            episode=episode,
        )
        self._record.record(f"{stage}.needs_attention", f"{reason}; offered: {', '.join(offered)}")
        self._sync()
        self._promises.fact("attention_raised", stage=stage, episode=episode)
        self._promises.raise_alert(stage, "needs_attention", None, episode=episode, reason=reason)

    def alert(self, stage: StageName, reason: str) -> None:
        """Something a person must do by hand that the case cannot wait for (it is closing)."""
        episode = self._next_episode(stage)
        self._promises.raise_alert(stage, "needs_attention", None, episode=episode, reason=reason)

    def _next_episode(self, stage: StageName) -> int:
        """Each time a stage needs a person again is an episode of its own (one alert each)."""
        self._episodes[stage] = self._episodes.get(stage, 0) + 1
        return self._episodes[stage]

    def clear(self, stage: StageName, why: str) -> None:
        """The stage goes on (the partner answered, or an operator acted)."""
        if self._open.pop(stage, None) is None:
            return
        self._record.stage_resumed(stage, self._state_before.pop(stage, "running"))
        self._record.record(f"{stage}.attention_cleared", why)
        self._sync()
        self._promises.fact("attention_resolved", stage=stage, episode=self._episodes.get(stage, 1))

    def clear_all(self, why: str) -> None:
        for stage in list(self._open):
            self.clear(stage, why)

    def _sync(self) -> None:
        self._record.attentions_changed(list(self._open.values()))

    # ------------------------------------------------------------- the operators' actions
    def offered(self) -> list[ActionName]:
        """What an operator may do now: each stage's actions, and ``reject`` while the case is open."""
        wanted = {a for attention in self._open.values() for a in attention.actions} | {"reject"}
        return [a for a in ACTION_NAMES if a in wanted]

    def already_taken(self, action: OperatorAction) -> bool:
        return action.idempotency_key is not None and action.idempotency_key in self._keys

    def check(self, action: OperatorAction) -> None:
        """The ``act`` update's validator: refuse an action the case does not offer now (422)."""
        if self.already_taken(action):
            return
        if self.rejection is not None:
            raise ApplicationError("the case is being rejected", type="CaseStateConflict")
        offered = self.offered()
        if action.action not in offered:
            self._refuse(f"{action.action} is not offered now", offered)
        if action.action != "reject":
            self._target(action)  # refuses an action for a stage that does not offer it
        if action.action == "reassign_seal_shop" and action.shop_id is not None:
            attention = self._open["seal_carving"]
            shops = [c.shop_id for c in attention.candidates or []]
            if action.shop_id not in shops:
                raise ApplicationError(
                    f"shop {action.shop_id} is not one of the district's other shops: {', '.join(shops)}",
                    {"offered": offered, "candidates": shops},
                    type=ACTION_NOT_OFFERED,
                )

    def take(self, action: OperatorAction) -> None:
        """The ``act`` update's handler: record the action and hand it to its stage (or the case)."""
        if self.already_taken(action):
            return
        if action.idempotency_key is not None:
            self._keys.add(action.idempotency_key)
        self._record.record(f"action.{action.action}", action.summary)
        if action.action == "reject":
            self.rejection = action
        else:
            self._mailbox[self._target(action)] = action
        self._record.publish()

    def knows(self, idempotency_key: str) -> bool:
        return idempotency_key in self._keys

    def _target(self, action: OperatorAction) -> StageName:
        wanting = [s for s, a in self._open.items() if action.action in a.actions]
        if action.action == "retry_stage" and action.stage is not None:
            if action.stage not in wanting:
                self._refuse(f"retry_stage is not offered for {action.stage} now", self.offered())
            return action.stage
        if len(wanting) != 1:
            self._refuse(f"{action.action} needs a stage: one of {', '.join(wanting)}", self.offered())
        return wanting[0]

    def _refuse(self, why: str, offered: list[ActionName]) -> None:
        raise ApplicationError(
            f"{why}; the case offers: {', '.join(offered)}", {"offered": offered}, type=ACTION_NOT_OFFERED
        )

    def _pop(self, stage: StageName) -> OperatorAction:
        action = self._mailbox.pop(stage)
        self.clear(stage, f"{action.action} by {action.operator}")
        return action

    # ------------------------------------------------------------- waiting on partners
    async def refused(
        self,
        stage: StageName,
        reason: str,
        actions: Sequence[ActionName],
        candidates: list[ShopCandidate] | None = None,
    ) -> OperatorAction:
        """A partner refused for good: wait for an operator's action on the stage."""
        self.ask(stage, reason, actions, candidates)
        await workflow.wait_condition(lambda: stage in self._mailbox)
        return self._pop(stage)

    async def race(
        self,
        stage: StageName,
        partner: str,
        make_call: Callable[[], Coroutine[Any, Any, T]],
        actions: Sequence[ActionName],
        candidates: Callable[[], Awaitable[list[ShopCandidate]]] | None = None,
    ) -> T | OperatorAction:
        """A partner call, retried underneath for as long as it takes; past the patience an
        operator is asked, and their action on the stage (if it comes first) is returned instead.
        Only :class:`workflows.partner_step.PartnerStep` asks this: stages ask the step."""
        if not self.enabled:
            return await make_call()
        task: asyncio.Task[T] = asyncio.create_task(make_call())
        try:
            acted = await self.wait(
                stage, partner, workflow.now(), task.done, actions, candidates, workflow.info().workflow_id
            )
        finally:
            if not task.done():
                task.cancel()
        if acted is None:
            return task.result()  # the answer, or the partner's refusal (raised)
        try:
            await task  # cancelled: its activity is told to stop
        except (asyncio.CancelledError, Exception) as err:
            if not is_cancellation(err):
                self._record.record(f"{stage}.call_abandoned", f"{partner}: {err}")
        return acted

    async def wait(
        self,
        stage: StageName,
        partner: str,
        since: datetime,
        done: Callable[[], bool],
        actions: Sequence[ActionName],
        candidates: Callable[[], Awaitable[list[ShopCandidate]]] | None = None,
        calls_in: str | None = None,
    ) -> OperatorAction | None:
        """Wait for a partner's callback (``done``); past the patience an operator is asked.
        None once it came; the operator's action if that came first. ``calls_in``: the workflow
        whose pending call to the partner may say what is wrong (a child's)."""
        if not self.enabled:
            await workflow.wait_condition(done)
            return None
        clock = self._promises.clock
        patience = clock.policy.partner_patience
        ends = await clock.add(since, clock.policy.partner_patience_td)
        asked = False
        while True:
            timeout = None if asked else max(ends - workflow.now(), timedelta(seconds=1))
            summary = f"{stage.replace('_', ' ')}: patience with {partner} until {clock.local_hm(ends)}"
            try:
                await wait_until(
                    self._promises.alarms, lambda: done() or stage in self._mailbox, timeout, summary
                )
            except TimeoutError:
                asked = True
                if stage in self._open:
                    continue  # asked already (a refusal): the partner's silence adds nothing
                trouble = None
                if calls_in is not None and stage in PARTNER_CALLS and patched(TROUBLE_PATCH):
                    trouble = await self._trouble(stage, calls_in)
                shops = await candidates() if candidates is not None else None
                waited = (
                    f"since {clock.local_hm(since)} "
                    f"(patience {patience} on the {clock.policy.clock.replace('_', ' ')} clock); "
                    "still being retried"
                )
                if trouble is None:
                    reason = f"no successful answer from {partner} {waited}"
                else:
                    reason = f"{trouble_words(partner, trouble)}; no successful answer {waited}"
                self.ask(stage, reason, actions, shops)
                continue
            if stage in self._mailbox:
                return self._pop(stage)
            if asked:
                self.clear(stage, f"{partner} answered again")
            return None

    async def _trouble(self, stage: StageName, calls_in: str) -> PartnerTrouble | None:
        """The partner's last failed answer to the stage's pending call in ``calls_in``; None if
        there is none or it cannot be found out (the operator is then told only the silence)."""
        try:
            trouble: PartnerTrouble | None = await workflow.execute_activity_method(
                PartnerTroubleActivities.partner_trouble,
                TroubleQuery(workflow_id=calls_in, activity_types=list(PARTNER_CALLS[stage])),
                start_to_close_timeout=TROUBLE_LOOKUP_TIMEOUT,
                retry_policy=LOOKUP_RETRY,
                summary=f"what is wrong with the {stage.replace('_', ' ')} partner",
            )
        except ActivityError as err:
            if is_cancellation(err):
                raise
            return None
        return trouble
