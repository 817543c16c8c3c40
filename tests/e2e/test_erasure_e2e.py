"""Erasure end to end on the Temporal dev server (CONTRACT.md §11): a closed case erased through the
gateway reads as the erased marker everywhere (its payloads through /codec/decode, its documents 410,
its status stages and times only, its bad rating's follow-up too); an open case is 409, an unknown
one 404, one whose follow-up is open 409; another case is untouched.
The client encrypts each case under its own key (infra/case_keys.py), as a deployed process does."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from domain.case_ids import workflow_id_for
from gateway.codec import payloads_json
from store.service import ServiceDatabase
from tests import factories
from tests.conftest import KEYED_AUDITOR_TOKEN, Stack
from tests.helpers import starter

pytestmark = pytest.mark.e2e

FINAL = {"completed", "rejected", "withdrawn"}


def ops(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.settings.ops_token}"}


async def closed(stack: Stack, app_id: str) -> dict[str, Any]:
    """The case's status document once its workflow has closed (its stage is final a moment before,
    and an erasure or a rating waits for the workflow)."""
    await stack.client.get_workflow_handle(workflow_id_for(app_id)).result()
    doc: dict[str, Any] = (await stack.gateway.get(f"/v1/applications/{app_id}", headers=stack.portal)).json()
    assert doc["stage"] in FINAL, doc
    return doc


async def decoded_input(stack: Stack, app_id: str, workflow_id: str | None = None) -> Any:
    """The start input of the case's workflow (or of ``workflow_id``) as the Web UI reads it: through
    the gateway's /codec/decode."""
    history = await stack.client.get_workflow_handle(workflow_id or workflow_id_for(app_id)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads
    assert all(p.metadata["encryption-key-id"] == f"case/{app_id}".encode() for p in started)
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
    auditor = {"Authorization": f"Bearer {KEYED_AUDITOR_TOKEN}"}
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


async def test_a_bad_ratings_follow_up_is_erased_with_its_case_and_another_reads_as_before(
    keyed_stack: Stack,
) -> None:
    stack = keyed_stack
    erase, keep = factories.application(), factories.application()
    for body in (erase, keep):
        assert (
            await stack.gateway.post("/v1/applications", json=body, headers=stack.portal)
        ).status_code == 202
    follow_ups: dict[str, tuple[str, str]] = {}  # application id: rating id, follow-up's workflow id
    for body in (erase, keep):
        app_id = body["application_id"]
        await closed(stack, app_id)
        rated = await stack.gateway.post(
            f"/v1/applications/{app_id}/rating",
            json={"level": "very_dissatisfied", "about": "seal_carving", "comment": "刻章太慢"},
            headers=stack.portal,
        )
        assert rated.status_code == 201, rated.text
        follow_ups[app_id] = (rated.json()["rating_id"], rated.json()["follow_up"])
    app_id, other = erase["application_id"], keep["application_id"]
    rating_id, workflow_id = follow_ups[app_id]
    reason = {"reason": "申请人请求删除", "operator": "zhang.wei"}

    # While its follow-up is open the case is not erased; the follow-up is the case's.
    refused = await stack.gateway.post(f"/v1/applications/{app_id}/erasure", json=reason, headers=ops(stack))
    assert refused.status_code == 409 and workflow_id in refused.json()["detail"]
    assert (await decoded_input(stack, app_id, workflow_id))["comment"] == "刻章太慢"
    for action in (
        {"action": "appeal", "operator": "li.na", "reason": "评价对象有误"},
        {"action": "decide_appeal", "operator": "zhao.qiang", "upheld": True},
    ):
        acted = await stack.gateway.post(f"/v1/ratings/{rating_id}/actions", json=action, headers=ops(stack))
        assert acted.status_code == 202, acted.text
    await stack.client.get_workflow_handle(workflow_id).result()
    # The command line reads it under the case's key, as the gateway does.
    shown = await asyncio.to_thread(starter, stack, "rating", rating_id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"{rating_id} ({app_id}): very_dissatisfied about seal_carving, closed")

    erased = await stack.gateway.post(f"/v1/applications/{app_id}/erasure", json=reason, headers=ops(stack))
    assert erased.status_code == 202, erased.text
    assert await decoded_input(stack, app_id, workflow_id) == {
        "erased": True,
        "application_id": app_id,
        "erased_at": erased.json()["erased_at"].replace("Z", "+00:00"),
        "erased_by": "zhang.wei",
    }
    gone = await stack.gateway.get(f"/v1/ratings/{rating_id}", headers=ops(stack))
    assert gone.status_code == 410, gone.text
    refused_too = await asyncio.to_thread(starter, stack, "rating", rating_id)
    assert refused_too.returncode == 1 and "was erased" in refused_too.stderr
    again = await stack.gateway.post(
        f"/v1/applications/{app_id}/rating", json={"level": "satisfied"}, headers=stack.portal
    )
    assert again.status_code == 409

    # The other case's follow-up reads as before, and still takes actions.
    other_rating, other_follow_up = follow_ups[other]
    assert (await decoded_input(stack, other, other_follow_up))["comment"] == "刻章太慢"
    claimed = await stack.gateway.post(
        f"/v1/ratings/{other_rating}/actions",
        json={"action": "claim", "operator": "wang.min"},
        headers=ops(stack),
    )
    assert claimed.status_code == 202 and claimed.json()["owner"] == "wang.min"
