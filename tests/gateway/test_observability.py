"""The gateway's operations view: ``/healthz`` says how far ahead the calendar is known, ``/metrics``
is prometheus_client's default registry (request counter and histogram by route template, the
calendar gauge, process and platform collectors), and the gateway as a real process logs the
calendar coverage when it starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest_asyncio
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import free_port
from domain.calendar_coverage import CalendarCoverage, calendar_coverage
from domain.policies import Policies
from domain.sla_policy import SlaPolicy
from domain.working_time import official_data_years
from gateway.app import create_app
from gateway.observability import register_business_collector
from infra.settings import Settings
from tests.gateway.support import in_process

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings(
    temporal_address="127.0.0.1:1",
    data_dir=Path(tempfile.mkdtemp(prefix="ods-observability-test-")),
    portal_token="test-portal-token",
    ops_token="test-ops-token",
)
NEXT = official_data_years()[1] + 1
CASE = "AY20261127-0001"
CASE_ROUTE = "/v1/applications/{application_id}"


@pytest_asyncio.fixture
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(create_app(SETTINGS, client=None)) as client:
        yield client


async def scrape(client: httpx.AsyncClient) -> dict[str, Metric]:
    resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == CONTENT_TYPE_LATEST
    return {family.name: family for family in text_string_to_metric_families(resp.text)}


def sample(families: dict[str, Metric], family: str, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    for s in families[family].samples if family in families else []:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return 0.0


def expected_coverage(policy: SlaPolicy, found_days_ahead: int) -> CalendarCoverage:
    """The coverage as the test sees it, allowing for a midnight passing between two looks."""
    now = calendar_coverage(policy)
    assert found_days_ahead in (now.days_ahead, now.days_ahead + 1)
    return now


# --- /healthz --------------------------------------------------------------------------------------


async def test_healthz_says_how_far_ahead_the_calendar_is_known(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.get("/healthz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok" and body["temporal"] == "not connected"
    calendar = body["calendar"]
    assert set(calendar) == {"known_until", "days_ahead", "warning"}
    coverage = expected_coverage(SlaPolicy(), calendar["days_ahead"])
    assert calendar["known_until"] == coverage.known_until.isoformat() == f"{NEXT - 1}-12-31"
    assert calendar["days_ahead"] == (coverage.known_until - coverage.today).days
    if calendar["days_ahead"] < 60:
        assert f"enter the State Council notice for {NEXT}" in calendar["warning"]
        assert "docs/operations.md" in calendar["warning"]
    else:
        assert calendar["warning"] is None


async def test_healthz_follows_the_policy_the_gateway_started_with() -> None:
    policy = SlaPolicy(extra_holidays=[date(NEXT, 1, 1)], extra_workdays=[date(NEXT, 2, 6)])
    app = create_app(SETTINGS, client=None, policies=Policies(sla=policy))
    async with in_process(app) as client:
        calendar = (await client.get("/healthz")).json()["calendar"]
    coverage = expected_coverage(policy, calendar["days_ahead"])
    assert calendar["known_until"] == f"{NEXT}-12-31" == coverage.known_until.isoformat()
    if calendar["days_ahead"] >= 60:
        assert calendar["warning"] is None


# --- /metrics --------------------------------------------------------------------------------------


async def test_metrics_parse_and_the_request_counter_moves_by_route_template(
    gateway: httpx.AsyncClient,
) -> None:
    labels = {"method": "GET", "route": CASE_ROUTE, "status": "401"}
    before = await scrape(gateway)
    counted = sample(before, "ods_gateway_requests", "ods_gateway_requests_total", **labels)
    timed = sample(
        before,
        "ods_gateway_request_duration_seconds",
        "ods_gateway_request_duration_seconds_count",
        **labels,
    )
    assert (await gateway.get(f"/v1/applications/{CASE}")).status_code == 401
    assert (await gateway.get("/v1/applications/AY20261127-0002")).status_code == 401
    after = await scrape(gateway)
    assert after["ods_gateway_requests"].type == "counter"
    assert sample(after, "ods_gateway_requests", "ods_gateway_requests_total", **labels) == counted + 2
    histogram = after["ods_gateway_request_duration_seconds"]
    assert histogram.type == "histogram"
    assert sample(after, histogram.name, "ods_gateway_request_duration_seconds_count", **labels) == timed + 2
    assert sample(after, histogram.name, "ods_gateway_request_duration_seconds_bucket", le="+Inf", **labels)
    # Route templates only: no case id in any label; an unmatched path is "unmatched".
    text = (await gateway.get("/metrics")).text
    assert CASE not in text and "AY20261127-0002" not in text
    await gateway.get("/no/such/route")
    again = await scrape(gateway)
    assert sample(
        again, "ods_gateway_requests", "ods_gateway_requests_total", route="unmatched", status="404"
    )
    assert "/no/such/route" not in (await gateway.get("/metrics")).text
    # The scrape itself is counted like any request.
    assert sample(again, "ods_gateway_requests", "ods_gateway_requests_total", route="/metrics", status="200")


async def test_metrics_hold_the_default_collectors_and_the_calendar_gauge(
    gateway: httpx.AsyncClient,
) -> None:
    families = await scrape(gateway)
    assert "python_info" in families  # the platform collector
    assert "process_cpu_seconds" in families  # the process collector (Linux)
    gauge = families["ods_calendar_covered_days"]
    assert gauge.type == "gauge"
    [value] = [s.value for s in gauge.samples]
    coverage = expected_coverage(SlaPolicy(), int(value))
    assert value in (coverage.days_ahead, coverage.days_ahead + 1)


async def test_the_gauge_is_refreshed_on_each_scrape_with_the_gateway_policy() -> None:
    policy = SlaPolicy(extra_holidays=[date(NEXT, 1, 1)])
    async with in_process(create_app(SETTINGS, client=None, policies=Policies(sla=policy))) as client:
        [value] = [s.value for s in (await scrape(client))["ods_calendar_covered_days"].samples]
    expected_coverage(policy, int(value))
    async with in_process(create_app(SETTINGS, client=None)) as client:
        [value] = [s.value for s in (await scrape(client))["ods_calendar_covered_days"].samples]
    expected_coverage(SlaPolicy(), int(value))


async def test_many_gateways_in_one_process_share_the_metrics() -> None:
    apps = [create_app(SETTINGS, client=None) for _ in range(3)]  # no duplicate registration
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    async with in_process(apps[0]) as first:
        before = sample(await scrape(first), "ods_gateway_requests", "ods_gateway_requests_total", **labels)
    for app in apps:
        async with in_process(app) as client:
            assert (await client.get("/healthz")).status_code == 200
    async with in_process(apps[-1]) as last:
        after = sample(await scrape(last), "ods_gateway_requests", "ods_gateway_requests_total", **labels)
    assert after == before + 3


class SetupsStarted:
    """A business collector, as the lead will add one from the service database."""

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("ods_test_business_series", "a test business series", value=7)


async def test_a_business_collector_is_part_of_every_scrape(gateway: httpx.AsyncClient) -> None:
    collector = SetupsStarted()
    register_business_collector(collector)
    register_business_collector(collector)  # the same collector again: registered once
    families = await scrape(gateway)
    assert [s.value for s in families["ods_test_business_series"].samples] == [7]


# --- the gateway as a real process ------------------------------------------------------------------


def test_the_gateway_logs_the_calendar_coverage_at_start(tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    env |= {
        "ODS_DATA_DIR": str(tmp_path / "data"),
        "ODS_TEMPORAL_ADDRESS": "127.0.0.1:1",
        "ODS_GATEWAY_ADDR": addr,
        "ODS_LOG_FORMAT": "json",
    }
    log = tmp_path / "gateway.log"
    with log.open("wb") as sink:
        child = subprocess.Popen(
            [sys.executable, "-m", "gateway"], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        health = None
        deadline = time.monotonic() + 60
        while health is None and time.monotonic() < deadline and child.poll() is None:
            try:
                health = httpx.get(f"http://{addr}/healthz", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.1)
        assert health is not None, log.read_text(errors="replace")
    finally:
        child.terminate()
        child.wait(timeout=30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    [line] = [entry for entry in lines if entry["event"].startswith("working calendar")]
    coverage = expected_coverage(SlaPolicy(), line["days_ahead"])
    assert line["known_until"] == coverage.known_until.isoformat()
    assert health["calendar"]["known_until"] == line["known_until"]
    if line["days_ahead"] < 60:
        assert line["level"] == "warning" and line["event"] == "working calendar running out"
        assert line["year"] == NEXT
        assert f"enter the State Council notice for {NEXT}" in line["detail"]
    else:
        assert line["level"] == "info"
    assert coverage.known_until - coverage.today == timedelta(days=coverage.days_ahead)
