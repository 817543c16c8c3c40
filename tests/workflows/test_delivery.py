"""Free postal delivery (免费寄递): a ``PostalDelivery`` child against the EMS sandbox, its
tracking events forwarded as the case forwards them."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer

from activities.delivery import DeliveryActivities
from activities.partners import PartnerClient
from domain.application import parse_delivery
from domain.delivery import (
    ALREADY_COLLECTED,
    AddressChange,
    DeliveryOutcome,
    DeliveryProgress,
    Recipient,
    Waybill,
    WaybillAmendment,
    pickup_centre,
)
from domain.identifiers import s10_problem
from infra.temporal import data_converter
from tests.helpers import eventually
from tests.workflows.delivery_harness import PostalHarness, postal
from tests.workflows.delivery_stand_ins import DeliveryProgressListener, InboundLabelCase
from workflows.delivery import PostalDelivery

HAPPY = ["delivery.booked", "delivery.collected", "delivery.in_transit", "delivery.out_for_delivery"]


def events(outcome: DeliveryOutcome) -> list[str]:
    return [h.event for h in outcome.history]


async def returning(h: PostalHarness, waybill_no: str) -> bool:
    return (await h.waybill(waybill_no))["status"] == "returning"


async def test_a_parcel_is_booked_once_and_followed_until_delivered(postal_harness: PostalHarness) -> None:
    h = postal_harness
    await h.stack.reset_sandbox()
    await h.stack.behave(postal={"collect_after_s": 0.05, "latency_s": 0})
    case = await h.stack.client.start_workflow(
        DeliveryProgressListener.run, id=f"setup-listener-{uuid.uuid4()}", task_queue=h.task_queue
    )
    handle = await h.start(postal(), parent_workflow_id=case.id)

    await h.wait_for_state(handle, "delivered")
    outcome = await h.result(handle)

    assert (outcome.method, outcome.state, outcome.pickup_at, outcome.attempts) == (
        "postal",
        "delivered",
        None,
        1,
    )
    no = outcome.waybill_no
    assert no is not None and s10_problem(no) is None
    assert no.startswith("E") and no.endswith("CN")
    assert [e for e in events(outcome) if e in (*HAPPY, "delivery.delivered")] == [
        *HAPPY,
        "delivery.delivered",
    ]
    assert await h.postal_effects() == {"requests": 1, "effects": 1}
    waybill = await h.waybill(no)
    assert waybill["status"] == "delivered" and waybill["direction"] == "outbound"
    # The UI text and the audit trail carry the waybill number and states, never personal data.
    assert all("张艳鹏" not in e.detail and "13803720000" not in e.detail for e in outcome.history)
    described = await handle.describe()
    assert described.status is not None

    # The case heard of every change, in order, ending with the delivery.
    progress: list[DeliveryProgress] = await h.result(case)
    assert [p.entry.event for p in progress] == events(outcome)
    assert progress[-1].delivery == outcome.as_status()


async def test_an_address_that_does_not_exist_fails_three_times_then_waits_at_the_centre(
    postal_harness: PostalHarness,
) -> None:
    h = postal_harness
    await h.stack.reset_sandbox()
    await h.stack.behave(postal={"collect_after_s": 0.05, "latency_s": 0})
    handle = await h.start(postal(address="文峰区查无此地路1号"))

    outcome = await h.wait_for_state(handle, "ready_for_pickup")

    assert outcome.method == "pickup"
    assert outcome.pickup_at == pickup_centre("410502") == "安阳市文峰区政务服务中心 企业开办窗口"
    assert outcome.attempts == 3
    history = events(outcome)
    assert history.count("delivery.failed_attempt") == 3
    assert history.count("delivery.redelivery_requested") == 2
    assert history.index("delivery.return_requested") < history.index("delivery.returned")
    assert history[-1] == "delivery.returned"
    assert outcome.waybill_no is not None
    waybill = await h.waybill(outcome.waybill_no)
    assert (waybill["status"], waybill["attempts"]) == ("returned", 3)
    assert (await h.postal_effects())["effects"] == 1
    assert (await h.result(handle)).state == "ready_for_pickup"
    # Redeliveries, the return and the fallback replay without non-determinism.
    replayer = Replayer(workflows=[PostalDelivery], data_converter=data_converter())
    await replayer.replay_workflow(await handle.fetch_history())


async def test_an_address_changed_before_collection_amends_the_same_waybill(
    postal_harness: PostalHarness,
) -> None:
    h = postal_harness
    await h.stack.reset_sandbox()
    # Held by EMS: not collected until the test says so, however long the change takes here.
    await h.stack.behave(postal={"hold": True})
    handle = await h.start(postal())
    try:
        booked = await h.wait_for_state(handle, "booked")
        new = postal(address="北关区红旗路8号", district_code="410503")

        changed = await handle.execute_update(PostalDelivery.change_address, AddressChange(delivery=new))

        assert changed.waybill_no == booked.waybill_no and changed.state == "booked"
        assert events(changed)[-1] == "delivery.address_changed"
        assert booked.waybill_no is not None
        waybill = await h.waybill(booked.waybill_no)
        assert waybill["recipient"] == Recipient.of(new).model_dump()
        assert waybill["amendments"] == 1
        assert (await h.postal_effects())["effects"] == 1
    finally:
        await handle.terminate("test over")
        await h.stack.reset_sandbox()  # forgets the parcel still held and the hold


async def test_an_address_change_after_collection_is_refused(postal_harness: PostalHarness) -> None:
    h = postal_harness
    await h.stack.reset_sandbox()
    # Held by EMS: collected when the test says so, then kept there while the change is tried.
    async with h.stack.parcels_held():
        handle = await h.start(postal())
        no = await h.booked_waybill(handle)
        await h.stack.advance_parcel(no, to="collected")
        collected = await h.wait_for_state(handle, "collected")

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                PostalDelivery.change_address, AddressChange(delivery=postal(address="北关区红旗路8号"))
            )
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == ALREADY_COLLECTED

        # EMS says the same when asked directly (the path of a change racing the collection).
        assert collected.waybill_no == no
        partners = PartnerClient(h.stack.settings)
        try:
            with pytest.raises(ApplicationError) as too_late:
                await ActivityEnvironment().run(
                    DeliveryActivities(partners).amend_waybill,
                    WaybillAmendment(waybill_no=no, recipient=Recipient.of(postal())),
                )
        finally:
            await partners.aclose()
        assert too_late.value.type == ALREADY_COLLECTED and too_late.value.non_retryable
        assert (await h.waybill(no))["status"] == "collected"  # still held there

        await h.stack.advance_parcel(no, to="delivered")
        outcome = await h.wait_for_state(handle, "delivered")
    assert "delivery.address_changed" not in events(outcome)
    waybill = await h.waybill(no)
    assert waybill["amendments"] == 0 and waybill["recipient"] == Recipient.of(postal()).model_dump()


async def test_a_pickup_delivery_is_ready_at_once_without_a_waybill(postal_harness: PostalHarness) -> None:
    h = postal_harness
    await h.stack.reset_sandbox()
    # No case listens at this id: telling it is best effort and never fails the delivery.
    handle = await h.start(parse_delivery({"method": "pickup"}), parent_workflow_id="setup-nobody-here")

    outcome = await h.result(handle)

    assert (outcome.method, outcome.state, outcome.waybill_no) == ("pickup", "ready_for_pickup", None)
    assert outcome.pickup_at == pickup_centre("410502")
    assert await h.postal_effects() == {"requests": 0, "effects": 0}


async def test_inbound_labels_are_issued_once_each_while_ems_fails_30_percent_of_calls(
    postal_harness: PostalHarness,
) -> None:
    h = postal_harness
    await h.stack.reset_sandbox()
    await h.stack.behave(postal={"error_rate": 0.3})
    labels: list[Waybill] = []
    try:
        # Until EMS has really failed some calls (almost always in the first batch).
        while len(labels) < 16:
            batch = [
                await h.stack.client.start_workflow(
                    InboundLabelCase.run,
                    f"D{uuid.uuid4().hex[:12]}",
                    id=f"setup-inbound-{uuid.uuid4()}",
                    task_queue=h.task_queue,
                )
                for _ in range(4)
            ]
            for case in batch:  # one at a time: the test server's time-skipping lock is not reentrant
                labels.append(await h.result(case, timeout=40))
            effects = await h.postal_effects()
            if effects["requests"] > effects["effects"]:
                break
    finally:
        await h.stack.behave(postal={"error_rate": 0})

    assert effects["effects"] == len(labels) < effects["requests"]
    assert len({w.waybill_no for w in labels}) == len(labels)
    for label in labels:
        assert label.direction == "inbound" and label.status == "booked"
        assert s10_problem(label.waybill_no) is None
    waybill = await h.waybill(labels[0].waybill_no)
    assert waybill["recipient"]["address"] == "安阳市北关区政务服务中心"


async def test_an_address_changed_before_booking_is_simply_the_address_booked(
    postal_harness: PostalHarness,
) -> None:
    h = postal_harness
    await h.stack.reset_sandbox()
    await h.stack.behave(postal={"collect_after_s": 0.05, "latency_s": 0})
    new = postal(address="北关区红旗路8号", district_code="410503")
    start = h.start_operation(postal())

    changed = await h.stack.client.execute_update_with_start_workflow(
        PostalDelivery.change_address, AddressChange(delivery=new), start_workflow_operation=start
    )
    handle = await start.workflow_handle()
    outcome = await h.wait_for_state(handle, "delivered")

    assert events(changed)[-1] == "delivery.address_changed" and changed.waybill_no is None
    assert await h.postal_effects() == {"requests": 1, "effects": 1}  # one booking, no amendment
    assert outcome.waybill_no is not None
    waybill = await h.waybill(outcome.waybill_no)
    assert waybill["recipient"] == Recipient.of(new).model_dump()
    assert waybill["amendments"] == 0


async def test_switching_to_pickup_before_collection_returns_the_parcel_to_the_window(
    postal_harness: PostalHarness,
) -> None:
    h = postal_harness
    await h.stack.reset_sandbox()
    # Held by EMS: never collected before the switch, however long it takes here; the return
    # then comes back when the test moves it on.
    async with h.stack.parcels_held():
        handle = await h.start(postal())
        no = await h.booked_waybill(handle)

        await handle.execute_update(
            PostalDelivery.change_address, AddressChange(delivery=parse_delivery({"method": "pickup"}))
        )
        await eventually(lambda: returning(h, no), what=f"the return of {no} asked of EMS")
        await h.stack.advance_parcel(no, to="returned")
        outcome = await h.wait_for_state(handle, "ready_for_pickup")

    assert (outcome.method, outcome.waybill_no) == ("pickup", no)
    assert outcome.pickup_at == pickup_centre("410502")
    assert events(outcome)[-2:] == ["delivery.return_requested", "delivery.returned"]
    assert (await h.postal_effects())["effects"] == 1
    waybill = await h.waybill(no)
    assert waybill["status"] == "returned" and waybill["attempts"] == 0
