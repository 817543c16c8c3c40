"""A stack of its own for the Web UI in a browser: devstack's Temporal dev server with its Web UI
(the very ``temporal server start-dev`` command of ``make temporal``, on free ports, its UI
decoding through this gateway's ``/codec``), and ``in_process_stack``'s gateway on the port those
settings name (``ODS_UI_ORIGIN`` the UI's origin) and worker; the partner sandbox is the session's.
As in a deployed worker (worker.py), the client the worker and the test use encrypts each case
under its own data key (infra/case_keys.py), kept in the service database the gateway decodes
with, so that each decode names the case it opened."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack.stack import Stack as ProcessStack
from devstack.stack import isolated_settings
from devstack.temporal_server import codec_endpoint, web_ui_url
from infra.case_keys import CaseKeyring
from infra.settings import Settings
from infra.temporal import connect
from store.service import ServiceDatabase
from tests.conftest import Stack, in_process_stack
from tests.helpers import eventually

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


async def _ui_answers(http: httpx.AsyncClient, settings: Settings) -> bool:
    try:
        return (await http.get(f"{web_ui_url(settings)}/api/v1/settings")).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.asynccontextmanager
async def web_ui_stack(sandbox_url: str, data_dir: Path, **overrides: Any) -> AsyncIterator[WebUiStack]:
    """The stack on ``isolated_settings`` with ``overrides`` (e.g. personal and auditor tokens)."""
    settings = isolated_settings(
        data_dir, partner_url=sandbox_url, task_queue=f"browser-{uuid.uuid4()}", **overrides
    )
    # ODS_UI_ORIGIN left empty resolves to the embedded UI's origin, as in `make up`.
    assert settings.ui_origin == web_ui_url(settings), settings.ui_origin
    # The temporal CLI reads TEMPORAL_* variables too: none of the caller's.
    temporal = ProcessStack(
        settings,
        parts=("temporal",),
        env=dict.fromkeys(k for k in os.environ if k.startswith("TEMPORAL_")),
        ready_timeout_s=READY_TIMEOUT_S,
    )
    # The gateway's service database is the same (its URL is the settings'): it finds these keys.
    database = ServiceDatabase(settings.resolved_database_url)
    try:
        assert await temporal.start(asyncio.Event())
        client = await connect(settings, case_keys=CaseKeyring.from_text(settings.codec_keys, database))
        async with httpx.AsyncClient(timeout=5) as http:
            await eventually(
                lambda: _ui_answers(http, settings),
                what="the dev server's Web UI",
                timeout=READY_TIMEOUT_S,
                interval=0.2,
                alive=temporal.check_alive,
            )
        _, gateway_port = Settings.split_addr(settings.gateway_addr)
        async with in_process_stack(
            client, sandbox_url, data_dir, settings=settings, gateway_port=gateway_port
        ) as stack:
            assert stack.settings.gateway_url == settings.gateway_url, stack.settings.gateway_url
            yield WebUiStack(
                stack=stack,
                ui_url=web_ui_url(settings),
                gateway_url=stack.settings.gateway_url,
                codec_endpoint=codec_endpoint(settings),
            )
    finally:
        await temporal.stop()
        await database.close()
