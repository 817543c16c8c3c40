"""The SLA promise on the live stack: the Temporal dev server, a worker, the gateway, the partner
sandbox and an alert subscriber, all in real time.

A seal shop slower than its promise yields ``at_risk``, ``breached`` and ``recovered`` exactly once
each, on time, in the alert feed, on the alert stream, at the webhook subscriber and in Temporal
visibility; stages that keep their promise raise nothing (issue 3, "Done when"). The slow shop
holds the order until the breach has been heard, then finishes it (a sandbox control): how slow
it is never races how fast this machine is.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.sla_policy import SlaPolicy, load_sla_policy
from infra.temporal import SA_BREACHED_STAGES, SA_SLA_STATUS
from tests import factories
from tests.conftest import Stack
from tests.helpers import eventually, start

pytestmark = pytest.mark.e2e

# Wall clock, so the promise is seconds: seal carving 3 s (at risk at 75 %: 2.25 s), the rest generous.
POLICY_TOML = """\
clock = "wall"
at_risk_fraction = 0.75

[limits]
registration = "2m"
seal_carving = "3s"
invoice = "2m"
overall = "10m"
delivery = "30m"
"""
ON_TIME = timedelta(seconds=2)  # issue 3: alerts within 2 s of the due time
LEVELS = ["at_risk", "breached", "recovered"]


@dataclass(frozen=True)
class Heard:
    """One alert event off the stream, and when this subscriber got it."""

    received_at: datetime
    event_id: str
    alert: dict[str, Any]


def alerts_auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.settings.alerts_token}"}


@asynccontextmanager
async def listening(stack: Stack) -> AsyncIterator[list[Heard]]:
    """Subscribe to ``GET /v1/alerts/stream`` from now on; the list fills as alerts arrive."""
    heard: list[Heard] = []
    subscribed = asyncio.Event()
    timeout = httpx.Timeout(10, read=None)  # the stream stays open; keep-alives come every 15 s
    async with stack.gateway.stream(
        "GET", "/v1/alerts/stream", headers=alerts_auth(stack), timeout=timeout
    ) as resp:
        assert resp.status_code == 200, (await resp.aread()).decode()
        assert resp.headers["content-type"].startswith("text/event-stream")

        async def read() -> None:
            block: dict[str, str] = {}
            async for line in resp.aiter_lines():
                if line == "":
                    if block.get("event") == "alert":
                        data = json.loads(block["data"])
                        assert data["id"] == block["id"]
                        heard.append(Heard(datetime.now(UTC), block["id"], data))
                    elif "retry" in block:
                        subscribed.set()  # the stream's first block: its cursor is set, we listen
                    block = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    block[name] = value.removeprefix(" ")

        reader = asyncio.create_task(read())
        try:
            await asyncio.wait_for(subscribed.wait(), 5)
            yield heard
        finally:
            reader.cancel()
            with suppress(asyncio.CancelledError):
                await reader
    assert reader.cancelled(), reader.exception()


async def feed_of(stack: Stack, workflow_id: str) -> list[dict[str, Any]]:
    """Every alert of one case in ``GET /v1/alerts``, paging through the whole feed, oldest first."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "500"} | ({"after": cursor} if cursor else {})
        resp = await stack.gateway.get("/v1/alerts", params=params, headers=alerts_auth(stack))
        assert resp.status_code == 200, resp.text
        page = resp.json()
        found += [a for a in page["alerts"] if a["workflow_id"] == workflow_id]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def status_of(stack: Stack, application_id: str) -> dict[str, Any]:
    resp = await stack.gateway.get(f"/v1/applications/{application_id}", headers=stack.portal)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def completed(stack: Stack, application_id: str, timeout: float = 20) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        doc = await status_of(stack, application_id)
        if doc["stage"] in ("completed", "rejected", "withdrawn"):
            assert doc["stage"] == "completed", doc
            return doc
        assert loop.time() < deadline, f"{application_id} still {doc['stage']}"
        await asyncio.sleep(0.1)


async def start_case(stack: Stack, policy: SlaPolicy) -> tuple[str, str]:
    """A case started through the intake with ``policy`` (the gateway's policy file is fixed):
    its application id and workflow id."""
    body = factories.application()
    handle = await start(stack, body, policy=policy)
    return body["application_id"], handle.id


def when(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None, text
    return moment


def wall_policy(tmp_path: Path) -> SlaPolicy:
    path = tmp_path / "sla.toml"
    path.write_text(POLICY_TOML, encoding="utf-8")
    policy = load_sla_policy(path)
    assert policy.clock == "wall" and policy.limit("seal_carving") == timedelta(seconds=3)
    return policy


async def test_a_slow_seal_shop_is_alerted_once_per_level_everywhere_on_time(
    dev_stack: Stack, tmp_path: Path
) -> None:
    policy = wall_policy(tmp_path)
    await dev_stack.reset_sandbox()
    try:
        async with dev_stack.seal_orders_held(), listening(dev_stack) as heard:
            application_id, workflow_id = await start_case(dev_stack, policy)

            def mine_heard() -> list[Heard]:
                return [h for h in heard if h.alert["workflow_id"] == workflow_id]

            def mine_posted() -> list[dict[str, Any]]:
                return [a for a in dev_stack.webhooks.received if a["workflow_id"] == workflow_id]

            # The shop holds the order past the promise; it finishes once the breach was heard.
            await eventually(
                lambda: "breached" in [h.alert["level"] for h in mine_heard()],
                timeout=30,
                interval=0.1,
                what="the breached alert on the stream",
            )
            await dev_stack.finish_seal_orders(application_id)
            doc = await completed(dev_stack, application_id)
            await eventually(
                lambda: len(mine_heard()) >= 3, timeout=5, interval=0.1, what="the stream's three"
            )
            await eventually(lambda: len(mine_posted()) >= 3, timeout=5, interval=0.1, what="three webhooks")
            await asyncio.sleep(1.0)  # anything repeated would show up by now
            streamed, posted = mine_heard(), mine_posted()
    finally:
        await dev_stack.reset_sandbox()

    # The feed: each level once, in order, for seal carving only (registration, invoice and
    # overall kept their promise).
    feed = await feed_of(dev_stack, workflow_id)
    assert [(a["stage"], a["level"]) for a in feed] == [("seal_carving", level) for level in LEVELS]
    ids = [a["id"] for a in feed]
    assert len(set(ids)) == 3
    by_level = {a["level"]: a for a in feed}
    for alert in feed:
        assert alert["application_id"] == application_id
        assert alert["district_code"] == "410502" and alert["enterprise_name"]

    # The stream: the very same alerts, each once, in order.
    assert [h.event_id for h in streamed] == ids
    assert [h.alert for h in streamed] == feed
    # The webhook subscriber (signatures verified by the receiver): each once.
    assert sorted(a["id"] for a in posted) == sorted(ids)
    assert {a["id"]: a for a in posted} == {a["id"]: a for a in feed}

    # On time: breached within 2 s after the deadline, at risk within 2 s after 75 % of the promise
    # (the deadline less 0.75 s), recovered once the shop finished; each on the stream within 2 s.
    seal = doc["stages"]["seal_carving"]
    deadline = when(by_level["breached"]["deadline"])
    assert deadline == when(seal["deadline"])
    assert deadline - when(seal["started_at"]).replace(microsecond=0) == timedelta(seconds=3)
    late = when(by_level["breached"]["raised_at"]) - deadline
    assert timedelta(0) <= late <= ON_TIME, late
    at_risk_point = deadline - timedelta(seconds=0.75)
    early = when(by_level["at_risk"]["raised_at"]) - at_risk_point
    assert timedelta(0) <= early <= ON_TIME, early
    finished = when(seal["finished_at"])
    assert finished >= when(by_level["breached"]["raised_at"])  # held by the shop until then
    assert timedelta(0) <= when(by_level["recovered"]["raised_at"]) - finished <= ON_TIME
    for h in streamed:
        lag = h.received_at - when(h.alert["raised_at"])
        assert lag <= ON_TIME, f"{h.alert['level']} reached the stream {lag} after it was raised"

    # The status document: the worst state reached, and which stage broke its promise.
    assert doc["sla_status"] == "breached"
    assert seal["sla"] == "breached" and seal["state"] == "done"
    assert doc["stages"]["registration"]["sla"] == "on_track"
    assert doc["stages"]["invoice"]["sla"] == "on_track"
    assert doc["stages"]["overall"]["sla"] == "on_track"
    events = [h["event"] for h in doc["history"]]
    for level in LEVELS:
        assert events.count(f"alert.seal_carving.{level}") == 1

    # Visibility (eventually consistent): ops find the late case as `temporal workflow list` would.
    query = f'SlaStatus="breached" AND WorkflowId="{workflow_id}"'
    listed = []
    for _ in range(50):
        listed = [wf async for wf in dev_stack.client.list_workflows(query)]
        if listed:
            break
        await asyncio.sleep(0.1)
    assert [wf.id for wf in listed] == [workflow_id]
    attributes = listed[0].typed_search_attributes
    assert attributes.get(SA_SLA_STATUS) == "breached"
    assert attributes.get(SA_BREACHED_STAGES) == ["seal_carving"]


async def test_cases_that_keep_their_promise_raise_nothing(dev_stack: Stack, tmp_path: Path) -> None:
    # A 10-second seal promise (at risk at 7.5 s) that a shop carving in 0.05 s keeps on any machine.
    tight = wall_policy(tmp_path).model_copy(
        update={"limits": wall_policy(tmp_path).limits.model_copy(update={"seal_carving": "10s"})}
    )
    assert tight.limit("seal_carving") == timedelta(seconds=10)
    await dev_stack.reset_sandbox()
    async with listening(dev_stack) as heard:
        # Through the gateway, on the stack's policy (the default: working hours, 4h/2h/1h/7h) ...
        body = factories.application()
        resp = await dev_stack.gateway.post("/v1/applications", json=body, headers=dev_stack.portal)
        assert resp.status_code == 202, resp.text
        default_case = (body["application_id"], resp.json()["workflow_id"])
        # ... and on the 10-second seal promise with a shop that keeps it.
        tight_case = await start_case(dev_stack, tight)
        docs = [await completed(dev_stack, app_id) for app_id, _ in (default_case, tight_case)]
        # Past the tight case's seal deadline (by the clock, not a guess): nothing fires late.
        deadline = when(docs[1]["stages"]["seal_carving"]["deadline"])
        await asyncio.sleep(max(0.0, (deadline + timedelta(seconds=1) - datetime.now(UTC)).total_seconds()))
        streamed = list(heard)

    workflow_ids = {default_case[1], tight_case[1]}
    for doc in docs:
        assert doc["sla_status"] == "on_track", doc
        for name in ("registration", "seal_carving", "invoice", "overall"):
            assert doc["stages"][name]["sla"] == "on_track"
            assert doc["stages"][name]["deadline"] is not None
        assert not [h for h in doc["history"] if h["event"].startswith("alert.")]
    default_seal = docs[0]["stages"]["seal_carving"]
    assert when(default_seal["deadline"]).utcoffset() == timedelta(hours=8)
    tight_seal = docs[1]["stages"]["seal_carving"]
    assert when(tight_seal["deadline"]) - when(tight_seal["started_at"]).replace(microsecond=0) == timedelta(
        seconds=10
    )
    for workflow_id in workflow_ids:
        assert await feed_of(dev_stack, workflow_id) == []
    assert not [h for h in streamed if h.alert["workflow_id"] in workflow_ids]
    assert not [a for a in dev_stack.webhooks.received if a["workflow_id"] in workflow_ids]
