"""A lean case (``lean-case-v2``, workflows/versions.py) does the same business with fewer events:
one patch marker instead of one per patch, its facts and working calendar as local activities (a
marker each, no activity task and no workflow task of their own), one timer for every promise and
patience it watches (workflows/alarms.py), and its postal delivery in its own run: no child, so a
tracking event from EMS is one update and one workflow task, not a round of signals. That its
promises are still watched, each alert raised once, is what tests/workflows/test_sla.py shows on
the same (lean) cases."""

from __future__ import annotations

import base64
import json

from google.protobuf.json_format import MessageToDict
from temporalio.api.enums.v1 import EventType

from store.facts import CaseFactStore
from tests import factories
from tests.conftest import Stack
from tests.helpers import start, until
from workflows.versions import LEAN_V2_PATCH


async def test_a_case_that_keeps_its_promises_is_lean(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application()
    handle = await start(ts_stack, body)
    status = await until(ts_stack, body["application_id"], lambda s: s.is_final, timeout=60)
    assert status.stage == "completed", status.model_dump_json(indent=1)
    events = (await handle.fetch_history()).events

    patches = [
        json.loads(base64.b64decode(p["data"]))["id"]
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
        for p in MessageToDict(e.marker_recorded_event_attributes)["details"]["patch-data"]["payloads"]
    ]
    assert patches == [LEAN_V2_PATCH]

    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert "record_case_fact" not in activities and "load_working_calendar" not in activities
    local = [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    # The facts are in the service database all the same: accepted, each stage done, delivered, closed.
    facts = [f for f in await CaseFactStore(ts_stack.alerts.engine).all_of() if f.workflow_id == handle.id]
    kinds = sorted({f.kind for f in facts})
    assert kinds == ["accepted", "closed", "delivered", "stage_done"], kinds
    assert len(local) >= len(facts) + 1  # and at least one calendar look-up

    # Every promise (overall, registration, seal carving, invoices, delivery) and every partner's
    # patience on one timer, started once and never moved: no earlier point came after it, and
    # the case closed before it was due. The other is the documents' patience as the case closes.
    started = [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    cancelled = [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_CANCELED]
    assert len(started) <= 2 and len(cancelled) <= 1, [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() for e in started
    ]

    # The parcel is the case's own: no child, no signal either way, and the tracking events EMS
    # sent (collected, in transit, out for delivery, delivered) are one update each.
    types = [e.event_type for e in events]
    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED not in types
    assert EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED not in types
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED not in types
    updates = types.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    assert updates == 5, updates  # the shop's completion and EMS's four tracking events
    assert status.delivery is not None and status.delivery.state == "delivered"
    tracked = [h.event for h in status.history if h.event.startswith("delivery.")]
    parcel = ["delivery.booked", "delivery.collected", "delivery.in_transit", "delivery.out_for_delivery"]
    assert tracked[tracked.index("delivery.booked") :][:5] == [*parcel, "delivery.delivered"], tracked
    assert len(events) <= 140, len(events)  # the goal for a postal case (README "Performance")
