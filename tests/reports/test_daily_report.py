"""The daily report and the business metrics against a known set of cases, checked from outside.

The cases run on the time-skipping server, on a stack of their own (its own service database, so
nothing else counts): one completed, one whose parcel cannot be delivered (it falls back to
pickup), one withdrawn while its seals are carved, one refused by its seal shop and reassigned by
an operator, one whose shop holds the order past the seal promise. The report (JSON, the PDF,
``starter.py report``) and ``/metrics`` must say exactly that.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from domain.actions import OperatorAction
from domain.case_ids import workflow_id_for
from domain.sla_policy import SlaPolicy
from domain.status import StatusDocument
from service import cases
from tests import factories
from tests.conftest import Stack, in_process_stack
from tests.documents import pdf_text
from tests.helpers import breach_the_seal_promise, closed, eventually, start, until

ROOT = Path(__file__).resolve().parents[2]
WALL = SlaPolicy(clock="wall", partner_patience="30m")
ZONE = WALL.zone


@pytest_asyncio.fixture
async def own_stack(
    time_skipping_env: WorkflowEnvironment, sandbox_url: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    async with in_process_stack(time_skipping_env.client, sandbox_url, tmp_path / "data") as stack:
        yield stack


def ops(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.settings.ops_token}"}


async def scrape(stack: Stack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await stack.gateway.get("/metrics")
    assert resp.status_code == 200
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def finished(stack: Stack, env: WorkflowEnvironment, app_id: str) -> StatusDocument:
    """The case's status once its workflow has closed: every fact and alert is stored by then."""
    handle = stack.client.get_workflow_handle(workflow_id_for(app_id), result_type=StatusDocument)
    await until(stack, app_id, lambda s: s.is_final, timeout=60)
    return await closed(env, handle)


def days_of(statuses: list[StatusDocument]) -> list[date]:
    """Every day (in the policy's zone) on which these cases did anything: the skipped clock may
    carry a case past midnight."""
    moments = [h.at for s in statuses for h in s.history]
    first, last = min(moments).astimezone(ZONE).date(), max(moments).astimezone(ZONE).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def test_the_daily_report_and_the_metrics_count_the_cases_that_ran(
    own_stack: Stack, time_skipping_env: WorkflowEnvironment
) -> None:
    stack = own_stack
    await stack.reset_sandbox()
    before = await scrape(stack)
    assert value(before, "ods_setups_started_total") == 0

    plain = factories.application()
    await start(stack, plain, policy=WALL)
    undeliverable = factories.application()
    undeliverable["delivery"]["address"] = "文峰区查无此地路1号"
    await start(stack, undeliverable, policy=WALL)
    statuses = [
        await finished(stack, time_skipping_env, plain["application_id"]),
        await finished(stack, time_skipping_env, undeliverable["application_id"]),
    ]

    refused = factories.application(name="安阳市文峰区拒刻餐饮有限公司", invoice=False)
    await start(stack, refused, policy=WALL)
    await until(stack, refused["application_id"], lambda s: s.attention is not None)

    # The case's status has the attention at once; the metric once its fact is written (its own activity).
    async def attention_open() -> float:
        return value(await scrape(stack), "ods_attention_open")

    assert await eventually(attention_open, what="the open attention in /metrics") == 1
    await cases.act(
        stack.client,
        refused["application_id"],
        OperatorAction(action="reassign_seal_shop", operator="王敏", note="next shop"),
    )
    statuses.append(await finished(stack, time_skipping_env, refused["application_id"]))

    async with stack.seal_orders_held():
        withdrawn = factories.application(invoice=False)
        await start(stack, withdrawn, policy=WALL)
        await until(stack, withdrawn["application_id"], lambda s: "subsidy_voucher" in (s.documents or []))
        await cases.withdraw(stack.client, withdrawn["application_id"], "changed plans")
        statuses.append(await finished(stack, time_skipping_env, withdrawn["application_id"]))

        late = factories.application(invoice=False, district="410503")
        await start(stack, late, policy=WALL)
        await breach_the_seal_promise(stack, time_skipping_env, late["application_id"])
        await stack.finish_seal_orders(late["application_id"])
    statuses.append(await finished(stack, time_skipping_env, late["application_id"]))
    assert [s.stage for s in statuses] == ["completed", "completed", "completed", "withdrawn", "completed"]
    assert statuses[1].delivery is not None and statuses[1].delivery.method == "pickup"

    # The facts are stored before each case closes: the report reads them now.
    reports = []
    for day in days_of(statuses):
        resp = await stack.gateway.get(
            "/v1/reports/daily", params={"date": day.isoformat()}, headers=ops(stack)
        )
        assert resp.status_code == 200, resp.text
        reports.append(resp.json())

    def total(*path: str) -> Any:
        found = 0
        for report in reports:
            node: Any = report
            for key in path:
                node = node.get(key, {}) if isinstance(node, dict) else 0
            found += node or 0
        return found

    assert total("accepted") == 5
    assert (total("completed"), total("rejected"), total("withdrawn")) == (4, 0, 1)
    assert total("deliveries", "postal") == 3 and total("deliveries", "fallback") == 1
    assert total("deliveries", "pickup") == 0
    # Seal carving done four times (the withdrawn case's never), once past its promise.
    assert total("stages", "seal_carving", "completed") == 4
    assert total("stages", "seal_carving", "within_sla") == 3
    assert total("stages", "invoice", "completed") == 2  # only two cases asked for invoices
    assert total("stages", "registration", "completed") == 5
    assert total("breaches", "by_stage", "seal_carving") == 1
    assert total("breaches", "by_district", "410503") == 1
    # The refused order waited for an operator; the late shop was silent past the patience.
    assert total("attention", "raised") == 2 and total("attention", "resolved") == 2
    assert reports[-1]["attention"]["open"] == 0
    # Four enterprises got the standard set free (640.00 each), settled with their shops.
    assert total("subsidy", "enterprises") == 4
    assert sum(Decimal(r["subsidy"]["amount_cny"]) for r in reports) == Decimal("2560.00")
    # Durations are the stages' own, from their status documents.
    if len(reports) == 1:
        seal = reports[0]["stages"]["seal_carving"]
        walls = sorted(
            (s.stages.seal_carving.finished_at - s.stages.seal_carving.started_at).total_seconds()
            for s in statuses
            if s.stages.seal_carving.state == "done"
            and s.stages.seal_carving.finished_at is not None
            and s.stages.seal_carving.started_at is not None
        )
        assert seal["wall_time"]["median_s"] == pytest.approx((walls[1] + walls[2]) / 2, abs=1.0)
        assert seal["wall_time"]["p90_s"] >= seal["wall_time"]["median_s"]
        assert seal["within_sla_rate"] == 0.75

    after = await scrape(stack)
    assert value(after, "ods_setups_started_total") == 5
    assert value(after, "ods_setups_completed_total", outcome="completed") == 4
    assert value(after, "ods_setups_completed_total", outcome="withdrawn") == 1
    assert value(after, "ods_sla_alerts_total", stage="seal_carving", level="breached") == 1
    assert value(after, "ods_attention_open") == 0
    assert value(after, "ods_subsidy_amount_cny_total") == 2560.0
    assert value(after, "ods_stage_duration_seconds_count", stage="seal_carving") == 4
    assert value(after, "ods_stage_duration_seconds_bucket", stage="seal_carving", le="+Inf") == 4

    # The PDF: the same figures, with its charts' Chinese and English labels.
    day = days_of(statuses)[-1]
    pdf = await stack.gateway.get(
        "/v1/reports/daily.pdf", params={"date": day.isoformat()}, headers=ops(stack)
    )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content, Path(stack.settings.data_dir), f"report-{uuid.uuid4().hex[:6]}")
    for label in ("一日办 每日报告", "各环节用时", "Stage durations", "超时承诺", "by district", "印章刻制"):
        assert label in text, f"{label!r} not in the PDF:\n{text}"

    # The terminal's report is the API's.
    env = {**os.environ, "ODS_DATABASE_URL": stack.settings.resolved_database_url}
    shown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "starter.py", "report", "--date", day.isoformat(), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(shown.stdout) == reports[-1]


async def test_a_bad_date_is_refused_and_the_portal_may_not_read_reports(own_stack: Stack) -> None:
    for bad in ("2026-13-01", "2026-02-30", "yesterday", ""):
        resp = await own_stack.gateway.get("/v1/reports/daily", params={"date": bad}, headers=ops(own_stack))
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.json()["errors"][0]["field"] == "date"
    portal = await own_stack.gateway.get(
        "/v1/reports/daily", params={"date": "2026-12-01"}, headers=own_stack.portal
    )
    assert portal.status_code == 401
    empty = await own_stack.gateway.get(
        "/v1/reports/daily", params={"date": "2000-01-01"}, headers=ops(own_stack)
    )
    assert empty.status_code == 200
    assert empty.json()["accepted"] == 0 and empty.json()["stages"]["registration"]["within_sla_rate"] is None
