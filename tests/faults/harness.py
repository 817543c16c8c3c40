"""The whole stack as real processes, for the fault tests.

devstack's ``Stack`` (devstack/stack.py) runs the Temporal dev server (headless), the partner
sandbox, the gateway and a worker of every role (``worker.py --role all``) as child processes,
each in a session of its own, on free loopback ports, sharing one temporary ``ODS_DATA_DIR`` and
configured only through ``ODS_*`` variables, as an operator runs them. A test injects a fault (a
killed worker, a stopped server, a locked database, flaky partners), then proves with
``check_exactly_once`` that every case still completes with every effect exactly once.

Every wait polls for an event with a generous timeout and fails at once, with the log's tail, when
a part that should be running has died. ``FaultStack.close`` kills every process it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from devstack.stack import Running, Stack, isolated_settings
from domain.case_ids import workflow_id_for
from tests.helpers import eventually

PYTHON = sys.executable
CITY_ZONE = ZoneInfo("Asia/Shanghai")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0  # a worker takes up to 10 s to finish the tasks in hand
CASE_TIMEOUT_S = 120.0

# Wall clock, so a promise is seconds: the seal shop's is tight (6 s by default, at risk at 4.5 s:
# alerts fire while the shop holds an order), the others generous (nothing else fires, however
# slow this machine is).
POLICY_TOML = """\
clock = "wall"
at_risk_fraction = 0.75

[limits]
registration = "5m"
seal_carving = "{seal_carving}"
invoice = "5m"
overall = "20m"
delivery = "30m"
"""


def log_events(running: Running, event: str, since: int = 0) -> list[dict[str, Any]]:
    """The JSON log lines (``ODS_LOG_FORMAT=json``) of this run whose ``event`` is ``event``."""
    found = []
    for line in running.output(since).splitlines():
        if f'"{event}"' not in line:
            continue
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == event:
                found.append(record)
    return found


class FaultStack:
    """The stack's processes and the HTTP calls the tests make to them."""

    def __init__(
        self,
        root: Path,
        *,
        seal_carving_promise: str = "6s",
        database_url: str | None = None,
    ) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        policy = root / "sla-policy.toml"
        policy.write_text(POLICY_TOML.format(seal_carving=seal_carving_promise), encoding="utf-8")
        self.settings = isolated_settings(
            self.data_dir, sla_policy=policy, database_url=database_url, log_format="json", env="test"
        )
        self.gateway_url = self.settings.gateway_url
        self.sandbox_url = self.settings.partner_url
        # Nothing of the caller's ODS_* configuration leaks in: the children see only ours.
        self.processes = Stack(
            self.settings,
            parts=("temporal", "sandbox", "gateway", "worker"),
            worker_roles=("all",),
            web_ui=False,
            isolated=True,
            ready_timeout_s=READY_TIMEOUT_S,
        )
        self.http = httpx.AsyncClient(timeout=15, trust_env=False)
        self._t0 = time.monotonic()
        self.timeline: list[str] = []
        self._since: dict[Path, int] = {}  # log sizes when the current test began

    @property
    def started(self) -> list[Running]:
        """Every run of every part, in order, stopped and killed ones too."""
        return self.processes.started

    def begin(self) -> None:
        """A new test on this stack: a timeline of its own, and log reads from here on."""
        self._t0 = time.monotonic()
        self.timeline = []
        self._since = {r.log_path: r.log_path.stat().st_size for r in self.started}

    def _log_start(self, running: Running) -> int:
        return self._since.get(running.log_path, 0)

    def mark(self, what: str) -> None:
        """Note a step and when it happened (shown for a failed test, and with ``-s``)."""
        line = f"{time.monotonic() - self._t0:6.1f} s  {what}"
        self.timeline.append(line)
        print(line)

    # ------------------------------------------------------------------ processes
    async def _start(self, name: str) -> Running:
        running = await self.processes.start_part(name)
        self.mark(f"{running.title} ready (pid {running.pid})")
        return running

    async def start_temporal(self) -> Running:
        """The dev server on its database file (kept across restarts), without its Web UI; the
        search attributes registered through the operator API at every start, as ``make up`` does."""
        return await self._start("temporal")

    async def start_sandbox(self) -> Running:
        return await self._start("sandbox")

    async def start_gateway(self) -> Running:
        return await self._start("gateway")

    async def start_worker(self) -> Running:
        """A worker, ready once this very process (identity ``<pid>@host``) polls the task queue."""
        return await self._start("worker")

    async def up(self) -> None:
        """Start every part that is not running: Temporal first (the others connect to it), then
        the rest side by side. On a stack that is up, nothing."""
        if not self.processes.is_running("temporal"):
            await self.start_temporal()
        rest = [p.name for p in self.processes.parts if p.name != "temporal"]
        await asyncio.gather(*(self._start(name) for name in rest if not self.processes.is_running(name)))

    async def kill(self, name: str) -> int:
        """SIGKILL: the part dies mid-flight, without a word to anyone. Its return code."""
        code = await self.processes.stop_part(name, kill=True)
        self.mark(f"{self.processes.latest(name).title} killed ({code})")  # type: ignore[union-attr]
        return code

    async def stop(self, name: str) -> int:
        """SIGTERM, as an operator stops a part; it must end by itself in time. Its return code."""
        code = await self.processes.stop_part(name, timeout=STOP_TIMEOUT_S)
        self.mark(f"{self.processes.latest(name).title} stopped ({code})")  # type: ignore[union-attr]
        return code

    def check_alive(self) -> None:
        """Raise if a part that should be running has died."""
        self.processes.check_alive()

    async def close(self) -> None:
        """Kill every process this stack started (each with its whole session); idempotent."""
        await self.processes.kill_all()
        await self.http.aclose()

    def report(self) -> str:
        """The test's steps and the tail of what every part logged meanwhile, for a failed test."""
        tails = [
            f"--- {r.title} (pid {r.pid}, rc {r.process.returncode}):\n{r.tail(40, since=self._log_start(r))}"
            for r in self.started
        ]
        return "\n".join(self.timeline) + "\n\n" + "\n\n".join(tails)

    @property
    def temporal_client(self) -> Client:
        assert self.processes.client is not None, "Temporal was never started"
        return self.processes.client

    def sandbox_log_events(self, event: str) -> list[dict[str, Any]]:
        """What the sandbox logged as ``event`` since the current test began."""
        return [
            e
            for r in self.started
            if r.part.name == "sandbox"
            for e in log_events(r, event, self._log_start(r))
        ]

    async def until(self, probe: Callable[[], Any], *, what: str, timeout: float = 60) -> Any:
        value = await eventually(probe, what=what, timeout=timeout, interval=0.1, alive=self.check_alive)
        self.mark(what)
        return value

    # ------------------------------------------------------------------ the gateway, as the portal and ops
    @property
    def portal(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.portal_token}"}

    @property
    def ops(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.ops_token}"}

    async def submit(self, body: dict[str, Any]) -> str:
        resp = await self.http.post(f"{self.gateway_url}/v1/applications", json=body, headers=self.portal)
        assert resp.status_code == 202, resp.text
        return str(body["application_id"])

    async def status(self, application_id: str) -> dict[str, Any] | None:
        """The case's status document; None while the gateway cannot tell (down, or Temporal or
        the workers unreachable: a 503)."""
        try:
            resp = await self.http.get(
                f"{self.gateway_url}/v1/applications/{application_id}", headers=self.portal
            )
        except httpx.HTTPError:
            return None
        if resp.status_code == 503:
            return None
        assert resp.status_code == 200, f"{application_id}: {resp.status_code} {resp.text}"
        return resp.json()  # type: ignore[no-any-return]

    async def case_until(
        self,
        application_id: str,
        check: Callable[[dict[str, Any]], bool],
        *,
        what: str,
        timeout: float = 60,
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            doc = await self.status(application_id)
            return doc if doc is not None and check(doc) else None

        return await self.until(probe, what=f"{application_id}: {what}", timeout=timeout)  # type: ignore[no-any-return]

    async def all_completed(
        self, application_ids: Iterable[str], timeout: float = CASE_TIMEOUT_S
    ) -> dict[str, dict[str, Any]]:
        """Every case's final status document, once each has closed; fails if one closed otherwise."""
        docs: dict[str, dict[str, Any]] = {}
        pending = list(application_ids)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: dict[str, Any] = {}
        while pending:
            self.check_alive()
            for app_id in list(pending):
                doc = await self.status(app_id)
                if doc is None:
                    continue
                last[app_id] = {"stage": doc["stage"], "history": [h["event"] for h in doc["history"]][-4:]}
                if doc["stage"] in ("completed", "rejected", "withdrawn"):
                    assert doc["stage"] == "completed", json.dumps(doc, ensure_ascii=False, indent=1)
                    docs[app_id] = doc
                    pending.remove(app_id)
            assert loop.time() < deadline, f"not completed after {timeout:.0f} s: " + json.dumps(
                {a: last.get(a) for a in pending}, ensure_ascii=False
            )
            if pending:
                await asyncio.sleep(0.25)
        self.mark(f"all {len(docs)} cases completed")
        return docs

    async def supplement(self, application_id: str, enterprise: dict[str, Any]) -> None:
        """Answer a name conflict; asked again while the case cannot answer (a 503)."""

        async def send() -> bool:
            try:
                resp = await self.http.post(
                    f"{self.gateway_url}/v1/applications/{application_id}/supplement",
                    json={"enterprise": enterprise},
                    headers=self.portal,
                    timeout=30,
                )
            except httpx.HTTPError:
                return False
            if resp.status_code == 503:
                return False
            assert resp.status_code == 202, resp.text
            return True

        await self.until(send, what=f"the supplement of {application_id} taken", timeout=60)

    async def alert_feed(self) -> list[dict[str, Any]]:
        """Every alert in ``GET /v1/alerts`` (the ops token), paging through the whole feed."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "500"} | ({"after": cursor} if cursor else {})
            resp = await self.http.get(f"{self.gateway_url}/v1/alerts", params=params, headers=self.ops)
            assert resp.status_code == 200, resp.text
            page = resp.json()
            found += page["alerts"]
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    async def alerts_of(self, application_id: str) -> set[tuple[str, str]]:
        wf = workflow_id_for(application_id)
        return {(a["stage"], a["level"]) for a in await self.alert_feed() if a["workflow_id"] == wf}

    async def subsidies(self, month: str) -> dict[str, Any]:
        resp = await self.http.get(
            f"{self.gateway_url}/v1/subsidies", params={"month": month}, headers=self.ops
        )
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ the sandbox
    async def reset_sandbox(self) -> None:
        """Forget every order, waybill, counter and behaviour (``POST /_sandbox/reset``)."""
        resp = await self.http.post(f"{self.sandbox_url}/_sandbox/reset")
        assert resp.status_code == 200, resp.text

    async def behave(self, **parts: dict[str, float | bool]) -> None:
        resp = await self.http.put(f"{self.sandbox_url}/_sandbox/behaviour", json=parts)
        assert resp.status_code == 200, resp.text

    async def effects(self) -> dict[str, dict[str, int]]:
        resp = await self.http.get(f"{self.sandbox_url}/_sandbox/effects")
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    async def seal_orders(self, application_id: str) -> list[dict[str, Any]]:
        resp = await self.http.get(
            f"{self.sandbox_url}/seal-shop/v1/orders", params={"application_id": application_id}
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["orders"]  # type: ignore[no-any-return]

    async def waybills(self, application_id: str) -> list[dict[str, Any]]:
        resp = await self.http.get(
            f"{self.sandbox_url}/postal/v1/waybills", params={"application_id": application_id}
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["waybills"]  # type: ignore[no-any-return]

    async def finish_held_orders(self, application_id: str) -> None:
        """Carve the case's held seal order now (the sandbox control): its callback follows."""
        carving = [o for o in await self.seal_orders(application_id) if o["status"] == "carving"]
        assert len(carving) == 1, f"{application_id}: {carving}"
        resp = await self.http.post(
            f"{self.sandbox_url}/_sandbox/seal-shop/orders/{carving[0]['order_id']}/finish"
        )
        assert resp.status_code == 200, resp.text
        self.mark(f"{application_id}: seals carved")

    # ------------------------------------------------------------------ Temporal, read only
    async def pending_activities(self, application_id: str) -> list[tuple[str, str, int]]:
        """(activity type, state, attempt) of each activity the case has scheduled or running."""
        handle = self.temporal_client.get_workflow_handle(workflow_id_for(application_id))
        raw = (await handle.describe()).raw_description
        return [
            (p.activity_type.name, PendingActivityState.Name(p.state), p.attempt)
            for p in raw.pending_activities
        ]

    async def run_id(self, application_id: str) -> str:
        handle = self.temporal_client.get_workflow_handle(workflow_id_for(application_id))
        return (await handle.describe()).run_id


# ---------------------------------------------------------------------- states of a case
def carving(doc: dict[str, Any]) -> bool:
    """The seal order is placed, the first-seal subsidy reserved and its voucher issued: the case
    waits for the shop with nothing else in hand."""
    return doc["stages"]["seal_carving"]["state"] == "waiting" and "subsidy_voucher" in (
        doc["documents"] or []
    )


def alerts_raised(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(stage, level) of every alert the case says it raised (its history), in order."""
    raised = []
    for entry in doc["history"]:
        if entry["event"].startswith("alert."):
            _, stage, level = entry["event"].split(".", 2)
            raised.append((stage, level))
    return raised


def city_month(at: str) -> str:
    return datetime.fromisoformat(at).astimezone(CITY_ZONE).strftime("%Y-%m")


SEAL_ALERTS = {("seal_carving", "at_risk"), ("seal_carving", "breached"), ("seal_carving", "recovered")}
"""The alerts of a seal promise broken, then kept."""


async def finish_held_orders_once(
    stack: FaultStack, bodies: list[dict[str, Any]], ids: list[str], *, held: list[str]
) -> dict[str, dict[str, Any]]:
    """The shop finishes the held orders of ``held``; every case of ``ids`` then completes, with every
    effect once (``check_exactly_once``), and each case of ``held`` had its seal alerts. The cases'
    status documents."""
    for app_id in held:
        await stack.finish_held_orders(app_id)
    docs = await stack.all_completed(ids)
    await check_exactly_once(stack, bodies, docs)
    for app_id in held:
        assert await stack.alerts_of(app_id) >= SEAL_ALERTS
    return docs


async def check_exactly_once(
    stack: FaultStack, bodies: list[dict[str, Any]], docs: dict[str, dict[str, Any]]
) -> None:
    """Every case completed, and every effect of it happened once: one filing, one seal order, one
    invoice allotment, one parcel; every alert once, and every alert raised in the feed; one
    first-seal grant per USCC, settled. Call it with the partners answering (no ``error_rate``):
    its reads of the partners count for nothing."""
    ids = [b["application_id"] for b in bodies]
    assert sorted(docs) == sorted(ids)
    assert all(docs[i]["stage"] == "completed" for i in ids)
    usccs = {i: docs[i]["uscc"] for i in ids}
    assert len(set(usccs.values())) == len(ids), usccs

    # Partner effects: once per case, in total and in each case's own lists.
    postal = [b for b in bodies if b["delivery"]["method"] == "postal"]
    effects = await stack.effects()
    assert {p: effects[p]["effects"] for p in ("registration", "seal_shop", "tax", "postal")} == {
        "registration": len(bodies),
        "seal_shop": len(bodies),
        "tax": sum(1 for b in bodies if "invoice" in b),
        "postal": len(postal),
    }, effects
    for body in bodies:
        app_id = body["application_id"]
        orders = await stack.seal_orders(app_id)
        assert [o["status"] for o in orders] == ["completed"], (app_id, orders)
        assert orders[0]["uscc"] == usccs[app_id]
        waybills = await stack.waybills(app_id)
        expected = ["delivered"] if body["delivery"]["method"] == "postal" else []
        assert [w["status"] for w in waybills] == expected, (app_id, waybills)

    # Alerts: none twice in the feed, and every alert a case raised is there.
    feed = await stack.alert_feed()
    keys = Counter((a["workflow_id"], a["stage"], a["level"]) for a in feed)
    assert not [k for k, n in keys.items() if n > 1], f"alerts doubled: {keys}"
    for app_id in ids:
        raised = alerts_raised(docs[app_id])
        assert len(raised) == len(set(raised)), f"{app_id} raised an alert twice: {raised}"
        stored = {(a["stage"], a["level"]) for a in feed if a["workflow_id"] == docs[app_id]["workflow_id"]}
        assert stored == set(raised), f"{app_id}: raised {raised}, in the feed {sorted(stored)}"

    # The first-seal subsidy: one grant per USCC, settled with the shop, none left reserved.
    months = {city_month(d[k]) for d in docs.values() for k in ("accepted_at", "completed_at")}
    settled: Counter[str] = Counter()
    reserved: Counter[str] = Counter()
    for month in sorted(months):
        report = await stack.subsidies(month)
        settled.update(e["uscc"] for e in report["entries"])
        reserved.update(e["uscc"] for e in report["reserved"])
    for app_id, uscc in usccs.items():
        assert docs[app_id]["subsidy"]["granted"] is True, docs[app_id]["subsidy"]
        assert settled[uscc] == 1 and reserved[uscc] == 0, (app_id, uscc, settled, reserved)
    check_no_personal_data_in_logs(stack, bodies)


def personal_data(body: dict[str, Any]) -> set[str]:
    """The ID numbers and phone numbers an application carries."""
    people = [body["legal_representative"], *body.get("shareholders", []), body["delivery"]]
    return {str(p[k]) for p in people for k in ("id_number", "phone") if p.get(k)}


def check_no_personal_data_in_logs(stack: FaultStack, bodies: list[dict[str, Any]]) -> None:
    """Nothing the worker or the gateway logged, in all their runs, shows an ID number or a phone
    of these applications (the logs carry none; infra/privacy.py masks any that slip in)."""
    secrets = set().union(*(personal_data(b) for b in bodies))
    for running in stack.started:
        if running.part.name not in ("worker", "gateway"):
            continue
        text = running.log_path.read_text(encoding="utf-8", errors="replace")
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, f"{running.log_path} shows personal data: {leaked}"
