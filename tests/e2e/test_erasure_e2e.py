"""Erasure end to end on the Temporal dev server (CONTRACT.md §11): a closed case erased through the
gateway reads as the erased marker everywhere (its payloads through /codec/decode, its documents 410,
its status stages and times only); an open case is 409, an unknown one 404; another case is untouched.
The client encrypts each case under its own key (infra/case_keys.py), as a deployed process does."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.case_ids import workflow_id_for
from gateway.codec import payloads_json
from infra.case_keys import CaseKeyring
from infra.settings import Settings
from infra.temporal import data_converter
from store.service import ServiceDatabase
from tests import factories
from tests.conftest import Stack, in_process_stack

pytestmark = pytest.mark.e2e

FINAL = {"completed", "rejected", "withdrawn"}
AUDITOR_TOKEN = "wang-fang-auditor-token-0000001"


@pytest_asyncio.fixture
async def keyed_stack(dev_env: WorkflowEnvironment, sandbox_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    settings = Settings(
        task_queue=f"erasure-{uuid.uuid4()}", data_dir=tmp_path, auditor_tokens=f"wang.fang:{AUDITOR_TOKEN}"
    )
    database = ServiceDatabase(settings.resolved_database_url)
    # No cache in the test's client: it sees an erasure made through the gateway at once.
    keys = CaseKeyring.from_text(settings.codec_keys, database, ttl_s=0)
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=data_converter(settings, keys),
    )
    try:
        async with in_process_stack(client, sandbox_url, tmp_path, settings=settings) as stack:
            await stack.behave(seal_shop={"carving_s": 0.05}, postal={"collect_after_s": 0.05})
            yield stack
    finally:
        await database.close()


def ops(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.settings.ops_token}"}


async def closed(stack: Stack, app_id: str) -> dict[str, Any]:
    while True:
        doc: dict[str, Any] = (
            await stack.gateway.get(f"/v1/applications/{app_id}", headers=stack.portal)
        ).json()
        if doc.get("stage") in FINAL:
            return doc
        await asyncio.sleep(0.2)


async def decoded_input(stack: Stack, app_id: str) -> Any:
    """The case's start input as the Web UI reads it: through the gateway's /codec/decode."""
    history = await stack.client.get_workflow_handle(workflow_id_for(app_id)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads
    answer = await stack.gateway.post(
        "/codec/decode", json=payloads_json(started), headers={**ops(stack), "X-Namespace": "default"}
    )
    assert answer.status_code == 200, answer.text
    [payload] = answer.json()["payloads"]
    return json.loads(base64.b64decode(payload["data"]))


async def test_an_erased_case_is_unreadable_everywhere_and_another_reads_as_before(
    keyed_stack: Stack,
) -> None:
    stack = keyed_stack
    erase, keep = factories.application(), factories.application()
    for body in (erase, keep):
        assert (
            await stack.gateway.post("/v1/applications", json=body, headers=stack.portal)
        ).status_code == 202
    app_id = erase["application_id"]
    reason = {"reason": "申请人依《个人信息保护法》第47条请求删除", "operator": "zhang.wei"}
    # Unknown: 404; the portal's token: 401; no reason: 422.
    assert (
        await stack.gateway.post("/v1/applications/NOPE-000000/erasure", json=reason, headers=ops(stack))
    ).status_code == 404
    assert (
        await stack.gateway.post(f"/v1/applications/{app_id}/erasure", json=reason, headers=stack.portal)
    ).status_code == 401
    assert (
        await stack.gateway.post(f"/v1/applications/{app_id}/erasure", json={}, headers=ops(stack))
    ).status_code == 422
    first = await closed(stack, app_id)
    kept = await closed(stack, keep["application_id"])
    assert first["stage"] == kept["stage"] == "completed"
    assert (await decoded_input(stack, app_id))["application"]["application_id"] == app_id

    answer = await stack.gateway.post(f"/v1/applications/{app_id}/erasure", json=reason, headers=ops(stack))
    assert answer.status_code == 202, answer.text
    erased = answer.json()
    assert erased["erased_by"] == "zhang.wei" and erased["documents_deleted"] >= 1

    # Its status: stages and times, nothing of whom it was about.
    status = (await stack.gateway.get(f"/v1/applications/{app_id}", headers=stack.portal)).json()
    assert status["erased_at"] and status["stage"] == "completed"
    assert status["stages"]["registration"]["state"] == "done"
    assert not {"uscc", "subsidy", "delivery", "history", "documents"} & set(status)
    # Its documents: gone.
    for name in first["documents"]:
        gone = await stack.gateway.get(f"/v1/applications/{app_id}/documents/{name}", headers=stack.portal)
        assert gone.status_code == 410, name
    # Its payloads: the marker, through the codec endpoint (the Web UI, the CLI) and the client.
    assert await decoded_input(stack, app_id) == {
        "erased": True,
        "application_id": app_id,
        "erased_at": erased["erased_at"].replace("Z", "+00:00"),
        "erased_by": "zhang.wei",
    }
    # Again: the first erasure stands.
    again = await stack.gateway.post(f"/v1/applications/{app_id}/erasure", json=reason, headers=ops(stack))
    assert again.status_code == 202 and again.json()["erased_at"] == erased["erased_at"]

    # The other case reads as before.
    other = keep["application_id"]
    assert (await stack.gateway.get(f"/v1/applications/{other}", headers=stack.portal)).json() == kept
    pdf = await stack.gateway.get(
        f"/v1/applications/{other}/documents/{kept['documents'][0]}", headers=stack.portal
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert (await decoded_input(stack, other))["application"]["application_id"] == other

    # The audit log has each decode of the erased case, by whom, of how many payloads, and the
    # erasure with who asked for it and why; the chain holds.
    auditor = {"Authorization": f"Bearer {AUDITOR_TOKEN}"}
    log = (await stack.gateway.get(f"/v1/audit?case={app_id}", headers=auditor)).json()["entries"]
    assert [(e["action"], e["cases"], e["payloads"]) for e in log] == [
        ("decode", [app_id], 1),
        ("erase", [app_id], 0),
        ("decode", [app_id], 1),
        ("erase", [app_id], 0),
    ]
    assert {e["actor"] for e in log} == {"shared-ops-token"}
    assert log[1]["detail"].startswith("as zhang.wei: ") and "第47条" in log[1]["detail"]
    assert log[3]["detail"].startswith("as zhang.wei: erased before")
    database = ServiceDatabase(stack.settings.resolved_database_url)
    try:
        assert (await (await database.audit()).verify()).holds
    finally:
        await database.close()


async def test_an_open_case_cannot_be_erased(keyed_stack: Stack) -> None:
    stack = keyed_stack
    async with stack.seal_orders_held():
        body = factories.application()
        assert (
            await stack.gateway.post("/v1/applications", json=body, headers=stack.portal)
        ).status_code == 202
        refused = await stack.gateway.post(
            f"/v1/applications/{body['application_id']}/erasure",
            json={"reason": "too early", "operator": "zhang.wei"},
            headers=ops(stack),
        )
        assert refused.status_code == 409, refused.text
