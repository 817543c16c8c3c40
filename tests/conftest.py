"""Real parts for tests: the time-skipping test server, the dev server, the partner sandbox and
the gateway, all in-process or from the pip-installed binaries (nothing is downloaded).

``ts_stack`` and ``dev_stack`` are ``in_process_stack`` on the time-skipping test server and on the
dev server, ``keyed_stack`` one on the dev server with a key per case; a test that needs real
processes starts devstack's ``Stack`` (devstack/stack.py), as tests/faults/harness.py and
tests/browser/stack.py do (tests/README.md)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.binaries import temporal_cli, temporal_test_server
from infra.serving import serve_in_background
from infra.settings import Settings
from infra.signing import SIGNATURE_HEADER, verify
from infra.temporal import SEARCH_ATTRIBUTES, data_converter
from store.alerts import AlertStore
from store.db import open_database
from store.service import ServiceDatabase

# Shared fixtures: one throwaway PostgreSQL server for the session, and the service database.
from tests.databases import database_url, engine, ledger  # noqa: F401
from tests.pg import postgres_database, postgres_server  # noqa: F401
from worker import running_worker

# Workers stopped by tests (and the processes they start) give the tasks in hand 10 s, not the
# 90 s a release gives them: no test waits on a call it left hanging.
os.environ.setdefault("ODS_WORKER_SHUTDOWN_S", "10")


class WebhookReceiver:
    """An alert subscriber: records signed webhook POSTs; can be 'down' (503) on demand."""

    def __init__(self, secret: str) -> None:
        self.down = False
        self.received: list[dict[str, Any]] = []
        self.refused = 0
        self.refused_ids: set[str] = set()
        """The alerts this subscriber answered 503 while it was down."""
        self.app = FastAPI()

        @self.app.post("/alerts")
        async def receive(request: Request) -> Response:
            body = await request.body()
            if self.down:
                self.refused += 1
                self.refused_ids.add(json.loads(body)["id"])
                return Response(status_code=503)
            problem = verify(secret, body, request.headers.get(SIGNATURE_HEADER))
            if problem:
                return Response(problem, status_code=401)
            self.received.append(json.loads(body))
            return Response(status_code=204)


@dataclass
class Stack:
    """One Temporal, a worker, the gateway on that Temporal and the shared partner sandbox."""

    client: Client
    settings: Settings
    gateway: httpx.AsyncClient
    sandbox: httpx.AsyncClient
    alerts: AlertStore
    webhooks: WebhookReceiver

    @property
    def portal(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.portal_token}"}

    async def effects(self) -> dict[str, dict[str, int]]:
        resp = await self.sandbox.get("/_sandbox/effects")
        resp.raise_for_status()
        return resp.json()  # type: ignore[no-any-return]

    async def behave(self, **parts: dict[str, Any]) -> None:
        resp = await self.sandbox.put("/_sandbox/behaviour", json=parts)
        resp.raise_for_status()

    @asynccontextmanager
    async def seal_orders_held(self) -> AsyncIterator[None]:
        """Seal orders taken meanwhile are held by the shop until ``finish_seal_orders``."""
        await self.behave(seal_shop={"hold": True})
        try:
            yield
        finally:
            await self.behave(seal_shop={"hold": False})

    async def finish_seal_orders(self, application_id: str) -> list[dict[str, Any]]:
        """Finish carving every held seal order of a case (the sandbox control); the orders."""
        resp = await self.sandbox.get("/seal-shop/v1/orders", params={"application_id": application_id})
        resp.raise_for_status()
        carving = [o for o in resp.json()["orders"] if o["status"] == "carving"]
        assert carving, f"no seal order of {application_id} is being carved: {resp.json()}"
        finished = []
        for order in carving:
            done = await self.sandbox.post(f"/_sandbox/seal-shop/orders/{order['order_id']}/finish")
            assert done.status_code == 200, done.text
            finished.append(done.json())
        return finished

    @asynccontextmanager
    async def parcels_held(self) -> AsyncIterator[None]:
        """Waybills booked meanwhile are held by EMS: each tracking step (the collection first)
        waits for ``advance_parcel``, never for a time."""
        await self.behave(postal={"hold": True})
        try:
            yield
        finally:
            await self.behave(postal={"hold": False})

    async def advance_parcel(self, waybill_no: str, *, to: str) -> dict[str, Any]:
        """Move a held waybill on, one step (and its signed callback) at a time, until its status
        is ``to`` (the sandbox control); the waybill then. Fails if it cannot get there."""
        for _ in range(8):
            moved = await self.sandbox.post(f"/_sandbox/postal/waybills/{waybill_no}/advance")
            assert moved.status_code == 200, f"{waybill_no} cannot move on to {to}: {moved.text}"
            waybill: dict[str, Any] = moved.json()
            if waybill["status"] == to:
                return waybill
        raise AssertionError(f"{waybill_no} never reached {to}: {waybill}")

    async def alerts_of(self, workflow_id: str) -> list[tuple[str, str]]:
        """(stage, level) of every alert stored for one case, oldest first."""
        found: list[tuple[str, str]] = []
        cursor = None
        while True:
            page, cursor = await self.alerts.list(after=cursor, limit=1000)
            found += [(a.stage, a.level) for a in page if a.workflow_id == workflow_id]
            if cursor is None:
                return found

    async def alert_ids_of(self, workflow_id: str) -> set[str]:
        """The id of every alert stored for one case."""
        found: set[str] = set()
        cursor = None
        while True:
            page, cursor = await self.alerts.list(after=cursor, limit=1000)
            found |= {a.id for a in page if a.workflow_id == workflow_id}
            if cursor is None:
                return found

    async def has_alert(self, workflow_id: str, stage: str, level: str) -> bool:
        return (stage, level) in await self.alerts_of(workflow_id)

    async def reset_sandbox(self) -> None:
        (await self.sandbox.post("/_sandbox/reset")).raise_for_status()
        await self.behave(seal_shop={"carving_s": 0.05}, postal={"collect_after_s": 0.05})


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ods-data")


@pytest_asyncio.fixture(scope="session")
async def sandbox_url() -> AsyncIterator[str]:
    from partner_sandbox.app import create_app as create_sandbox

    async with serve_in_background(create_sandbox(Settings())) as url:
        yield url


@pytest_asyncio.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of the test's own (it starts in about 0.1 s). A shared one
    stops skipping time for good once a test leaves it a child completing after its parent or an
    activity nobody polls: every later timer test then timed out."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()), data_converter=data_converter()
    )
    # The test server knows no custom search attributes until they are registered.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                k.name: IndexedValueType.ValueType(k.indexed_value_type) for k in SEARCH_ATTRIBUTES
            },
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env(data_dir: Path) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        dev_server_database_filename=str(data_dir / "temporal.db"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=data_converter(),
        ui=False,
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--sqlite-pragma",
            "journal_mode=WAL",
            "--sqlite-pragma",
            "synchronous=NORMAL",
        ],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def in_process_stack(
    client: Client,
    sandbox_url: str,
    data_dir: Path,
    *,
    settings: Settings | None = None,
    gateway_port: int = 0,
) -> AsyncIterator[Stack]:
    """The gateway (on ``gateway_port``; 0: any free one), a worker and an alert subscriber in
    this process, on ``client``'s Temporal and the sandbox at ``sandbox_url``; ``settings``
    (default: a task queue of their own, state in ``data_dir``) with the URLs they end up on."""
    from gateway.app import create_app as create_gateway

    settings = settings or Settings(task_queue=f"test-{uuid.uuid4()}", data_dir=data_dir)
    settings = settings.model_copy(update={"partner_url": sandbox_url})
    receiver = WebhookReceiver(settings.webhook_secret)
    db_engine = await open_database(settings.resolved_database_url)
    store = AlertStore(db_engine)
    try:
        async with (
            serve_in_background(receiver.app) as receiver_url,
            serve_in_background(
                create_gateway(settings, client=client, database=ServiceDatabase.on(store.engine)),
                port=gateway_port,
            ) as gateway_url,
        ):
            settings = settings.model_copy(update={"alert_webhooks": f"{receiver_url}/alerts"})
            settings = settings.model_copy(update={"gateway_url": gateway_url})
            async with (
                running_worker(client, settings),
                # Idle connections dropped before uvicorn's 5 s keep-alive ends them: with both at
                # 5 s (httpx's default), a request after about 5 s of quiet can meet a closing
                # connection (httpx.ReadError).
                httpx.AsyncClient(
                    base_url=gateway_url, timeout=30, limits=httpx.Limits(keepalive_expiry=2)
                ) as gateway,
                httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox,
            ):
                stack = Stack(
                    client=client,
                    settings=settings,
                    gateway=gateway,
                    sandbox=sandbox,
                    alerts=store,
                    webhooks=receiver,
                )
                await stack.reset_sandbox()
                yield stack
    finally:
        await db_engine.dispose()


@pytest_asyncio.fixture
async def ts_stack(
    time_skipping_env: WorkflowEnvironment, sandbox_url: str, data_dir: Path
) -> AsyncIterator[Stack]:
    async with in_process_stack(time_skipping_env.client, sandbox_url, data_dir) as stack:
        yield stack


@pytest_asyncio.fixture(scope="session")
async def dev_stack(dev_env: WorkflowEnvironment, sandbox_url: str, data_dir: Path) -> AsyncIterator[Stack]:
    async with in_process_stack(dev_env.client, sandbox_url, data_dir) as stack:
        yield stack


KEYED_AUDITOR_TOKEN = "wang-fang-auditor-token-0000001"


@pytest_asyncio.fixture
async def keyed_stack(dev_env: WorkflowEnvironment, sandbox_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """``in_process_stack`` on the dev server whose client encrypts each case under its own key
    (infra/case_keys.py), as a deployed process does; an auditor's token ``KEYED_AUDITOR_TOKEN``."""
    from tests.helpers import keyed_client  # it imports this module

    settings = Settings(
        task_queue=f"keyed-{uuid.uuid4()}",
        data_dir=tmp_path,
        auditor_tokens=f"wang.fang:{KEYED_AUDITOR_TOKEN}",
    )
    async with (
        keyed_client(dev_env.client, settings) as client,
        in_process_stack(client, sandbox_url, tmp_path, settings=settings) as stack,
    ):
        await stack.behave(seal_shop={"carving_s": 0.05}, postal={"collect_after_s": 0.05})
        yield stack
