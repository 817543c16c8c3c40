"""``make up`` starts the whole stack in order, stops it in reverse on SIGTERM, and goes down
with a non-zero exit, naming the part, when one of its parts dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devstack.stack import free_port
from devstack.temporal_server import port_problem
from tests.devstack import start_devstack


class Up:
    """``python -m devstack up`` on free ports and a fresh data dir."""

    def __init__(self, tmp: Path) -> None:
        self.ports = {name: free_port() for name in ("temporal", "ui", "gateway", "sandbox")}
        gateway, sandbox = (f"127.0.0.1:{self.ports[n]}" for n in ("gateway", "sandbox"))
        self.gateway = gateway
        self.data_dir = tmp / "data"
        self.out = tmp / "devstack-up.out"
        self.env = {
            **os.environ,
            "ODS_DATA_DIR": str(self.data_dir),
            "ODS_TEMPORAL_ADDRESS": f"127.0.0.1:{self.ports['temporal']}",
            "ODS_TEMPORAL_UI_PORT": str(self.ports["ui"]),
            "ODS_GATEWAY_ADDR": gateway,
            "ODS_GATEWAY_URL": f"http://{gateway}",
            "ODS_SANDBOX_ADDR": sandbox,
            "ODS_PARTNER_URL": f"http://{sandbox}",
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await start_devstack("up", env=self.env, log=self.out)

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    async def wait_for_output(self, text: str, timeout: float = 45) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.process is not None and self.process.returncode is None, self.output()
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.output()}"
            await asyncio.sleep(0.2)

    def pids(self) -> dict[str, int]:
        found = re.findall(r"starting (.+?) … \w+ .*?\(pid (\d+)", self.output())
        return {title: int(pid) for title, pid in found}

    async def exit_code(self, timeout: float = 40) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout=timeout)

    def all_ports_free(self) -> bool:
        return all(port_problem("127.0.0.1", p) is None for p in self.ports.values())

    async def cleanup(self) -> None:
        """After a failed test: nothing may be left running."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), timeout=30)
        for pid in self.pids().values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
async def up(tmp_path: Path) -> AsyncIterator[Up]:
    stack = Up(tmp_path)
    try:
        yield stack
    finally:
        await stack.cleanup()


async def test_up_starts_every_part_in_order_and_stops_them_on_sigterm(up: Up) -> None:
    await up.start()
    await up.wait_for_output("The stack is up.")
    parts = ["Temporal dev server", "partner sandbox", "gateway", "worker", "documents worker"]
    assert list(up.pids()) == parts
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://{up.gateway}/healthz")).status_code == 200
    assert (up.data_dir / "temporal.db").exists()
    assert {p.name for p in (up.data_dir / "logs").iterdir()} >= {
        "temporal.log",
        "sandbox.log",
        "gateway.log",
        "worker.log",
        "documents.log",
    }

    assert up.process is not None
    up.process.send_signal(signal.SIGTERM)
    assert await up.exit_code() == 0, up.output()
    stopped = re.findall(r"^  (.+?) stopped$", up.output(), flags=re.MULTILINE)
    assert stopped == ["documents worker", "worker", "gateway", "partner sandbox", "Temporal dev server"]
    assert up.all_ports_free()


async def test_a_part_that_dies_takes_the_stack_down_with_a_clear_message(up: Up) -> None:
    await up.start()
    await up.wait_for_output("The stack is up.")
    os.kill(up.pids()["partner sandbox"], signal.SIGKILL)
    assert await up.exit_code() == 1, up.output()
    output = up.output()
    assert "partner sandbox was killed by signal 9 unexpectedly" in output
    assert "Last lines of" in output and "sandbox.log" in output
    assert up.all_ports_free()


async def test_a_taken_port_is_named_and_nothing_is_started(up: Up) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", up.ports["gateway"]))
        squatter.listen(1)
        await up.start()
        assert await up.exit_code() == 1
    output = up.output()
    assert f"gateway (ODS_GATEWAY_ADDR): 127.0.0.1:{up.ports['gateway']} is already in use" in output
    assert "starting" not in output.replace("starting the embedded stack", "")
