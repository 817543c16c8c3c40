"""How a case ends: the completion notice shows the case as it is closed, and what is derived
from the status document (``sla_status``, the breached stages) agrees with it and with the
search attributes ops filter on."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities.documents import DocumentRequest
from domain.sla_policy import SlaPolicy
from domain.status import STAGE_NAMES
from infra.temporal import SA_BREACHED_STAGES, SA_SETUP_STAGE, SA_SLA_STATUS, data_converter
from tests import factories
from tests.conftest import Stack
from tests.helpers import breach_the_seal_promise, eventually, start, until


async def _documents_rendered(stack: Stack, workflow_id: str) -> dict[str, DocumentRequest]:
    """What each ``issue_document`` activity of the case was asked to draw, by document."""
    history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
    drawn: dict[str, DocumentRequest] = {}
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        scheduled = event.activity_task_scheduled_event_attributes
        if scheduled.activity_type.name != "issue_document":
            continue
        [request] = await data_converter().decode(scheduled.input.payloads, [DocumentRequest])
        drawn[request.data.document] = request
    return drawn


async def test_the_completion_notice_shows_the_case_as_it_is_closed(ts_stack: Stack) -> None:
    await ts_stack.reset_sandbox()
    body = factories.application()
    handle = await start(ts_stack, body)
    status = await until(ts_stack, body["application_id"], lambda s: s.is_final)
    assert status.stage == "completed" and status.completed_at is not None

    notice = (await _documents_rendered(ts_stack, handle.id))["completion_notice"].data
    assert notice.document == "completion_notice"
    # The notice's completion time and every row are the status document's, overall included.
    assert notice.completed_at == status.completed_at  # type: ignore[union-attr]
    rows = {row.stage: row for row in notice.stages}  # type: ignore[union-attr]
    assert set(rows) == {"registration", "seal_carving", "invoice", "delivery", "overall"}
    for name, row in rows.items():
        stage = status.stages.of(name)  # type: ignore[arg-type]
        assert (row.state, row.started_at, row.finished_at, row.deadline) == (
            stage.state,
            stage.started_at,
            stage.finished_at,
            stage.deadline,
        ), name
    assert rows["overall"].state == "done" and rows["overall"].finished_at == status.completed_at
    assert "completion_notice" in (status.documents or [])


async def test_sla_status_and_breached_stages_follow_the_stages(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    """A seal order held past the overall promise breaks two promises, seal carving first: the
    worst level, the breached list and the search attributes all follow from the stages."""
    await ts_stack.reset_sandbox()
    await ts_stack.behave(seal_shop={"hold": True})
    body = factories.application(invoice=False)
    app_id = body["application_id"]
    handle = await start(ts_stack, body, policy=SlaPolicy(clock="wall"))
    try:
        await breach_the_seal_promise(ts_stack, time_skipping_env, app_id, skip=timedelta(hours=7, minutes=1))
        await eventually(
            lambda: ts_stack.has_alert(handle.id, "overall", "breached"), what="the overall breach"
        )
    finally:
        await ts_stack.finish_seal_orders(app_id)
    status = await until(ts_stack, app_id, lambda s: s.is_final)
    assert status.stage == "completed"
    assert status.breached_stages == ["seal_carving", "overall"]
    assert [n for n in STAGE_NAMES if status.stages.of(n).sla == "breached"] == ["seal_carving", "overall"]
    assert status.sla_status == "breached" == status.worst_sla
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(SA_SLA_STATUS) == "breached"
    assert attributes.get(SA_BREACHED_STAGES) == ["seal_carving", "overall"]
    assert attributes.get(SA_SETUP_STAGE) == "completed"
    # The breached seal carving finished after all: recovered, and its order in history.
    events = [h.event for h in status.history if h.event.startswith("alert.")]
    assert events.index("alert.seal_carving.breached") < events.index("alert.overall.breached")
    assert "alert.seal_carving.recovered" in events
