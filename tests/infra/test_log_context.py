"""Every line logged while handling a case names it: an activity's lines on a real worker carry the
case's workflow id, application id and stage; a gateway request for a case logs its access line
with the case's application id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, MutableMapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import capture_logs
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.documents import DocumentActivities
from activities.facts import CaseFactActivities
from activities.partners import PartnerClient
from activities.registry import WorkerResources, all_activities
from activities.sla import SlaActivities
from activities.subsidy import SubsidyActivities
from domain.alerts import CalendarRequest
from domain.case_ids import DELIVERY_WORKFLOW_TYPE, delivery_workflow_id, workflow_id_for
from domain.partner_trouble import PARTNER_CALLS
from domain.sla_policy import SlaPolicy
from domain.subsidy import SubsidyReservation
from domain.working_time import official_data_years
from gateway.app import create_app
from infra.log_context import ACTIVITY_STAGES, case_fields, case_of_path
from infra.settings import Settings
from store.db import create_engine
from store.documents import CaseDocuments
from store.subsidies import SubsidyLedger
from tests import factories
from tests.factories import a_reservation
from tests.helpers import closed
from worker import running_worker
from workflows.delivery import PostalDelivery

# A year chinese_calendar knows nothing of: the calendar activity then logs a warning.
UNKNOWN_YEAR = official_data_years()[1] + 5
UNKNOWN_YEAR_CALENDAR = CalendarRequest(
    first_day=date(UNKNOWN_YEAR, 3, 2), last_day=date(UNKNOWN_YEAR, 3, 31), policy=SlaPolicy()
)
TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="CaseLogProbe")
class CaseLogProbe:
    """Runs two of the worker's real activities as a case would: one of a stage, one of none."""

    @workflow.run
    async def run(self, reservation: SubsidyReservation) -> None:
        await workflow.execute_activity(
            "reserve_first_seal_subsidy", reservation, start_to_close_timeout=TIMEOUT
        )
        await workflow.execute_activity(
            "load_working_calendar", UNKNOWN_YEAR_CALENDAR, start_to_close_timeout=TIMEOUT
        )


@workflow.defn(name=DELIVERY_WORKFLOW_TYPE)
class DeliveryLogProbe:
    """Stands in for a case's delivery child (its type and its ``…-delivery`` id)."""

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            "load_working_calendar", UNKNOWN_YEAR_CALENDAR, start_to_close_timeout=TIMEOUT
        )


def reservation(application_id: str) -> SubsidyReservation:
    return a_reservation(
        application_id=application_id, workflow_id=workflow_id_for(application_id), at=datetime.now(UTC)
    )


@pytest.fixture
def captured() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every structlog line, with the context variables merged as the real setup merges them."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        yield logs


async def test_an_activity_logs_its_case_workflow_application_and_stage(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path, captured: list[MutableMapping[str, Any]]
) -> None:
    client = time_skipping_env.client
    queue = f"case-log-{uuid.uuid4()}"
    settings = Settings(data_dir=tmp_path, partner_url="http://127.0.0.1:1")
    case = factories.new_application_id("L")
    async with (
        running_worker(client, settings, task_queue=queue, workflows=False),
        Worker(
            client,
            task_queue=queue,
            workflows=[CaseLogProbe, DeliveryLogProbe],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
    ):
        # Started, then waited for without unlocking time skipping (tests.helpers.closed): the
        # test server would otherwise skip its clock for every workflow of the session meanwhile.
        probe = await client.start_workflow(
            CaseLogProbe.run, reservation(case), id=workflow_id_for(case), task_queue=queue
        )
        await closed(time_skipping_env, probe)
        child = await client.start_workflow(
            DeliveryLogProbe.run, id=delivery_workflow_id(workflow_id_for(case)), task_queue=queue
        )
        await closed(time_skipping_env, child)
    structlog.get_logger("ods.test").info("after the case")

    [subsidy] = [e for e in captured if e["event"] == "first-seal subsidy decided"]
    assert subsidy["workflow_id"] == f"setup-{case}"
    assert subsidy["application_id"] == case
    assert subsidy["stage"] == "seal_carving"
    assert subsidy["activity"] == "reserve_first_seal_subsidy" and subsidy["attempt"] == 1

    calendar_lines = [e for e in captured if e["event"].startswith("no official holiday data")]
    assert [(e["workflow_id"], e["application_id"]) for e in calendar_lines] == [
        (f"setup-{case}", case),
        (f"setup-{case}-delivery", case),  # the delivery child: the same case
    ]
    assert all("stage" not in e and e["activity"] == "load_working_calendar" for e in calendar_lines)

    # Bound for the activity's run only: nothing is left for what the process logs next.
    [after] = [e for e in captured if e["event"] == "after the case"]
    assert "workflow_id" not in after and "application_id" not in after


async def test_a_gateway_request_for_a_case_logs_its_access_line_with_the_case(
    tmp_path: Path, captured: list[MutableMapping[str, Any]]
) -> None:
    settings = Settings(temporal_address="127.0.0.1:1", data_dir=tmp_path, portal_token="test-portal-token")
    app = create_app(settings, client=None)
    portal = {"Authorization": "Bearer test-portal-token"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as gateway:
        answer = await gateway.get("/v1/applications/AY20261127-0001", headers=portal)
        assert answer.status_code == 503  # no Temporal here: what matters is the line
        first = len(captured)
        ops = {"Authorization": f"Bearer {settings.ops_token}"}  # the list of all cases is for ops only
        assert (await gateway.get("/v1/applications", headers=ops)).status_code in (503, 422, 200)

    [access] = [e for e in captured[:first] if e["event"] == "request"]
    assert access["path"] == "/v1/applications/AY20261127-0001" and access["status"] == 503
    assert access["application_id"] == "AY20261127-0001"
    assert access["workflow_id"] == "setup-AY20261127-0001"
    # Every line of that request names the case; the next request, of no case, names none.
    assert all(e.get("application_id") == "AY20261127-0001" for e in captured[:first])
    assert all("application_id" not in e for e in captured[first:])


def test_the_stage_map_names_only_activities_a_worker_registers(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    resources = WorkerResources(
        partners=PartnerClient(settings),
        sla=SlaActivities(settings, None, None),
        subsidy=SubsidyActivities(SubsidyLedger(create_engine(f"sqlite+aiosqlite:///{tmp_path}/ods.db"))),
        documents=DocumentActivities(CaseDocuments(create_engine(f"sqlite+aiosqlite:///{tmp_path}/ods.db"))),
        facts=CaseFactActivities(None),
    )
    registered = {fn.__temporal_activity_definition.name for fn in all_activities(resources)}  # type: ignore[attr-defined]
    assert set(ACTIVITY_STAGES) <= registered
    assert {"file_registration", "order_seals", "issue_first_invoices", "book_waybill"} <= set(
        ACTIVITY_STAGES
    )
    # The calls a case looks in for what is wrong with a stage's partner are that stage's.
    assert "partner_trouble" in registered
    for stage, calls in PARTNER_CALLS.items():
        assert all(ACTIVITY_STAGES[c] == stage for c in calls), stage


def test_the_delivery_child_is_known_by_its_workflow_type() -> None:
    assert PostalDelivery.__temporal_workflow_definition.name == DELIVERY_WORKFLOW_TYPE  # type: ignore[attr-defined]
    # An application id may itself end in "-delivery": only the child's type strips the suffix.
    assert case_fields("setup-AY-delivery", "EnterpriseSetup")["application_id"] == "AY-delivery"
    assert case_fields("setup-AY-delivery", DELIVERY_WORKFLOW_TYPE)["application_id"] == "AY"
    assert case_fields("alert-webhooks-1", "AlertWebhookDelivery") == {"workflow_id": "alert-webhooks-1"}
    assert case_fields("setup-AY1", "EnterpriseSetup", "return_to_centre")["stage"] == "delivery"


@pytest.mark.parametrize(
    ("path", "case"),
    [
        ("/v1/applications/AY20261127-0001", "AY20261127-0001"),
        ("/v1/applications/AY20261127-0001/withdraw", "AY20261127-0001"),
        ("/v1/applications", None),
        ("/v1/applications/", None),
        ("/v1/applications/x", None),  # not an application id
        ("/v1/applications/AY 1234", None),
        ("/v1/alerts/AY20261127-0001", None),
    ],
)
def test_which_gateway_paths_belong_to_a_case(path: str, case: str | None) -> None:
    assert case_of_path(path) == case
