"""The parts of ``make bench``; each takes the running stack and returns its part of
``bench/results.json``.

- documents: the CPU milliseconds to draw each document of a case (``bench/documents.py``; no stack);

- throughput: real cases end to end through the gateway, against the baseline workflow playing a
  real case's shape (counted in the same run) with activities that do nothing;
- workers: the same throughput with one and with two sets of worker processes;
- scale: cases parked on the seal shop, and the memory that costs the worker and the server;
- outage: cases whose partners hang while their promises fall at risk, and how late each alert is stored;
- timers: cases whose at-risk points fall within the same minute, and how late each alert is stored;
- intake: ``POST /v1/applications`` against a bare ``client.start_workflow`` under the same load.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import documents as bench_documents
from bench.baseline import BASELINE_WORKFLOW_TYPE, BenchBaseline, baseline_task_queue
from bench.config import BenchSettings
from bench.history import count_shape
from bench.load import (
    RunOutcome,
    application_ids,
    case_prefix,
    cpu_per_case,
    cpu_snapshot,
    in_parallel,
    outcome_of,
    percentile,
    rss_mb,
    run_cases,
    start_times,
    submit_through_gateway,
    template_application,
    wait_until_quiet,
    watch_to_end,
)
from bench.shape import BaselinePlan, Shape
from bench.stack import BASELINE, BenchError, BenchStack, GatewaySpec
from devstack.stack import free_port
from domain.application import Application
from domain.case_ids import WORKFLOW_TYPE, workflow_id_for
from domain.partners import SetupInput
from domain.policies import load_policies

WORKER = "worker"  # devstack's part that runs the cases' workflows
SERVER = "temporal"
# Alerts: how often the feed is read, and how long past the last due point one may still come.
FEED_POLL_S = 0.1
ALERT_GRACE_S = 60.0
# The timers part's at-risk point: a quarter of the overall promise, so the breach comes long after.
AT_RISK_FRACTION = 0.25
FAR_LIMIT = "1000h"


@dataclass
class Context:
    stack: BenchStack
    settings: BenchSettings
    say: Callable[[str], None]
    previous: dict[str, Any]
    """``bench/results.json`` as it was before this run."""
    measured: dict[str, Any] = field(default_factory=dict)
    """What this run's earlier parts found (the workers part reuses the throughput's own run)."""


PartRunner = Callable[[Context], Awaitable[Any]]


def _r(value: float, places: int = 3) -> float:
    return round(value, places)


# ---------------------------------------------------------------------- throughput
async def run_baseline(ctx: Context, tag: str, count: int, shape: Shape) -> tuple[RunOutcome, str]:
    """``count`` baseline workflows with ``shape``, started (and signalled, and updated, as the
    gateway would a case) by as many clients as submit cases; watched until every one has closed."""
    client, queue = ctx.stack.client, baseline_task_queue(ctx.stack.settings.task_queue)
    prefix = f"bench-baseline-{tag}-"
    ids = [f"{prefix}{n:06d}" for n in range(1, count + 1)]
    plan = BaselinePlan(shape=shape)
    before = cpu_snapshot(ctx.stack)

    async def start(index: int) -> None:
        handle = await client.start_workflow(BenchBaseline.run, plan, id=ids[index], task_queue=queue)
        for _ in range(shape.external_signals):
            await handle.signal(BenchBaseline.baseline_signal)
        for _ in range(shape.updates):
            await handle.execute_update(BenchBaseline.baseline_update)

    await in_parallel(count, ctx.settings.concurrency, start)
    executions = await watch_to_end(ctx.stack, BASELINE_WORKFLOW_TYPE, prefix, count, ctx.settings.stall_s)
    outcome = outcome_of(executions, cases=False)
    outcome.cpu_s_per_case = cpu_per_case(before, cpu_snapshot(ctx.stack), count)
    return outcome, ids[0]


async def throughput(ctx: Context) -> dict[str, Any]:
    stack, settings, count = ctx.stack, ctx.settings, ctx.settings.setups
    await stack.ensure(workers=1, baseline="baseline" in stack.running_parts())
    await stack.set_sandbox(hold_seals=False)
    ctx.say("one real case first: its history (and its children's) is the baseline's shape")
    # The baseline's worker starts meanwhile.
    probe, _ = await asyncio.gather(
        run_cases(stack, "SHAPE", 1, 1, settings.stall_s), stack.ensure(workers=1, baseline=True)
    )
    if probe.completed != 1:
        raise BenchError("the case whose shape the baseline plays did not complete")
    shape = await count_shape(stack.client, workflow_id_for(application_ids("SHAPE", 1)[0]))
    ctx.measured["shape"] = shape
    ctx.say(f"case shape: {shape.totals()}")
    ctx.say(f"{count} baseline workflows (no-op activities, same shape) …")
    baseline, first = await run_baseline(ctx, "TP", count, shape)
    if baseline.completed != count:
        raise BenchError(f"only {baseline.completed} of {count} baseline workflows completed")
    baseline_shape = await count_shape(stack.client, first)
    ctx.say(f"baseline: {baseline.per_s:.2f}/s; {count} cases through the gateway …")
    ours = await run_cases(stack, "TP", count, settings.concurrency, settings.stall_s)
    ctx.say(f"ours: {ours.per_s:.2f}/s, {ours.completed} of {count} completed")
    ctx.measured["ours_one_worker"] = ours
    return {
        "setups": count,
        "setups_per_s": _r(ours.per_s),
        "baseline_per_s": _r(baseline.per_s),
        "ratio": _r(ours.per_s / baseline.per_s if baseline.per_s else 0.0),
        "p50_s": _r(ours.p50_s),
        "p95_s": _r(ours.p95_s),
        "completed": ours.completed,
        "wall_s": _r(ours.wall_s),
        "baseline_completed": baseline.completed,
        "baseline_p50_s": _r(baseline.p50_s),
        "baseline_p95_s": _r(baseline.p95_s),
        "baseline_wall_s": _r(baseline.wall_s),
        "cpu_s_per_case": ours.cpu_s_per_case,
        "baseline_cpu_s_per_case": baseline.cpu_s_per_case,
        "case_shape": shape.totals(),
        "case_shape_per_workflow": shape.per_workflow(),
        "baseline_shape": baseline_shape.totals(),
        "concurrency": settings.concurrency,
    }


# ---------------------------------------------------------------------- workers
async def workers(ctx: Context) -> list[dict[str, Any]]:
    stack, settings, count = ctx.stack, ctx.settings, ctx.settings.setups_per_worker_run
    rows = []
    for processes in (1, 2):
        reused: RunOutcome | None = ctx.measured.get("ours_one_worker") if processes == 1 else None
        if reused is not None and reused.count == count:
            ctx.say("1 process: the throughput part's own run")
            outcome, source = reused, "throughput"
        else:
            await stack.ensure(workers=processes)
            await stack.set_sandbox(hold_seals=False)
            ctx.say(f"{processes} worker process(es) of each role: {count} cases …")
            outcome, source = (
                await run_cases(stack, f"W{processes}", count, settings.concurrency, settings.stall_s),
                "workers",
            )
        if outcome.completed != count:
            raise BenchError(f"{processes} worker processes: only {outcome.completed} of {count} completed")
        parts = [n for n in stack.worker_processes() if n != "baseline"] if source == "workers" else None
        rows.append(
            {
                "processes": processes,
                "setups_per_s": _r(outcome.per_s),
                "setups": count,
                "completed": outcome.completed,
                "p50_s": _r(outcome.p50_s),
                "p95_s": _r(outcome.p95_s),
                "measured_in": source,
                "cpu_s_per_case": outcome.cpu_s_per_case,
                **({"worker_parts": parts} if parts else {}),
            }
        )
        ctx.say(f"{processes} process(es): {outcome.per_s:.2f}/s")
    return rows


# ---------------------------------------------------------------------- parked cases
async def wait_parked(ctx: Context, seal_orders_before: int, count: int) -> bool:
    """Until the seal shop holds an order of each of ``count`` new cases and the workers have
    nothing left to do (their CPU quiet); False if they never quieten within the stall time."""
    stack, last, since = ctx.stack, -1, time.monotonic()
    while True:
        stack.check_alive()
        taken = (await stack.effects())["seal_shop"] - seal_orders_before
        if taken >= count:
            break
        if taken != last:
            last, since = taken, time.monotonic()
        elif time.monotonic() - since > ctx.settings.stall_s:
            raise BenchError(f"only {taken} of {count} cases reached the seal shop, none more for a while")
        await asyncio.sleep(0.5)
    pids = list(stack.worker_processes().values())
    try:
        await asyncio.wait_for(wait_until_quiet(pids), timeout=ctx.settings.stall_s)
    except TimeoutError:
        return False
    return True


async def sticky_cache_size(addr: str) -> int | None:
    """Workflows a worker holds in its cache, from its SDK metrics (``temporal_sticky_cache_size``)."""
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(f"http://{addr}/metrics")).text
    except httpx.HTTPError:
        return None
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("temporal_sticky_cache_size")
    ]
    return int(sum(values)) if values else None


def _memory(stack: BenchStack) -> dict[str, float]:
    found = {}
    for name in stack.running_parts():
        with contextlib.suppress(OSError, KeyError):
            found[name] = _r(rss_mb(stack.pid(name)), 1)
    return found


async def case_shape(ctx: Context) -> Shape:
    """The shape of a real case of this run: the throughput part's, else one case run for it."""
    shape = ctx.measured.get("shape")
    if shape is None:
        await ctx.stack.set_sandbox(hold_seals=False)
        probe = await run_cases(ctx.stack, "SHAPE", 1, 1, ctx.settings.stall_s)
        if probe.completed != 1:
            raise BenchError("the case whose shape the baseline plays did not complete")
        shape = await count_shape(ctx.stack.client, workflow_id_for(application_ids("SHAPE", 1)[0]))
        ctx.measured["shape"] = shape
    return shape


async def park_baselines(ctx: Context, shape: Shape, count: int) -> float:
    """``count`` baseline workflows of ``shape`` left open (no driver signals them, so each waits
    for them at its end, its children too); the baseline worker's memory grown for them, in KB per
    workflow; then they are terminated."""
    stack, queue = ctx.stack, baseline_task_queue(ctx.stack.settings.task_queue)
    pid = stack.pid(BASELINE)
    await wait_until_quiet([pid])
    idle_mb = rss_mb(pid)
    ids = [f"bench-baseline-SC-{n:06d}" for n in range(1, count + 1)]
    plan = BaselinePlan(shape=shape)

    async def start(index: int) -> None:
        await stack.client.start_workflow(BenchBaseline.run, plan, id=ids[index], task_queue=queue)

    await in_parallel(count, ctx.settings.concurrency, start)
    await asyncio.wait_for(wait_until_quiet([pid]), timeout=ctx.settings.stall_s)
    grown_kb = (rss_mb(pid) - idle_mb) * 1024

    async def end(index: int) -> None:
        with contextlib.suppress(Exception):  # one that is already gone needs no ending
            await stack.client.get_workflow_handle(ids[index]).terminate("bench: measured")

    await in_parallel(count, ctx.settings.concurrency, end)
    return grown_kb / count


async def scale(ctx: Context) -> dict[str, Any]:
    stack, count = ctx.stack, ctx.settings.open
    shape = await case_shape(ctx)
    metrics = f"127.0.0.1:{free_port(also_next=True)}"
    # Freshly started workers, so "idle" is a worker that has run no case yet (the baseline's too).
    await stack.ensure(
        workers=1, fresh_workers=True, baseline=True, worker_env={"ODS_WORKER_METRICS_ADDR": metrics}
    )
    await stack.set_sandbox(hold_seals=True)
    await wait_until_quiet(list(stack.worker_processes().values()))
    idle = _memory(stack)
    ctx.say(f"idle: {idle}; parking {count} cases on the seal shop …")
    before = (await stack.effects())["seal_shop"]
    began = time.monotonic()
    await submit_through_gateway(stack, application_ids("SC", count), ctx.settings.concurrency)
    settled = await wait_parked(ctx, before, count)
    parked_s = time.monotonic() - began
    open_ = _memory(stack)
    cached = await sticky_cache_size(metrics)
    grown_kb = (open_[WORKER] - idle[WORKER]) * 1024
    ctx.measured["park_per_s"] = count / parked_s
    ctx.say(f"{count} parked in {parked_s:.0f} s; open: {open_}; cached workflows: {cached}")
    ctx.say(f"parking {count} baseline workflows of the same shape on their own worker …")
    baseline_kb = await park_baselines(ctx, shape, count)
    ours_kb = grown_kb / count
    ctx.say(f"KB per open case: ours {ours_kb:.1f}, the baseline's {baseline_kb:.1f}")
    return {
        "baseline_kb_per_open_case": _r(baseline_kb, 1),
        "kb_per_open_case_ratio": _r(ours_kb / baseline_kb if baseline_kb > 0 else 0.0, 2),
        "open_setups": count,
        "worker_idle_rss_mb": idle[WORKER],
        "worker_rss_mb": open_[WORKER],
        "server_rss_mb": open_[SERVER],
        "kb_per_open_case": _r(grown_kb / count, 1),
        "server_idle_rss_mb": idle[SERVER],
        "server_kb_per_open_case": _r((open_[SERVER] - idle[SERVER]) * 1024 / count, 1),
        "cached_workflows": cached,
        "kb_per_cached_case": _r(grown_kb / cached, 1) if cached else None,
        "rss_mb_idle": idle,
        "rss_mb_open": open_,
        "parked_s": _r(parked_s, 1),
        "park_per_s": _r(count / parked_s),
        "settled": settled,
    }


# ---------------------------------------------------------------------- timers
def timers_policy(offset_s: int, *, fraction: float = AT_RISK_FRACTION, part: str = "timers") -> str:
    """A wall-clock SLA policy whose overall promise is at risk ``offset_s`` after a case starts
    (its limit is ``offset_s / fraction``), and no other promise (nor a silent partner) raises
    anything for hours."""
    limits = {
        "registration": FAR_LIMIT,
        "seal_carving": FAR_LIMIT,
        "invoice": FAR_LIMIT,
        "overall": f"{round(offset_s / fraction)}s",
        "delivery": FAR_LIMIT,
        "social_insurance": FAR_LIMIT,
        "housing_fund": FAR_LIMIT,
        "bank_account": FAR_LIMIT,
    }
    lines = [
        f"# make bench, {part} part: the overall promise at risk {offset_s} s after a case starts",
        'clock = "wall"',
        f"at_risk_fraction = {fraction}",
        f'partner_patience = "{FAR_LIMIT}"',
        "",
        "[limits]",
        *(f'{stage} = "{limit}"' for stage, limit in limits.items()),
    ]
    return "\n".join(lines) + "\n"


def timer_offset(ctx: Context, count: int) -> int:
    """Seconds from start to at-risk point: past the time parking every case takes (so the alerts
    are measured on parked cases), at the rate the scale part measured (this run's, else the last)."""
    if ctx.settings.timer_offset_s is not None:
        return ctx.settings.timer_offset_s
    measured = ctx.measured.get("park_per_s") or ctx.previous.get("scale", {}).get("park_per_s")
    rate = float(measured) if measured else ctx.settings.park_rate
    return math.ceil(max(20.0, count / rate * 1.25 + 20.0))


class AlertFeed:
    """``GET /v1/alerts`` read every ``FEED_POLL_S`` as a subscriber would: when each alert was
    first seen there is when it was stored, give or take one poll."""

    def __init__(self, stack: BenchStack) -> None:
        self._http = httpx.AsyncClient(
            base_url=f"http://{stack.settings.gateway_addr}",
            timeout=30,
            headers={"Authorization": f"Bearer {stack.settings.alerts_token}"},
        )
        self._after: str | None = None
        self.seen: list[tuple[datetime, dict[str, Any]]] = []

    async def _page(self) -> list[dict[str, Any]]:
        params: dict[str, str | int] = {"limit": 1000}
        if self._after is not None:
            params["after"] = self._after
        answer = await self._http.get("/v1/alerts", params=params)
        answer.raise_for_status()
        alerts: list[dict[str, Any]] = answer.json()["alerts"]
        if alerts:
            self._after = alerts[-1]["id"]
        return alerts

    async def skip_to_end(self) -> None:
        while len(await self._page()) == 1000:
            pass

    async def follow(self) -> None:
        while True:
            alerts = await self._page()
            now = datetime.now(UTC)
            self.seen += [(now, alert) for alert in alerts]
            if len(alerts) < 1000:
                await asyncio.sleep(FEED_POLL_S)

    async def aclose(self) -> None:
        await self._http.aclose()


async def wait_for_alerts(
    stack: BenchStack, feed: AlertFeed, following: asyncio.Task[None], due_by_start: dict[str, datetime]
) -> None:
    """Until every case has its at-risk alert, or none has come for ``ALERT_GRACE_S`` after the
    last could be due."""
    grace = timedelta(seconds=ALERT_GRACE_S)
    deadline, stored = max(due_by_start.values()) + grace, 0
    while stored < len(due_by_start) and datetime.now(UTC) < deadline:
        stack.check_alive()
        if following.done():
            following.result()  # the feed failed: say why
        await asyncio.sleep(0.2)
        if (now_stored := len(_at_risk(feed, due_by_start))) > stored:
            stored, deadline = now_stored, max(deadline, datetime.now(UTC) + grace)


async def timers(ctx: Context) -> dict[str, Any]:
    stack, count = ctx.stack, ctx.settings.timers
    offset = timer_offset(ctx, count)
    policy = stack.data_dir / "bench-timers-sla-policy.toml"
    policy.write_text(timers_policy(offset))
    await stack.ensure(gateway=GatewaySpec(sla_policy=policy), workers=1)
    await stack.set_sandbox(hold_seals=True)
    feed = AlertFeed(stack)
    await feed.skip_to_end()
    following = asyncio.create_task(feed.follow())
    try:
        before = (await stack.effects())["seal_shop"]
        began = time.monotonic()
        ctx.say(f"{count} cases, each at risk {offset} s after its start …")
        # Paced over most of a minute: their at-risk points fall within the same minute.
        ids, spread = application_ids("TM", count), ctx.settings.timer_spread_s
        await submit_through_gateway(stack, ids, ctx.settings.concurrency, spread_s=spread)
        submitted_s = time.monotonic() - began
        # Due points by when each case started, to the server; its promise counts from when its
        # workflow first ran (``accepted_at``), which can only be later (``_timer_figures``).
        due_by_start = {
            wid: start.replace(microsecond=0) + timedelta(seconds=offset)
            for wid, start in (await start_times(stack, "TM", count, ctx.settings.stall_s)).items()
        }
        parked_at: list[datetime] = []
        parking = asyncio.create_task(wait_parked(ctx, before, count))
        parking.add_done_callback(
            lambda task: None if task.cancelled() or task.exception() else parked_at.append(datetime.now(UTC))
        )
        await wait_for_alerts(stack, feed, following, due_by_start)
        await asyncio.sleep(1.0)  # a second alert for any case would show up now
        if parking.done():
            parking.result()
        else:
            parking.cancel()
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await feed.aclose()
    return _timer_figures(feed, due_by_start, offset, submitted_s, parked_at)


def _at_risk(feed: AlertFeed, dues: dict[str, datetime]) -> dict[str, tuple[datetime, dict[str, Any]]]:
    """The first overall at-risk alert seen for each of the cases."""
    first: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for seen, alert in feed.seen:
        wid = alert["workflow_id"]
        if wid in dues and alert["stage"] == "overall" and alert["level"] == "at_risk":
            first.setdefault(wid, (seen, alert))
    return first


@dataclass
class Lateness:
    """The cases' at-risk alerts as the feed showed them."""

    first: dict[str, tuple[datetime, dict[str, Any]]]
    """Each case's first at-risk alert, and when it was seen."""
    due: dict[str, datetime]
    """Each case's own due point: its deadline less the rest of the promise (the promise counts
    from when the case's workflow first ran, ``accepted_at``, which the alert does not carry)."""
    late: list[float]
    """How long after its due point each was seen (s)."""
    ours: list[dict[str, Any]]
    """Every alert of the cases."""
    duplicated: int
    """Alerts seen more than once."""


def _lateness(feed: AlertFeed, due_by_start: dict[str, datetime], offset: int, limit_s: int) -> Lateness:
    ours = [a for _, a in feed.seen if a["workflow_id"] in due_by_start]
    per_alert = Counter((a["workflow_id"], a["stage"], a["level"], a.get("episode", 1)) for a in ours)
    first = _at_risk(feed, due_by_start)
    rest = timedelta(seconds=limit_s - offset)
    due = {wid: datetime.fromisoformat(a["deadline"]) - rest for wid, (_, a) in first.items()}
    late = [(seen - due[wid]).total_seconds() for wid, (seen, _) in first.items()]
    return Lateness(first, due, late, ours, sum(n - 1 for n in per_alert.values() if n > 1))


def _timer_figures(
    feed: AlertFeed,
    due_by_start: dict[str, datetime],
    offset: int,
    submitted_s: float,
    parked_at: list[datetime],
) -> dict[str, Any]:
    """Lateness of each case's at-risk alert after its due point (``_lateness``), and how far
    that lies behind its start."""
    seen = _lateness(feed, due_by_start, offset, round(offset / AT_RISK_FRACTION))
    first, due, late, ours = seen.first, seen.due, seen.late, seen.ours
    raised_late = [
        (datetime.fromisoformat(a["raised_at"]) - due[wid]).total_seconds() for wid, (_, a) in first.items()
    ]
    accept_delay = [(due[wid] - due_by_start[wid]).total_seconds() for wid in due]
    first_due = min(due.values(), default=min(due_by_start.values()))
    last_due = max(due.values(), default=max(due_by_start.values()))
    return {
        "open_setups": len(due_by_start),
        "alerts": len(first),
        "late_p50_s": _r(percentile(late, 0.50)),
        "late_p99_s": _r(percentile(late, 0.99)),
        "missing": len(due_by_start) - len(first),
        "duplicated": seen.duplicated,
        "late_max_s": _r(max(late, default=0.0)),
        "raised_late_p50_s": _r(percentile(raised_late, 0.50)),
        "raised_late_p99_s": _r(percentile(raised_late, 0.99)),
        "accept_delay_p50_s": _r(percentile(accept_delay, 0.50)),
        "accept_delay_p99_s": _r(percentile(accept_delay, 0.99)),
        "other_alerts": sum(1 for a in ours if (a["stage"], a["level"]) != ("overall", "at_risk")),
        "offset_s": offset,
        "due_spread_s": _r((last_due - first_due).total_seconds()),
        "submitted_s": _r(submitted_s),
        "parked_before_due": bool(parked_at) and parked_at[0] <= first_due,
        "feed_poll_s": FEED_POLL_S,
    }


# ---------------------------------------------------------------------- outage
# The partners that hang in the outage part (../shared/CONTRACT.md section 10); the seal shops hold
# their orders meanwhile, so that no case keeps its overall promise before its alert is due.
OUTAGE_PARTNERS = ("tax", "social_insurance", "housing_fund", "bank")
# The outage part's at-risk point is a tenth of the overall promise: the breach comes long after
# the partners have recovered.
OUTAGE_AT_RISK_FRACTION = 0.1
# How often the held seal orders are looked for once the partners recover.
RELEASE_POLL_S = 1.0


async def _hang(stack: BenchStack, hang_s: float, *, hold_seals: bool) -> None:
    behaviour: dict[str, Any] = {partner: {"hang_s": hang_s} for partner in OUTAGE_PARTNERS}
    behaviour["seal_shop"] = {"hold": hold_seals}
    answer = await stack.sandbox.put("/_sandbox/behaviour", json=behaviour)
    answer.raise_for_status()


async def _release_held_orders(stack: BenchStack, prefix: str) -> None:
    """Finish every held seal order of the part's cases, again and again until cancelled (an order
    taken while the shops still held them may be listed only on a later look)."""
    finished: set[str] = set()
    while True:
        answer = await stack.sandbox.get("/seal-shop/v1/orders")
        answer.raise_for_status()
        for order in answer.json()["orders"]:
            if order["order_id"] in finished or not order["application_id"].startswith(prefix):
                continue
            if order["status"] == "carving":
                done = await stack.sandbox.post(f"/_sandbox/seal-shop/orders/{order['order_id']}/finish")
                if done.status_code not in (200, 409):  # 409: carving by itself, or done meanwhile
                    raise BenchError(
                        f"finishing seal order {order['order_id']}: {done.status_code} {done.text}"
                    )
            finished.add(order["order_id"])
        await asyncio.sleep(RELEASE_POLL_S)


async def outage(ctx: Context) -> dict[str, Any]:
    """Cases applying for all six items while four partners hold each answer and the seal shops
    hold their orders: how late their at-risk alerts are seen; then the partners recover and
    every case is watched to its end."""
    stack, settings, count = ctx.stack, ctx.settings, ctx.settings.outage
    offset, hang = settings.outage_at_risk_s, settings.outage_hang_s
    limit_s = round(offset / OUTAGE_AT_RISK_FRACTION)
    policy = stack.data_dir / "bench-outage-sla-policy.toml"
    policy.write_text(timers_policy(offset, fraction=OUTAGE_AT_RISK_FRACTION, part="outage"))
    await stack.ensure(gateway=GatewaySpec(sla_policy=policy), workers=1)
    await stack.set_sandbox(hold_seals=True)
    await _hang(stack, hang, hold_seals=True)
    feed = AlertFeed(stack)
    await feed.skip_to_end()
    following = asyncio.create_task(feed.follow())
    tag = "OUT"
    try:
        ctx.say(
            f"{count} cases; {', '.join(OUTAGE_PARTNERS)} hold each answer {hang:g} s, "
            f"each case at risk {offset} s after its start …"
        )
        ids, spread = application_ids(tag, count), settings.outage_spread_s
        await submit_through_gateway(stack, ids, settings.concurrency, spread_s=spread)
        due_by_start = {
            wid: start.replace(microsecond=0) + timedelta(seconds=offset)
            for wid, start in (await start_times(stack, tag, count, settings.stall_s)).items()
        }
        await wait_for_alerts(stack, feed, following, due_by_start)
        await asyncio.sleep(1.0)  # a second alert for any case would show up now
        seen = _lateness(feed, due_by_start, offset, limit_s)
        ctx.say(f"{len(seen.first)} of {count} at-risk alerts seen; the partners recover …")
        await _hang(stack, 0.0, hold_seals=False)
        releasing = asyncio.create_task(_release_held_orders(stack, f"BENCH-{tag}-"))
        try:
            executions = await watch_to_end(stack, WORKFLOW_TYPE, case_prefix(tag), count, settings.stall_s)
        finally:
            releasing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await releasing
        ended = outcome_of(executions, cases=True)
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await feed.aclose()
    ctx.say(f"{ended.completed} of {count} completed")
    return {
        "cases": count,
        "alerts": len(seen.first),
        "late_p50_s": _r(percentile(seen.late, 0.50)),
        "late_p99_s": _r(percentile(seen.late, 0.99)),
        "missing": count - len(seen.first),
        "duplicated": seen.duplicated,
        "completed": ended.completed,
        "late_max_s": _r(max(seen.late, default=0.0)),
        "other_alerts": sum(1 for a in seen.ours if (a["stage"], a["level"]) != ("overall", "at_risk")),
        "hang_s": hang,
        "at_risk_s": offset,
        "spread_s": settings.outage_spread_s,
        "partners_hanging": list(OUTAGE_PARTNERS),
        "case_p50_s": _r(ended.p50_s),
        "case_p95_s": _r(ended.p95_s),
        "feed_poll_s": FEED_POLL_S,
    }


# ---------------------------------------------------------------------- intake
async def intake(ctx: Context) -> dict[str, Any]:
    stack, count, clients = ctx.stack, ctx.settings.intake_requests, ctx.settings.intake_concurrency
    # Cases that nobody runs: what is measured is starting them, not the workers' load beside it.
    queue = f"{stack.settings.task_queue}-bench-unpolled"
    await stack.ensure(gateway=GatewaySpec(task_queue=queue), workers=0)
    body = template_application()
    policies = load_policies(stack.settings.sla_policy, stack.settings.subsidy_policy)

    async def raw_starts(tag: str, n: int) -> list[float]:
        inputs = [
            SetupInput(
                application=Application.model_validate({**body, "application_id": app_id}),
                sla_policy=policies.sla,
                subsidy_policy=policies.subsidy,
            )
            for app_id in application_ids(tag, n)
        ]

        async def start(index: int) -> float:
            began = time.perf_counter()
            await stack.client.start_workflow(
                WORKFLOW_TYPE,
                inputs[index],
                id=workflow_id_for(inputs[index].application.application_id),
                task_queue=queue,
            )
            return time.perf_counter() - began

        return await in_parallel(n, clients, start)

    # Connections opened, clients connected, code paths warmed: not counted.
    await submit_through_gateway(stack, application_ids("IN-WARM", clients * 2), clients, body)
    await raw_starts("RAW-WARM", clients * 2)
    ctx.say(f"{count} POST /v1/applications from {clients} clients …")
    began = time.monotonic()
    ours = await submit_through_gateway(stack, application_ids("IN", count), clients, body)
    ours_s = time.monotonic() - began
    ctx.say(f"{count} client.start_workflow from {clients} clients …")
    began = time.monotonic()
    raw = await raw_starts("RAW", count)
    raw_s = time.monotonic() - began
    ours_p99, raw_p99 = percentile(ours, 0.99) * 1000, percentile(raw, 0.99) * 1000
    return {
        "concurrency": clients,
        "requests": count,
        "p50_ms": _r(percentile(ours, 0.50) * 1000, 2),
        "p99_ms": _r(ours_p99, 2),
        "raw_start_p99_ms": _r(raw_p99, 2),
        "ratio": _r(ours_p99 / raw_p99 if raw_p99 else 0.0),
        "raw_start_p50_ms": _r(percentile(raw, 0.50) * 1000, 2),
        "per_s": _r(count / ours_s, 1),
        "raw_per_s": _r(count / raw_s, 1),
        "raw": f"client.start_workflow('{WORKFLOW_TYPE}', the same input) on {queue}, which nobody polls",
    }


async def documents(ctx: Context) -> dict[str, Any]:
    return await bench_documents.run_part(ctx.settings)


PARTS: dict[str, PartRunner] = {
    "documents": documents,
    "throughput": throughput,
    "workers": workers,
    "outage": outage,
    "scale": scale,
    "timers": timers,
    "intake": intake,
}
