"""``EnterpriseSetup``: one application from the portal becomes a set-up enterprise (一日办).

Acceptance, then company registration, then seal carving and first invoice issuance side by
side, then completion. Every partner call is an activity with its idempotency key made once
here; each stage runs through :meth:`EnterpriseSetup._run_stage`, the one place the SLA
timers wrap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
)

with workflow.unsafe.imports_passed_through():
    from activities.documents import DocumentActivities, DocumentRequest
    from activities.invoices import InvoiceActivities
    from activities.partners import NAME_CONFLICT, NON_RETRYABLE_TYPES, REGISTRATION_REFUSED
    from activities.registration import RegistrationActivities
    from activities.seals import SealActivities
    from activities.sla import SlaActivities
    from activities.subsidy import SubsidyActivities
    from documents.models import (
        AcceptanceReceiptData,
        BusinessLicenceData,
        CaseDocumentData,
        CompletionNoticeData,
        PostalParty,
        SealLine,
        SubsidyVoucherData,
        WaybillLabelData,
    )
    from domain.alerts import AlertIn, AlertLevel, AlertStage
    from domain.application import Application, Delivery
    from domain.delivery import DEFAULT_CONTENTS, DeliveryInput, DeliveryOutcome, DeliveryProgress, Recipient
    from domain.districts import ANYANG_DISTRICTS
    from domain.partners import (
        InvoiceAllotment,
        InvoiceAllotmentRequest,
        Licence,
        PartnerEvent,
        PendingOrdersCancellation,
        RegistrationFiling,
        SealOrder,
        SealOrderRequest,
        SetupInput,
        WithdrawRequest,
    )
    from domain.status import (
        FINAL_STAGES,
        SLA_ORDER,
        CaseStage,
        DeliveryStatus,
        HistoryEntry,
        StageName,
        StageStatus,
        StatusDocument,
        SupplementRequest,
    )
    from domain.subsidy import SubsidyDecision, SubsidyReservation, SubsidySettlement
    from infra.temporal import (
        SA_BREACHED_STAGES,
        SA_ENTERPRISE_NAME,
        SA_SETUP_STAGE,
        SA_SLA_STATUS,
        SA_SUBSIDY_GRANTED,
        SA_USCC,
        application_id_of,
    )

from workflows.delivery import PostalDelivery, book_inbound_label
from workflows.sla import PromiseClock, StageWatch

T = TypeVar("T")

# Partners may be slow (up to 30 s an answer) or down for a while: retry with backoff for as
# long as it takes; the SLA timers, not the retry policy, tell people when it takes too long.
PARTNER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)
PARTNER_CALL_TIMEOUT = timedelta(seconds=75)
# Introduced with the free services (subsidy, postal delivery, documents); older histories replay without.
FREE_SERVICES_PATCH = "free-services-v1"
DOCUMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=5
)
ALERT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
CLEANUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)


class CaseRejected(Exception):
    """A partner refused the case for good; it ends ``rejected`` with this reason."""


@workflow.defn(name="EnterpriseSetup")
class EnterpriseSetup:
    @workflow.init
    def __init__(self, input: SetupInput) -> None:
        self._app: Application = input.application
        info = workflow.info()
        self._status = StatusDocument(
            application_id=application_id_of(info.workflow_id),
            workflow_id=info.workflow_id,
            stage="accepted",
            accepted_at=info.start_time,
        )
        self._supplied: Application | None = None
        self._withdrawal: WithdrawRequest | None = None
        self._seen_events: set[str] = set()
        self._seal_order: SealOrder | None = None
        self._seal_completion: PartnerEvent | None = None
        self._waiting_for = ""
        self._clock = PromiseClock(input.sla_policy)
        self._watches: dict[StageName, StageWatch] = {}
        self._alert_outbox: list[AlertIn] = []
        self._breached: list[str] = []
        self._subsidy_policy = input.subsidy_policy
        self._free_services = False
        self._subsidy: SubsidyDecision | None = None
        self._subsidy_settled = False
        self._delivery_started = False
        self._delivery_finished = False
        self._postal_backlog: list[PartnerEvent] = []
        self._waybill_labelled: set[str] = set()

    # ------------------------------------------------------------------ run
    @workflow.run
    async def run(self, input: SetupInput) -> StatusDocument:
        self._record("accepted", f"application {self._status.application_id} accepted")
        self._free_services = workflow.patched(FREE_SERVICES_PATCH)
        if self._free_services:
            self._status.documents = []
            self._status.stages.delivery = StageStatus()
            postal = self._app.delivery.method == "postal"
            self._status.delivery = DeliveryStatus(
                method=self._app.delivery.method, state="awaiting_dispatch" if postal else "not_applicable"
            )
        self._status.stages.overall.state = "running"
        self._status.stages.overall.started_at = self._status.accepted_at
        self._publish()
        alert_sender = asyncio.create_task(self._send_alerts())
        await self._watch("overall", self._status.accepted_at)

        if self._free_services:
            await self._issue(
                AcceptanceReceiptData.from_application(
                    self._app,
                    workflow_id=self._status.workflow_id,
                    accepted_at=self._status.accepted_at,
                    generated_at=workflow.now(),
                    policy=self._clock.policy,
                    deadlines={"overall": d} if (d := self._status.stages.overall.deadline) else None,
                )
            )
        work = asyncio.create_task(self._carry_through())
        await workflow.wait_condition(lambda: work.done() or self._withdrawal is not None)
        if not work.done():
            work.cancel()
            try:
                await work
            except (asyncio.CancelledError, Exception) as err:
                if not _is_cancellation(err):
                    raise
            await self._close_withdrawn()
        else:
            try:
                work.result()
            except CaseRejected as refused:
                self._close("rejected", str(refused))
        # Every alert raised is stored before the case closes.
        await workflow.wait_condition(lambda: not self._alert_outbox)
        alert_sender.cancel()
        return self._status

    async def _carry_through(self) -> None:
        if self._free_services and self._app.delivery.inbound_materials:
            await self._book_inbound_label()
        licence = await self._run_stage("registration", self._register)
        self._status.uscc = licence.uscc
        workflow.upsert_search_attributes([SA_USCC.value_set(licence.uscc)])
        if self._free_services:
            await self._issue(
                BusinessLicenceData(
                    application_id=self._status.application_id, generated_at=workflow.now(), licence=licence
                )
            )
        self._set_stage("seal_carving_and_invoice")
        await asyncio.gather(
            self._run_stage("seal_carving", lambda: self._carve_seals(licence)),
            self._invoice_stage(licence),
        )
        # The one-day promise covers the stages up to dispatch; delivery has its own.
        self._unwatch("overall", succeeded=True)
        if self._free_services:
            self._set_stage("delivery")
            await self._run_stage("delivery", self._deliver)
            self._status.completed_at = workflow.now()
            await self._issue(
                CompletionNoticeData.from_status(
                    self._status,
                    enterprise_name=self._app.enterprise.name,
                    generated_at=workflow.now(),
                    policy=self._clock.policy,
                )
            )
        self._close("completed", None)

    # ------------------------------------------------------------- the stage runner
    async def _run_stage(self, name: StageName, work: Callable[[], Awaitable[T]]) -> T:
        """Run one stage of the promise, keeping its part of the status document current."""
        stage = self._status.stages.of(name)
        stage.state = "running"
        stage.started_at = stage.started_at or workflow.now()
        self._record(f"{name}.started", "")
        await self._watch(name, stage.started_at)
        # Not ``BaseException``: a GeneratorExit (the worker evicting the case from its cache)
        # must pass through untouched, outside the workflow's event loop.
        try:
            result = await work()
        except (asyncio.CancelledError, Exception) as err:
            if _is_cancellation(err):
                stage.state = "cancelled"
                stage.finished_at = workflow.now()
                self._unwatch(name, succeeded=False)
                raise
            stage.state = "failed"
            stage.finished_at = workflow.now()
            self._unwatch(name, succeeded=False)
            self._record(f"{name}.failed", str(err))
            raise
        self._unwatch(name, succeeded=True)
        stage.state = "done"
        stage.finished_at = workflow.now()
        self._record(f"{name}.done", "")
        return result

    # ------------------------------------------------------------- registration
    async def _register(self) -> Licence:
        self._set_stage("registration")
        while True:
            # A new submission (first, or after a supplement) is a new business action: new key.
            key = f"{workflow.info().workflow_id}/registration/{workflow.uuid4()}"
            self._waiting_for = "the registration system (市场监管)"
            self._publish()
            try:
                licence = await workflow.execute_activity_method(
                    RegistrationActivities.file_registration,
                    RegistrationFiling(application=self._app, idempotency_key=key),
                    start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                    retry_policy=PARTNER_RETRY,
                    summary=f"登记 registration of {self._app.enterprise.name}",
                )
            except ActivityError as err:
                cause = err.cause
                if not isinstance(cause, ApplicationError):
                    raise
                if cause.type == NAME_CONFLICT:
                    await self._await_supplement(cause)
                    continue
                if cause.type == REGISTRATION_REFUSED:
                    raise CaseRejected(f"registration refused: {_partner_message(cause)}") from err
                raise CaseRejected(
                    f"the registration system did not accept the filing: {_partner_message(cause)}"
                ) from err
            self._record("registration.licence_issued", f"USCC {licence.uscc} by {licence.authority}")
            return licence

    async def _await_supplement(self, conflict: ApplicationError) -> None:
        details = conflict.details[0] if conflict.details else {}
        fields = details.get("fields") or ["enterprise"]
        message = details.get("message") or str(conflict)
        # Time awaiting the applicant does not count against the promise: pause its clocks.
        paused = [w for n, w in self._watches.items() if n in ("registration", "overall")]
        for watch in paused:
            watch.pause()
        window = self._clock.policy.supplement_window_td
        due = await self._clock.add(workflow.now(), window)
        self._note_calendar()
        self._status.supplement = SupplementRequest(requested=[f"{f}: {message}" for f in fields], due=due)
        self._status.stages.registration.state = "waiting"
        self._set_stage("awaiting_supplement")
        self._waiting_for = "corrected materials from the applicant (补正)"
        self._record("supplement.requested", "; ".join(self._status.supplement.requested))
        self._publish()
        try:
            await workflow.wait_condition(
                lambda: self._supplied is not None,
                timeout=max(due - workflow.now(), timedelta(seconds=1)),
                timeout_summary=f"supplement due {self._clock.local_hm(due)}",
            )
        except TimeoutError:
            raise CaseRejected(
                f"no supplement arrived within the supplement window ({self._clock.policy.supplement_window})"
            ) from None
        for watch in paused:
            moved = await watch.resume()
            if moved:
                self._record(f"{watch.name}.deadline_moved", f"paused {moved} of working time")
        assert self._supplied is not None
        self._app, self._supplied = self._supplied, None
        self._status.supplement = None
        self._status.stages.registration.state = "running"
        self._record("supplement.received", "corrected materials received; filing again")
        workflow.upsert_search_attributes([SA_ENTERPRISE_NAME.value_set(self._app.enterprise.name)])
        self._set_stage("registration")

    # ------------------------------------------------------------- seals and invoices
    async def _carve_seals(self, licence: Licence) -> PartnerEvent:
        order = await workflow.execute_activity_method(
            SealActivities.order_seals,
            SealOrderRequest(
                application_id=self._status.application_id,
                uscc=licence.uscc,
                enterprise_name=licence.name,
                legal_representative_name=self._app.legal_representative.name,
                seals=self._app.seals,
                idempotency_key=f"{workflow.info().workflow_id}/seal-order/{workflow.uuid4()}",
            ),
            start_to_close_timeout=PARTNER_CALL_TIMEOUT,
            retry_policy=PARTNER_RETRY,
            summary=f"刻章 seal order ({', '.join(self._app.seals)})",
        )
        self._seal_order = order
        self._status.stages.seal_carving.state = "waiting"
        self._record("seal_carving.ordered", f"order {order.order_id} at {order.shop_name}")
        if self._free_services:
            await self._reserve_subsidy(licence, order)
        self._waiting_for = f"the seal shop {order.shop_name} to finish carving"
        self._publish()
        # No worker slot is held while the shop works: the completion comes as a signal.
        await workflow.wait_condition(lambda: self._seal_completion is not None)
        assert self._seal_completion is not None
        self._record(
            "seal_carving.completed",
            f"order {order.order_id}; filing {self._seal_completion.data.get('filing_no', '-')}",
        )
        if self._subsidy is not None and self._subsidy.granted:
            await self._settle_subsidy(licence.uscc)
        return self._seal_completion

    async def _invoice_stage(self, licence: Licence) -> InvoiceAllotment | None:
        invoice = self._app.invoice
        if invoice is None:
            self._status.stages.invoice.state = "skipped"
            self._record("invoice.skipped", "no invoice requested")
            return None
        request = InvoiceAllotmentRequest(
            application_id=self._status.application_id,
            uscc=licence.uscc,
            enterprise_name=licence.name,
            kind=invoice.kind,
            monthly_quota=invoice.monthly_quota,
            idempotency_key=f"{workflow.info().workflow_id}/invoice/{workflow.uuid4()}",
        )

        async def allot() -> InvoiceAllotment:
            allotment = await workflow.execute_activity_method(
                InvoiceActivities.issue_first_invoices,
                request,
                start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                retry_policy=PARTNER_RETRY,
                summary=f"发票 first invoices ({invoice.kind}, {invoice.monthly_quota}/month)",
            )
            self._record("invoice.allotted", f"allotment {allotment.allotment_id}")
            return allotment

        return await self._run_stage("invoice", allot)

    # ------------------------------------------------------------- endings
    async def _close_withdrawn(self) -> None:
        assert self._withdrawal is not None
        reason = self._withdrawal.reason or "withdrawn by the applicant"
        for stage in self._status.stages.tracked():
            if stage.state in ("pending", "running", "waiting"):
                stage.state = "cancelled"
                stage.finished_at = workflow.now()
        if self._status.uscc is not None and self._seal_completion is None:
            cancelled = await workflow.execute_activity_method(
                SealActivities.cancel_pending_seal_orders,
                PendingOrdersCancellation(application_id=self._status.application_id, reason=reason),
                start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                retry_policy=CLEANUP_RETRY,
                summary="撤回 cancel pending seal orders",
            )
            if cancelled:
                self._record("seal_carving.cancelled", f"cancelled orders {', '.join(cancelled)}")
        if self._subsidy is not None and self._subsidy.granted and not self._subsidy_settled:
            assert self._status.uscc is not None
            decision = await workflow.execute_activity_method(
                SubsidyActivities.release_first_seal_subsidy,
                SubsidySettlement(uscc=self._status.uscc, at=workflow.now()),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=ALERT_RETRY,
                summary="免费刻章 release the first-seal subsidy",
            )
            self._set_subsidy(decision)
            self._record("subsidy.released", decision.reason)
        self._close("withdrawn", reason)

    def _close(self, stage: CaseStage, reason: str | None) -> None:
        for name in list(self._watches):
            self._unwatch(name, succeeded=False)
        now = workflow.now()
        self._status.reason = reason
        self._status.supplement = None
        overall = self._status.stages.overall
        overall.finished_at = now
        overall.state = "done" if stage == "completed" else "cancelled"
        for part in self._status.stages.tracked():
            if part.state in ("pending", "running", "waiting"):
                part.state = "cancelled"
        if stage == "completed":
            self._status.completed_at = now
        self._set_stage(stage)
        self._waiting_for = ""
        self._record(stage, reason or "")
        self._publish()

    # ------------------------------------------------------------- handlers
    @workflow.query
    def status(self) -> StatusDocument:
        return self._status

    @workflow.query
    def application(self) -> Application:
        return self._app

    @workflow.update
    async def supplement(self, corrected: Application) -> StatusDocument:
        """Corrected materials (补正) from the portal; already validated by the gateway."""
        self._supplied = corrected
        await workflow.wait_condition(lambda: self._supplied is None or self._status.is_final)
        return self._status

    @supplement.validator
    def _validate_supplement(self, corrected: Application) -> None:
        if self._status.stage != "awaiting_supplement" or self._supplied is not None:
            raise ApplicationError(
                f"the case is {self._status.stage}, not awaiting a supplement",
                type="CaseStateConflict",
            )
        if corrected.application_id != self._status.application_id:
            raise ApplicationError("the supplement is for another application", type="CaseStateConflict")

    @workflow.update
    async def withdraw(self, request: WithdrawRequest) -> StatusDocument:
        self._withdrawal = request
        self._record("withdrawal.requested", request.reason or "")
        return self._status

    @withdraw.validator
    def _validate_withdraw(self, request: WithdrawRequest) -> None:
        if self._status.is_final or self._withdrawal is not None:
            raise ApplicationError(f"the case is already {self._status.stage}", type="CaseStateConflict")

    @workflow.signal
    async def partner_event(self, event: PartnerEvent) -> None:
        """A partner's callback, passed on by the gateway; repeats (same event id) are dropped."""
        if event.event_id in self._seen_events:
            return
        self._seen_events.add(event.event_id)
        if event.event.startswith("postal."):
            if not self._delivery_started:
                self._postal_backlog.append(event)
            elif not self._delivery_finished:
                child = workflow.get_external_workflow_handle(f"{self._status.workflow_id}-delivery")
                try:
                    await child.signal("partner_event", event)
                except FailureError as err:  # the child finished meanwhile: nothing left to tell it
                    self._record("partner.event_ignored", f"{event.event} ({event.event_id}): {err}")
            return
        if event.event == "seal_order.completed":
            order_id = event.data.get("order_id")
            # The completion may overtake the activity's answer; it is matched when that lands.
            if self._seal_completion is None and (
                self._seal_order is None or self._seal_order.order_id == order_id
            ):
                self._seal_completion = event
                return
        self._record("partner.event_ignored", f"{event.partner} {event.event} ({event.event_id})")

    # ------------------------------------------------------------- free services
    async def _issue(self, data: CaseDocumentData) -> None:
        """Render and store one document; a document that cannot be made never holds the case."""
        try:
            name = await workflow.execute_activity_method(
                DocumentActivities.issue_document,
                DocumentRequest(data=data),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=DOCUMENT_RETRY,
                summary=f"文书 {data.document}",
            )
        except ActivityError as err:
            if _is_cancellation(err):
                raise  # the case is being withdrawn: not a document failure
            self._record("document.failed", f"{data.document}: {err.cause or err}")
            return
        assert self._status.documents is not None
        if name not in self._status.documents:
            self._status.documents.append(name)
        self._record("document.issued", name)

    async def _book_inbound_label(self) -> None:
        district = self._app.enterprise.district_code
        waybill = await book_inbound_label(self._status.application_id, self._status.workflow_id, district)
        self._record("delivery.inbound_label", f"prepaid inbound waybill {waybill.waybill_no}")
        centre = Recipient.centre(district)
        await self._issue(
            WaybillLabelData(
                application_id=self._status.application_id,
                generated_at=workflow.now(),
                waybill_no=waybill.waybill_no,
                direction="inbound",
                sender=_party(Recipient.of(self._app.delivery)),
                recipient=_party(centre),
                contents=["申请材料 application materials"],
                booked_at=waybill.booked_at,
            )
        )

    async def _reserve_subsidy(self, licence: Licence, order: SealOrder) -> None:
        """免费刻制首套印章: reserve the city's payment for the standard set when the order is placed."""
        decision = await workflow.execute_activity_method(
            SubsidyActivities.reserve_first_seal_subsidy,
            SubsidyReservation(
                application_id=self._status.application_id,
                workflow_id=self._status.workflow_id,
                uscc=licence.uscc,
                enterprise_name=licence.name,
                enterprise_kind=self._app.enterprise.kind,
                district_code=self._app.enterprise.district_code,
                shop_id=order.shop_id,
                shop_name=order.shop_name,
                seals=list(order.seals),
                prices_cny=dict(order.prices_cny),
                policy=self._subsidy_policy,
                at=workflow.now(),
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ALERT_RETRY,
            summary="免费刻章 reserve the first-seal subsidy",
        )
        self._set_subsidy(decision)
        self._record("subsidy.reserved" if decision.granted else "subsidy.not_granted", decision.reason)
        if decision.budget_exhausted:
            self._queue_alert("subsidy", "budget_exhausted", None)
        if decision.granted and decision.grant_id:
            lines = [
                SealLine(
                    kind=kind,
                    price_cny=decision.prices_cny.get(kind, order.prices_cny.get(kind)),
                    paid_by="city" if kind in decision.covered_seals else "enterprise",
                )
                for kind in order.seals
            ]
            await self._issue(
                SubsidyVoucherData(
                    application_id=self._status.application_id,
                    generated_at=workflow.now(),
                    grant_id=decision.grant_id,
                    enterprise_name=licence.name,
                    uscc=licence.uscc,
                    shop_id=order.shop_id,
                    shop_name=order.shop_name,
                    order_id=order.order_id,
                    seals=lines,
                    city_pays_cny=decision.amount_cny,
                    enterprise_pays_cny=decision.enterprise_pays_cny,
                    granted_at=workflow.now(),
                )
            )

    async def _settle_subsidy(self, uscc: str) -> None:
        decision = await workflow.execute_activity_method(
            SubsidyActivities.settle_first_seal_subsidy,
            SubsidySettlement(uscc=uscc, at=workflow.now()),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ALERT_RETRY,
            summary="免费刻章 settle the first-seal subsidy with the shop",
        )
        self._subsidy_settled = True
        self._set_subsidy(decision)
        self._record("subsidy.settled", decision.reason)

    def _set_subsidy(self, decision: SubsidyDecision) -> None:
        self._subsidy = decision
        self._status.subsidy = decision.to_status()
        workflow.upsert_search_attributes([SA_SUBSIDY_GRANTED.value_set(decision.granted)])

    async def _deliver(self) -> DeliveryOutcome:
        """免费寄递: the delivery child workflow books EMS and follows the parcel (or readies pickup)."""
        child_id = f"{self._status.workflow_id}-delivery"
        handle = await workflow.start_child_workflow(
            PostalDelivery.run,
            DeliveryInput(
                application_id=self._status.application_id,
                workflow_id=self._status.workflow_id,
                delivery=self._app.delivery,
                contents=list(DEFAULT_CONTENTS),
                sender_district_code=self._app.enterprise.district_code,
                # Empty: the EMS activity uses its worker's ODS_GATEWAY_URL, as the seal order does.
                callback_url="",
                parent_workflow_id=self._status.workflow_id,
            ),
            id=child_id,
            static_summary=f"寄递 delivery of {self._status.application_id}",
        )
        self._delivery_started = True
        self._waiting_for = (
            "EMS to deliver the licence and seals" if self._app.delivery.method == "postal" else ""
        )
        self._publish()
        for event in self._postal_backlog:
            await handle.signal(PostalDelivery.partner_event, event)
        self._postal_backlog.clear()
        labeller = asyncio.create_task(self._label_outbound(handle))
        try:
            outcome: DeliveryOutcome = await handle
        except (asyncio.CancelledError, Exception):
            self._stop_following_delivery(labeller)
            raise
        self._stop_following_delivery(labeller)
        self._status.delivery = outcome.as_status()
        return outcome

    def _stop_following_delivery(self, labeller: asyncio.Task[None]) -> None:
        self._delivery_finished = True
        if not labeller.done():
            labeller.cancel()

    async def _label_outbound(self, handle: workflow.ChildWorkflowHandle) -> None:  # type: ignore[type-arg]
        await workflow.wait_condition(
            lambda: self._status.delivery is not None and self._status.delivery.waybill_no is not None
        )
        assert self._status.delivery is not None and self._status.delivery.waybill_no is not None
        waybill_no = self._status.delivery.waybill_no
        if waybill_no in self._waybill_labelled:
            return
        self._waybill_labelled.add(waybill_no)
        await self._issue(
            WaybillLabelData(
                application_id=self._status.application_id,
                generated_at=workflow.now(),
                waybill_no=waybill_no,
                direction="outbound",
                sender=_party(Recipient.centre(self._app.enterprise.district_code)),
                recipient=_party(Recipient.of(self._app.delivery)),
                contents=["营业执照 business licence", "印章 seals"],
                booked_at=workflow.now(),
            )
        )

    @workflow.signal
    def delivery_progress(self, progress: DeliveryProgress) -> None:
        """The delivery child's state after each change (best effort: the child's result is final)."""
        self._status.delivery = progress.delivery
        self._status.history.append(progress.entry)
        self._publish()

    @workflow.update
    async def change_delivery(self, delivery: Delivery) -> StatusDocument:
        """A new delivery before dispatch (already validated by the gateway)."""
        self._app = self._app.model_copy(update={"delivery": delivery})
        if self._status.delivery is not None:
            postal = delivery.method == "postal"
            self._status.delivery = DeliveryStatus(
                method=delivery.method, state="awaiting_dispatch" if postal else "not_applicable"
            )
        self._record("delivery.changed", f"delivery method {delivery.method}")
        self._publish()
        return self._status

    @change_delivery.validator
    def _validate_change_delivery(self, delivery: Delivery) -> None:
        if self._status.is_final:
            raise ApplicationError(f"the case is already {self._status.stage}", type="CaseStateConflict")
        if not self._free_services:
            raise ApplicationError("this case predates delivery changes", type="CaseStateConflict")
        if self._delivery_started:
            # The delivery child owns the parcel now: the caller asks it (it refuses once collected).
            raise ApplicationError("the delivery is under way", type="DeliveryInProgress")

    # ------------------------------------------------------------- SLA
    async def _watch(self, name: StageName, started_at: datetime) -> None:
        watch = StageWatch(self._clock, name, started_at, self._status.stages.of(name), self._level_reached)
        self._watches[name] = watch
        await watch.begin()
        self._note_calendar()

    def _unwatch(self, name: StageName, *, succeeded: bool) -> None:
        watch = self._watches.pop(name, None)
        if watch is not None:
            watch.finish(succeeded=succeeded)

    def _level_reached(self, stage: StageName, level: AlertLevel, deadline: datetime | None) -> None:
        """A promise is at risk, broken, or kept after all: update the case and raise the alert."""
        s = self._status
        if level in ("at_risk", "breached") and SLA_ORDER[level] > SLA_ORDER[s.sla_status]:
            s.sla_status = level  # type: ignore[assignment]
            workflow.upsert_search_attributes([SA_SLA_STATUS.value_set(level)])
        if level == "breached" and stage not in self._breached:
            self._breached.append(stage)
            workflow.upsert_search_attributes([SA_BREACHED_STAGES.value_set(list(self._breached))])
        self._queue_alert(stage, level, deadline)

    def _queue_alert(self, stage: AlertStage, level: AlertLevel, deadline: datetime | None) -> None:
        s = self._status
        due = f"; deadline {deadline.astimezone(self._clock.policy.zone).isoformat()}" if deadline else ""
        self._record(f"alert.{stage}.{level}", f"{stage} {level}{due}")
        self._alert_outbox.append(
            AlertIn(
                application_id=s.application_id,
                workflow_id=s.workflow_id,
                stage=stage,
                level=level,
                deadline=deadline,
                raised_at=workflow.now(),
                district_code=self._app.enterprise.district_code,
                enterprise_name=self._app.enterprise.name,
            )
        )
        self._publish()

    async def _send_alerts(self) -> None:
        """Raise alerts in order, one at a time; never cancelled with the stage that raised them."""
        while True:
            await workflow.wait_condition(lambda: bool(self._alert_outbox))
            alert = self._alert_outbox[0]
            await workflow.execute_activity_method(
                SlaActivities.raise_alert,
                alert,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=ALERT_RETRY,
                summary=f"alert: {alert.stage} {alert.level}",
            )
            self._alert_outbox.pop(0)

    def _note_calendar(self) -> None:
        years = sorted(self._clock.uncovered_years)
        if years and self._status.calendar_note is None:
            note = (
                f"no official holiday data for {', '.join(map(str, years))}: "
                "deadlines there count weekends only (plus the policy's extra holidays)"
            )
            self._status.calendar_note = note
            self._record("calendar.uncovered", note)
            workflow.logger.warning(note)

    # ------------------------------------------------------------- bookkeeping
    def _set_stage(self, stage: CaseStage) -> None:
        if self._status.stage in FINAL_STAGES:
            return
        self._status.stage = stage
        workflow.upsert_search_attributes([SA_SETUP_STAGE.value_set(stage)])
        self._publish()

    def _record(self, event: str, detail: str) -> None:
        self._status.history.append(HistoryEntry(at=workflow.now(), event=event, detail=detail))

    def _publish(self) -> None:
        """What ops read in the Web UI's current details: stage and what the case waits for."""
        s = self._status
        district = ANYANG_DISTRICTS.get(self._app.enterprise.district_code, "")
        lines = [
            f"**{self._app.enterprise.name}** ({district} {self._app.enterprise.district_code})",
            f"stage: `{s.stage}`  SLA: `{s.sla_status}`",
        ]
        if s.uscc:
            lines.append(f"USCC: {s.uscc}")
        if self._waiting_for and not s.is_final:
            lines.append(f"waiting for: {self._waiting_for}")
        for name, watch in self._watches.items():
            if watch.deadline is not None:
                lines.append(f"{name} due {self._clock.local_hm(watch.deadline)} ({watch.level})")
        if self._breached:
            lines.append(f"breached: {', '.join(self._breached)}")
        if s.reason:
            lines.append(f"reason: {s.reason}")
        workflow.set_current_details("\n\n".join(lines))


def _is_cancellation(err: BaseException) -> bool:
    """A withdrawal cancels the work in hand: awaited activities and children then fail with a
    Temporal ``CancelledError`` cause rather than raising ``asyncio.CancelledError`` themselves."""
    if isinstance(err, asyncio.CancelledError):
        return True
    return isinstance(err, (ActivityError, ChildWorkflowError)) and isinstance(err.cause, CancelledError)


def _party(recipient: Recipient) -> PostalParty:
    return PostalParty(
        name=recipient.name,
        phone=recipient.phone,
        district_code=recipient.district_code,
        address=recipient.address,
    )


def _partner_message(err: ApplicationError) -> str:
    details = err.details[0] if err.details else {}
    if isinstance(details, dict) and details.get("message"):
        return str(details["message"])
    return str(err)
