"""``DeliveryHandoff``: the case's side of the free mailing (免费寄递).

The case starts the delivery once seals and invoices are done, passes on the postal tracking
callbacks it receives (holding any that come before the parcel is under way), mirrors the parcel's
progress in its own status document and issues the waybill labels. Two-way mailing (双向寄递) books
a prepaid inbound label at acceptance. Cases that began before the free services deliver nothing.

A case begun under ``lean-case-v2`` carries the parcel itself (a :class:`workflows.delivery.Parcel`
in its own run: a tracking event costs it an update and one workflow task); earlier cases have a
``PostalDelivery`` child carry it and keep doing so when they replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from documents.models import WaybillLabelData
    from domain.actions import OperatorAction
    from domain.application import Delivery, DeliveryMethod
    from domain.case_ids import delivery_workflow_id
    from domain.delivery import (
        DEFAULT_CONTENTS,
        AddressChange,
        DeliveryInput,
        DeliveryOutcome,
        DeliveryProgress,
        Recipient,
    )
    from domain.partners import PartnerEvent
    from domain.status import ActionName, DeliveryStatus

from workflows.attention import OperatorDesk
from workflows.calls import honour_cancellation, is_cancellation
from workflows.case_record import CaseRecord
from workflows.delivery import Parcel, PostalDelivery, book_inbound_label
from workflows.documents import Documents, postal_party

DELIVERY_IN_PROGRESS = "DeliveryInProgress"
# What an operator may do while EMS refuses or stays silent on the booking.
DELIVERY_ACTIONS: tuple[ActionName, ...] = ("switch_to_pickup", "retry_stage")


class DeliveryHandoff:
    def __init__(self, record: CaseRecord, documents: Documents, desk: OperatorDesk) -> None:
        self._record = record
        self._documents = documents
        self._desk = desk
        self.enabled = False
        # Set by the case: it carries the parcel itself (``lean-case-v2``), not a child.
        self.in_case = False
        self._child: workflow.ChildWorkflowHandle[PostalDelivery, DeliveryOutcome] | None = None
        self._parcel: Parcel | None = None
        self._backlog: list[PartnerEvent] = []
        self._labelled: set[str] = set()

    def enable(self) -> None:
        self.enabled = True
        self._record.delivery_offered(_awaiting(self._record.app.delivery.method))

    @property
    def started(self) -> bool:
        return self._child is not None or self._parcel is not None

    @property
    def finished(self) -> bool:
        stage = self._record.status.stages.delivery
        return stage is not None and stage.state in ("done", "failed", "cancelled")

    # ------------------------------------------------------------- the run
    async def book_inbound_label(self) -> None:
        """Two-way mailing: a prepaid label for the applicant's paper materials."""
        record = self._record
        if not self.enabled or not record.app.delivery.inbound_materials:
            return
        district = record.app.enterprise.district_code
        # The materials come from the address the label is booked for: the applicant may change
        # the delivery (to pickup, say) while EMS answers, and the label keeps the address it has.
        sender = postal_party(Recipient.of(record.app.delivery))
        try:
            waybill = await book_inbound_label(record.application_id, record.workflow_id, district)
        except ActivityError as err:
            if not self._desk.enabled or is_cancellation(err):
                raise
            # Two-way mailing is a convenience: without the label the materials come at pickup.
            record.record(
                "delivery.inbound_label_refused", f"EMS refused the inbound label: {_deepest_message(err)}"
            )
            return
        honour_cancellation()
        record.record("delivery.inbound_label", f"prepaid inbound waybill {waybill.waybill_no}")
        await self._documents.issue(
            WaybillLabelData(
                application_id=record.application_id,
                generated_at=workflow.now(),
                waybill_no=waybill.waybill_no,
                direction="inbound",
                sender=sender,
                recipient=postal_party(Recipient.centre(district)),
                contents=["申请材料 application materials"],
                booked_at=waybill.booked_at,
            )
        )

    async def deliver(self) -> DeliveryOutcome:
        """The delivery child books EMS and follows the parcel (or readies pickup). A delivery that
        fails on an answer from EMS waits for an operator: ``retry_stage`` starts it again,
        ``switch_to_pickup`` readies the package at the window instead."""
        delivery = self._record.app.delivery
        failures = (ActivityError, ApplicationError) if self.in_case else (ChildWorkflowError,)
        while True:
            try:
                if self.in_case:
                    return await self._carried(delivery)
                return await self._delivered(delivery)
            except failures as err:
                if not self._desk.enabled or is_cancellation(err):
                    raise
                action = await self._desk.refused(
                    "delivery", f"the delivery could not go on: {_deepest_message(err)}", DELIVERY_ACTIONS
                )
                if action.action == "switch_to_pickup":
                    delivery = Delivery(method="pickup")

    def _input(self, delivery: Delivery, parent: str | None) -> DeliveryInput:
        record, app = self._record, self._record.app
        return DeliveryInput(
            application_id=record.application_id,
            workflow_id=record.workflow_id,
            delivery=delivery,
            contents=list(DEFAULT_CONTENTS),
            sender_district_code=app.enterprise.district_code,
            # Empty: the EMS activity uses its worker's ODS_GATEWAY_URL, as the seal order does.
            callback_url="",
            parent_workflow_id=parent,
            operator_actions=self._desk.enabled,
        )

    async def _carried(self, delivery: Delivery) -> DeliveryOutcome:
        """The parcel in the case's own run: its progress is the case's at once, tracking events
        and operators' actions reach it without a signal."""
        parcel = Parcel(self._input(delivery, None), report=self.progress)
        self._parcel = parcel
        self._record.wait_for("EMS to deliver the licence and seals" if delivery.method == "postal" else "")
        for event in self._backlog:
            parcel.take_event(event)
        self._backlog.clear()

        async def relay(acted: OperatorAction) -> bool:
            parcel.take_action(acted)
            return True

        outcome = await self._alongside(
            parcel.carry(), lambda: parcel.outcome.is_final, relay, self._record.workflow_id
        )
        self._record.delivery_changed(outcome.as_status())
        return outcome

    async def _alongside(
        self,
        carrying: Awaitable[DeliveryOutcome],
        over: Callable[[], bool],
        relay: Callable[[OperatorAction], Awaitable[bool]],
        calls_in: str,
    ) -> DeliveryOutcome:
        """The delivery, with the outbound label drawn and (with operators) their actions relayed
        beside it; both helpers end with it."""
        labeller = asyncio.create_task(self._label_outbound())
        # Beside the delivery, so that a case ending meanwhile cancels them with the await.
        relayer = (
            asyncio.create_task(self._relay_operators(over, relay, calls_in)) if self._desk.enabled else None
        )
        try:
            outcome = await carrying
        finally:
            for helper in (labeller, relayer):
                if helper is not None and not helper.done():
                    helper.cancel()
        honour_cancellation()
        return outcome

    async def _delivered(self, delivery: Delivery) -> DeliveryOutcome:
        """The parcel in a ``PostalDelivery`` child (cases begun before ``lean-case-v2``)."""
        record = self._record
        child = await workflow.start_child_workflow(
            PostalDelivery.run,
            self._input(delivery, record.workflow_id),
            id=delivery_workflow_id(record.workflow_id),
            # A case that ends while its parcel is out (terminated, say) has the delivery return it.
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            static_summary=f"寄递 delivery of {record.application_id}",
        )
        self._child = child
        record.wait_for("EMS to deliver the licence and seals" if delivery.method == "postal" else "")
        for event in self._backlog:
            await child.signal(PostalDelivery.partner_event, event)
        self._backlog.clear()

        async def relay(acted: OperatorAction) -> bool:
            try:
                await child.signal(PostalDelivery.operator_action, acted)
            except FailureError as err:  # the delivery ended meanwhile: its result tells the rest
                record.record("delivery.action_not_passed", f"{acted.action}: {err}")
                return False
            return True

        outcome: DeliveryOutcome = await self._alongside(child, child.done, relay, child.id)
        record.delivery_changed(outcome.as_status())
        return outcome

    async def _relay_operators(
        self,
        over: Callable[[], bool],
        relay: Callable[[OperatorAction], Awaitable[bool]],
        calls_in: str,
    ) -> None:
        """Until EMS has booked the parcel (or it waits at the window): past the patience, or on a
        refusal, an operator is asked; their action goes to the parcel (``relay``: False once it
        could not take it)."""
        status = self._record.status

        def dispatched() -> bool:
            delivery = status.delivery
            return over() or (
                delivery is not None
                and (delivery.waybill_no is not None or delivery.state == "ready_for_pickup")
            )

        while True:
            acted = await self._desk.wait(
                "delivery",
                "EMS (no waybill booked)",
                workflow.now(),
                dispatched,
                DELIVERY_ACTIONS,
                calls_in=calls_in,
            )
            if acted is None or not await relay(acted):
                return

    async def _label_outbound(self) -> None:
        status = self._record.status
        await workflow.wait_condition(
            lambda: status.delivery is not None and status.delivery.waybill_no is not None
        )
        assert status.delivery is not None and status.delivery.waybill_no is not None
        waybill_no = status.delivery.waybill_no
        if waybill_no in self._labelled:
            return
        self._labelled.add(waybill_no)
        app = self._record.app
        await self._documents.issue(
            WaybillLabelData(
                application_id=self._record.application_id,
                generated_at=workflow.now(),
                waybill_no=waybill_no,
                direction="outbound",
                sender=postal_party(Recipient.centre(app.enterprise.district_code)),
                recipient=postal_party(Recipient.of(app.delivery)),
                contents=["营业执照 business licence", "印章 seals"],
                booked_at=workflow.now(),
            )
        )

    # ------------------------------------------------------------- what the handlers pass on
    async def forward(self, event: PartnerEvent) -> None:
        """A postal tracking callback: to the parcel, held until it is under way, dropped after."""
        if self._parcel is not None:
            if not self.finished:
                self._parcel.take_event(event)
            return
        if self._child is None:
            self._backlog.append(event)
            return
        if self.finished:
            return
        # Untyped (mypy cannot always type the handle for ``PostalDelivery.run``: an import
        # cycle); the signal is typed either way. The same commands either way.
        child = workflow.get_external_workflow_handle(self._child.id)
        try:
            await child.signal(PostalDelivery.partner_event, event)
        except FailureError as err:  # the child finished meanwhile: nothing left to tell it
            self._record.record("partner.event_ignored", f"{event.event} ({event.event_id}): {err}")

    def progress(self, progress: DeliveryProgress) -> None:
        """The parcel's state after each change (from a child, best effort: its result is final)."""
        self._record.delivery_progressed(progress.delivery, progress.entry)
        if progress.refusal is not None and self._desk.enabled:
            self._desk.ask("delivery", progress.refusal, DELIVERY_ACTIONS)
        self._record.publish()

    def change(self, method: DeliveryMethod) -> None:
        """A new delivery before dispatch (the record holds the new application already)."""
        if self._record.status.delivery is not None:
            self._record.delivery_changed(_awaiting(method))

    async def change_address(self, delivery: Delivery) -> None:
        """A new address for a parcel under way in the case: amends the waybill (or returns the
        parcel for pickup); refused once EMS has collected it."""
        assert self._parcel is not None
        await self._parcel.change_address(AddressChange(delivery=delivery))

    def refuse_change(self) -> None:
        """Before dispatch the case takes a change; after, the parcel does (refused once EMS has
        collected it); a delivery child takes it itself."""
        if not self.enabled:
            raise ApplicationError("this case predates delivery changes", type="CaseStateConflict")
        if self._parcel is not None:
            self._parcel.refuse_if_collected()
        elif self.started:
            # The delivery child owns the parcel now: the caller asks it (it refuses once collected).
            raise ApplicationError("the delivery is under way", type=DELIVERY_IN_PROGRESS)


def _deepest_message(err: BaseException) -> str:
    """The words at the bottom of a failure chain (EMS's, when an activity of the child failed)."""
    message = str(err)
    while isinstance(err, FailureError) and err.cause is not None:
        err = err.cause
        message = err.message if isinstance(err, FailureError) else str(err)
    return message


def _awaiting(method: DeliveryMethod) -> DeliveryStatus:
    return DeliveryStatus(
        method=method, state="awaiting_dispatch" if method == "postal" else "not_applicable"
    )
