"""A case's documents are served whichever worker drew them: two real worker processes, each with a
data folder of its own (as on two machines), one PostgreSQL service database, one Temporal dev
server, and a gateway that shares neither folder.

The first case runs while only worker A is up; worker B then takes over (A stops) for the second.
Every document of both cases is served by the gateway, each drawn by the worker that ran the case
(the identities in the histories), and neither worker wrote anything to its own folder."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.case_ids import workflow_id_for
from domain.task_queues import documents_task_queue
from infra.serving import serve_in_background
from infra.settings import Settings
from tests import factories
from tests.test_worker import worker_process

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120.0


async def completed(
    gateway: httpx.AsyncClient, headers: dict[str, str], app_id: str, worker: Any
) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        assert worker.poll() is None, "the worker exited"
        doc: dict[str, Any] = (await gateway.get(f"/v1/applications/{app_id}", headers=headers)).json()
        if doc.get("stage") in ("completed", "rejected", "withdrawn"):
            return doc
        assert time.monotonic() < deadline, f"{app_id} still {doc.get('stage')}"
        await asyncio.sleep(0.25)


async def who_drew_the_documents(client: Client, app_id: str, queue: str) -> set[str]:
    """The pids of the workers that ran the case's ``issue_document`` activities, each scheduled on
    the documents' own task queue and retried for as long as the database does not answer."""
    history = await client.get_workflow_handle(workflow_id_for(app_id)).fetch_history()
    drawing = set()
    for e in history.events:
        scheduled = e.activity_task_scheduled_event_attributes
        if (
            e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and scheduled.activity_type.name == "issue_document"
        ):
            assert scheduled.task_queue.name == documents_task_queue(queue)
            assert (
                scheduled.retry_policy.maximum_attempts == 0
            )  # unbounded: activities/documents.py bounds drawing
            drawing.add(e.event_id)
    assert drawing
    return {
        e.activity_task_started_event_attributes.identity.split("@")[0]
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in drawing
    }


async def test_every_document_is_served_by_a_gateway_that_shares_no_worker_folder(
    dev_env: WorkflowEnvironment, sandbox_url: str, postgres_database: str, tmp_path: Path
) -> None:
    from gateway.app import create_app as create_gateway

    queue = f"machines-{uuid.uuid4()}"
    settings = Settings(
        task_queue=queue,
        data_dir=tmp_path / "gateway",
        database_url=postgres_database,
        partner_url=sandbox_url,
    )
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        (await sandbox.post("/_sandbox/reset")).raise_for_status()
        behaviour = {"seal_shop": {"carving_s": 0.05}, "postal": {"collect_after_s": 0.05}}
        (await sandbox.put("/_sandbox/behaviour", json=behaviour)).raise_for_status()
    # The gateway connects itself, as deployed: with the case keys the worker processes encrypt with.
    settings = settings.model_copy(
        update={"temporal_address": dev_env.client.service_client.config.target_host}
    )
    async with serve_in_background(create_gateway(settings)) as gateway_url:
        env = {
            "ODS_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "ODS_TASK_QUEUE": queue,
            "ODS_DATABASE_URL": postgres_database,
            "ODS_PARTNER_URL": sandbox_url,
            "ODS_GATEWAY_URL": gateway_url,
            "ODS_WORKER_METRICS_ADDR": "0",
            "ODS_LOG_FORMAT": "json",
        }
        portal = {"Authorization": f"Bearer {settings.portal_token}"}
        cases: dict[str, set[str]] = {}
        async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as gateway:
            for machine in ("a", "b"):
                with worker_process(
                    tmp_path, f"worker-{machine}", **env, ODS_DATA_DIR=str(tmp_path / machine)
                ) as process:
                    worker = process.child
                    body = factories.application()
                    app_id = body["application_id"]
                    answer = await gateway.post("/v1/applications", json=body, headers=portal)
                    assert answer.status_code == 202, answer.text
                    doc = await completed(gateway, portal, app_id, worker)
                    assert doc["stage"] == "completed"
                    assert {"acceptance_receipt", "business_licence", "completion_notice"} <= set(
                        doc["documents"]
                    )
                    assert await who_drew_the_documents(dev_env.client, app_id, queue) == {str(worker.pid)}
                    cases[app_id] = set(doc["documents"])
            # Both workers are gone: the gateway serves every document from the database alone.
            for app_id, names in cases.items():
                for name in names:
                    answer = await gateway.get(f"/v1/applications/{app_id}/documents/{name}", headers=portal)
                    assert answer.status_code == 200, (app_id, name, answer.text)
                    assert answer.headers["content-type"] == "application/pdf"
                    assert answer.content.startswith(b"%PDF-")
    for folder in ("a", "b", "gateway"):
        assert not (tmp_path / folder / "documents").exists(), f"{folder} kept documents in its own folder"
