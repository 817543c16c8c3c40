"""Erasure end to end on the Temporal dev server (CONTRACT.md §11): a closed case erased through the
gateway reads as the erased marker everywhere (its payloads through /codec/decode, its documents 410,
its status stages and times only, its bad rating's follow-up too); an open case is 409, an unknown
one 404, one whose follow-up is open 409; another case is untouched.
The retention run erases the cases closed longer ago than the policy keeps them, and no other;
``starter.py setup-namespace`` makes its schedule match the policy file; ``starter.py status`` reads
an erased case as the gateway does. The client encrypts each case under its own key
(infra/case_keys.py), as a deployed process does."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.service import RPCError

from domain.case_ids import workflow_id_for
from domain.retention import RETENTION_SCHEDULE_ID, RetentionInput, RetentionOutcome
from gateway.codec import payloads_json
from service import cases
from store.service import ServiceDatabase
from tests import factories
from tests.conftest import KEYED_AUDITOR_TOKEN, Stack
from tests.helpers import starter
from workflows.retention import Retention

pytestmark = pytest.mark.e2e

FINAL = {"completed", "rejected", "withdrawn"}


def ops(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.settings.ops_token}"}


async def closed(stack: Stack, app_id: str) -> dict[str, Any]:
    """The case's status once its workflow has closed (its final stage comes a moment before)."""
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


async def two_cases(stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two new cases: the one to erase, and the one to keep."""
    erase, keep = factories.application(), factories.application()
    for body in (erase, keep):
        assert (
            await stack.gateway.post("/v1/applications", json=body, headers=stack.portal)
        ).status_code == 202
    return erase, keep


async def test_an_erased_case_is_unreadable_everywhere_and_another_reads_as_before(
    keyed_stack: Stack,
) -> None:
    stack = keyed_stack
    erase, keep = await two_cases(stack)
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
    # It takes nothing more: a conflict, not a failure on its erased payloads.
    refused = await stack.gateway.post(
        f"/v1/applications/{app_id}/withdraw", json={"reason": "late"}, headers=stack.portal
    )
    assert refused.status_code == 409 and "erased" in refused.text, refused.text
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
    erase, keep = await two_cases(stack)
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


async def withdrawn(stack: Stack) -> tuple[str, datetime]:
    """A new case, withdrawn at once: its application id and when its workflow closed."""
    body = factories.application()
    app_id = body["application_id"]
    assert (await stack.gateway.post("/v1/applications", json=body, headers=stack.portal)).status_code == 202
    await cases.withdraw(stack.client, app_id, "retention test")
    await closed(stack, app_id)
    description = await stack.client.get_workflow_handle(workflow_id_for(app_id)).describe()
    assert description.close_time is not None
    return app_id, description.close_time


async def test_retention_erases_the_cases_closed_longer_ago_than_the_policy_keeps_them(
    keyed_stack: Stack,
) -> None:
    stack = keyed_stack
    old, old_closed = await withdrawn(stack)
    new, new_closed = await withdrawn(stack)
    assert old_closed < new_closed
    # The run as it would run 30 days after a moment between the two closings.
    days = 30
    between = old_closed + (new_closed - old_closed) / 2
    run = RetentionInput(
        erase_closed_after_days=days,
        task_queue=stack.settings.task_queue,
        as_of=between + timedelta(days=days),
    )

    async def retention() -> RetentionOutcome:
        return await stack.client.execute_workflow(
            Retention.run, run, id=f"retention-test-{uuid.uuid4()}", task_queue=stack.settings.task_queue
        )

    outcome = await retention()
    assert (outcome.found, outcome.erased, outcome.already_erased, outcome.skipped) == (1, 1, 0, 0)
    assert outcome.closed_before == between
    erased = (await stack.gateway.get(f"/v1/applications/{old}", headers=stack.portal)).json()
    assert erased["erased_at"] and erased["stage"] == "withdrawn"
    assert (await decoded_input(stack, old))["erased_by"] == "retention"
    kept = (await stack.gateway.get(f"/v1/applications/{new}", headers=stack.portal)).json()
    assert "erased_at" not in kept and kept["stage"] == "withdrawn"
    assert (await decoded_input(stack, new))["application"]["application_id"] == new
    # Again: nothing more to erase, the first erasure counted as such.
    again = await retention()
    assert (again.found, again.erased, again.already_erased) == (1, 0, 1)
    # The schedule's erasure is in the audit log once, by the schedule, with its reason.
    auditor = {"Authorization": f"Bearer {KEYED_AUDITOR_TOKEN}"}
    log = (await stack.gateway.get(f"/v1/audit?case={old}&action=erase", headers=auditor)).json()
    assert [(e["actor"], e["detail"]) for e in log["entries"]] == [("retention", "retention period")]

    # The command line reads both as the gateway does: the erased one's stages and times, the other
    # decrypted under its own key.
    shown = starter(stack, "status", old, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == erased
    shown = starter(stack, "status", new, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["stage"] == "withdrawn"
    assert "erased" in starter(stack, "status", old).stdout


async def test_setup_namespace_makes_the_retention_schedule_match_the_policy(
    keyed_stack: Stack, tmp_path: Path
) -> None:
    stack = keyed_stack
    policy = tmp_path / "retention.toml"
    policy.write_text('erase_closed_after_days = 1095\ndaily_at = "03:15"\n', encoding="utf-8")
    handle = stack.client.get_schedule_handle(RETENTION_SCHEDULE_ID)
    try:
        first = starter(stack, "setup-namespace", ODS_RETENTION_POLICY=str(policy))
        assert first.returncode == 0, first.stderr
        assert f"retention schedule {RETENTION_SCHEDULE_ID}: created" in first.stdout
        policy.write_text("erase_closed_after_days = 365\n", encoding="utf-8")
        second = starter(stack, "setup-namespace", ODS_RETENTION_POLICY=str(policy))
        assert f"retention schedule {RETENTION_SCHEDULE_ID}: updated" in second.stdout, second.stdout
        schedule = (await handle.describe()).schedule
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "Retention" and action.task_queue == stack.settings.task_queue
        [arg] = await stack.client.data_converter.decode(action.args, [RetentionInput])
        assert arg == RetentionInput(erase_closed_after_days=365, task_queue=stack.settings.task_queue)
        [calendar] = schedule.spec.calendars
        assert (calendar.hour[0].start, calendar.minute[0].start) == (2, 30)
        assert schedule.spec.time_zone_name == "Asia/Shanghai"
        # A broken file: refused, naming the key; the schedule stays as it was.
        policy.write_text("erase_closed_after_days = 0\n", encoding="utf-8")
        broken = starter(stack, "setup-namespace", ODS_RETENTION_POLICY=str(policy))
        assert broken.returncode == 2 and "erase_closed_after_days" in broken.stderr, broken.stderr
        # No policy: closed cases are kept, and the schedule goes.
        removed = starter(stack, "setup-namespace")
        assert f"retention schedule {RETENTION_SCHEDULE_ID}: removed" in removed.stdout, removed.stdout
        assert f"retention schedule {RETENTION_SCHEDULE_ID}: none" in starter(stack, "setup-namespace").stdout
    finally:
        with contextlib.suppress(RPCError):
            await handle.delete()
