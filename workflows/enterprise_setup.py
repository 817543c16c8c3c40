"""``EnterpriseSetup``: one application from the portal becomes a set-up enterprise (一日办).

The case's story, stage by stage: acceptance, company registration (with supplements), seal
carving beside the first invoices, the free delivery, completion. Each stage's logic is a module
of its own under ``workflows/``; :class:`workflows.case_record.CaseRecord` keeps what others see
(status document, history, search attributes, current details) and
:class:`workflows.promises.Promises` runs each stage under its promise. docs/architecture.md
tells the whole design.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.actions import OperatorAction
    from domain.application import Application, Delivery
    from domain.case_ids import application_id_of
    from domain.delivery import DeliveryProgress
    from domain.partners import PartnerEvent, SetupInput, WithdrawRequest
    from domain.status import CaseStage, StatusDocument
    from domain.task_queues import webhooks_task_queue

from workflows.alarms import Alarms
from workflows.attention import ATTENTION_PATCH, OperatorDesk
from workflows.calls import is_cancellation, queues_apart
from workflows.case_record import CaseRecord, CaseRejected
from workflows.delivery import PROGRESS_SIGNAL
from workflows.delivery_handoff import DeliveryHandoff
from workflows.documents import Documents
from workflows.invoices import FirstInvoices
from workflows.more_items import WHOLE_SCOPE_PATCH, MoreItems
from workflows.partner_step import PartnerStep
from workflows.portal_push import PortalNotifier
from workflows.promises import Promises
from workflows.registration import Registration
from workflows.seals import SEAL_ORDER_MATCH_PATCH, SealCarving
from workflows.subsidy import FirstSealSubsidy
from workflows.versions import lean, lean_v2, patched

# Introduced with the free services (subsidy, postal delivery, documents); older histories replay without.
FREE_SERVICES_PATCH = "free-services-v1"
# The run waits for handlers still running before it returns; older histories replay without.
HANDLERS_FINISH_PATCH = "handlers-finish-v1"
# The case records its facts for the daily report and the metrics; older histories replay without.
FACTS_PATCH = "case-facts-v1"
# The portal's status push (a PortalPush child per case); cases from before it have none.
PORTAL_PUSH_PATCH = "portal-push-v1"
CASE_STATE_CONFLICT = "CaseStateConflict"


# The validator's answer to a callback the case has already taken (the gateway answers 202).
EVENT_ALREADY_TAKEN = "event_already_taken"
# A case whose history passes the policy's history_alert_events raises a needs_attention alert.
HISTORY_WATCH_PATCH = "history-watch-v1"


@workflow.defn(name="EnterpriseSetup")
class EnterpriseSetup:
    @workflow.init
    def __init__(self, input: SetupInput) -> None:
        info = workflow.info()
        self._portal = PortalNotifier(
            info.workflow_id, application_id_of(info.workflow_id), input.portal_webhooks
        )
        self._record = CaseRecord(input.application, input.sla_policy.zone, self._portal.observe)
        self._promises = Promises(input.sla_policy, self._record)
        self._history_alerted = False
        self._overall_episodes = 0
        self._desk = OperatorDesk(self._record, self._promises)
        self._documents = Documents(
            self._record, self._promises.policy.documents_patience_td, late=self._needs_attention
        )
        step = PartnerStep(self._desk, self._record.record)
        self._registration = Registration(self._record, self._promises, step)
        self._subsidy = FirstSealSubsidy(input.subsidy_policy, self._record, self._promises, self._documents)
        self._seals = SealCarving(self._record, self._subsidy, self._desk, step)
        self._invoices = FirstInvoices(self._record, self._promises, step)
        self._more = MoreItems(self._record, self._promises, step)
        self._delivery = DeliveryHandoff(self._record, self._documents, self._desk)
        self._withdrawal: WithdrawRequest | None = None
        self._seen_events: set[str] = set()

    # ------------------------------------------------------------------ the story
    @workflow.run
    async def run(self, input: SetupInput) -> StatusDocument:
        status = self._record.status
        self._record.record("accepted", f"application {status.application_id} accepted")
        if patched(FREE_SERVICES_PATCH):
            self._offer_free_services()
        # Operators are asked instead of the case failing (cases from before it replay without).
        self._desk.enabled = patched(ATTENTION_PATCH)
        # Facts for the daily report and the metrics (cases from before them record none).
        self._promises.facts_enabled = patched(FACTS_PATCH)
        # A lean run (workflows/versions.py) writes its facts and reads its calendar locally, and
        # watches all its promises and patiences with one timer (workflows/alarms.py).
        self._promises.local_facts = self._promises.clock.local = lean()
        self._promises.alarms = Alarms() if lean() else None
        # The postal delivery in the case's own run, not a child (workflows/delivery_handoff.py).
        self._delivery.in_case = lean_v2()
        self._promises.fact("accepted")
        # Social insurance, housing fund and the bank account (cases from before them have none).
        if patched(WHOLE_SCOPE_PATCH):
            self._more.enable()
        # A seal completion is taken only for the order the case holds (cases from before: any).
        self._seals.matching = patched(SEAL_ORDER_MATCH_PATCH)
        # The portal hears of every stage and attention change (cases with its URLs only).
        if self._portal.enabled and patched(PORTAL_PUSH_PATCH):
            # On the webhooks' own queue (domain/task_queues.py), cases from before it on theirs.
            queue = webhooks_task_queue(workflow.info().task_queue) if queues_apart() else None
            self._portal.start(queue)
        self._record.overall_started()
        self._promises.start_alerts()
        await self._promises.watch("overall", status.accepted_at)
        await self._documents.acceptance_receipt(self._promises.policy)

        work = asyncio.create_task(self._carry_through())
        await workflow.wait_condition(
            lambda: work.done() or self._withdrawal is not None or self._desk.rejection is not None
        )
        if not work.done():
            await self._stop(work)
            await self._close_early()
        else:
            try:
                work.result()
            except CaseRejected as refused:
                await self._documents.drawn()
                self._close("rejected", str(refused))

        await self._promises.alerts_stored()
        await self._portal.close()
        if patched(HANDLERS_FINISH_PATCH):
            await workflow.wait_condition(workflow.all_handlers_finished)
        return status

    def _offer_free_services(self) -> None:
        """免费刻章, 免费寄递 and the case's documents (cases from before them have none)."""
        self._documents.enable()
        self._subsidy.enabled = True
        self._delivery.enable()

    async def _carry_through(self) -> None:
        await self._delivery.book_inbound_label()
        licence = await self._promises.run_stage("registration", self._registration.register)
        self._record.set_uscc(licence.uscc)
        await self._documents.business_licence(licence)

        self._record.set_stage("seal_carving_and_invoice")
        # Seal carving, the first invoices and the rest of the scope side by side (the stage keeps
        # its name for the systems built on it while any of them runs).
        await asyncio.gather(
            self._promises.run_stage("seal_carving", lambda: self._seals.carve(licence)),
            self._invoices.run(licence),
            self._more.run(licence),
        )
        # The one-day promise covers the stages up to dispatch; delivery has its own.
        await self._promises.finish("overall")

        if self._delivery.enabled:
            self._record.set_stage("delivery")
            outcome = await self._promises.run_stage("delivery", self._delivery.deliver)
            asked = self._record.app.delivery.method
            self._promises.fact("delivered", outcome=asked if outcome.method == asked else "fallback")
            # The notice shows the case as it is closed: its end is fixed before it is drawn.
            self._record.finish_overall("completed")
            await self._documents.completion_notice(self._promises.policy)
        # A closed case has every document it made stored: the portal may fetch them at once.
        await self._documents.drawn()
        self._close("completed", None)

    # ------------------------------------------------------------------ the endings
    @staticmethod
    async def _stop(work: asyncio.Task[None]) -> None:
        """Cancel the work in hand (a withdrawal); a cancellation is the expected ending."""
        work.cancel()
        try:
            await work
        except (asyncio.CancelledError, Exception) as err:
            if not is_cancellation(err):
                raise

    async def _close_early(self) -> None:
        """Withdrawn by the applicant or rejected by an operator: release what the case holds."""
        ending: CaseStage
        if self._withdrawal is not None:
            ending, reason = "withdrawn", self._withdrawal.reason or "withdrawn by the applicant"
        else:
            assert self._desk.rejection is not None
            ending, reason = "rejected", self._desk.rejection.reason or "rejected by an operator"
        self._desk.clear_all(f"the case is {ending}")
        self._record.cancel_open_stages()
        await self._seals.cancel_pending(reason)
        await self._subsidy.release()
        await self._documents.drawn()
        self._close(ending, reason)

    def _close(self, stage: CaseStage, reason: str | None) -> None:
        self._promises.unwatch_all()
        self._record.close(stage, reason)
        accepted = self._record.status.accepted_at
        self._promises.fact("closed", outcome=stage, wall_seconds=(workflow.now() - accepted).total_seconds())

    # ------------------------------------------------------------------ queries
    @workflow.query
    def status(self) -> StatusDocument:
        return self._record.status

    @workflow.query
    def application(self) -> Application:
        return self._record.app

    @workflow.query
    def has_partner_event(self, event_id: str) -> bool:
        """Whether the case took this callback: a partner repeating one whose answer it never
        received (the gateway died after signalling) is told it arrived, even once the case closed."""
        return event_id in self._seen_events

    # ------------------------------------------------------------------ updates
    @workflow.update
    async def supplement(self, corrected: Application) -> StatusDocument:
        """Corrected materials (补正) from the portal; already validated by the gateway."""
        self._registration.supplied = corrected
        await workflow.wait_condition(
            lambda: self._registration.supplied is None or self._record.status.is_final
        )
        return self._record.status

    @supplement.validator
    def _validate_supplement(self, corrected: Application) -> None:
        status = self._record.status
        if not self._registration.awaiting_supplement:
            raise ApplicationError(
                f"the case is {status.stage}, not awaiting a supplement", type=CASE_STATE_CONFLICT
            )
        if corrected.application_id != status.application_id:
            raise ApplicationError("the supplement is for another application", type=CASE_STATE_CONFLICT)

    @workflow.update
    async def withdraw(self, request: WithdrawRequest) -> StatusDocument:
        self._withdrawal = request
        self._record.record("withdrawal.requested", request.reason or "")
        return self._record.status

    @withdraw.validator
    def _validate_withdraw(self, request: WithdrawRequest) -> None:
        if self._record.status.is_final or self._withdrawal is not None or self._desk.rejection is not None:
            raise ApplicationError(
                f"the case is already {self._record.status.stage}", type=CASE_STATE_CONFLICT
            )

    @workflow.update
    async def act(self, action: OperatorAction) -> StatusDocument:
        """An operator's action (docs/operations.md); answered once the case has recorded it."""
        self._desk.take(action)
        return self._record.status

    @act.validator
    def _validate_act(self, action: OperatorAction) -> None:
        if self._desk.already_taken(action):
            return
        self._refuse_if_closed()
        if not self._desk.enabled:
            raise ApplicationError("this case predates operator actions", type=CASE_STATE_CONFLICT)
        if self._withdrawal is not None:
            raise ApplicationError("the case is being withdrawn", type=CASE_STATE_CONFLICT)
        self._desk.check(action)

    @workflow.query
    def action_taken(self, idempotency_key: str) -> bool:
        """Whether an action with this Idempotency-Key was recorded (a repeat after the case closed)."""
        return self._desk.knows(idempotency_key)

    @workflow.update
    async def change_delivery(self, delivery: Delivery) -> StatusDocument:
        """A new delivery (already validated by the gateway): before dispatch the case's; after,
        the parcel's, when the case carries it (a delivery child takes it itself)."""
        if self._delivery.started:  # only a case carrying its parcel: the validator refuses others
            await self._delivery.change_address(delivery)
            return self._record.status
        self._record.change_delivery(delivery)
        self._delivery.change(delivery.method)
        self._record.record("delivery.changed", f"delivery method {delivery.method}")
        self._record.publish()
        return self._record.status

    @change_delivery.validator
    def _validate_change_delivery(self, delivery: Delivery) -> None:
        self._refuse_if_closed()
        self._delivery.refuse_change()

    def _refuse_if_closed(self) -> None:
        if self._record.status.is_final:
            raise ApplicationError(
                f"the case is already {self._record.status.stage}", type=CASE_STATE_CONFLICT
            )

    # ------------------------------------------------------------------ signals
    @workflow.signal
    async def partner_event(self, event: PartnerEvent) -> None:
        """A partner's callback, passed on by the gateway; repeats (same event id) are dropped."""
        self._watch_history()
        if event.event_id in self._seen_events:
            return
        self._seen_events.add(event.event_id)
        if event.event.startswith("postal."):
            await self._delivery.forward(event)
        elif not self._seals.take_completion(event):
            self._record.record("partner.event_ignored", f"{event.partner} {event.event} ({event.event_id})")

    @workflow.update
    async def take_partner_event(self, event: PartnerEvent) -> None:
        """A partner's callback as an update whose id is the event's (``service/cases.py``): a
        repeat is answered from the first by Temporal, or refused by the validator, and either
        way writes nothing to the case's history."""
        await self.partner_event(event)

    @take_partner_event.validator
    def _validate_partner_event(self, event: PartnerEvent) -> None:
        if event.event_id in self._seen_events:
            raise ApplicationError(f"event {event.event_id} was taken before", type=EVENT_ALREADY_TAKEN)
        refusal = self._seals.refusal(event) if event.partner == "seal_shop" else None
        if refusal is not None:
            # A shop's completion of an order this case does not hold: refused, never recorded.
            raise ApplicationError(refusal, type=CASE_STATE_CONFLICT)

    @workflow.signal(name=PROGRESS_SIGNAL)
    def delivery_progress(self, progress: DeliveryProgress) -> None:
        """The delivery child's state after each change (best effort: the child's result is final)."""
        self._watch_history()
        self._delivery.progress(progress)

    def _watch_history(self) -> None:
        """Once the case's history passes the policy's ``history_alert_events`` (what partners send
        makes it grow), a ``needs_attention`` alert says so, once."""
        if self._history_alerted:
            return
        length = workflow.info().get_current_history_length()
        limit = self._promises.policy.history_alert_events
        if length >= limit and patched(HISTORY_WATCH_PATCH):
            self._history_alerted = True
            self._needs_attention(
                f"the case's history has {length} events (over {limit}): a partner may be "
                "sending the same callbacks again and again"
            )

    def _needs_attention(self, reason: str) -> None:
        """A ``needs_attention`` alert about the whole case (not a stage's partner), each its own
        episode."""
        self._overall_episodes += 1
        self._promises.raise_alert(
            "overall", "needs_attention", None, episode=self._overall_episodes, reason=reason
        )
