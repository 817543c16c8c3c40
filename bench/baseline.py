"""The baseline of ``make bench``: a workflow with a real case's shape whose activities do nothing.

``BenchBaseline`` plays back a :class:`bench.shape.Shape` counted from a real case in the same run:
workflow task by workflow task, it starts and cancels as many timers, upserts as many search
attributes, records as many patch markers, starts as many children (each a ``BenchBaseline`` with
its child's shape), sends as many signals and runs as many activities and local activities side by
side as the real case did; then it waits for the signals and updates it is owed (from its
children, and from the bench's driver, which stands in for the gateway passing partner callbacks
on). The activities return at once, so what it costs is Temporal's share of a case: the throughput
part compares ours with it.

    python -m bench.baseline    # its worker: its own process, its own task queue, our worker settings
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from bench.shape import HELD_TIMER_S, BaselinePlan
    from infra.temporal import SA_SETUP_STAGE

BASELINE_WORKFLOW_TYPE = "BenchBaseline"
BASELINE_QUEUE_SUFFIX = "-bench-baseline"
STEP_TIMEOUT = timedelta(seconds=30)


def baseline_task_queue(cases_task_queue: str) -> str:
    """The baseline's own task queue beside the cases' (nobody else polls it)."""
    return f"{cases_task_queue}{BASELINE_QUEUE_SUFFIX}"


@activity.defn(name="bench_baseline_step")
async def baseline_step() -> None:
    """Does nothing: what is left is the cost of scheduling, running and recording an activity."""


@workflow.defn(name=BASELINE_WORKFLOW_TYPE)
class BenchBaseline:
    def __init__(self) -> None:
        self._signals = 0
        self._updates = 0

    @workflow.run
    async def run(self, plan: BaselinePlan) -> int:
        shape = plan.shape
        me = workflow.info().workflow_id
        held: list[asyncio.Task[None]] = []
        # Held timers started since the last await on the server: cancelling one now would drop both
        # its commands (no events at all), so its cancellation waits for the next await.
        uncommitted: set[int] = set()
        deferred: list[int] = []
        fired: list[asyncio.Task[None]] = []
        children: list[workflow.ChildWorkflowHandle[Any, Any]] = []
        for number, batch in enumerate(shape.batches):
            for _ in range(batch.held_timers):
                uncommitted.add(len(held))
                held.append(asyncio.create_task(workflow.sleep(HELD_TIMER_S)))
            fired += [asyncio.create_task(workflow.sleep(s)) for s in batch.fired_timers_s]
            for index in batch.cancel_timers:
                if index in uncommitted:
                    deferred.append(index)
                elif index < len(held):
                    held[index].cancel()
            for k in range(batch.upserts):
                workflow.upsert_search_attributes([SA_SETUP_STAGE.value_set(f"baseline {number}.{k}")])
            for k in range(batch.markers):
                workflow.patched(f"bench-baseline-{number}-{k}")
            for _ in range(batch.children):
                child = shape.children[len(children)]
                children.append(
                    await workflow.start_child_workflow(
                        BenchBaseline.run,
                        BaselinePlan(shape=child, parent_workflow_id=me),
                        # Not ``<parent id>…``: the bench counts a run's workflows by id prefix.
                        id=f"child{len(children)}-{me}",
                    )
                )
            waits = [children[i].signal(BenchBaseline.baseline_signal) for i in batch.signal_children]
            if plan.parent_workflow_id is not None:
                parent = workflow.get_external_workflow_handle(plan.parent_workflow_id)
                waits += [parent.signal(BenchBaseline.baseline_signal) for _ in range(batch.signal_parent)]
            waits += [
                workflow.execute_activity(baseline_step, start_to_close_timeout=STEP_TIMEOUT)
                for _ in range(batch.activities)
            ]
            waits += [
                workflow.execute_local_activity(baseline_step, start_to_close_timeout=STEP_TIMEOUT)
                for _ in range(batch.local_activities)
            ]
            if waits or batch.children:
                await asyncio.gather(*waits)
                uncommitted.clear()
                for index in deferred:
                    held[index].cancel()
                deferred.clear()
        await workflow.wait_condition(
            lambda: self._signals >= shape.signals_received and self._updates >= shape.updates
        )
        for handle in children:
            await handle
        await asyncio.gather(*fired)
        for index in deferred:
            held[index].cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return sum(b.activities for b in shape.batches)

    @workflow.signal
    def baseline_signal(self) -> None:
        self._signals += 1

    @workflow.update
    def baseline_update(self) -> int:
        self._updates += 1
        return self._updates


async def main() -> int:
    """The baseline's worker, with the settings of the cases' worker (worker.py), until SIGTERM."""
    # Imported here: the workflow sandbox re-imports this module and must not meet them.
    import signal

    from temporalio.worker import Worker

    from bench import baseline  # this file as a module: a workflow the sandbox can import by name
    from infra.logging import configure_logging, get_logger
    from infra.settings import get_settings
    from infra.temporal import connect
    from worker import keep_workflow_bytecode, worker_options

    keep_workflow_bytecode()  # as the cases' worker does: its sandbox imports from bytecode too
    settings = get_settings()
    configure_logging(settings.log_format, env=settings.env)
    log = get_logger("bench.baseline")
    client = await connect(settings)
    queue = baseline_task_queue(settings.task_queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # With the very options of the cases' worker (worker.py).
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[baseline.BenchBaseline],
        activities=[baseline.baseline_step],
        **worker_options(settings),
    )
    async with worker:
        log.info("baseline worker started", task_queue=queue, temporal=settings.temporal_address)
        await stop.wait()
    log.info("baseline worker stopped")
    return 0


if __name__ == "__main__":
    import os
    import sys

    code = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # sdk-python#300: avoid an abort at interpreter exit
