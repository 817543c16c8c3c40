"""``make temporal`` starts a dev server that keeps its state on disk and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from devstack import PROJECT_ROOT
from devstack.stack import free_port
from devstack.temporal_server import port_problem
from infra.temporal import SA_DISTRICT_CODE, SA_SETUP_STAGE, SEARCH_ATTRIBUTES
from tests.devstack import start_devstack

NAMESPACE = "ods-devstack-test"
PROBE_WORKFLOW_ID = "setup-AY-DEVSTACK-PROBE"


class DevServer:
    """``python -m devstack temporal`` as a child process, as an operator runs it."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port, self.ui_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ODS_DATA_DIR": str(data_dir),
            "ODS_TEMPORAL_ADDRESS": self.address,
            "ODS_TEMPORAL_UI_PORT": str(self.ui_port),
            "ODS_TEMPORAL_NAMESPACE": NAMESPACE,
        }
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> Client:
        self.process = await start_devstack("temporal", env=self.env, log=self.log)
        deadline = time.monotonic() + 20
        while True:
            assert self.process.returncode is None, self.output()
            try:
                return await Client.connect(self.address, namespace=NAMESPACE)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout=15)
        except TimeoutError:
            await self.kill()
            pytest.fail(f"`devstack temporal` did not stop on SIGTERM:\n{self.output()}")

    async def kill(self) -> None:
        """For a failed test: SIGTERM first, as a plain kill would orphan its Temporal child."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def custom_search_attributes(client: Client) -> dict[str, int]:
    answer = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=NAMESPACE)
    )
    return dict(answer.custom_attributes)


async def test_dev_server_keeps_its_state_across_a_restart_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    # The data dir does not exist yet: the command makes it.
    server = DevServer(tmp_path / "data", tmp_path / "devstack-temporal.out")
    try:
        client = await server.start()
        expected = {key.name: int(key.indexed_value_type) for key in SEARCH_ATTRIBUTES}
        registered = await custom_search_attributes(client)
        assert {name: registered.get(name) for name in expected} == expected
        assert registered["BreachedStages"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST

        # No worker polls this queue: the case stays open across the restart.
        await client.start_workflow(
            "EnterpriseSetup",
            id=PROBE_WORKFLOW_ID,
            task_queue="devstack-test-no-worker",
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(SA_SETUP_STAGE, "registration"),
                    SearchAttributePair(SA_DISTRICT_CODE, "410506"),
                ]
            ),
        )
        assert await server.stop() == 0, server.output()
        assert port_problem("127.0.0.1", server.port) is None, "the dev server is still running"
        assert (tmp_path / "data" / "temporal.db").exists()

        # Same db file: re-registering the search attributes must not fail the start.
        client = await server.start()
        assert {name: (await custom_search_attributes(client)).get(name) for name in expected} == expected
        description = await client.get_workflow_handle(PROBE_WORKFLOW_ID).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        found = [
            wf.id async for wf in client.list_workflows('SetupStage="registration" AND DistrictCode="410506"')
        ]
        assert found == [PROBE_WORKFLOW_ID]
        assert await server.stop() == 0, server.output()
        assert port_problem("127.0.0.1", server.port) is None
    finally:
        await server.kill()


def test_a_taken_port_is_refused_clearly(tmp_path: Path) -> None:
    server = DevServer(tmp_path, tmp_path / "devstack-temporal.out")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", server.port))
        squatter.listen(1)
        done = subprocess.run(
            [sys.executable, "-m", "devstack", "temporal"],
            cwd=PROJECT_ROOT,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert done.returncode != 0
    assert f"127.0.0.1:{server.port} is already in use" in done.stderr
