"""What the parts share: the application they submit, clients in parallel, watching cases to their
end, percentiles, and a process's memory and CPU time from ``/proc``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from bench.stack import BenchError, BenchStack
from devstack import SAMPLES_DIR
from domain.case_ids import WORKFLOW_TYPE, workflow_id_for
from infra.temporal import SA_SETUP_STAGE

T = TypeVar("T")

# The real case every part submits: a limited company with the whole 企业开办 scope (social
# insurance, housing fund, bank account), invoices and a postal delivery.
TEMPLATE_SAMPLE = "AY20261127-0001"
POLL_S = 0.5
CLK_TCK = os.sysconf("SC_CLK_TCK")


def template_application() -> dict[str, Any]:
    paths = sorted(SAMPLES_DIR.glob(f"{TEMPLATE_SAMPLE}_*.json"))
    paths = [p for p in paths if not p.name.endswith(".supplement.json")]
    if not paths:
        raise BenchError(f"no sample {TEMPLATE_SAMPLE}_*.json in {SAMPLES_DIR}")
    body: dict[str, Any] = json.loads(paths[0].read_text(encoding="utf-8"))
    return body


def application_ids(tag: str, count: int) -> list[str]:
    """``BENCH-<tag>-000001`` …: ids of the bench's own, one set per run of a part."""
    return [f"BENCH-{tag}-{n:06d}" for n in range(1, count + 1)]


def case_prefix(tag: str) -> str:
    return workflow_id_for(f"BENCH-{tag}-")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, linearly interpolated; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def in_parallel(count: int, concurrency: int, call: Callable[[int], Awaitable[T]]) -> list[T]:
    """``call(0) … call(count-1)`` from ``concurrency`` clients, each one call after another."""
    results: list[T | None] = [None] * count
    next_index = 0

    async def client() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            results[index] = await call(index)

    await asyncio.gather(*(client() for _ in range(min(concurrency, count))))
    return results  # type: ignore[return-value]


async def submit_through_gateway(
    stack: BenchStack,
    ids: Sequence[str],
    concurrency: int,
    body: dict[str, Any] | None = None,
    *,
    spread_s: float = 0.0,
) -> list[float]:
    """``POST /v1/applications`` for each id, as the portal does; each call's latency (s). With
    ``spread_s`` the submissions are paced evenly over that many seconds instead of all at once."""
    template = body or template_application()
    payloads = [json.dumps({**template, "application_id": i}, ensure_ascii=False).encode() for i in ids]
    headers = {"Content-Type": "application/json"}
    first = time.perf_counter()

    async def submit(index: int) -> float:
        if spread_s > 0:
            await asyncio.sleep(max(0.0, first + index * spread_s / len(ids) - time.perf_counter()))
        began = time.perf_counter()
        answer = await stack.gateway.post("/v1/applications", content=payloads[index], headers=headers)
        took = time.perf_counter() - began
        if answer.status_code != 202:
            raise BenchError(f"POST /v1/applications {ids[index]}: {answer.status_code} {answer.text[:500]}")
        return took

    return await in_parallel(len(ids), concurrency, submit)


@dataclass
class RunOutcome:
    """A batch of cases watched to their end, in the server's times."""

    count: int
    completed: int
    per_s: float
    p50_s: float
    p95_s: float
    wall_s: float
    cpu_s_per_case: dict[str, float] = field(default_factory=dict)
    """CPU time each process of the stack (and the bench itself) spent per case meanwhile."""


def _query(workflow_type: str, prefix: str, running: bool | None = None) -> str:
    query = f'WorkflowType = "{workflow_type}" AND WorkflowId STARTS_WITH "{prefix}"'
    if running is True:
        query += ' AND ExecutionStatus = "Running"'
    elif running is False:
        query += ' AND ExecutionStatus != "Running"'
    return query


async def watch_to_end(
    stack: BenchStack, workflow_type: str, prefix: str, count: int, stall_s: float
) -> list[WorkflowExecution]:
    """Wait until ``count`` workflows of ``workflow_type`` whose ids start with ``prefix`` have all
    closed, watching their state in Temporal's visibility (never a fixed sleep); every closed one."""
    client: Client = stack.client
    last_change, last_seen = time.monotonic(), (-1, -1)
    while True:
        stack.check_alive()
        closed = (await client.count_workflows(_query(workflow_type, prefix, running=False))).count
        running = (await client.count_workflows(_query(workflow_type, prefix, running=True))).count
        if closed >= count and running == 0:
            break
        if (closed, running) != last_seen:
            last_seen, last_change = (closed, running), time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            raise BenchError(
                f"{workflow_type} {prefix}*: {closed} of {count} closed, {running} running, "
                f"and no change for {stall_s:.0f} s"
            )
        await asyncio.sleep(POLL_S)
    return [
        w async for w in client.list_workflows(_query(workflow_type, prefix, running=False), page_size=1000)
    ]


def outcome_of(executions: Sequence[WorkflowExecution], *, cases: bool) -> RunOutcome:
    """Throughput and durations of closed workflows; ``cases``: completed means the case's
    ``SetupStage`` says ``completed`` too, not only the workflow."""
    starts = [w.start_time for w in executions]
    closes = [w.close_time for w in executions if w.close_time is not None]
    durations = [
        (w.close_time - w.start_time).total_seconds() for w in executions if w.close_time is not None
    ]
    completed = [
        w
        for w in executions
        if w.status == WorkflowExecutionStatus.COMPLETED
        and (not cases or w.typed_search_attributes.get(SA_SETUP_STAGE) == "completed")
    ]
    wall = (max(closes) - min(starts)).total_seconds() if closes and starts else 0.0
    return RunOutcome(
        count=len(executions),
        completed=len(completed),
        per_s=len(executions) / wall if wall > 0 else 0.0,
        p50_s=percentile(durations, 0.50),
        p95_s=percentile(durations, 0.95),
        wall_s=wall,
    )


async def run_cases(stack: BenchStack, tag: str, count: int, concurrency: int, stall_s: float) -> RunOutcome:
    """``count`` real cases through the gateway, watched until every one has closed."""
    before = cpu_snapshot(stack)
    await submit_through_gateway(stack, application_ids(tag, count), concurrency)
    executions = await watch_to_end(stack, WORKFLOW_TYPE, case_prefix(tag), count, stall_s)
    outcome = outcome_of(executions, cases=True)
    outcome.cpu_s_per_case = cpu_per_case(before, cpu_snapshot(stack), count)
    return outcome


async def start_times(stack: BenchStack, tag: str, count: int, stall_s: float) -> dict[str, datetime]:
    """When each of the ``count`` cases of a run started (``accepted_at``, where its promises are
    counted from), once visibility lists them all."""
    query = _query(WORKFLOW_TYPE, case_prefix(tag))
    since = time.monotonic()
    while True:
        found = {w.id: w.start_time async for w in stack.client.list_workflows(query, page_size=1000)}
        if len(found) >= count:
            return found
        if time.monotonic() - since > stall_s:
            raise BenchError(f"visibility lists {len(found)} of the {count} cases started")
        await asyncio.sleep(POLL_S)


# ---------------------------------------------------------------------- processes, from /proc
def rss_mb(pid: int) -> float:
    """Resident memory of a process (``VmRSS`` of ``/proc/<pid>/status``), in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


def cpu_snapshot(stack: BenchStack) -> dict[str, float]:
    """CPU time used so far by each running process of the stack, and by the bench itself."""
    found = {"bench": time.process_time()}
    for name in stack.running_parts():
        with contextlib.suppress(OSError, KeyError):
            found[name] = cpu_s(stack.pid(name))
    return found


def cpu_per_case(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    return {name: round((used - before.get(name, 0.0)) / count, 4) for name, used in after.items()}


def cpu_s(pid: int) -> float:
    """CPU time a process has used so far (user + system), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def wait_until_quiet(pids: Sequence[int], *, share: float = 0.05, quiet_s: float = 2.0) -> None:
    """Until each process has used less than ``share`` of a core for ``quiet_s`` in a row."""
    since = time.monotonic()
    before = [cpu_s(p) for p in pids]
    while True:
        await asyncio.sleep(0.5)
        now = [cpu_s(p) for p in pids]
        if any(b - a > share * 0.5 for a, b in zip(before, now, strict=True)):
            since = time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        before = now
