"""Starting a case and waiting for it, one definition for every test module.

Every wait here waits for an event (a status, an alert stored, a workflow closed) with a generous
timeout, never for a guess of how long something takes. None of them awaits a case's result while
it runs: on the time-skipping test server that lets the server skip its clock to the next timer
(past promises the case would otherwise keep), so the outcome would depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, overload

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from devstack import PROJECT_ROOT
from domain.application import parse_application
from domain.case_ids import workflow_id_for
from domain.sla_policy import SlaPolicy
from domain.status import StatusDocument
from domain.subsidy_policy import SubsidyPolicy
from infra.case_keys import CaseKeyring
from infra.settings import Settings
from infra.temporal import data_converter
from service import cases
from store.service import ServiceDatabase
from tests import factories
from tests.conftest import Stack

T = TypeVar("T")


@asynccontextmanager
async def keyed_client(client: Client, settings: Settings) -> AsyncIterator[Client]:
    """``client``'s connection, reading (and writing) each case under its own data key from the
    service database of ``settings``, as the gateway and worker processes on it do. No cache: it
    sees an erasure made by another process at once."""
    database = ServiceDatabase(settings.resolved_database_url)
    keys = CaseKeyring.from_text(settings.codec_keys, database, ttl_s=0)
    config = client.config()
    config["data_converter"] = data_converter(settings, keys)
    try:
        yield Client(**config)
    finally:
        await database.close()


# The seal promise on the wall clock is 2 h: one minute past it.
PAST_THE_SEAL_PROMISE = timedelta(hours=2, minutes=1)


async def fresh_application(stack: Stack, **application: Any) -> tuple[dict[str, Any], str]:
    """The sandbox reset, and a new application (``factories.application(**application)``): the
    application and its id."""
    await stack.reset_sandbox()
    body = factories.application(**application)
    return body, body["application_id"]


async def start(
    stack: Stack,
    body: dict[str, Any],
    *,
    policy: SlaPolicy | None = None,
    subsidy: SubsidyPolicy | None = None,
    task_queue: str | None = None,
    portal_webhooks: list[str] | None = None,
) -> WorkflowHandle[Any, StatusDocument]:
    """Start a new case through the intake (``cases.submit_application``); its typed handle."""
    outcome = await cases.submit_application(
        stack.client,
        parse_application(body),
        task_queue=task_queue or stack.settings.task_queue,
        sla_policy=policy,
        subsidy_policy=subsidy,
        portal_webhooks=portal_webhooks,
    )
    assert outcome.created, f"{outcome.workflow_id} had been started before"
    return stack.client.get_workflow_handle(outcome.workflow_id, result_type=StatusDocument)


async def until(
    stack: Stack,
    application_id: str,
    check: Callable[[StatusDocument], bool],
    *,
    timeout: float = 30,
    interval: float = 0.05,
    retry_rpc_errors: bool = False,
) -> StatusDocument:
    """Poll the case's status query until ``check`` holds; that status.

    ``retry_rpc_errors``: a query that fails (it met a worker that just stopped) is asked again.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            status = await cases.get_status(stack.client, application_id)
        except RPCError as err:
            if not retry_rpc_errors:
                raise
            assert loop.time() < deadline, err
            await asyncio.sleep(0.5)
            continue
        if check(status):
            return status
        assert loop.time() < deadline, status.model_dump_json(indent=1)
        await asyncio.sleep(interval)


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    what: str,
    timeout: float = 30,
    interval: float = 0.05,
    alive: Callable[[], None] | None = None,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T],
    *,
    what: str,
    timeout: float = 30,
    interval: float = 0.05,
    alive: Callable[[], None] | None = None,
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    *,
    what: str,
    timeout: float = 30,
    interval: float = 0.05,
    alive: Callable[[], None] | None = None,
) -> Any:
    """Call ``probe`` (plain or async) until it answers something true; that answer. ``alive``, if
    given, is called on every round (it raises when a process the probe needs has died)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if alive is not None:
            alive()
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        assert loop.time() < deadline, f"timed out after {timeout:.0f} s waiting for {what}; last: {value!r}"
        await asyncio.sleep(interval)


async def closed(env: WorkflowEnvironment, handle: WorkflowHandle[Any, T], *, timeout: float = 60) -> T:
    """The result of a workflow once it has closed by itself.

    Polls ``describe`` until the workflow is closed, then reads the result with time skipping
    left locked: awaiting ``handle.result()`` of a running workflow would let the test server
    skip time while partners work in real time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        assert loop.time() < deadline, f"{handle.id} still running after {timeout} s"
        await asyncio.sleep(0.05)
    with env.auto_time_skipping_disabled():
        return await handle.result()


async def rename(stack: Stack, application_id: str, body: dict[str, Any], name: str) -> StatusDocument:
    """The applicant's supplement (补正): the enterprise of ``body`` under another ``name``."""
    return await cases.supplement(
        stack.client, application_id, {"enterprise": {**body["enterprise"], "name": name}}
    )


def booked_and_labelled(status: StatusDocument) -> bool:
    """EMS has booked the parcel and its waybill label is drawn (nothing in flight for it)."""
    delivery = status.delivery
    return delivery is not None and delivery.state == "booked" and "waybill_label" in (status.documents or [])


def carving_the_seals(status: StatusDocument) -> bool:
    """The seal order is placed and the case waits for the shop's completion."""
    return status.stages.seal_carving.state == "waiting"


async def breach_the_seal_promise(
    stack: Stack,
    env: WorkflowEnvironment,
    application_id: str,
    *,
    skip: timedelta = PAST_THE_SEAL_PROMISE,
) -> StatusDocument:
    """With the case's seal order held by the sandbox: skip the test server's clock past the seal
    promise and wait until the breached alert is stored; the status then.

    The order cannot complete meanwhile (it is held until ``stack.finish_seal_orders``), however
    long any step takes on this machine.
    """
    await until(stack, application_id, carving_the_seals)
    # The server skips no time while an activity runs (the subsidy and its voucher, say): the
    # sleep ends once the clock has moved ``skip`` past now, all of it with the order still held.
    await env.sleep(skip)
    workflow_id = workflow_id_for(application_id)
    await eventually(
        lambda: stack.has_alert(workflow_id, "seal_carving", "breached"),
        what=f"the breached seal-carving alert of {workflow_id}",
    )
    return await until(stack, application_id, lambda s: s.stages.seal_carving.sla == "breached")


@contextmanager
def child_process(
    argv: list[str], *, env: dict[str, str], log: Path, patience: float
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` run from the project root with its output in ``log``; on the way out asked to stop
    (SIGTERM) and killed if it has not within ``patience`` seconds."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=patience)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def starter(stack: Stack, *argv: str, **ods: str) -> subprocess.CompletedProcess[str]:
    """``python starter.py …`` on the stack's Temporal and service database (``ods``: more ``ODS_``
    variables, none of the caller's), as an operator runs it. A command that needs the stack's
    worker (a query, an update) runs in a thread (``asyncio.to_thread``), the test's event loop free."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    env |= {
        "ODS_TEMPORAL_ADDRESS": stack.client.service_client.config.target_host,
        "ODS_TEMPORAL_NAMESPACE": stack.client.namespace,
        "ODS_TASK_QUEUE": stack.settings.task_queue,
        "ODS_DATA_DIR": str(stack.settings.data_dir),
        "COLUMNS": "1000",  # rich wraps at 80 columns when not on a terminal
    } | ods
    return subprocess.run(
        [sys.executable, "starter.py", *argv],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
