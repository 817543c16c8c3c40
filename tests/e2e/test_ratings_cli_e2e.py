"""``starter.py rating`` and ``rating-act`` end to end on the Temporal dev server: an operator shows a
bad rating's follow-up and acts on it from the terminal, as ``GET /v1/ratings/{id}`` and
``POST /v1/ratings/{id}/actions`` do. The follow-up's payloads are under its case's own key
(infra/case_keys.py), so the command line reads them with the case keys of the service database,
as every deployed process does."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest

from domain.case_ids import workflow_id_for
from tests import factories
from tests.conftest import Stack
from tests.helpers import eventually, starter

pytestmark = pytest.mark.e2e


def ops(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.settings.ops_token}"}


async def follow_up(stack: Stack, rating_id: str) -> dict[str, Any] | None:
    answer = await stack.gateway.get(f"/v1/ratings/{rating_id}", headers=ops(stack))
    assert answer.status_code == 200, answer.text
    doc: dict[str, Any] = answer.json()
    return doc if doc["call_back_due"] else None


async def test_the_command_line_shows_a_follow_up_and_acts_on_it(keyed_stack: Stack) -> None:
    stack = keyed_stack
    body = factories.application()
    app_id = body["application_id"]
    assert (await stack.gateway.post("/v1/applications", json=body, headers=stack.portal)).status_code == 202
    await stack.client.get_workflow_handle(workflow_id_for(app_id)).result()  # closed: it is rated
    rated = await stack.gateway.post(
        f"/v1/applications/{app_id}/rating", json={"level": "dissatisfied"}, headers=stack.portal
    )
    assert rated.status_code == 201, rated.text
    rating_id = rated.json()["rating_id"]
    await eventually(lambda: follow_up(stack, rating_id), what="the follow-up's deadlines")

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(starter, stack, *args)

    claimed = await run("rating-act", rating_id, "claim", "--operator", "王敏", "--note", "本窗口负责")
    assert (claimed.returncode, claimed.stdout) == (0, f"{rating_id}: claim recorded (now claimed)\n"), (
        claimed.stderr
    )
    called = await run(
        "rating-act", rating_id, "called_back", "--operator", "王敏", "--outcome", "情况属实，已致歉"
    )
    assert (called.returncode, called.stdout) == (0, f"{rating_id}: called_back recorded (now called_back)\n")
    not_offered = await run("rating-act", rating_id, "decide_appeal", "--operator", "赵强", "--upheld", "yes")
    assert not_offered.returncode == 1 and "not offered" in not_offered.stderr

    shown = await run("rating", rating_id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"{rating_id} ({app_id}): dissatisfied about overall, called_back"
    assert lines[1] == "  unit 410502/overall; owner 王敏"
    assert [line.split("  ")[2:] for line in lines[3:]] == [
        ["rated", "不满意 (dissatisfied) about overall; unit 410502/overall"],
        ["claimed", "claimed by 王敏: 本窗口负责"],
        ["called_back", "情况属实，已致歉 by 王敏"],
    ]
    # What the command line did is what the API reads.
    doc = await follow_up(stack, rating_id)
    assert (
        doc is not None and (doc["state"], doc["owner"]) == ("called_back", "王敏") and doc["called_back_at"]
    )

    unknown = await run("rating", "rt-unknown")
    assert unknown.returncode == 1 and "no follow-up of rating" in unknown.stderr
