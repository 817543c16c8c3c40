"""``PortalPush``: the portal's status push of one case (docs/operations.md), and ``PortalNotifier``,
the part of the case that feeds it.

The case starts ``PortalPush`` as a child (id ``portal-push-<case workflow id>``) with
``ParentClosePolicy.ABANDON``, so it outlives the case; the case only signals it (``event`` for
each change, ``finish`` with the last sequence when it closes), so a receiver never holds the case
up. For each URL a loop posts the events in sequence order, one at a time, each retried by
Temporal until the receiver takes it (a receiver down for hours gets every event when it is back,
in order); URLs progress independently. The push completes once every URL has taken every event
up to the last one. A receiver that answers 410 Gone gets nothing more from this case.

History stays bounded while a receiver is down: retries are the server's activity retries (no
events until an attempt succeeds), and when the server suggests it the run continues as new with
its queue and each URL's position (an event whose post was in flight is posted again then: the
same id twice, as the contract allows).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.portal_push import PortalPushActivities
    from domain.portal import (
        ATTENTION_CHANGED,
        PORTAL_PUSH_WORKFLOW,
        RATING_REPLIED,
        RECEIVER_GONE,
        STAGE_CHANGED,
        PortalEvent,
        PortalEventType,
        PortalPost,
        PortalPushInput,
        PortalPushOutcome,
        portal_push_workflow_id,
    )

from workflows.versions import patched

PORTAL_POST_TIMEOUT = timedelta(seconds=30)
# A push ends by itself once its case has been quiet this long with nothing left to post: longer
# than any case waits for an applicant or an operator, short enough that a terminated or reset
# case does not leave its push open for ever.
PORTAL_IDLE = timedelta(days=30)
IDLE_END_PATCH = "portal-push-idle-end-v1"
# Until the receiver takes it, however long: a down portal gets one try a minute per case and URL.
PORTAL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[RECEIVER_GONE],
)


@workflow.defn(name=PORTAL_PUSH_WORKFLOW)
class PortalPush:
    @workflow.init
    def __init__(self, input: PortalPushInput) -> None:
        self._case = input.case_workflow_id
        self._urls = list(dict.fromkeys(input.urls))
        self._taken = {url: input.taken.get(url, 0) for url in self._urls}
        self._gone = [url for url in dict.fromkeys(input.gone) if url in self._taken]
        self._queue: dict[int, PortalEvent] = {}
        for queued in input.queued:
            self._queue.setdefault(queued.sequence, queued)
        self._last = input.last_sequence
        self._stirred_at = workflow.now()
        self._idle = False

    # ------------------------------------------------------------------ run
    @workflow.run
    async def run(self, input: PortalPushInput) -> PortalPushOutcome:
        pushers = [asyncio.create_task(self._push(url)) for url in self._live()]

        def finished() -> bool:
            return self._last is not None and all(p.done() for p in pushers)

        def failed() -> bool:
            return any(p.done() and not p.cancelled() and p.exception() is not None for p in pushers)

        def over() -> bool:
            return finished() or failed() or workflow.info().is_continue_as_new_suggested()

        if patched(IDLE_END_PATCH):
            if await self._idled_out(over):
                for pusher in pushers:
                    pusher.cancel()
                await asyncio.gather(*pushers, return_exceptions=True)
                return self.progress()
        else:
            await workflow.wait_condition(over)
        if not finished() and not failed():
            # A long push: a new run takes the queue and every URL's position.
            for pusher in pushers:
                pusher.cancel()
            await asyncio.gather(*pushers, return_exceptions=True)
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(self._carried(input))
        await asyncio.gather(*pushers)  # a pusher's failure fails the push
        return self.progress()

    async def _idled_out(self, over: Callable[[], bool]) -> bool:
        """Wait until ``over``; True instead when the case has gone quiet for ``PORTAL_IDLE`` with
        nothing left to post (a case terminated or reset never says ``finish``)."""
        wait = PORTAL_IDLE
        while True:
            try:
                await workflow.wait_condition(over, timeout=wait)
                return False
            except TimeoutError:
                quiet = workflow.now() - self._stirred_at
                if quiet >= PORTAL_IDLE and all(self._next(url) is None for url in self._live()):
                    self._idle = True
                    workflow.logger.warning("portal push of %s: no news of the case, ended", self._case)
                    self._show()
                    return True
                wait = max(PORTAL_IDLE - quiet, timedelta(hours=1))

    async def _push(self, url: str) -> None:
        """Post every event to ``url`` in sequence order, each once it has arrived, until the last."""
        while True:
            await workflow.wait_condition(lambda: self._next(url) is not None or self._caught_up(url))
            event = self._next(url)
            if event is None:
                return
            try:
                await workflow.execute_activity_method(
                    PortalPushActivities.post_portal_event,
                    PortalPost(url=url, event=event),
                    start_to_close_timeout=PORTAL_POST_TIMEOUT,
                    retry_policy=PORTAL_RETRY,
                    summary=f"{event.type} #{event.sequence} ({event.stage}) to {url}",
                )
            except ActivityError as err:
                if isinstance(err.cause, ApplicationError) and err.cause.type == RECEIVER_GONE:
                    workflow.logger.warning("portal receiver %s is gone: it gets nothing more", url)
                    self._gone.append(url)
                    self._prune()
                    self._show()
                    return
                raise
            self._taken[url] = event.sequence
            self._stirred_at = workflow.now()
            self._prune()
            self._show()

    # ------------------------------------------------------------------ signals
    @workflow.signal
    def event(self, event: PortalEvent) -> None:
        """One change of the case; a repeat of a sequence already queued or taken is dropped."""
        if event.workflow_id != self._case:
            workflow.logger.warning("portal event %s is not of %s: dropped", event.id, self._case)
            return
        if event.sequence in self._queue or event.sequence <= self._taken_everywhere():
            return
        self._queue[event.sequence] = event
        self._stirred_at = workflow.now()

    @workflow.signal
    def finish(self, last_sequence: int) -> None:
        """No event after ``last_sequence`` will come."""
        self._last = last_sequence

    @workflow.query
    def progress(self) -> PortalPushOutcome:
        return PortalPushOutcome(taken=dict(self._taken), gone=list(self._gone), idle=self._idle)

    # ------------------------------------------------------------------ state
    def _live(self) -> list[str]:
        return [url for url in self._urls if url not in self._gone]

    def _next(self, url: str) -> PortalEvent | None:
        return self._queue.get(self._taken[url] + 1)

    def _caught_up(self, url: str) -> bool:
        return self._last is not None and self._taken[url] >= self._last

    def _taken_everywhere(self) -> int | float:
        """The last sequence every live URL has taken (everything, when none is left)."""
        live = self._live()
        return min(self._taken[url] for url in live) if live else float("inf")

    def _prune(self) -> None:
        floor = self._taken_everywhere()
        for sequence in [s for s in self._queue if s <= floor]:
            del self._queue[sequence]

    def _show(self) -> None:
        latest = max([self._last or 0, *self._queue, *self._taken.values()])
        lines = [
            f"{url}: gone (410) after #{self._taken[url]}"
            if url in self._gone
            else f"{url}: took #{self._taken[url]} of #{latest}"
            for url in self._urls
        ]
        if self._idle:
            lines.append(f"ended: no news of the case for {PORTAL_IDLE.days} days")
        workflow.set_current_details("\n".join(lines))

    def _carried(self, input: PortalPushInput) -> PortalPushInput:
        return PortalPushInput(
            case_workflow_id=input.case_workflow_id,
            application_id=input.application_id,
            urls=self._urls,
            queued=[self._queue[s] for s in sorted(self._queue)],
            taken=dict(self._taken),
            gone=list(self._gone),
            last_sequence=self._last,
        )


class PortalNotifier:
    """The case's side of the push: numbers its changes and signals them to its ``PortalPush``.

    ``start()`` once (it starts the child in the background), ``observe(stage, attention)``
    whenever the status document may have changed (it sends one event per new ``stage`` value,
    then one per new ``attention`` value), ``await close()`` before the case returns (the last
    events and ``finish``). Nothing here waits for a receiver, and a push that cannot be started or
    signalled is logged, never fails the case. Without URLs it does nothing.
    """

    def __init__(self, case_workflow_id: str, application_id: str, urls: list[str]) -> None:
        self._input = PortalPushInput(
            case_workflow_id=case_workflow_id, application_id=application_id, urls=urls
        )
        self.sequence = 0
        # The last sequence handed to the push (signalled): what the receivers will get.
        self.signalled = 0
        self._stage: str | None = None
        self._attention: dict[str, Any] | None = None
        self._outbox: list[PortalEvent] = []
        self._closing = False
        self._sender: asyncio.Task[None] | None = None
        self._task_queue: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._input.urls)

    def start(self, task_queue: str | None = None) -> None:
        """Start the push, on ``task_queue`` (None: the case's own)."""
        if self.enabled and self._sender is None:
            self._task_queue = task_queue
            self._sender = asyncio.create_task(self._send())

    def observe(self, stage: str, attention: BaseModel | dict[str, Any] | None) -> None:
        """The case's ``stage`` and ``attention`` now (the status document's, or its JSON)."""
        if self._sender is None or self._sender.done() or self._closing:
            return
        if isinstance(attention, BaseModel):
            attention = attention.model_dump(mode="json")
        if stage != self._stage:
            self._stage = stage
            self._emit(STAGE_CHANGED, stage, None)
        if attention != self._attention:
            self._attention = attention
            self._emit(ATTENTION_CHANGED, stage, attention)

    def reply(self, state: str, rating: dict[str, Any]) -> int:
        """A bad rating's answer to the applicant (``rating.follow_up_replied``); its sequence (0:
        no push)."""
        if self._sender is None or self._sender.done() or self._closing:
            return 0
        self._emit(RATING_REPLIED, state, None, rating)
        return self.sequence

    async def close(self) -> None:
        """Send what is left and ``finish``; returns once the child has them (not the receivers)."""
        if self._sender is None:
            return
        self._closing = True
        await self._sender

    def _emit(
        self,
        type: PortalEventType,
        stage: str,
        attention: dict[str, Any] | None,
        rating: dict[str, Any] | None = None,
    ) -> None:
        self.sequence += 1
        self._outbox.append(
            PortalEvent.change(
                type=type,
                application_id=self._input.application_id,
                workflow_id=self._input.case_workflow_id,
                stage=stage,
                sequence=self.sequence,
                at=workflow.now(),
                attention=attention,
                rating=rating,
            )
        )

    async def _send(self) -> None:
        push_id = portal_push_workflow_id(self._input.case_workflow_id)
        try:
            child = await workflow.start_child_workflow(
                PortalPush.run,
                self._input,
                id=push_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"门户推送 portal push of {self._input.application_id}",
                task_queue=self._task_queue,  # None: the case's own
            )
            while True:
                await workflow.wait_condition(lambda: bool(self._outbox) or self._closing)
                batch, self._outbox = self._outbox, []
                # Signalled together: the push puts them in sequence order itself.
                await asyncio.gather(*(child.signal(PortalPush.event, e) for e in batch))
                self.signalled = max([self.signalled, *(e.sequence for e in batch)])
                if self._closing and not self._outbox:
                    await child.signal(PortalPush.finish, self.sequence)
                    return
        except FailureError as err:
            # Started before and still running (a reset case), terminated by hand, …: the case
            # goes on without its push.
            workflow.logger.warning("portal push %s: %s; the case goes on without it", push_id, err)
            self._outbox.clear()
