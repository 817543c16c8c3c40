"""Each worker serves the Temporal SDK's Prometheus metrics on ``ODS_WORKER_METRICS_ADDR``; one that
finds the port taken says so and runs without them. Real worker processes (``python worker.py``)
on the time-skipping test server, scraped over HTTP; every wait polls until the thing is there."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from devstack.stack import free_port
from domain.calendar_coverage import calendar_coverage
from infra.settings import Settings
from tests.helpers import child_process
from worker import MetricsAddressInvalid, check_metrics_addr, metrics_runtime

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 90.0


async def until(what: str, probe: Callable[[], Any], timeout: float = START_TIMEOUT_S) -> Any:
    """Poll ``probe`` (sync or async) until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def sdk_metrics(addr: str, task_queue: str) -> str | None:
    """The exporter's text once it reports a worker started on ``task_queue``, else None."""
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            resp = await http.get(f"http://{addr}/metrics")
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            if s.name.startswith("temporal_worker_start") and s.labels.get("task_queue") == task_queue:
                return resp.text
    return None


class WorkerProcess:
    def __init__(self, child: subprocess.Popen[bytes], log: Path) -> None:
        self.child = child
        self.log = log

    def lines(self) -> list[dict[str, Any]]:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{") and line.endswith("}")]

    def logged(self, event_prefix: str, *, running: bool = True) -> dict[str, Any] | None:
        """The first log line whose event starts so; fails at once if a ``running`` worker exited."""
        if running:
            self.check_alive()
        return next((e for e in self.lines() if str(e.get("event", "")).startswith(event_prefix)), None)

    def check_alive(self) -> None:
        if self.child.poll() is not None:
            raise AssertionError(f"the worker exited ({self.child.returncode}): {self.log.read_text()}")


@contextmanager
def worker_process(tmp_path: Path, name: str, **ods: str) -> Iterator[WorkerProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    env |= {"ODS_DATA_DIR": str(tmp_path / "data"), "ODS_LOG_FORMAT": "json"} | ods
    log = tmp_path / f"{name}.log"
    with child_process([sys.executable, "worker.py"], env=env, log=log, patience=60) as child:
        yield WorkerProcess(child, log)


async def test_workers_serve_sdk_metrics_and_one_on_a_taken_port_runs_without(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    addr = f"127.0.0.1:{free_port()}"
    queue = f"metrics-{uuid.uuid4()}"
    common = {
        "ODS_TEMPORAL_ADDRESS": time_skipping_env.client.service_client.config.target_host,
        "ODS_TASK_QUEUE": queue,
        "ODS_WORKER_METRICS_ADDR": addr,
    }
    with worker_process(tmp_path, "first", **common) as first:
        text = await until("the first worker's SDK metrics", lambda: sdk_metrics(addr, queue))
        assert "temporal_request" in text  # the client's calls to the server, too
        started = await until("the first worker to start", lambda: first.logged("worker started"))
        assert started["metrics"] == f"http://{addr}/metrics"
        served = first.logged("worker metrics served")
        assert served is not None and served["url"] == f"http://{addr}/metrics"
        # The calendar line every process writes at start.
        calendar = first.logged("working calendar")
        assert calendar is not None
        assert calendar["known_until"] == calendar_coverage().known_until.isoformat()
        assert calendar["level"] == ("warning" if calendar["days_ahead"] < 60 else "info")

        # A second worker on the same machine and the same address: a warning, and it still works.
        with worker_process(tmp_path, "second", **common) as second:
            started = await until("the second worker to start", lambda: second.logged("worker started"))
            assert started["metrics"] is None
            warning = second.logged("worker metrics not served")
            assert warning is not None, second.lines()
            assert warning["level"] == "warning"
            assert "the port is taken" in warning["event"]
            assert warning["address"] == addr
            assert "ODS_WORKER_METRICS_ADDR" in warning["fix"]
            second.check_alive()
            first.check_alive()
            second.child.send_signal(signal.SIGTERM)
            assert second.child.wait(timeout=60) == 0, second.log.read_text()
        # The first one still serves.
        assert await sdk_metrics(addr, queue)
        first.child.send_signal(signal.SIGTERM)
        assert first.child.wait(timeout=60) == 0, first.log.read_text()
        assert first.logged("worker stopped", running=False) is not None


def test_a_taken_port_is_a_warning_and_no_metrics(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        with caplog.at_level(logging.INFO):
            assert metrics_runtime(addr) is None  # no exception: the worker goes on without
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "worker metrics not served: the port is taken" in logged
    assert "ODS_WORKER_METRICS_ADDR" in logged


def test_zero_means_no_metrics_and_a_non_address_is_refused() -> None:
    assert Settings().worker_metrics_addr == "127.0.0.1:9464"
    assert metrics_runtime("0") is None
    assert check_metrics_addr("0.0.0.0:9464") == "0.0.0.0:9464"
    assert check_metrics_addr("[::1]:9464") == "[::1]:9464"
    for bad in ("localhost:9464", "9464", "127.0.0.1:65536", "127.0.0.1:0", "::1:9464", "127.0.0.1:"):
        with pytest.raises(MetricsAddressInvalid, match="ODS_WORKER_METRICS_ADDR"):
            check_metrics_addr(bad)


def test_a_worker_with_a_non_address_stops_with_a_configuration_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    env |= {"ODS_DATA_DIR": str(tmp_path), "ODS_WORKER_METRICS_ADDR": "localhost:9464"}
    done = subprocess.run(
        [sys.executable, "worker.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "invalid configuration" in done.stderr and "ODS_WORKER_METRICS_ADDR" in done.stderr


# A worker process re-importing the workflows as the sandbox does for each run, with the machine's
# PYTHONDONTWRITEBYTECODE on and its bytecode kept under a folder of the test's own.
_REIMPORT = """
import sys
import worker
if sys.argv[1] == "keep":
    worker.keep_workflow_bytecode()
for name in [m for m in sys.modules if m.split(".")[0] == "workflows"]:
    del sys.modules[name]
import workflows.enterprise_setup
"""


@pytest.mark.parametrize("keep", [True, False], ids=["kept", "not_kept"])
def test_a_worker_keeps_the_bytecode_of_the_workflows_the_sandbox_imports_again(
    tmp_path: Path, keep: bool
) -> None:
    prefix = tmp_path / "pycache"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(prefix)}
    done = subprocess.run(
        [sys.executable, "-c", _REIMPORT, "keep" if keep else "as-is"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.name.split(".")[0] for p in prefix.rglob("*.pyc") if p.parent.name == "workflows")
    if keep:
        assert "enterprise_setup" in written and "delivery" in written, written
    else:
        assert written == []  # the machine's setting alone: every sandbox import compiles again
