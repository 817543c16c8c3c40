"""Committed histories of EnterpriseSetup replay on the current code (determinism guard).

Changing a workflow that may have running executions needs ``workflow.patched``; this test
fails when a change would break a recorded case. Refresh the recordings after a deliberate,
patched change with ``ODS_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/replay``
(``ODS_RECORD_DIR=DIR`` writes them to an existing directory DIR instead).
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.actions import OperatorAction
from domain.case_ids import delivery_workflow_id
from domain.portal import portal_push_workflow_id
from domain.retention import RETENTION_SCHEDULE_ID, RetentionInput
from domain.sla_policy import SlaPolicy
from infra.serving import serve_in_background
from infra.temporal import data_converter
from service import cases
from tests import factories
from tests.conftest import Stack
from tests.helpers import (
    booked_and_labelled,
    breach_the_seal_promise,
    closed,
    eventually,
    rename,
    start,
    until,
)
from tests.workflows.portal_push_harness import PortalReceiver
from worker import running_worker, workflow_runner
from workflows.delivery import PostalDelivery
from workflows.registry import ALL_WORKFLOWS
from workflows.retention import Retention

HISTORIES = Path(__file__).parent / "histories"
# Recordings of each workflow version are kept side by side: files without a prefix predate
# the free services (subsidy, delivery, documents); ``fs_`` ones run with them; ``enc_`` ones
# have their payloads encrypted (under the dev key of ``ODS_CODEC_KEYS``) and the run waiting
# for its handlers (``handlers-finish-v1``); ``att_`` ones ask operators (``operator-attention-v1``),
# with the ``PostalDelivery`` child's history beside the case's where an operator acted on it;
# ``cf_`` ones record their facts for the daily report (``case-facts-v1``); ``ws_`` ones run the
# whole 企业开办 scope (``whole-scope-v1``); ``da_`` ones draw their documents on the documents'
# own task queue (``documents-apart-v1``); ``pt_`` ones look up what a partner answers when its
# patience runs out (``partner-trouble-reason-v1``); ``rel_`` ones (``test_record_release_histories``)
# hold the portal's push and a delivery returned when its case was withdrawn; ``aq_`` ones
# (``test_record_queue_histories``) run their activities on their own task queues
# (``activity-queues-v1``); ``pn_`` ones keep an individual business's name out of the search
# attributes (``private-individual-name-v1``); ``sc_`` ones
# (``test_record_seal_order_match_histories``) take a seal completion only for the order they hold
# (``seal-completion-of-the-order-v1``); ``ret_`` ones are runs of the retention schedule's
# ``Retention`` (``test_record_retention_histories``); ``ln_`` ones (``test_record_histories``) are
# lean cases (``lean-case-v1``, workflows/versions.py): one patch marker, their facts and calendar
# as local activities, one timer for all their promises (workflows/alarms.py); ``l2_`` ones (the same
# recorder) and ``pc_`` ones (``test_record_parcel_in_case_histories``) are lean cases carrying
# their parcel themselves (``lean-case-v2``), without a ``PostalDelivery`` child (the recorders of
# ``rel_``, ``aq_`` and ``qe_`` histories, which keep a case's delivery child, ran before it and find
# no child to keep now: the corpus keeps what they recorded). A test below fails
# when a patch id in workflows/ or a workflow type has no history here.
PREFIX = os.environ.get("ODS_RECORD_PREFIX", "pt_")
# The alert webhooks' histories, replayed by the test beside them.
OTHER_HISTORIES = HISTORIES.parents[1] / "gateway" / "histories"
# Where new recordings go: another (existing) directory tries the recorder without touching the
# committed ones.
RECORD_TO = Path(os.environ.get("ODS_RECORD_DIR") or HISTORIES)


async def test_committed_histories_replay_on_the_current_workflow_code() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert files, "no committed histories"
    replayer = Replayer(
        workflows=ALL_WORKFLOWS, data_converter=data_converter(), workflow_runner=workflow_runner()
    )
    for path in files:
        # ``<scenario>__<workflow id>.json``: replay under the recorded id (child ids derive from it).
        scenario, _, workflow_id = path.stem.partition("__")
        workflow_id = workflow_id or f"setup-{scenario.replace('_', '-')}"
        history = WorkflowHistory.from_json(workflow_id, path.read_text())
        await replayer.replay_workflow(history)


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_histories(ts_stack: Stack, time_skipping_env: WorkflowEnvironment) -> None:
    await ts_stack.reset_sandbox()
    wall = SlaPolicy(clock="wall")

    async def run(
        name: str,
        body: dict[str, Any],
        policy: SlaPolicy,
        during: Callable[[str], Awaitable[None]] | None = None,
        *,
        children: bool = False,
    ) -> None:
        handle = await start(ts_stack, body, policy=policy)
        if during is not None:
            await during(body["application_id"])
        # Polled, not awaited: awaiting would let the server skip time (and fire promises' timers)
        # while the partners work in real time, so what is recorded would depend on the machine.
        await closed(time_skipping_env, handle)
        history = await handle.fetch_history()
        (RECORD_TO / f"{PREFIX}{name}__{handle.id}.json").write_text(history.to_json())
        # A case begun under lean-case-v2 carries its parcel itself: no child to keep.
        started_child = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
        if children and any(e.event_type == started_child for e in history.events):
            child = ts_stack.client.get_workflow_handle(delivery_workflow_id(handle.id))
            (RECORD_TO / f"{PREFIX}{name}__{child.id}.json").write_text(
                (await child.fetch_history()).to_json()
            )

    await run("completed", factories.application(), SlaPolicy())
    two_way = factories.application(district="410506")
    two_way["delivery"]["inbound_materials"] = True
    await run("two_way_mailing", two_way, SlaPolicy())
    undeliverable = factories.application()
    undeliverable["delivery"]["address"] = "文峰区查无此地路1号"
    await run("pickup_fallback", undeliverable, SlaPolicy())
    await run("individual_business", factories.individual_business(), SlaPolicy())
    await run("rejected", factories.application(name="安阳市文峰区禁止餐饮有限公司"), wall)

    conflict = factories.application(name="安阳市文峰区冲突餐饮有限公司")

    async def answer(app_id: str) -> None:
        await until(ts_stack, app_id, lambda s: s.stage == "awaiting_supplement")
        await time_skipping_env.sleep(timedelta(hours=1))
        await cases.supplement(
            ts_stack.client,
            app_id,
            {"enterprise": {**conflict["enterprise"], "name": "安阳市文峰区晨光餐饮有限公司"}},
        )

    await run("supplement", conflict, wall, answer)

    async with ts_stack.seal_orders_held():
        # The shop holds the order until the promise is broken (3 h skipped), then finishes it.
        async def slow(app_id: str) -> None:
            await breach_the_seal_promise(ts_stack, time_skipping_env, app_id, skip=timedelta(hours=3))
            await ts_stack.finish_seal_orders(app_id)

        await run("breached_and_recovered", factories.application(invoice=False), wall, slow)

        # Withdrawn while the shop still holds the order.
        async def withdraw(app_id: str) -> None:
            await until(ts_stack, app_id, lambda s: "subsidy_voucher" in (s.documents or []))
            await cases.withdraw(ts_stack.client, app_id, "changed plans")

        await run("withdrawn", factories.application(), wall, withdraw)

    # Operators (workflows/attention.py): a refusal reassigned, a refusal retried, a partner down
    # past the patience and back, a silent shop rejected, EMS down switched to pickup.
    patient = SlaPolicy(clock="wall", partner_patience="30m")

    def acting(action: str, waiting_on: str, **fields: Any) -> Callable[[str], Awaitable[None]]:
        async def act(app_id: str) -> None:
            await until(ts_stack, app_id, lambda s: any(a.stage == waiting_on for a in s.attentions))
            await cases.act(
                ts_stack.client,
                app_id,
                OperatorAction(action=action, operator="王敏", **fields),  # type: ignore[arg-type]
            )

        return act

    refusing = factories.application(name="安阳市文峰区拒刻餐饮有限公司", invoice=False)
    await run("reassigned", refusing, patient, acting("reassign_seal_shop", "seal_carving"), children=True)
    not_ready = factories.application(name="安阳市文峰区税务异常餐饮有限公司")
    await run("retried", not_ready, patient, acting("retry_stage", "invoice"))

    async def down_then_back(app_id: str) -> None:
        await until(ts_stack, app_id, lambda s: s.stages.invoice.state == "running")
        await time_skipping_env.sleep(timedelta(minutes=31))
        await until(ts_stack, app_id, lambda s: s.attention is not None)
        await ts_stack.behave(tax={"error_rate": 0.0})
        await time_skipping_env.sleep(timedelta(seconds=31))

    await ts_stack.behave(tax={"error_rate": 1.0})
    await run("cleared_by_itself", factories.application(), patient, down_then_back)

    # The tax bureau refusing our credentials past the patience, then taking them again.
    async def refused_then_back(app_id: str) -> None:
        await until(ts_stack, app_id, lambda s: s.stages.invoice.state == "running")
        await time_skipping_env.sleep(timedelta(minutes=31))
        await until(ts_stack, app_id, lambda s: s.attention is not None)
        await ts_stack.behave(tax={"faults": None})
        await time_skipping_env.sleep(timedelta(seconds=31))

    await ts_stack.behave(tax={"faults": {"status": 401, "for_s": 3600}})
    await run("credentials_refused", factories.application(), patient, refused_then_back)

    async with ts_stack.seal_orders_held():

        async def silent_then_rejected(app_id: str) -> None:
            await until(ts_stack, app_id, lambda s: s.subsidy is not None and s.subsidy.granted)
            await time_skipping_env.sleep(timedelta(minutes=31))
            await acting("reject", "seal_carving", reason="the shop cannot carve")(app_id)

        await run("rejected_by_operator", factories.application(invoice=False), patient, silent_then_rejected)

    async def ems_down(app_id: str) -> None:
        await until(ts_stack, app_id, lambda s: s.stage == "delivery")
        await time_skipping_env.sleep(timedelta(minutes=31))
        await acting("switch_to_pickup", "delivery")(app_id)
        await ts_stack.behave(postal={"error_rate": 0.0})

    await ts_stack.behave(postal={"error_rate": 1.0})
    await run("switched_to_pickup", factories.application(invoice=False), patient, ems_down, children=True)

    # The whole 企业开办 scope (workflows/more_items.py): all six items, and a bank declining once.
    await run("whole_scope", factories.whole_scope(factories.application(district="410581")), SlaPolicy())
    declined = factories.whole_scope(factories.application(name="安阳市文峰区拒开户餐饮有限公司"))
    await run("bank_retried", declined, patient, acting("retry_stage", "bank_account", stage="bank_account"))


async def _closed(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING


async def _keep(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Record ``handle``'s history as ``<name>__<workflow id>.json`` once it has closed (polled,
    see ``run`` above; a cancelled child has no result to wait for)."""
    await eventually(lambda: _closed(handle), what=f"{handle.id} closed", timeout=60)
    history = await handle.fetch_history()
    (RECORD_TO / f"{name}__{handle.id}.json").write_text(history.to_json())


async def _weighed(stack: Stack, app_id: str, waybill_no: str | None) -> None:
    """EMS weighs the case's parcel: a tracking event the delivery takes and ignores."""
    await cases.deliver_partner_event(
        stack.client,
        factories.partner_event(
            app_id, "postal.weighed", f"evt-weighed-{app_id}", partner="postal", waybill_no=waybill_no
        ),
    )


def _patch_ids_in_code() -> set[str]:
    """Every id a workflow passes to ``workflow.patched`` (each one a module-level constant)."""
    found: set[str] = set()
    for path in (HISTORIES.parents[2] / "workflows").glob("*.py"):
        source = path.read_text()
        constants = dict(re.findall(r'^([A-Z][A-Z0-9_]*) = "([^"]+)"$', source, flags=re.M))
        # ``workflow.patched(X)``, or ``patched(X)`` of workflows/versions.py.
        for name in re.findall(r"\bpatched\(([A-Z][A-Z0-9_]*)\)", source):
            found.add(constants.get(name) or _constant_elsewhere(name))
    return found


def _constant_elsewhere(name: str) -> str:
    for path in (HISTORIES.parents[2] / "workflows").glob("*.py"):
        match = re.search(rf'^{name} = "([^"]+)"$', path.read_text(), flags=re.M)
        if match:
            return match.group(1)
    raise AssertionError(f"patch constant {name} not found in workflows/")


def _recorded() -> tuple[set[str], set[str]]:
    """The patch ids and the workflow types the committed histories hold."""
    patches: set[str] = set()
    types: set[str] = set()
    for path in [*HISTORIES.glob("*.json"), *OTHER_HISTORIES.glob("*.json")]:
        for event in json.loads(path.read_text())["events"]:
            started = event.get("workflowExecutionStartedEventAttributes")
            if started:
                types.add(started["workflowType"]["name"])
            marker = event.get("markerRecordedEventAttributes")
            if marker and marker.get("markerName") == "core_patch":
                for payload in marker["details"]["patch-data"]["payloads"]:
                    patches.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return patches, types


def test_every_patch_id_and_workflow_type_has_a_committed_history() -> None:
    patches, types = _recorded()
    in_code = _patch_ids_in_code()
    assert len(in_code) >= 10
    assert sorted(in_code - patches) == [], "patch ids without a committed history"
    assert sorted({w.__temporal_workflow_definition.name for w in ALL_WORKFLOWS} - types) == [], (  # type: ignore[attr-defined]
        "workflow types without a committed history"
    )


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_release_histories(ts_stack: Stack, time_skipping_env: WorkflowEnvironment) -> None:
    """``rel_`` histories: a case pushing its changes to the portal (``portal-push-v1``) and its
    ``PortalPush`` (``portal-push-idle-end-v1``); a case withdrawn while EMS holds its parcel, and
    its ``PostalDelivery`` returning it (``delivery-return-on-cancel-v1``)."""
    await ts_stack.reset_sandbox()

    async def keep(handle: WorkflowHandle[Any, Any], name: str) -> None:
        await _keep(handle, f"rel_{name}")

    receiver = PortalReceiver(ts_stack.settings.webhook_secret)
    async with serve_in_background(receiver.app()) as portal_url:
        body = factories.application()
        case = await start(ts_stack, body, portal_webhooks=[f"{portal_url}/portal"])
        await keep(case, "portal_pushed")
        await keep(ts_stack.client.get_workflow_handle(portal_push_workflow_id(case.id)), "portal_pushed")

    async with ts_stack.parcels_held():
        body = factories.application()
        app_id = body["application_id"]
        case = await start(ts_stack, body)
        await until(
            ts_stack,
            app_id,
            booked_and_labelled,
        )
        await cases.withdraw(ts_stack.client, app_id, "changed plans")
        await keep(case, "withdrawn_in_delivery")
        await keep(
            ts_stack.client.get_workflow_handle(delivery_workflow_id(case.id)), "withdrawn_in_delivery"
        )


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_queue_histories(ts_stack: Stack, time_skipping_env: WorkflowEnvironment) -> None:
    """``aq_`` histories (``activity-queues-v1``): the whole scope with the portal's push, its
    calls on each partner's task queue, its records, its push and its delivery on theirs; and a
    case withdrawn while the shop holds its order (the cancellation and the release too)."""
    await ts_stack.reset_sandbox()

    async def keep(handle: WorkflowHandle[Any, Any], name: str) -> None:
        await _keep(handle, f"aq_{name}")

    receiver = PortalReceiver(ts_stack.settings.webhook_secret)
    async with serve_in_background(receiver.app()) as portal_url:
        body = factories.whole_scope(factories.application(district="410581"))
        case = await start(ts_stack, body, portal_webhooks=[f"{portal_url}/portal"])
        await keep(case, "whole_scope_pushed")
        for child in (portal_push_workflow_id(case.id), delivery_workflow_id(case.id)):
            await keep(ts_stack.client.get_workflow_handle(child), "whole_scope_pushed")

    async with ts_stack.seal_orders_held():
        body = factories.application()
        app_id = body["application_id"]
        case = await start(ts_stack, body, policy=SlaPolicy(clock="wall"))
        await until(ts_stack, app_id, lambda s: "subsidy_voucher" in (s.documents or []))
        await cases.withdraw(ts_stack.client, app_id, "changed plans")
        await keep(case, "withdrawn")


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_quiet_event_histories(ts_stack: Stack, time_skipping_env: WorkflowEnvironment) -> None:
    """``qe_`` histories: a tracking event the delivery ignores stays in its own history
    (``delivery-quiet-events-v1``); the case is then withdrawn and the parcel returned."""
    await ts_stack.reset_sandbox()
    async with ts_stack.parcels_held():
        body = factories.application()
        app_id = body["application_id"]
        case = await start(ts_stack, body)
        booked = await until(
            ts_stack,
            app_id,
            booked_and_labelled,
        )
        assert booked.delivery is not None
        child = ts_stack.client.get_workflow_handle_for(PostalDelivery.run, delivery_workflow_id(case.id))
        await _weighed(ts_stack, app_id, booked.delivery.waybill_no)

        async def ignored() -> bool:
            outcome = await child.query(PostalDelivery.status)
            return "delivery.event_ignored" in [h.event for h in outcome.history]

        await eventually(ignored, what="the weighing ignored by the delivery")
        await cases.withdraw(ts_stack.client, app_id, "changed plans")
        for handle in (case, child):
            await eventually(lambda h=handle: _closed(h), what=f"{handle.id} closed", timeout=60)
            history = await handle.fetch_history()
            (RECORD_TO / f"qe_ignored_event__{handle.id}.json").write_text(history.to_json())


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_parcel_in_case_histories(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    """``pc_`` histories (``lean-case-v2``): a case carrying its parcel itself takes a new address
    after booking (the waybill amended), ignores a weighing event, and is withdrawn while EMS holds
    the parcel (returned by the case)."""
    await ts_stack.reset_sandbox()
    async with ts_stack.parcels_held():
        body = factories.application()
        app_id = body["application_id"]
        case = await start(ts_stack, body)
        booked = await until(ts_stack, app_id, booked_and_labelled)
        assert booked.delivery is not None
        await cases.change_delivery(
            ts_stack.client, app_id, {**body["delivery"], "address": "文峰区中华路88号"}
        )
        await _weighed(ts_stack, app_id, booked.delivery.waybill_no)
        await cases.withdraw(ts_stack.client, app_id, "changed plans")
        await _keep(case, "pc_amended_then_withdrawn")


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_supplement_rounds_histories(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    """``sr_`` history: a name that still conflicts after the policy's one supplement round is
    rejected (``supplement-rounds-v1``)."""
    await ts_stack.reset_sandbox()
    body = factories.application(name="安阳市文峰区冲突餐饮有限公司")
    app_id = body["application_id"]
    case = await start(ts_stack, body, policy=SlaPolicy(clock="wall", supplement_rounds=1))
    await until(ts_stack, app_id, lambda s: s.stage == "awaiting_supplement")
    await rename(ts_stack, app_id, body, "安阳市文峰区冲突商贸有限公司")
    await closed(time_skipping_env, case)
    (RECORD_TO / f"sr_rejected_after_rounds__{case.id}.json").write_text(
        (await case.fetch_history()).to_json()
    )


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_history_watch_histories(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    """``hw_`` history: a case whose history passes the policy's limit raises its alert
    (``history-watch-v1``), then is withdrawn."""
    await ts_stack.reset_sandbox()
    async with ts_stack.seal_orders_held():
        body = factories.application(invoice=False)
        app_id = body["application_id"]
        case = await start(ts_stack, body, policy=SlaPolicy(history_alert_events=80))
        await until(ts_stack, app_id, lambda s: s.stages.seal_carving.state == "waiting")
        for n in range(40):
            await cases.deliver_partner_event(
                ts_stack.client,
                factories.partner_event(app_id, "seal_order.progress", f"evt-chatter-{app_id}-{n}"),
            )
        await eventually(lambda: _has_alert(ts_stack, case.id), what="the long history's alert", timeout=60)
        await cases.withdraw(ts_stack.client, app_id, "changed plans")
        await closed(time_skipping_env, case)
    history = await case.fetch_history()
    (RECORD_TO / f"hw_long_history__{case.id}.json").write_text(history.to_json())


async def _has_alert(stack: Stack, workflow_id: str) -> bool:
    return ("overall", "needs_attention") in await stack.alerts_of(workflow_id)


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_documents_late_histories(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    """``dl_`` history: documents waiting past the policy's patience for a worker raise the case's
    alert (``documents-late-alert-v1``); a documents worker comes and the case closes."""
    await ts_stack.reset_sandbox()
    queue = f"record-no-documents-{uuid.uuid4()}"
    settings = ts_stack.settings.model_copy(update={"task_queue": queue})
    body = factories.application()
    async with running_worker(ts_stack.client, settings, role="cases"):
        case = await start(ts_stack, body, task_queue=queue, policy=SlaPolicy(documents_patience="2s"))
        await eventually(lambda: _has_alert(ts_stack, case.id), what="the documents' alert", timeout=60)
        async with running_worker(ts_stack.client, settings, role="documents"):
            await closed(time_skipping_env, case)
    history = await case.fetch_history()
    (RECORD_TO / f"dl_documents_late__{case.id}.json").write_text(history.to_json())


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_private_name_histories(ts_stack: Stack, time_skipping_env: WorkflowEnvironment) -> None:
    """``pn_`` history: an individual business whose name conflicts is renamed by its supplement;
    its name is no search attribute before or after (``private-individual-name-v1``)."""
    await ts_stack.reset_sandbox()
    body = factories.individual_business()
    body["enterprise"]["name"] = "安阳市龙安区冲突早餐店"
    app_id = body["application_id"]
    case = await start(ts_stack, body, policy=SlaPolicy())
    await until(ts_stack, app_id, lambda s: s.stage == "awaiting_supplement")
    await rename(ts_stack, app_id, body, "安阳市龙安区李记早餐店")
    await closed(time_skipping_env, case)
    (RECORD_TO / f"pn_individual_renamed__{case.id}.json").write_text((await case.fetch_history()).to_json())


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_seal_order_match_histories(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    """``sc_`` history (``seal-completion-of-the-order-v1``): a completion of an order the case
    never placed, signalled before its order, is ignored; the shop's own completes the case."""
    await ts_stack.reset_sandbox()
    body = factories.application()
    app_id = body["application_id"]
    case = await start(ts_stack, body)
    await case.signal(
        "partner_event",
        factories.partner_event(app_id, "seal_order.completed", f"evt-forged-{app_id}", order_id="SO-FORGED"),
    )
    status = await closed(time_skipping_env, case)
    assert status.stage == "completed"
    assert "partner.event_ignored" in [h.event for h in status.history]
    history = await case.fetch_history()
    (RECORD_TO / f"sc_forged_completion_ignored__{case.id}.json").write_text(history.to_json())


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_rating_histories(ts_stack: Stack, time_skipping_env: WorkflowEnvironment) -> None:
    """``rt_`` histories: every path of a ``RatingFollowUp`` (workflows/rating_follow_up.py) —
    answered at once and rated by the applicant with its alerts, put right by a date with no verdict
    in time, explained after a refused appeal, and closed by an upheld appeal."""
    from domain.ratings import FollowUpAction, RatingBody
    from service import ratings
    from store.service import ServiceDatabase

    await ts_stack.reset_sandbox()
    database = ServiceDatabase.on(ts_stack.alerts.engine)

    follow_ups: dict[str, str] = {}  # rating id: its follow-up's workflow id

    async def rated(about: str = "seal_carving", portal: list[str] | None = None) -> str:
        body = factories.application()
        await closed(time_skipping_env, await start(ts_stack, body))
        answer = await ratings.rate(
            ts_stack.client,
            database,
            body["application_id"],
            RatingBody(level="very_dissatisfied", about=about),  # type: ignore[arg-type]
            task_queue=ts_stack.settings.task_queue,
            portal_webhooks=portal,
        )
        assert answer.follow_up is not None
        follow_ups[answer.rating_id] = answer.follow_up
        await eventually(lambda: _has_dues(answer.rating_id), what="the follow-up's deadlines")
        return answer.rating_id

    async def _answered(rating_id: str) -> bool:
        return (await ratings.get_follow_up(ts_stack.client, database, rating_id)).state == "answered"

    async def _has_dues(rating_id: str) -> bool:
        return (await ratings.get_follow_up(ts_stack.client, database, rating_id)).resolve_due is not None

    async def act(rating_id: str, action: str, operator: str = "王敏", **fields: Any) -> None:
        await ratings.act(
            ts_stack.client, database, rating_id, FollowUpAction(action=action, operator=operator, **fields)
        )  # type: ignore[arg-type]

    async def keep(rating_id: str, name: str) -> None:
        await _keep(ts_stack.client.get_workflow_handle(follow_ups[rating_id]), f"rt_{name}")

    receiver = PortalReceiver(ts_stack.settings.webhook_secret)
    async with serve_in_background(receiver.app()) as portal_url:
        first = await rated(portal=[f"{portal_url}/portal"])
        await time_skipping_env.sleep(timedelta(days=6))  # past both promises: at risk and breached
        await eventually(
            lambda: ts_stack.has_alert(follow_ups[first], "rating_follow_up", "breached"),
            what="the breached alert",
        )
        await act(first, "claim")
        await act(first, "called_back", outcome="情况属实")
        await act(first, "resolve", kind="immediate", answer="已当场整改")
        await eventually(lambda: _answered(first), what="the answer sent")
        await ratings.give_verdict(ts_stack.client, database, first, "satisfied")
        await keep(first, "answered_and_rated")

    by_date = await rated(about="delivery")
    await act(by_date, "claim")
    await act(by_date, "called_back", outcome="情况属实")
    await act(by_date, "resolve", kind="by_date", answer="本周内整改", date=date(2027, 1, 8))
    await time_skipping_env.sleep(timedelta(days=30))  # no verdict in the window
    await keep(by_date, "by_date_no_verdict")

    explained = await rated(about="staff")
    await act(explained, "appeal", reason="不属实")
    await act(explained, "decide_appeal", operator="赵强", upheld=False)
    await act(explained, "claim")
    await act(explained, "called_back", outcome="已解释")
    await act(explained, "resolve", kind="explained", answer="该要求无法律依据，已作说明")
    await ratings.give_verdict(ts_stack.client, database, explained, "basically_satisfied")
    await keep(explained, "appeal_refused_explained")

    upheld = await rated(about="overall")
    await act(upheld, "claim")
    await act(upheld, "appeal", reason="恶意评价")
    await act(upheld, "decide_appeal", operator="赵强", upheld=True)
    await keep(upheld, "appeal_upheld")


@pytest.mark.skipif(not os.environ.get("ODS_RECORD_HISTORIES"), reason="records histories on demand")
async def test_record_retention_histories(dev_stack: Stack) -> None:
    """``ret_`` history: a run of the retention schedule (``workflows/retention.py``) erasing the one
    case of its task queue that closed before its cut-off. On the dev server: the time-skipping
    server has no visibility queries."""
    await dev_stack.reset_sandbox()
    body = factories.application()
    app_id = body["application_id"]
    case = await start(dev_stack, body)
    await cases.withdraw(dev_stack.client, app_id, "changed plans")
    await eventually(lambda: _closed(case), what=f"{case.id} closed", timeout=60)
    closed_at = (await case.describe()).close_time
    assert closed_at is not None
    run = RetentionInput(
        erase_closed_after_days=30,
        task_queue=dev_stack.settings.task_queue,
        as_of=closed_at + timedelta(days=30, seconds=1),
    )
    handle = await dev_stack.client.start_workflow(
        Retention.run, run, id=f"{RETENTION_SCHEDULE_ID}-{uuid.uuid4().hex[:8]}", task_queue=run.task_queue
    )
    assert (await handle.result()).erased == 1
    await _keep(handle, "ret_erased_one")
