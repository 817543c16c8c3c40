"""The free mailing (免费寄递) of a new enterprise's licence and seals: :class:`Parcel`.

A parcel books one EMS waybill (its idempotency key made once here), then follows it through the
tracking events the case passes on: collected → in transit → out for delivery → delivered. A
failed attempt asks EMS for another until ``max_attempts`` have failed; then the parcel is returned
and the delivery falls back to pickup at the service centre. A pickup delivery is ready at once.
The applicant may change the address until EMS collects the parcel. Each change of state is kept
in ``history`` and reported as it happens. Nothing here waits on a timer: the parcel's pace is EMS's.

A case begun under ``lean-case-v2`` carries its parcel itself (``workflows/delivery_handoff.py``);
earlier cases have a ``PostalDelivery`` child carry it, taking events and operators' actions as
signals and the new address as an update, and sending each change to the case as a
``delivery_progress`` signal (about sixteen events per tracking event between the two histories).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliveryActivities
    from activities.partners import PartnerRefusal
    from domain.actions import OperatorAction
    from domain.application import Delivery
    from domain.delivery import (
        ALREADY_COLLECTED,
        ALREADY_DELIVERED,
        INBOUND_CONTENTS,
        NO_FAILED_ATTEMPT,
        AddressChange,
        DeliveryInput,
        DeliveryOutcome,
        DeliveryProgress,
        Recipient,
        RedeliveryRequest,
        ReturnRequest,
        Waybill,
        WaybillAmendment,
        WaybillBooking,
    )
    from domain.partners import PartnerEvent
    from domain.status import ActionName, HistoryEntry, ShopCandidate, StageName

from workflows.calls import PARTNER_CALL_TIMEOUT, PARTNER_RETRY, run_activity
from workflows.partner_step import Candidates, PartnerStep, Refusal
from workflows.versions import patched

T = TypeVar("T")

# A delivery cancelled with its case (a withdrawal) returns the parcel EMS has booked.
RETURN_ON_CANCEL_PATCH = "delivery-return-on-cancel-v1"

# A late or ignored tracking event is not passed on to the case: it changes nothing there, and each
# one cost the case's history a signal and a workflow task.
QUIET_EVENTS_PATCH = "delivery-quiet-events-v1"
_OWN_EVENTS = frozenset({"delivery.late_event", "delivery.event_ignored"})

# The case's signal that takes the delivery's progress (``EnterpriseSetup.delivery_progress``).
PROGRESS_SIGNAL = "delivery_progress"


# A parcel's tracking events in the order they happen, per attempt: a late or repeated event
# never moves the state back.
_RANK = {"collected": 1, "in_transit": 2, "out_for_delivery": 3, "failed_attempt": 4, "delivered": 5}


class Parcel:
    """The parcel's whole story (book, follow, redeliver, return, re-address), wherever it runs: in
    a ``PostalDelivery`` child (cases begun before ``lean-case-v2``) or in the case itself.

    ``report`` takes each change of state as it happens (the child queues it for the case; the
    case takes it at once); ``publish`` shows it in the Web UI (the child's own current details).
    """

    def __init__(
        self,
        input: DeliveryInput,
        report: Callable[[DeliveryProgress], None] | None = None,
        publish: bool = False,
    ) -> None:
        self._input = input
        self._report = report
        self._publishes = publish
        self._delivery = input.delivery
        self._outcome = DeliveryOutcome(method=input.delivery.method, state="awaiting_dispatch")
        self._waybill: Waybill | None = None
        self._booking = False
        self._changing = False
        self._collected = False
        self._returning = False
        self._inbox: list[PartnerEvent] = []
        self._seen_events: set[str] = set()
        self._progress: tuple[int, int] = (0, 0)
        self._failed_attempts: set[int] = set()
        self._actions: list[OperatorAction] = []
        self._refusal: str | None = None
        self._operators = _RelayedOperators(self)

    # ------------------------------------------------------------------ run
    async def carry(self) -> DeliveryOutcome:
        """Book and follow the parcel to its end (or ready it for pickup); a cancellation (the
        case withdrawn) returns a parcel EMS has booked."""
        try:
            # Changes that arrived with the start are applied by now (handlers run first).
            if self._delivery.method == "pickup":
                self._ready_for_pickup(
                    "delivery.pickup", "pickup chosen (自取): the package waits at the window"
                )
            elif await self._book():
                await self._follow_parcel()
        except asyncio.CancelledError:
            # The case was withdrawn: the parcel booked for it goes back to the centre.
            if patched(RETURN_ON_CANCEL_PATCH) and self._parcel_out():
                await self._return("the case was withdrawn")
            raise
        return self._outcome

    async def _book(self) -> bool:
        """Book the outbound waybill; False once it is pickup instead: EMS refused the booking for
        good (cases without operators), or an operator relayed by the case switched to pickup.
        With operators, a refusal or EMS's silence waits for their action (``retry_stage``: book
        again with a new key)."""
        self._booking = True
        self._record("delivery.booking", "booking an EMS waybill")
        step = PartnerStep(self._operators, self._record)
        try:
            waybill = await step.attempt(
                "delivery",
                self._book_waybill,
                keys=f"{self._input.workflow_id}/waybill/outbound",
                partner=lambda: "EMS",
                actions=("switch_to_pickup", "retry_stage"),
                own_answer=None if self._input.operator_actions else self._refused,
                explain=self._explain,
                acted=self._acted,
            )
        except _SwitchedToPickup as switched:
            self._booking = False
            self._ready_for_pickup(switched.event, switched.detail)
            return False
        self._waybill = waybill
        self._booking = False
        # Tracking events may overtake the booking's answer: keep only this parcel's.
        self._inbox = [e for e in self._inbox if self._is_ours(e)]
        self._collected = self._collected or bool(self._inbox)
        self._outcome.waybill_no = waybill.waybill_no
        self._set_state("booked", "delivery.booked", f"EMS waybill {waybill.waybill_no}")
        return True

    async def _book_waybill(self, key: str) -> Waybill:
        booking = WaybillBooking(
            application_id=self._input.application_id,
            direction="outbound",
            recipient=Recipient.of(self._delivery),
            contents=self._input.contents,
            callback_url=self._input.callback_url,
            idempotency_key=key,
        )
        waybill: Waybill = await run_activity(
            DeliveryActivities.book_waybill,
            booking,
            start_to_close_timeout=PARTNER_CALL_TIMEOUT,
            retry_policy=PARTNER_RETRY,
            summary="EMS 寄递: book the outbound waybill (licence and seals)",
        )
        return waybill

    async def _refused(self, refusal: PartnerRefusal, err: ActivityError) -> bool:
        """Without operators, a refusal readies the package at the window."""
        raise _SwitchedToPickup(
            "delivery.booking_refused",
            f"EMS refused the booking ({refusal.type}: {refusal.error}); "
            "the package waits at the window instead",
        )

    async def _explain(self, refusal: PartnerRefusal) -> Refusal:
        return Refusal(f"EMS refused the booking: {refusal.error}")

    async def _acted(self, action: OperatorAction) -> None:
        if action.action == "switch_to_pickup":
            raise _SwitchedToPickup("delivery.switched_to_pickup", f"switched to pickup by {action.operator}")
        self._record("delivery.booking", f"booking again ({action.action} by {action.operator})")

    async def _follow_parcel(self) -> None:
        while not self._outcome.is_final:
            await workflow.wait_condition(lambda: bool(self._inbox))
            await self._track(self._inbox.pop(0))

    async def _track(self, event: PartnerEvent) -> None:
        assert self._waybill is not None
        no = self._waybill.waybill_no
        kind = event.event.removeprefix("postal.")
        if kind == "returned":
            returned_to = event.data.get("returned_to") or "the service centre"
            self._ready_for_pickup("delivery.returned", f"waybill {no} returned to {returned_to}")
            return
        rank = _RANK.get(kind)
        if rank is None:
            self._record("delivery.event_ignored", f"{event.event} ({event.event_id})")
            return
        attempt = _attempt_of(event)
        if (attempt, rank) <= self._progress or self._returning:
            self._record("delivery.late_event", f"{event.event} of waybill {no} (attempt {attempt})")
            return
        self._progress = (attempt, rank)
        self._outcome.attempts = max(self._outcome.attempts, attempt)
        if kind == "failed_attempt":
            self._failed_attempts.add(attempt)
            failed, most = len(self._failed_attempts), self._input.max_attempts
            reason = event.data.get("reason") or "not delivered"
            self._set_state(
                "failed_attempt",
                "delivery.failed_attempt",
                f"attempt {attempt} ({reason}); {failed}/{most} failed",
            )
            if failed < most:
                await self._redeliver(attempt + 1)
            else:
                await self._return(f"{failed} delivery attempts failed")
            return
        detail = f"waybill {no}" + (f", attempt {attempt}" if attempt else "")
        self._set_state(kind, f"delivery.{kind}", detail)

    async def _redeliver(self, attempt: int) -> None:
        assert self._waybill is not None
        no = self._waybill.waybill_no
        # Recorded first: the attempt's own events may overtake EMS's answer.
        self._record("delivery.redelivery_requested", f"waybill {no}: attempt {attempt}")
        try:
            await run_activity(
                DeliveryActivities.request_redelivery,
                RedeliveryRequest(
                    waybill_no=no,
                    attempt=attempt,
                    idempotency_key=f"{self._input.workflow_id}/waybill/{no}/redelivery/{workflow.uuid4()}",
                ),
                start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                retry_policy=PARTNER_RETRY,
                summary=f"EMS redelivery of {no}: attempt {attempt} of {self._input.max_attempts}",
            )
        except ActivityError as err:
            # Another attempt is already under way: its events will tell.
            if _error_type(err) != NO_FAILED_ATTEMPT:
                raise
            self._record("delivery.redelivery_not_needed", f"waybill {no}: {_error_message(err)}")

    async def _return(self, why: str) -> None:
        """Give the parcel up; it is ready for pickup when EMS reports it back at the centre."""
        assert self._waybill is not None
        no = self._waybill.waybill_no
        self._returning = True
        # Recorded first: ``postal.returned`` may overtake EMS's answer.
        self._record("delivery.return_requested", f"waybill {no}: {why}; returning to the service centre")
        try:
            await run_activity(
                DeliveryActivities.return_to_centre,
                ReturnRequest(
                    waybill_no=no,
                    idempotency_key=f"{self._input.workflow_id}/waybill/{no}/return/{workflow.uuid4()}",
                ),
                start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                retry_policy=PARTNER_RETRY,
                summary=f"EMS return of {no} to the service centre",
            )
        except ActivityError as err:
            if _error_type(err) != ALREADY_DELIVERED:
                raise
            # Delivered after all: the delivered event follows.
            self._returning = False
            self._record("delivery.return_not_needed", f"waybill {no}: {_error_message(err)}")

    def _parcel_out(self) -> bool:
        """A waybill is booked and the parcel neither delivered nor on its way back."""
        return self._waybill is not None and not self._returning and not self._outcome.is_final

    def _ready_for_pickup(self, event: str, detail: str) -> None:
        self._outcome.method = "pickup"
        self._outcome.pickup_at = self._input.pickup_centre
        self._set_state(
            "ready_for_pickup", event, f"{detail}; ready for pickup at {self._input.pickup_centre}"
        )

    # ------------------------------------------------------------------ what comes in
    @property
    def outcome(self) -> DeliveryOutcome:
        """The status document's ``delivery`` (method, waybill_no, state, pickup_at), plus history."""
        return self._outcome

    def take_event(self, event: PartnerEvent) -> None:
        """A postal tracking event forwarded by the case; repeats and other parcels are dropped."""
        if event.event_id in self._seen_events or not event.event.startswith("postal."):
            return
        self._seen_events.add(event.event_id)
        if self._waybill is None:
            self._inbox.append(event)  # may be ours: the booking's answer is not in yet
        elif self._is_ours(event):
            self._collected = True  # any tracking event: EMS has the parcel
            self._inbox.append(event)

    def take_action(self, action: OperatorAction) -> None:
        """An operator's action on the booking, relayed by the case (which checked it is offered)."""
        if self._booking and self._input.operator_actions:
            self._actions.append(action)

    async def change_address(self, change: AddressChange) -> DeliveryOutcome:
        """A new delivery from the applicant: replaces it before booking, amends the waybill after."""
        if self._booking or self._changing:  # no yield otherwise: a change sent with the start comes first
            await workflow.wait_condition(lambda: not self._booking and not self._changing)
        self._changing = True
        try:
            self.refuse_if_collected()
            new = change.delivery
            if self._waybill is None:
                self._delivery = new
                self._outcome.method = new.method
                self._record("delivery.address_changed", f"new delivery ({new.method}) before booking")
            elif new.method == "pickup":
                self._delivery = new
                await self._return("the applicant chose pickup")
            else:
                await self._amend(self._waybill.waybill_no, new)
        finally:
            self._changing = False
        return self._outcome

    # ------------------------------------------------------------------ address changes
    async def _amend(self, no: str, new: Delivery) -> None:
        try:
            await run_activity(
                DeliveryActivities.amend_waybill,
                WaybillAmendment(waybill_no=no, recipient=Recipient.of(new)),
                start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                retry_policy=PARTNER_RETRY,
                summary=f"EMS amend the recipient of {no}",
            )
        except ActivityError as err:
            if _error_type(err) == ALREADY_COLLECTED:
                self._collected = True
                raise ApplicationError(
                    f"the parcel can no longer be re-addressed: {_error_message(err)}",
                    type=ALREADY_COLLECTED,
                    non_retryable=True,
                ) from None
            raise ApplicationError(
                f"EMS did not amend waybill {no}: {_error_message(err)}",
                type=_error_type(err) or "AmendFailed",
                non_retryable=True,
            ) from None
        self._delivery = new
        self._record("delivery.address_changed", f"waybill {no} amended before collection")

    def refuse_if_collected(self) -> None:
        if self._collected or self._returning or self._outcome.is_final:
            where = f" (waybill {self._outcome.waybill_no}, {self._outcome.state})"
            raise ApplicationError(
                f"the parcel can no longer be re-addressed: EMS has it{where}",
                type=ALREADY_COLLECTED,
                non_retryable=True,
            )

    def _is_ours(self, event: PartnerEvent) -> bool:
        return self._waybill is not None and event.data.get("waybill_no") == self._waybill.waybill_no

    # ------------------------------------------------------------------ bookkeeping
    def _set_state(self, state: str, event: str, detail: str) -> None:
        self._outcome.state = state
        self._record(event, detail)

    def _record(self, event: str, detail: str) -> None:
        entry = HistoryEntry(at=workflow.now(), event=event, detail=detail)
        self._outcome.history.append(entry)
        if self._publishes:
            self._publish()
        if event in _OWN_EVENTS and patched(QUIET_EVENTS_PATCH):
            return  # changes nothing the case shows: kept in the delivery's own history only
        if self._report is not None:
            self._report(
                DeliveryProgress(
                    application_id=self._input.application_id,
                    delivery=self._outcome.as_status(),
                    entry=entry,
                    attempts=self._outcome.attempts,
                    refusal=self._refusal,
                )
            )

    def _publish(self) -> None:
        """Ops' view in the Web UI: waybill and state only (no names, phones or addresses)."""
        o = self._outcome
        lines = [f"delivery: `{o.method}`  state: `{o.state}`"]
        if o.waybill_no:
            lines.append(f"EMS waybill: {o.waybill_no}")
        if self._failed_attempts:
            lines.append(f"failed attempts: {len(self._failed_attempts)}/{self._input.max_attempts}")
        if self._returning and not o.is_final:
            lines.append("returning to the service centre")
        if o.pickup_at:
            lines.append(f"pickup at: {o.pickup_at}")
        workflow.set_current_details("\n\n".join(lines))


@workflow.defn(name="PostalDelivery")
class PostalDelivery:
    """The parcel as a child workflow of its case (cases begun before ``lean-case-v2``): tracking
    events and operators' actions come as signals from the case, the applicant's new address as an
    update, and each change of state goes to the case as a ``delivery_progress`` signal."""

    @workflow.init
    def __init__(self, input: DeliveryInput) -> None:
        self._input = input
        self._outbox: list[DeliveryProgress] = []
        self._parcel = Parcel(
            input, report=self._outbox.append if input.parent_workflow_id else None, publish=True
        )

    @workflow.run
    async def run(self, input: DeliveryInput) -> DeliveryOutcome:
        notifier = asyncio.create_task(self._notify_parent()) if input.parent_workflow_id else None
        outcome = await self._parcel.carry()
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._outbox)
        if notifier is not None:
            notifier.cancel()
        return outcome

    @workflow.query
    def status(self) -> DeliveryOutcome:
        """The status document's ``delivery`` (method, waybill_no, state, pickup_at), plus history."""
        return self._parcel.outcome

    @workflow.signal
    def partner_event(self, event: PartnerEvent) -> None:
        """A postal tracking event forwarded by the case; repeats and other parcels are dropped."""
        self._parcel.take_event(event)

    @workflow.signal
    def operator_action(self, action: OperatorAction) -> None:
        """An operator's action on the booking, relayed by the case (which checked it is offered)."""
        self._parcel.take_action(action)

    @workflow.update
    async def change_address(self, change: AddressChange) -> DeliveryOutcome:
        """A new delivery from the applicant: replaces it before booking, amends the waybill after."""
        return await self._parcel.change_address(change)

    @change_address.validator
    def _validate_change_address(self, change: AddressChange) -> None:
        self._parcel.refuse_if_collected()

    async def _notify_parent(self) -> None:
        """Send progress to the case in order, one signal at a time; never fails the delivery."""
        assert self._input.parent_workflow_id is not None
        parent = workflow.get_external_workflow_handle(self._input.parent_workflow_id)
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox))
            progress = self._outbox[0]
            try:
                await parent.signal(PROGRESS_SIGNAL, progress)
            except FailureError as err:
                workflow.logger.warning(
                    "delivery progress not passed to %s: %s", self._input.parent_workflow_id, err
                )
            self._outbox.pop(0)


class _SwitchedToPickup(Exception):
    """The booking gave way to pickup at the window (``event`` and ``detail`` say why)."""

    def __init__(self, event: str, detail: str) -> None:
        super().__init__(detail)
        self.event, self.detail = event, detail


class _RelayedOperators:
    """The delivery's operators: the case asks them (past its patience, or on the refusal this
    reports in its progress) and relays their actions (``operator_action``)."""

    def __init__(self, delivery: Parcel) -> None:
        self._delivery = delivery

    @property
    def enabled(self) -> bool:
        return self._delivery._input.operator_actions

    async def race(
        self,
        stage: StageName,
        partner: str,
        make_call: Callable[[], Coroutine[Any, Any, T]],
        actions: Sequence[ActionName],
        candidates: Candidates | None = None,
    ) -> T | OperatorAction:
        """The booking, or the action relayed first (the booking is then cancelled)."""
        if not self.enabled:
            return await make_call()
        relayed = self._delivery._actions
        call = asyncio.create_task(make_call())
        await workflow.wait_condition(lambda: call.done() or bool(relayed))
        if not call.done():
            call.cancel()
        try:
            result = await call
        except asyncio.CancelledError:
            pass
        except ActivityError as err:
            refusal = isinstance(err.cause, ApplicationError)
            if (refusal and not relayed) or not isinstance(err.cause, (ApplicationError, CancelledError)):
                raise  # a refusal with no action yet goes to the step: it asks for one
        else:
            relayed.clear()  # EMS answered after all: nothing left to act on
            return result
        return relayed.pop(0)

    async def refused(
        self,
        stage: StageName,
        reason: str,
        actions: Sequence[ActionName],
        candidates: list[ShopCandidate] | None = None,
    ) -> OperatorAction:
        """The refusal goes to the case with the progress that records it; the case asks."""
        delivery = self._delivery
        delivery._refusal = reason
        delivery._record("delivery.booking_refused", f"{reason}; an operator decides")
        delivery._refusal = None
        await workflow.wait_condition(lambda: bool(delivery._actions))
        return delivery._actions.pop(0)


async def book_inbound_label(
    application_id: str, case_workflow_id: str, district_code: str, callback_url: str | None = None
) -> Waybill:
    """Two-way mailing (双向寄递): a prepaid inbound label addressed to the district's centre, for
    the applicant's paper materials. Call it from the case workflow at acceptance; the key is
    made here, once, so retries never issue a second label."""
    return await run_activity(
        DeliveryActivities.book_waybill,
        WaybillBooking(
            application_id=application_id,
            direction="inbound",
            recipient=Recipient.centre(district_code),
            contents=list(INBOUND_CONTENTS),
            callback_url=callback_url,
            idempotency_key=f"{case_workflow_id}/waybill/inbound/{workflow.uuid4()}",
        ),
        start_to_close_timeout=PARTNER_CALL_TIMEOUT,
        retry_policy=PARTNER_RETRY,
        summary="EMS 双向寄递: prepaid inbound label for the materials",
    )


def _attempt_of(event: PartnerEvent) -> int:
    try:
        return int(event.data.get("attempt") or 0)
    except (TypeError, ValueError):
        return 0


def _error_type(err: ActivityError) -> str | None:
    return err.cause.type if isinstance(err.cause, ApplicationError) else None


def _error_message(err: ActivityError) -> str:
    return err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
