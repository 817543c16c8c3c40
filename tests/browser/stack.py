"""A stack of its own for the Web UI in a browser: the Temporal dev server with its Web UI (the
very ``temporal server start-dev`` command of ``make temporal``, on free ports, its UI decoding
through this gateway's ``/codec``), the gateway on a fixed free port whose ``ODS_UI_ORIGIN`` is
that UI's origin, and a worker; the partner sandbox is the session's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from devstack.temporal_server import codec_endpoint, temporal_server_command, web_ui_url
from infra.serving import serve_in_background
from infra.settings import Settings
from infra.temporal import connect
from store.alerts import AlertStore
from store.db import open_database
from store.service import ServiceDatabase
from tests.conftest import Stack, WebhookReceiver
from worker import running_worker

READY_TIMEOUT_S = 60.0


@dataclass
class WebUiStack:
    stack: Stack
    ui_url: str
    """The Web UI, ``http://127.0.0.1:<ui port>`` (also the gateway's ``ui_origin``)."""
    gateway_url: str
    codec_endpoint: str
    """What the UI was started with (``--ui-codec-endpoint``): ``<gateway>/codec``."""

    @property
    def settings(self) -> Settings:
        return self.stack.settings


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nobody listens on now (each bound once, then let go)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def _ready(settings: Settings, process: asyncio.subprocess.Process, log: Path) -> Client:
    """The client once the dev server answers for its namespace and its UI serves its settings."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    ui_settings = f"{web_ui_url(settings)}/api/v1/settings"
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            assert process.returncode is None, f"the dev server ended ({process.returncode}):\n{_tail(log)}"
            try:
                client = await asyncio.wait_for(connect(settings), timeout=5)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=settings.temporal_namespace)
                )
                if (await http.get(ui_settings)).status_code == 200:
                    return client
            except Exception:  # not up yet: connection refused, namespace not there yet
                pass
            assert loop.time() < deadline, (
                f"the dev server is not ready after {READY_TIMEOUT_S} s:\n{_tail(log)}"
            )
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def web_ui_stack(sandbox_url: str, data_dir: Path) -> AsyncIterator[WebUiStack]:
    grpc_port, ui_port, gateway_port = free_ports(3)
    settings = Settings(
        temporal_address=f"127.0.0.1:{grpc_port}",
        temporal_ui_port=ui_port,
        gateway_url=f"http://127.0.0.1:{gateway_port}",
        partner_url=sandbox_url,
        task_queue=f"browser-{uuid.uuid4()}",
        data_dir=data_dir,
    )
    # ODS_UI_ORIGIN left empty resolves to the embedded UI's origin, as in `make up`.
    assert settings.ui_origin == web_ui_url(settings), settings.ui_origin
    log = data_dir / "temporal.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *temporal_server_command(settings),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        client = await _ready(settings, process, log)
        from gateway.app import create_app as create_gateway

        engine = await open_database(settings.resolved_database_url)
        store = AlertStore(engine)
        try:
            async with (
                serve_in_background(
                    create_gateway(settings, client=client, database=ServiceDatabase.on(store.engine)),
                    port=gateway_port,
                ) as gateway_url,
                running_worker(client, settings),
                httpx.AsyncClient(base_url=gateway_url, timeout=30) as gateway,
                httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox,
            ):
                assert gateway_url == settings.gateway_url, (gateway_url, settings.gateway_url)
                stack = Stack(
                    client=client,
                    settings=settings,
                    gateway=gateway,
                    sandbox=sandbox,
                    alerts=store,
                    webhooks=WebhookReceiver(settings.webhook_secret),
                )
                await stack.reset_sandbox()
                yield WebUiStack(
                    stack=stack,
                    ui_url=web_ui_url(settings),
                    gateway_url=gateway_url,
                    codec_endpoint=codec_endpoint(settings),
                )
        finally:
            await engine.dispose()
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()
