"""Committed histories of EnterpriseSetup replay on the current code (determinism guard).

Changing a workflow that may have running executions needs ``workflow.patched``; this test
fails when a change would break a recorded case. Refresh the recordings after a deliberate,
patched change with ``ODS_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/replay``.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.application import parse_application
from domain.sla_policy import SlaPolicy
from infra.temporal import data_converter
from intake import cases
from tests import factories
from tests.conftest import Stack
from workflows.registry import ALL_WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
# Recordings of each workflow version are kept side by side: files without a prefix predate
# the free services (subsidy, delivery, documents); ``fs_`` ones run with them.
PREFIX = os.environ.get("ODS_RECORD_PREFIX", "fs_")


async def test_committed_histories_replay_on_the_current_workflow_code() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert files, "no committed histories"
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=data_converter())
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

    async def run(name: str, body: dict, policy: SlaPolicy, during=None) -> None:  # type: ignore[no-untyped-def,type-arg]
        app = parse_application(body)
        out = await cases.submit_application(
            ts_stack.client, app, task_queue=ts_stack.settings.task_queue, sla_policy=policy
        )
        handle = ts_stack.client.get_workflow_handle(out.workflow_id)
        if during is not None:
            await during(body["application_id"])
        await asyncio.wait_for(handle.result(), 60)
        history = await handle.fetch_history()
        (HISTORIES / f"{PREFIX}{name}__{out.workflow_id}.json").write_text(history.to_json())

    async def wait_stage(app_id: str, check) -> None:  # type: ignore[no-untyped-def]
        for _ in range(300):
            if check(await cases.get_status(ts_stack.client, app_id)):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("stage not reached")

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
        await wait_stage(app_id, lambda s: s.stage == "awaiting_supplement")
        await time_skipping_env.sleep(timedelta(hours=1))
        await cases.supplement(
            ts_stack.client,
            app_id,
            {"enterprise": {**conflict["enterprise"], "name": "安阳市文峰区晨光餐饮有限公司"}},
        )

    await run("supplement", conflict, wall, answer)

    await ts_stack.behave(seal_shop={"carving_s": 2})

    async def slow(app_id: str) -> None:
        await wait_stage(app_id, lambda s: s.stages.seal_carving.state == "waiting")
        await time_skipping_env.sleep(timedelta(hours=3))

    await run("breached_and_recovered", factories.application(invoice=False), wall, slow)

    async def withdraw(app_id: str) -> None:
        await wait_stage(app_id, lambda s: "subsidy_voucher" in (s.documents or []))
        await cases.withdraw(ts_stack.client, app_id, "changed plans")

    await ts_stack.behave(seal_shop={"carving_s": 30})
    await run("withdrawn", factories.application(), wall, withdraw)
    await ts_stack.behave(seal_shop={"carving_s": 0.05})
