"""The free services inside a whole case: first-seal subsidy, postal delivery, documents."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.case_ids import workflow_id_for
from domain.delivery import ALREADY_COLLECTED
from domain.identifiers import is_valid_s10
from domain.status import StatusDocument
from domain.subsidy_policy import SubsidyPolicy
from service import cases
from store.subsidies import SubsidyLedger
from tests import factories
from tests.conftest import Stack
from tests.helpers import eventually, fresh_application, start, until
from tests.workflows.delivery_harness import WAYBILLS
from worker import running_worker


async def partner_events_signalled(handle: WorkflowHandle[Any, Any]) -> int:
    """How many partner callbacks the gateway has signalled to the case (read from its history,
    so it needs no worker)."""
    history = await handle.fetch_history()
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == "partner_event"
    )


async def signalled_more_than(handle: WorkflowHandle[Any, Any], count: int) -> bool:
    return await partner_events_signalled(handle) > count


async def pdf_text(stack: Stack, app_id: str, name: str) -> str:
    """The document's text, as the gateway serves it (from the service database)."""
    answer = await stack.gateway.get(f"/v1/applications/{app_id}/documents/{name}", headers=stack.portal)
    assert answer.status_code == 200, answer.text
    done = await asyncio.to_thread(
        subprocess.run, ["pdftotext", "-", "-"], input=answer.content, capture_output=True, check=True
    )
    return done.stdout.decode()


async def test_a_postal_case_gets_its_subsidy_its_parcel_and_documents_whose_text_is_searchable(
    ts_stack: Stack,
) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application(
        seals=["official", "financial", "invoice", "legal_representative", "contract"]
    )
    app_id = body["application_id"]
    await start(ts_stack, body)
    status = await until(ts_stack, app_id, lambda s: s.is_final)
    assert status.stage == "completed"
    # The standard set is free (200+160+160+120); the contract seal is the enterprise's own.
    assert status.subsidy is not None and status.subsidy.granted
    assert status.subsidy.amount_cny == Decimal("640.00")
    assert status.delivery is not None and status.delivery.state == "delivered"
    assert status.delivery.waybill_no and is_valid_s10(status.delivery.waybill_no)
    assert status.uscc is not None
    licence = await pdf_text(ts_stack, app_id, "business_licence")
    assert body["enterprise"]["name"] in licence.replace("\n", "") and status.uscc in licence
    voucher = await pdf_text(ts_stack, app_id, "subsidy_voucher")
    assert "640.00" in voucher and status.uscc in voucher
    assert status.delivery.waybill_no in await pdf_text(ts_stack, app_id, "waybill_label")
    assert status.uscc in await pdf_text(ts_stack, app_id, "completion_notice")
    grant = await SubsidyLedger(ts_stack.alerts.engine).grant(status.uscc)
    assert grant is not None and grant.state == "settled"


async def test_a_spent_budget_tells_the_enterprise_and_alerts_ops(ts_stack: Stack) -> None:
    body, app_id = await fresh_application(ts_stack)
    await start(ts_stack, body, subsidy=SubsidyPolicy(annual_budget_cny=Decimal("1.00")))
    status = await until(ts_stack, app_id, lambda s: s.is_final)
    assert status.stage == "completed"  # the enterprise pays; the case goes on
    assert status.subsidy is not None and not status.subsidy.granted and status.subsidy.eligible
    assert "budget" in status.subsidy.reason
    assert await ts_stack.alerts_of(status.workflow_id) == [("subsidy", "budget_exhausted")]
    assert "subsidy_voucher" not in (status.documents or [])
    # The next case under the usual budget is granted again.
    body2 = factories.application()
    await start(ts_stack, body2)
    status2 = await until(ts_stack, body2["application_id"], lambda s: s.is_final)
    assert status2.subsidy is not None and status2.subsidy.granted


async def test_a_withdrawal_before_carving_completes_releases_the_subsidy(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    # The shop holds the order: it is still being carved when the case is withdrawn, and only the
    # withdrawal can end the case.
    async with ts_stack.seal_orders_held():
        body = factories.application()
        app_id = body["application_id"]
        await start(ts_stack, body)
        # Withdraw once no activity is in flight: the time-skipping test server refuses to cancel an
        # activity that has just completed ("ACTIVITY_UNKNOWN") and then never completes the
        # update.
        reserved = await until(ts_stack, app_id, lambda s: "subsidy_voucher" in (s.documents or []))
        assert reserved.subsidy is not None and reserved.subsidy.granted
        await cases.withdraw(ts_stack.client, app_id, "changed plans")
        status = await until(ts_stack, app_id, lambda s: s.is_final)
    assert status.stage == "withdrawn"
    assert status.subsidy is not None and not status.subsidy.granted
    assert status.uscc is not None
    grant = await SubsidyLedger(ts_stack.alerts.engine).grant(status.uscc)
    assert grant is not None and grant.state == "released"


async def test_an_undeliverable_address_falls_back_to_pickup_at_the_centre(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application()
    body["delivery"]["address"] = "文峰区查无此地路1号"
    app_id = body["application_id"]
    await start(ts_stack, body)
    status = await until(ts_stack, app_id, lambda s: s.is_final, timeout=60)
    assert status.stage == "completed"
    assert status.delivery is not None
    assert status.delivery.method == "pickup" and status.delivery.state == "ready_for_pickup"
    assert status.delivery.pickup_at and "政务服务中心" in status.delivery.pickup_at
    events = [h.event for h in status.history]
    assert sum(1 for e in events if e.startswith("delivery.") and "failed" in e) >= 3


async def a_booked_parcel(stack: Stack, *, labelled: bool = False) -> tuple[dict[str, Any], str, str]:
    """A new case, once EMS has booked its parcel (and, if ``labelled``, its waybill label is drawn):
    the application, its id and the waybill number."""

    def booked(status: StatusDocument) -> bool:
        if status.delivery is None or status.delivery.state != "booked":
            return False
        return not labelled or "waybill_label" in (status.documents or [])

    body = factories.application()
    await start(stack, body)
    status = await until(stack, body["application_id"], booked)
    assert status.delivery is not None and status.delivery.waybill_no
    return body, body["application_id"], status.delivery.waybill_no


async def test_the_address_can_change_until_ems_collects_the_parcel(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    # EMS holds the parcel: it is collected when the test says so, not after a time to beat.
    async with ts_stack.parcels_held():
        body, app_id, waybill_no = await a_booked_parcel(ts_stack)
        new = {**body["delivery"], "address": "文峰区中华路88号"}
        await cases.change_delivery(ts_stack.client, app_id, new)
        # The case's parcel takes the change (a delivery child of an older case tells it by signal).
        changed = await until(
            ts_stack, app_id, lambda s: "delivery.address_changed" in [h.event for h in s.history]
        )
        assert changed.delivery is not None and changed.delivery.state == "booked"
        waybill = (await ts_stack.sandbox.get(f"/postal/v1/waybills/{waybill_no}")).json()
        assert waybill["status"] == "booked" and waybill["amendments"] == 1
        assert waybill["recipient"]["address"] == "文峰区中华路88号"
        await ts_stack.advance_parcel(waybill_no, to="delivered")
        status = await until(ts_stack, app_id, lambda s: s.is_final)
    assert status.stage == "completed"
    assert status.delivery is not None and status.delivery.state == "delivered"
    assert status.delivery.waybill_no == waybill_no
    assert (await ts_stack.effects())["postal"]["effects"] == 1  # amended, not booked again
    with pytest.raises(cases.CaseStateConflict):
        await cases.change_delivery(ts_stack.client, app_id, new)


async def test_a_collected_parcel_refuses_an_address_change(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    async with ts_stack.parcels_held():
        body, app_id, waybill_no = await a_booked_parcel(ts_stack)
        # Collected, and held there: the case cannot move on (nor close) while the change is tried.
        await ts_stack.advance_parcel(waybill_no, to="collected")
        await until(ts_stack, app_id, lambda s: s.delivery is not None and s.delivery.state == "collected")

        with pytest.raises(cases.CaseStateConflict) as refused:
            await cases.change_delivery(
                ts_stack.client, app_id, {**body["delivery"], "address": "文峰区中华路9号"}
            )

        # Refused by the delivery because EMS has the parcel, not because the case had closed.
        update = refused.value.__cause__
        assert isinstance(update, WorkflowUpdateFailedError), repr(update)
        assert isinstance(update.cause, ApplicationError) and update.cause.type == ALREADY_COLLECTED
        still = await cases.get_status(ts_stack.client, app_id)
        assert not still.is_final and still.stage == "delivery"
        assert still.delivery is not None and still.delivery.state == "collected"
        assert "delivery.address_changed" not in [h.event for h in still.history]
        waybill = (await ts_stack.sandbox.get(f"/postal/v1/waybills/{waybill_no}")).json()
        assert waybill["status"] == "collected" and waybill["amendments"] == 0
        assert waybill["recipient"]["address"] == body["delivery"]["address"]
        await ts_stack.advance_parcel(waybill_no, to="delivered")
        status = await until(ts_stack, app_id, lambda s: s.is_final)
    assert status.stage == "completed"
    assert status.delivery is not None and status.delivery.state == "delivered"


async def test_pickup_and_two_way_mailing(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    pickup = factories.application(delivery="pickup")
    await start(ts_stack, pickup)
    status = await until(ts_stack, pickup["application_id"], lambda s: s.is_final)
    assert status.delivery is not None and status.delivery.state == "ready_for_pickup"
    assert (await ts_stack.effects())["postal"]["effects"] == 0

    body = factories.application(district="410506")
    body["delivery"]["inbound_materials"] = True
    await start(ts_stack, body)
    status = await until(ts_stack, body["application_id"], lambda s: s.is_final)
    assert "inbound_waybill_label" in (status.documents or [])
    assert (await ts_stack.effects())["postal"]["effects"] == 2  # the inbound label and the parcel


async def test_a_change_to_pickup_while_ems_books_the_inbound_label_keeps_the_label_s_address(
    ts_stack: Stack,
) -> None:
    """Two-way mailing: the applicant switches to pickup while EMS has not yet answered the inbound
    label's booking (EMS failing until the change is in). The label keeps the address it was
    booked for, the case takes the change and completes (it once failed its workflow task for
    good: the label was drawn from the changed, incomplete delivery)."""
    await ts_stack.reset_sandbox()
    await ts_stack.behave(postal={"error_rate": 1.0})
    body = factories.application(district="410506")
    body["delivery"]["inbound_materials"] = True
    handle = await start(ts_stack, body)
    app_id = body["application_id"]

    async def booking() -> bool:
        pending = (await handle.describe()).raw_description.pending_activities
        return any(p.activity_type.name == "book_waybill" and p.attempt >= 2 for p in pending)

    await eventually(booking, what="EMS failing the inbound label's booking")
    await cases.change_delivery(ts_stack.client, app_id, {"method": "pickup"})
    await ts_stack.behave(postal={"error_rate": 0.0})
    status = await until(ts_stack, app_id, lambda s: s.is_final)
    assert status.stage == "completed", status.model_dump_json(indent=1)
    events = [h.event for h in status.history]
    assert events.index("delivery.changed") < events.index("delivery.inbound_label"), events
    assert "inbound_waybill_label" in (status.documents or [])
    assert status.delivery is not None and status.delivery.state == "ready_for_pickup"


async def test_a_worker_restart_mid_case_still_pays_the_subsidy_exactly_once(dev_stack: Stack) -> None:
    """The case's worker stops while the shop carves; a new worker finishes the case (on the dev
    server: the test server does not hand a stopped worker's sticky tasks on)."""
    await dev_stack.reset_sandbox()
    queue = f"restart-{uuid.uuid4()}"
    settings = dev_stack.settings.model_copy(update={"task_queue": queue})
    body = factories.application()
    app_id = body["application_id"]
    async with dev_stack.seal_orders_held():
        async with running_worker(dev_stack.client, settings):
            handle = await start(dev_stack, body, task_queue=queue)
            await until(
                dev_stack, app_id, lambda s: "subsidy_voucher" in (s.documents or []), retry_rpc_errors=True
            )
        # No worker at all while the shop finishes: its callback still reaches the case.
        before = await partner_events_signalled(handle)
        await dev_stack.finish_seal_orders(app_id)
        await eventually(
            lambda: signalled_more_than(handle, before), what="the seal shop's callback signalled to the case"
        )
        async with running_worker(dev_stack.client, settings):
            status = await until(dev_stack, app_id, lambda s: s.is_final, timeout=60, retry_rpc_errors=True)
    assert status.stage == "completed"
    assert status.uscc is not None
    grant = await SubsidyLedger(dev_stack.alerts.engine).grant(status.uscc)
    assert grant is not None and grant.state == "settled"
    report = await SubsidyLedger(dev_stack.alerts.engine).month_report(
        status.accepted_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    )
    mine = [e for e in report.entries if e.uscc == status.uscc]
    assert len(mine) == 1 and mine[0].amount_cny == Decimal("640.00")
    effects = await dev_stack.effects()
    assert effects["seal_shop"]["effects"] == 1 and effects["registration"]["effects"] == 1


async def test_a_withdrawal_during_delivery_has_ems_return_the_parcel(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    # EMS holds the parcel: booked, never collected, when the case is withdrawn.
    async with ts_stack.parcels_held():
        # Nothing in flight when withdrawing (the label drawn; see the subsidy's withdrawal above).
        _, app_id, no = await a_booked_parcel(ts_stack, labelled=True)
        handle = ts_stack.client.get_workflow_handle(workflow_id_for(app_id))
        # A tracking event the parcel ignores (taken once the update returns) changes nothing shown.
        await cases.deliver_partner_event(
            ts_stack.client,
            factories.partner_event(
                app_id, "postal.weighed", f"evt-weighed-{app_id}", partner="postal", waybill_no=no
            ),
        )
        await cases.withdraw(ts_stack.client, app_id, "changed plans")
        status = await until(ts_stack, app_id, lambda s: s.is_final)
        waybill = (await ts_stack.sandbox.get(f"{WAYBILLS}/{no}")).json()
    assert status.stage == "withdrawn"
    assert "delivery.event_ignored" not in [h.event for h in status.history]
    # The compensation: EMS was asked, once, to bring the parcel back to the service centre, by
    # the case itself (it carries its parcel: no delivery child was started).
    assert waybill["status"] in ("returning", "returned"), waybill
    events = (await handle.fetch_history()).events
    asked = [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "return_to_centre"
    ]
    assert len(asked) == 1
    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED not in [e.event_type for e in events]
    assert status.delivery is not None and status.delivery.waybill_no == no
