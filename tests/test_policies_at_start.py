"""The policy files are read once, when a process starts: a broken one stops it there (naming the
file and the key, without a traceback), and a file changed later is not read again per request."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devstack.stack import free_port
from domain.partners import SetupInput
from infra.settings import Settings
from tests import factories
from tests.helpers import child_process, keyed_client

ROOT = Path(__file__).resolve().parent.parent
GOOD_SLA = '[limits]\nregistration = "3h"\n'
GOOD_SUBSIDY = 'cap_per_enterprise_cny = "600.00"\n'
BROKEN = {
    # variable: (file name, contents, the key the message must name)
    "ODS_SLA_POLICY": ("sla.toml", '[limits]\nregistration = "soon"\n', "limits.registration"),
    "ODS_SUBSIDY_POLICY": ("subsidy.toml", 'cap_per_enterprise_cny = "lots"\n', "cap_per_enterprise_cny"),
}
START_TIMEOUT_S = 60.0


def environment(tmp_path: Path, **ods: str) -> dict[str, str]:
    """Our environment without any ODS_* variable, then ``ods``; nothing reachable by default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    env |= {
        "ODS_DATA_DIR": str(tmp_path / "data"),
        "ODS_TEMPORAL_ADDRESS": "127.0.0.1:1",
        "ODS_GATEWAY_ADDR": f"127.0.0.1:{free_port()}",
        "COLUMNS": "1000",  # the starter prints through rich: no folding of long paths
    }
    return env | ods


def broken_file(tmp_path: Path, variable: str) -> tuple[Path, str]:
    name, text, key = BROKEN[variable]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path, key


@pytest.mark.parametrize("variable", sorted(BROKEN))
@pytest.mark.parametrize(
    "command",
    [["-m", "gateway"], ["starter.py", "submit"]],
    ids=["gateway", "starter-submit"],
)
def test_a_broken_policy_file_stops_the_process_at_start_naming_file_and_key(
    tmp_path: Path, variable: str, command: list[str]
) -> None:
    path, key = broken_file(tmp_path, variable)
    if command[0] == "starter.py":
        application = tmp_path / "application.json"
        application.write_text(json.dumps(factories.application(), ensure_ascii=False), encoding="utf-8")
        command = [*command, str(application)]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=environment(tmp_path, **{variable: str(path)}),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    output = done.stderr + done.stdout
    assert done.returncode != 0, output
    assert "invalid policy file" in output, output
    assert f"{path}: {key}:" in output, output
    assert "Traceback" not in output, output[-2000:]


async def wait_until_connected(
    gateway: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path
) -> None:
    """Until the gateway answers /healthz holding a Temporal client."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"the gateway exited {process.returncode}:\n{await asyncio.to_thread(log.read_text)}")
        try:
            answer = await gateway.get("/healthz")
            if answer.status_code == 200 and answer.json().get("temporal") == "connected":
                return
        except httpx.TransportError:
            pass
        if loop.time() > deadline:
            pytest.fail(f"the gateway did not come up:\n{await asyncio.to_thread(log.read_text)}")
        await asyncio.sleep(0.2)


async def started_with(client: Client, workflow_id: str) -> SetupInput:
    """The input the case was started with, as Temporal recorded it."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [setup] = await client.data_converter.decode(started.input.payloads, [SetupInput])
    assert isinstance(setup, SetupInput)
    return setup


async def test_the_gateway_starts_every_case_with_the_policies_it_read_at_start(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # The dev server, not the time-skipping one: cases that no worker takes would sit on the test
    # server's clock and hold up the time-skipping tests after this one.
    client = dev_env.client
    sla, subsidy = tmp_path / "sla.toml", tmp_path / "subsidy.toml"
    sla.write_text(GOOD_SLA, encoding="utf-8")
    subsidy.write_text(GOOD_SUBSIDY, encoding="utf-8")
    env = environment(
        tmp_path,
        ODS_TEMPORAL_ADDRESS=client.service_client.config.target_host,
        ODS_TEMPORAL_NAMESPACE=client.namespace,
        ODS_TASK_QUEUE=f"policies-{uuid.uuid4()}",  # no worker: the cases only start
        ODS_SLA_POLICY=str(sla),
        ODS_SUBSIDY_POLICY=str(subsidy),
    )
    (tmp_path / "data").mkdir()
    log = tmp_path / "gateway.log"
    portal = {"Authorization": "Bearer dev-portal-token"}
    workflow_ids: list[str] = []
    with child_process([sys.executable, "-m", "gateway"], env=env, log=log, patience=15) as process:
        async with httpx.AsyncClient(base_url=f"http://{env['ODS_GATEWAY_ADDR']}", timeout=30) as gateway:
            await wait_until_connected(gateway, process, log)
            try:
                # After the start, one file says something else and the other is gone: read per
                # request, the first would change the case's limit and the second fail the request.
                sla.write_text('[limits]\nregistration = "5h"\n', encoding="utf-8")
                subsidy.unlink()
                for _ in range(2):
                    body = factories.application()
                    answer = await gateway.post("/v1/applications", json=body, headers=portal)
                    assert answer.status_code == 202, answer.text
                    workflow_ids.append(answer.json()["workflow_id"])
                # The gateway encrypts each case under its own key, in its service database.
                async with keyed_client(client, Settings(data_dir=tmp_path / "data")) as reader:
                    setups = [await started_with(reader, workflow_id) for workflow_id in workflow_ids]
                for setup in setups:
                    assert setup.sla_policy.limits.registration == "3h"
                    assert setup.subsidy_policy.cap_per_enterprise_cny == Decimal("600.00")
            finally:
                for workflow_id in workflow_ids:
                    await client.get_workflow_handle(workflow_id).terminate(reason="test over")
