"""``make up``: the whole embedded stack as child processes, started in order, stopped in reverse.

Temporal dev server, partner sandbox, gateway, one worker for the cases and one for their
documents. Each child gets our interpreter and environment (and its own variables), runs from the
project root, and writes to ``$ODS_DATA_DIR/logs/<part>.log`` so the terminal stays readable.
A part that dies takes the stack down with a non-zero exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from rich.console import Console
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
)
from temporalio.client import Client

from devstack import PROJECT_ROOT
from devstack.temporal_server import (
    data_dir,
    port_problem,
    temporal_db_path,
    temporal_host_port,
    temporal_ports,
    temporal_server_command,
    web_ui_url,
)
from domain.task_queues import documents_task_queue
from infra.http import http_client
from infra.settings import Settings
from infra.temporal import connect, ensure_search_attributes

STOP_TIMEOUT_S = 15.0  # the worker takes up to 10 s to finish the tasks in hand
TAIL_LINES = 25
PROBE_INTERVAL_S = 0.25
# SIGHUP too: a closed terminal must not leave the parts (each in its own session) running.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StackError(Exception):
    """A part could not start or died; the message says which and why."""


@dataclass
class Part:
    """One process of the stack and how to tell it is ready."""

    name: str  # the log file's name
    title: str
    command: list[str]
    ports: list[tuple[str, int, str]]
    ready_timeout_s: float
    # None: ready as soon as it runs; else one probe, True once ready.
    probe: Callable[[Stack, Running], Awaitable[bool]] | None = None
    # Not confirmed in time but still running: go on with a warning instead of failing.
    soft_ready: bool = False
    # Variables of this part only, over the stack's environment.
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Running:
    part: Part
    process: asyncio.subprocess.Process
    log_path: Path
    log_offset: int
    started: float = field(default_factory=time.monotonic)

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last lines this run of the part wrote to its log."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(self.log_offset)
                text = f.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(could not read {self.log_path}: {exc})"
        last = text.rstrip("\n").splitlines()[-lines:]
        return "\n".join(last) if last else "(no output)"


def _http_ok(addr: str, path: str) -> Callable[[Stack, Running], Awaitable[bool]]:
    async def probe(stack: Stack, _running: Running) -> bool:
        try:
            answer = await stack.http.get(f"http://{addr}{path}")
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    return probe


async def _temporal_ready(stack: Stack, _running: Running) -> bool:
    try:
        client = await asyncio.wait_for(connect(stack.settings), timeout=5)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=stack.settings.temporal_namespace), timeout=None
        )
        # On an existing temporal.db too: the command line's --search-attribute adds none there.
        await ensure_search_attributes(client, stack.settings.temporal_namespace)
    except Exception:
        return False
    stack.client = client
    return True


def worker_polling(queue: str, kind: TaskQueueType.ValueType) -> Callable[[Stack, Running], Awaitable[bool]]:
    """Ready once a poller of this very process (identity ``<pid>@host``) is on the task queue."""

    async def probe(stack: Stack, running: Running) -> bool:
        if stack.client is None:
            return False
        try:
            answer = await stack.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=stack.settings.temporal_namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=kind,
                )
            )
        except Exception:
            return False
        prefix = f"{running.process.pid}@"
        return any(p.identity.startswith(prefix) for p in answer.pollers)

    return probe


def documents_worker_metrics_addr(addr: str) -> str:
    """The documents worker's metrics address beside the cases worker's: the next port (or none)."""
    host, colon, port = addr.strip().rpartition(":")
    if not colon or not port.isdigit() or int(port) >= 65535:
        return "0"
    return f"{host}:{int(port) + 1}"


def stack_parts(settings: Settings) -> list[Part]:
    python = sys.executable
    sandbox_host, sandbox_port = Settings.split_addr(settings.sandbox_addr)
    gateway_host, gateway_port = Settings.split_addr(settings.gateway_addr)
    return [
        Part(
            name="temporal",
            title="Temporal dev server",
            command=temporal_server_command(settings),
            ports=temporal_ports(settings),
            ready_timeout_s=60,
            probe=_temporal_ready,
        ),
        Part(
            name="sandbox",
            title="partner sandbox",
            command=[python, "-m", "partner_sandbox"],
            ports=[(sandbox_host, sandbox_port, "partner sandbox (ODS_SANDBOX_ADDR)")],
            ready_timeout_s=30,
            probe=_http_ok(settings.sandbox_addr, "/_sandbox/behaviour"),
        ),
        Part(
            name="gateway",
            title="gateway",
            command=[python, "-m", "gateway"],
            ports=[(gateway_host, gateway_port, "gateway (ODS_GATEWAY_ADDR)")],
            ready_timeout_s=30,
            probe=_http_ok(settings.gateway_addr, "/healthz"),
        ),
        Part(
            name="worker",
            title="worker",
            command=[python, "worker.py", "--role", "cases"],
            ports=[],
            ready_timeout_s=20,
            probe=worker_polling(settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
            soft_ready=True,
        ),
        Part(
            name="documents",
            title="documents worker",
            command=[python, "worker.py", "--role", "documents"],
            ports=[],
            ready_timeout_s=20,
            probe=worker_polling(
                documents_task_queue(settings.task_queue), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
            ),
            soft_ready=True,
            env={"ODS_WORKER_METRICS_ADDR": documents_worker_metrics_addr(settings.worker_metrics_addr)},
        ),
    ]


class Stack:
    """The running stack. ``start`` brings the parts up in order; ``stop`` takes them down."""

    def __init__(self, settings: Settings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.data_dir = data_dir(settings)
        self.log_dir = self.data_dir / "logs"
        self.parts = stack_parts(settings)
        self.running: list[Running] = []
        self.client: Client | None = None
        self.http = http_client(timeout=2.0)
        self.stopping = False
        self.force_stop = asyncio.Event()
        self._env = {**os.environ, "ODS_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1"}

    def check_ports(self) -> None:
        taken = [
            f"{what}: {problem}"
            for part in self.parts
            for host, port, what in part.ports
            if (problem := port_problem(host, port))
        ]
        if taken:
            raise StackError(
                "cannot start the stack, a port is not free:\n  "
                + "\n  ".join(taken)
                + "\n(is another stack or `make temporal` already running? "
                "Stop it, or set the ODS_* addresses to free ports)"
            )

    async def start(self, stop_requested: asyncio.Event) -> bool:
        """Start every part in order; False if a stop was asked for before all were ready."""
        self.check_ports()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        temporal_db_path(self.settings).parent.mkdir(parents=True, exist_ok=True)
        self.console.print(
            f"[bold]One-Day Setup devstack[/]: starting the embedded stack; "
            f"each part's output goes to [cyan]{self._shown(self.log_dir)}/<part>.log[/]"
        )
        for part in self.parts:
            running = await self._spawn(part)
            if not await self._wait_ready(running, stop_requested):
                return False
        return True

    async def _spawn(self, part: Part) -> Running:
        log_path = self.log_dir / f"{part.name}.log"
        log: IO[bytes]
        with log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S%z")
            log.write(f"\n===== devstack: {part.title} starting at {stamp} =====\n".encode())
            log.flush()
            offset = log.tell()
            process = await asyncio.create_subprocess_exec(
                *part.command,
                cwd=PROJECT_ROOT,
                env={**self._env, **part.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                # Its own process group: Ctrl-C reaches us only, and we stop parts in order.
                start_new_session=True,
            )
        running = Running(part, process, log_path, offset)
        self.running.append(running)
        return running

    async def _wait_ready(self, running: Running, stop_requested: asyncio.Event) -> bool:
        part = running.part
        self.console.print(f"  starting {part.title} … ", end="")
        deadline = running.started + part.ready_timeout_s
        while True:
            if stop_requested.is_set():
                self.console.print("[yellow]interrupted[/]")
                return False
            if running.process.returncode is not None:
                self.console.print("[red]failed[/]")
                raise StackError(self.death_report(running, "while starting"))
            if part.probe is None or await part.probe(self, running):
                took = time.monotonic() - running.started
                self.console.print(
                    f"[green]ready[/] in {took:.1f} s  "
                    f"[dim](pid {running.process.pid}, log {self._shown(running.log_path)})[/]"
                )
                return True
            if time.monotonic() > deadline:
                if part.soft_ready:
                    self.console.print(
                        f"[yellow]running[/] [dim](pid {running.process.pid}; not yet seen "
                        f"polling {self.settings.task_queue}; log {self._shown(running.log_path)})[/]"
                    )
                    return True
                self.console.print("[red]not ready[/]")
                raise StackError(
                    f"{part.title} is not ready after {part.ready_timeout_s:.0f} s.\n"
                    f"Last lines of {running.log_path}:\n{running.tail()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_requested.wait(), timeout=PROBE_INTERVAL_S)

    def death_report(self, running: Running, when: str) -> str:
        code = running.process.returncode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited {code}"
        return f"{running.part.title} {how} {when}.\nLast lines of {running.log_path}:\n{running.tail()}"

    async def first_death(self) -> Running:
        """Wait until any running part ends (it should not while the stack is up)."""
        waits = {asyncio.ensure_future(r.process.wait()): r for r in self.running}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return waits[next(iter(done))]

    async def stop(self) -> None:
        """Stop every started part in reverse order: SIGTERM, then SIGKILL after a timeout."""
        self.stopping = True
        if self.running:
            self.console.print("[bold]Stopping the stack[/] …")
        for running in reversed(self.running):
            await self._stop_one(running)
        self.running.clear()
        await self.http.aclose()

    async def _stop_one(self, running: Running) -> None:
        process, title = running.process, running.part.title
        if process.returncode is not None:
            self.console.print(f"  {title} had already ended ({process.returncode})")
            return
        self._signal_group(process.pid, signal.SIGTERM)
        force = asyncio.ensure_future(self.force_stop.wait())
        ended = asyncio.ensure_future(process.wait())
        try:
            await asyncio.wait({force, ended}, timeout=STOP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            force.cancel()
        if process.returncode is None:
            self._signal_group(process.pid, signal.SIGKILL)
            await process.wait()
            self.console.print(f"  {title} [yellow]killed[/] (did not stop on SIGTERM)")
        else:
            self.console.print(f"  {title} stopped")
        ended.cancel()

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        # Each part leads its own process group (start_new_session); anything it spawned goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def mismatches(self) -> list[str]:
        """Addresses that would make the parts miss each other (honoured, but worth a word)."""
        s, notes = self.settings, []
        if s.partner_url.rstrip("/") != f"http://{s.sandbox_addr}":
            notes.append(
                f"ODS_PARTNER_URL is {s.partner_url}, not this sandbox (http://{s.sandbox_addr}): "
                "the worker will call the partners there"
            )
        if s.gateway_url.rstrip("/") != f"http://{s.gateway_addr}":
            notes.append(
                f"ODS_GATEWAY_URL is {s.gateway_url}, not this gateway (http://{s.gateway_addr}): "
                "the sandbox will send its callbacks there"
            )
        return notes

    def where(self) -> None:
        s = self.settings
        host, port = temporal_host_port(s)
        rows = [
            ("Temporal gRPC", f"{host}:{port}  (namespace {s.temporal_namespace})"),
            ("Temporal Web UI", web_ui_url(s)),
            ("gateway", f"http://{s.gateway_addr}  (OpenAPI at /openapi.json)"),
            ("partner sandbox", f"http://{s.sandbox_addr}"),
            ("worker", f"task queue {s.task_queue}"),
            ("data dir", f"{self._shown(self.data_dir)}  (Temporal state in temporal.db)"),
            ("logs", f"{self._shown(self.log_dir)}/<part>.log"),
        ]
        self.console.print("[bold green]The stack is up.[/]")
        for label, value in rows:
            self.console.print(f"  {label:<16} [cyan]{value}[/]")
        for note in self.mismatches():
            self.console.print(f"  [yellow]note:[/] {note}")

    @staticmethod
    def _shown(path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(Path.cwd()))
        return str(path)


AfterReady = Callable[[Stack], Coroutine[Any, Any, None]]


async def serve(settings: Settings, console: Console, after_ready: AfterReady | None = None) -> int:
    """Run the stack until Ctrl-C/SIGTERM (0) or until a part dies (1).

    ``after_ready`` (``make run``'s submit-and-follow) runs once the stack is up; the stack
    stays up after it returns or fails.
    """
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    stack = Stack(settings, console)

    def on_signal(signum: int) -> None:
        if stop_requested.is_set() and stack.stopping:
            console.print(f"[yellow]{signal.Signals(signum).name} again: killing what is left[/]")
            stack.force_stop.set()
        stop_requested.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)

    code = 0
    follow: asyncio.Task[None] | None = None
    try:
        if await stack.start(stop_requested):
            stack.where()
            console.print("Ctrl-C (or SIGTERM) stops everything.")
            if after_ready is not None:
                follow = asyncio.create_task(after_ready(stack))
                follow.add_done_callback(lambda t: _report_follow_failure(t, console))
            stopped = asyncio.ensure_future(stop_requested.wait())
            died = asyncio.ensure_future(stack.first_death())
            done, _ = await asyncio.wait({stopped, died}, return_when=asyncio.FIRST_COMPLETED)
            if died in done:
                report = stack.death_report(died.result(), "unexpectedly")
                console.print(report, style="bold red", markup=False, highlight=False)
                code = 1
            stopped.cancel()
            died.cancel()
    except StackError as exc:
        console.print(f"devstack: {exc}", style="bold red", markup=False, highlight=False)
        code = 1
    finally:
        if follow is not None and not follow.done():
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow
        await stack.stop()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    console.print("devstack: stopped" + ("" if code == 0 else " after a failure"))
    return code


def _report_follow_failure(task: asyncio.Task[None], console: Console) -> None:
    if task.cancelled() or task.exception() is None:
        return
    exc = task.exception()
    console.print(
        f"Following the samples failed: {type(exc).__name__}: {exc}",
        style="bold red",
        markup=False,
        highlight=False,
    )
    console.print("The stack stays up; Ctrl-C stops it.")
