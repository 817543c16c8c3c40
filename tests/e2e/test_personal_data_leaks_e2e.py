"""Nothing personal leaves by a side door: a seal shop refuses a case in words that hold an ID
number and a phone, an operator takes the alert and rejects the case with notes that hold them
too; then every row of the service database, every search attribute and memo, every history
event as the dev server keeps it (undecoded, and the server's own database file), every alert,
webhook and portal push, and every log line holds neither, outside the encrypted payloads."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from temporalio.testing import WorkflowEnvironment

from domain.portal import portal_push_workflow_id
from infra.logging import configure_logging
from infra.serving import serve_in_background
from infra.settings import Settings
from service import cases
from store.db import open_database
from tests import factories
from tests.conftest import Stack, in_process_stack
from tests.e2e.test_gateway_e2e import status_of, wait_for
from tests.e2e.test_operator_actions_e2e import ops, waiting_for_an_operator
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

# The service's own log lines, rendered as a worker or the gateway renders them.
configure_logging("json")


class PortalRecorder:
    """A portal endpoint that keeps every push's raw body."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.app = FastAPI()

        @self.app.post("/portal")
        async def portal(request: Request) -> Response:
            self.bodies.append(await request.body())
            return Response(status_code=204)


@pytest_asyncio.fixture
async def logged() -> AsyncIterator[io.StringIO]:
    """Every log line of this process meanwhile, through the service's own formatter."""
    root = logging.getLogger()
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    try:
        yield lines
    finally:
        root.removeHandler(handler)


async def _service_rows(url: str) -> str:
    """Every row of every table of the service database, as text."""
    engine = await open_database(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            rows = [
                f"{name}: {row!r}"
                for name in names
                for row in (await conn.execute(sa.text(f'SELECT * FROM "{name}"'))).all()
            ]
    finally:
        await engine.dispose()
    assert any(r.startswith("alerts:") for r in rows), "the case left no alert to read"
    return "\n".join(rows)


async def _temporal_records(env: WorkflowEnvironment, workflow_ids: list[str]) -> bytes:
    """Each workflow's history as the server keeps it (payloads still sealed), its search
    attributes, memo and listing in visibility: the protobuf bytes, where a payload that is not
    encrypted shows its data as it is."""
    client = env.client
    found: list[bytes] = []
    refusals = 0
    for workflow_id in workflow_ids:
        handle = client.get_workflow_handle(workflow_id)
        history = await handle.fetch_history()
        found += [event.SerializeToString() for event in history.events]
        for event in history.events:
            if event.HasField("activity_task_failed_event_attributes"):
                failure = event.activity_task_failed_event_attributes.failure
                # The message and stack trace are sealed with the payloads (infra/temporal.py).
                assert (failure.message, failure.stack_trace) == ("Encoded failure", ""), failure
                assert failure.HasField("encoded_attributes")
                refusals += 1
        found.append((await handle.describe()).raw_description.SerializeToString())
        query = f'WorkflowId = "{workflow_id}"'
        listed = [w.raw_info.SerializeToString() async for w in client.list_workflows(query)]
        assert listed, f"{workflow_id} is not in visibility"
        found += listed
    assert refusals, "the seal shop's refusal is not in the history"
    return b"\n".join(found)


def _server_files(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("temporal.db*")))


async def test_no_id_number_or_phone_from_a_refusal_or_a_note_is_kept_in_clear(
    dev_env: WorkflowEnvironment, sandbox_url: str, data_dir: Path, tmp_path: Path, logged: io.StringIO
) -> None:
    id_number = factories.resident_id(rng=random.Random())
    phone = f"139{random.randrange(10**8):08d}"
    secrets = (id_number, phone)
    portal = PortalRecorder()
    async with serve_in_background(portal.app) as portal_url:
        settings = Settings(
            task_queue=f"test-{uuid.uuid4()}", data_dir=tmp_path, portal_webhooks=f"{portal_url}/portal"
        )
        async with in_process_stack(dev_env.client, sandbox_url, tmp_path, settings=settings) as stack:
            workflow_id = await _refused_and_rejected(stack, id_number, phone)
            rows = await _service_rows(stack.settings.resolved_database_url)
            alerts = [json.dumps(w, ensure_ascii=False) for w in stack.webhooks.received]
            document = await status_of(stack, workflow_id.removeprefix("setup-"))
            status = json.dumps(document, ensure_ascii=False)

    temporal = await _temporal_records(dev_env, [workflow_id, portal_push_workflow_id(workflow_id)])
    # The dev server's own database: whatever it keeps of any workflow, beyond what its API shows.
    server_files = await asyncio.to_thread(_server_files, data_dir)
    pushes = b"\n".join(portal.bodies)

    assert alerts, "no alert webhook was sent"
    assert pushes, "no portal push was sent"
    # The masked forms are there: the words arrived, and were masked on the way in.
    assert f"{id_number[:6]}********{id_number[-4:]}" in rows
    assert f"{phone[:3]}****{phone[-4:]}" in status
    for secret in secrets:
        assert secret not in rows, "in the service database"
        assert secret.encode() not in temporal, "in Temporal's histories, search attributes or memo"
        assert secret.encode() not in server_files, "in the Temporal server's database"
        assert secret not in "\n".join(alerts), "in an alert webhook"
        assert secret.encode() not in pushes, "in a portal push"
        assert secret not in status, "in the status document"
        assert secret not in logged.getvalue(), "in a log line"


async def _refused_and_rejected(stack: Stack, id_number: str, phone: str) -> str:
    """The seal shop refuses in words naming an ID number and a phone; an operator takes the
    alert and rejects the case, both with notes naming them. The case's workflow id."""
    body = factories.application(invoice=False)
    app_id = body["application_id"]
    words = f"经营者身份证号{id_number}与公安登记不符，请经营者本人（电话 {phone}）到店核验"
    await stack.behave(seal_shop={"faults": {"status": 422, "for_s": 600, "message": words}})
    try:
        submitted = await stack.gateway.post("/v1/applications", json=body, headers=stack.portal)
        assert submitted.status_code == 202, submitted.text
        workflow_id: str = submitted.json()["workflow_id"]
        doc = await waiting_for_an_operator(stack, app_id, "seal_carving")
        assert "reject" in doc["attention"]["actions"]
    finally:
        await stack.behave(seal_shop={"faults": None})

    alert_id = await eventually(lambda: _attention_alert(stack, workflow_id), what="the attention alert")
    note = f"called {phone}; ID {id_number} checked"
    taken = await stack.gateway.post(
        f"/v1/alerts/{alert_id}/acknowledge", json={"operator": "王敏", "note": note}, headers=ops(stack)
    )
    assert taken.status_code == 200, taken.text
    rejected = await stack.gateway.post(
        f"/v1/applications/{app_id}/actions",
        json={"action": "reject", "operator": "王敏", "reason": f"经营者 {id_number} 未到店", "note": note},
        headers=ops(stack),
    )
    assert rejected.status_code == 202, rejected.text
    await wait_for(stack, app_id, {"rejected"})
    await eventually(lambda: _acknowledged_sent(stack, alert_id), what="the acknowledgement's webhook")
    return workflow_id


async def _attention_alert(stack: Stack, workflow_id: str) -> str | None:
    page, _ = await stack.alerts.list(limit=1000)
    found = [a.id for a in page if a.workflow_id == workflow_id and a.level == "needs_attention"]
    return found[0] if found else None


async def _acknowledged_sent(stack: Stack, alert_id: str) -> bool:
    return any(alert_id in json.dumps(w) and "acknowledged" in json.dumps(w) for w in stack.webhooks.received)


async def test_an_individual_business_is_not_named_in_the_search_attributes(dev_stack: Stack) -> None:
    body = factories.individual_business()
    submitted = await dev_stack.gateway.post("/v1/applications", json=body, headers=dev_stack.portal)
    assert submitted.status_code == 202, submitted.text
    handle = dev_stack.client.get_workflow_handle(submitted.json()["workflow_id"])
    try:
        described = await handle.describe()
        raw = described.raw_description
        assert "EnterpriseName" not in raw.workflow_execution_info.search_attributes.indexed_fields
        # Its name stays in the summary, encrypted like the payloads.
        assert body["enterprise"]["name"].encode() not in raw.SerializeToString()
        assert raw.execution_config.user_metadata.summary.metadata["encoding"] == b"binary/encrypted"
        assert body["enterprise"]["name"] in (await described.static_summary() or "")
    finally:
        await cases.withdraw(dev_stack.client, body["application_id"], "a test's case")
