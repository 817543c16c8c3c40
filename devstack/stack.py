"""``make up``: the whole embedded stack as child processes, started in order, stopped in reverse.

Temporal dev server, partner sandbox, gateway, one worker for the cases and one for their
documents. Each child gets our interpreter and environment (and its own variables), runs from the
project root, and writes to ``$ODS_DATA_DIR/logs/<part>.log`` so the terminal stays readable.
A part that dies takes the stack down with a non-zero exit.

The same ``Stack``, with options, is what ``make bench`` (bench/stack.py) and the tests that need
real processes start: only some parts, one worker of every role, Temporal without its Web UI, a
stack of its own on free ports (``isolated_settings``) whose children read nothing of the caller's
``ODS_*`` configuration (``isolated``), parts started, stopped and killed one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
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
from infra.case_keys import CaseKeyring
from infra.http import http_client
from infra.settings import Settings
from infra.temporal import connect, ensure_search_attributes
from store.service import ServiceDatabase

STOP_TIMEOUT_S = 15.0  # the worker takes up to 10 s to finish the tasks in hand
TAIL_LINES = 25
PROBE_INTERVAL_S = 0.25
# SIGHUP too: a closed terminal must not leave the parts (each in its own session) running.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


HOST = "127.0.0.1"
# One worker of each role (worker.py --role), as ``make up`` runs them; ("all",): one that does both.
WORKER_ROLES = ("cases", "documents")


class StackError(Exception):
    """A part could not start or died; the message says which and why."""


def free_port(also_next: bool = False) -> int:
    """A loopback port nobody listens on now (with ``also_next``: and the one after it too)."""
    while True:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if not also_next or port >= 65535:
            return port
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port + 1))
            except OSError:
                continue
        return port


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


def isolated_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a stack of its own: Temporal, its Web UI, the gateway and the sandbox each on a
    free loopback port (the URLs pointing at them), state in ``data_dir``; ``overrides`` on top."""
    temporal, ui, gateway, sandbox = _free_ports(4)
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "temporal_address": f"{HOST}:{temporal}",
        "temporal_ui_port": ui,
        "gateway_addr": f"{HOST}:{gateway}",
        "gateway_url": f"http://{HOST}:{gateway}",
        "sandbox_addr": f"{HOST}:{sandbox}",
        "partner_url": f"http://{HOST}:{sandbox}",
    }
    return Settings(**{**values, **overrides})


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``ODS_*`` variables under which a process reads exactly ``settings``."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is not None:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            env[f"ODS_{name.upper()}"] = text
    return env


def settings_with(settings: Settings, env: Mapping[str, str | None]) -> Settings:
    """``settings`` with the ``ODS_*`` variables of ``env`` over them (None: the default)."""
    values = settings.model_dump()
    for variable, value in env.items():
        name = variable.removeprefix("ODS_").lower()
        if variable.startswith("ODS_") and name in Settings.model_fields:
            values[name] = Settings.model_fields[name].default if value is None else value
    return Settings(**values)


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
    number: int = 1  # the how-manieth start of this part in its stack
    started: float = field(default_factory=time.monotonic)
    # False once it is stopped or killed on purpose: its end is then no death.
    meant_to_run: bool = True

    @property
    def title(self) -> str:
        return self.part.title if self.number == 1 else f"{self.part.title} #{self.number}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, since: int = 0) -> str:
        """What this run of the part wrote to its log (from byte ``since`` of the file on, if later)."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(max(self.log_offset, since))
                return f.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(could not read {self.log_path}: {exc})"

    def tail(self, lines: int = TAIL_LINES, since: int = 0) -> str:
        """The last lines this run of the part wrote to its log."""
        last = self.output(since).rstrip("\n").splitlines()[-lines:]
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
        client = await asyncio.wait_for(connect(stack.settings, case_keys=stack.case_keys), timeout=5)
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


def _http_part(name: str, title: str, module: str, addr: str, variable: str, ready_path: str) -> Part:
    """``python -m <module>`` listening on ``addr`` (set by ``variable``), ready once
    ``ready_path`` answers 200."""
    host, port = Settings.split_addr(addr)
    return Part(
        name=name,
        title=title,
        command=[sys.executable, "-m", module],
        ports=[(host, port, f"{title} ({variable})")],
        ready_timeout_s=30,
        probe=_http_ok(addr, ready_path),
    )


def worker_part(settings: Settings, role: str) -> Part:
    """``worker.py --role <role>``: ``worker`` for the cases' role (or all roles), ``documents``."""
    if role == "documents":
        return Part(
            name="documents",
            title="documents worker",
            command=[sys.executable, "worker.py", "--role", "documents"],
            ports=[],
            ready_timeout_s=20,
            probe=worker_polling(
                documents_task_queue(settings.task_queue), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
            ),
            soft_ready=True,
            env={"ODS_WORKER_METRICS_ADDR": documents_worker_metrics_addr(settings.worker_metrics_addr)},
        )
    return Part(
        name="worker",
        title="worker",
        command=[sys.executable, "worker.py", "--role", role],
        ports=[],
        ready_timeout_s=20,
        probe=worker_polling(settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        soft_ready=True,
    )


def stack_parts(
    settings: Settings, worker_roles: Sequence[str] = WORKER_ROLES, web_ui: bool = True
) -> list[Part]:
    """Every part of the stack, in starting order: a worker part per role of ``worker_roles``;
    without ``web_ui``, the dev server starts headless (no Web UI, no UI port)."""
    temporal = temporal_server_command(settings)
    return [
        Part(
            name="temporal",
            title="Temporal dev server",
            command=temporal if web_ui else [*temporal, "--headless"],
            ports=temporal_ports(settings) if web_ui else temporal_ports(settings)[:1],
            ready_timeout_s=60,
            probe=_temporal_ready,
        ),
        _http_part(
            "sandbox",
            "partner sandbox",
            "partner_sandbox",
            settings.sandbox_addr,
            "ODS_SANDBOX_ADDR",
            "/_sandbox/behaviour",
        ),
        _http_part("gateway", "gateway", "gateway", settings.gateway_addr, "ODS_GATEWAY_ADDR", "/healthz"),
        *(worker_part(settings, role) for role in worker_roles),
    ]


class Stack:
    """The running stack. ``start`` brings the parts up in order; ``stop`` takes them down.

    Options: ``parts``, the names of the parts to run (default: all); ``worker_roles`` and
    ``web_ui`` as for ``stack_parts``; ``env``, variables over every child's (None: removed);
    ``isolated``, children see none of the caller's ``ODS_*`` variables, only ``settings``'
    (``settings_env``); ``ready_timeout_s``, every part must be confirmed ready within it.
    """

    def __init__(
        self,
        settings: Settings,
        console: Console | None = None,
        *,
        parts: Iterable[str] | None = None,
        worker_roles: Sequence[str] = WORKER_ROLES,
        web_ui: bool = True,
        env: Mapping[str, str | None] | None = None,
        isolated: bool = False,
        ready_timeout_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.console = console or Console(quiet=True)
        self.data_dir = data_dir(settings)
        self.log_dir = self.data_dir / "logs"
        self.parts = stack_parts(settings, worker_roles, web_ui)
        if parts is not None:
            wanted = list(parts)
            unknown = set(wanted) - {p.name for p in self.parts}
            if unknown:
                raise StackError(f"devstack has no part named {', '.join(sorted(unknown))}")
            self.parts = [p for p in self.parts if p.name in wanted]
        self.running: list[Running] = []
        self.started: list[Running] = []  # every run of every part, in order, stopped ones too
        # The client decodes what the worker processes encrypt: each case under its own data key, read
        # from the stack's service database as the gateway reads it (infra/case_keys.py).
        self.database = ServiceDatabase(
            settings.model_copy(update={"data_dir": self.data_dir}).resolved_database_url
        )
        self.case_keys = CaseKeyring.from_text(settings.codec_keys, self.database)
        self.client: Client | None = None
        self.http = http_client(timeout=2.0)
        self.stopping = False
        self.force_stop = asyncio.Event()
        self.ready_timeout_s = ready_timeout_s
        if isolated:
            inherited = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
            base = {**inherited, **settings_env(settings)}
        else:
            base = dict(os.environ)
        base |= {"ODS_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1"}
        for name, value in (env or {}).items():
            if value is None:
                base.pop(name, None)
            else:
                base[name] = value
        self._env = base

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

    def part(self, name: str) -> Part:
        for part in self.parts:
            if part.name == name:
                return part
        raise StackError(f"this stack has no part named {name!r}")

    def latest(self, name: str) -> Running | None:
        """The last run of the part ``name`` (running or not), if it was ever started."""
        return next((r for r in reversed(self.started) if r.part.name == name), None)

    def is_running(self, name: str) -> bool:
        latest = self.latest(name)
        return latest is not None and latest.meant_to_run and latest.process.returncode is None

    async def start_part(self, name: str) -> Running:
        """Start the part ``name`` (again, after a stop) and wait until it is ready."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        running = await self._spawn(self.part(name))
        if not await self._wait_ready(running, asyncio.Event()):
            raise StackError(f"{running.title} did not start")
        return running

    async def stop_part(self, name: str, *, kill: bool = False, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, as an operator stops a part (``kill``: SIGKILL, it dies mid-flight, without a
        word to anyone); its return code. A part that does not end in time is killed: StackError."""
        running = self.latest(name)
        if running is None:
            raise StackError(f"{name} was never started")
        running.meant_to_run = False
        if running in self.running:
            self.running.remove(running)
        self._signal_group(running.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            return await asyncio.wait_for(running.process.wait(), timeout=timeout)
        except TimeoutError:
            self._signal_group(running.pid, signal.SIGKILL)
            await running.process.wait()
            raise StackError(
                f"{running.title} did not stop within {timeout:.0f} s of SIGTERM:\n{running.tail()}"
            ) from None

    def check_alive(self) -> None:
        """Raise StackError when a part that should be running has died."""
        for running in self.running:
            if running.meant_to_run and running.process.returncode is not None:
                raise StackError(self.death_report(running, "unexpectedly"))

    async def kill_all(self) -> None:
        """SIGKILL every process this stack ever started (each with its whole session)."""
        for running in self.started:
            if running.process.returncode is None:
                self._signal_group(running.pid, signal.SIGKILL)
        for running in self.started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(running.process.wait(), timeout=10)
        self.running.clear()
        await self.http.aclose()
        await self.database.close()

    async def _spawn(self, part: Part) -> Running:
        log_path = self.log_dir / f"{part.name}.log"
        number = 1 + sum(1 for r in self.started if r.part.name == part.name)
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
        running = Running(part, process, log_path, offset, number)
        self.running.append(running)
        self.started.append(running)
        return running

    async def _wait_ready(self, running: Running, stop_requested: asyncio.Event) -> bool:
        part = running.part
        self.console.print(f"  starting {running.title} … ", end="")
        timeout_s = self.ready_timeout_s or part.ready_timeout_s
        deadline = running.started + timeout_s
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
                if part.soft_ready and self.ready_timeout_s is None:
                    self.console.print(
                        f"[yellow]running[/] [dim](pid {running.process.pid}; not yet seen "
                        f"polling {self.settings.task_queue}; log {self._shown(running.log_path)})[/]"
                    )
                    return True
                self.console.print("[red]not ready[/]")
                raise StackError(
                    f"{running.title} is not ready after {timeout_s:.0f} s.\n"
                    f"Last lines of {running.log_path}:\n{running.tail()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_requested.wait(), timeout=PROBE_INTERVAL_S)

    def death_report(self, running: Running, when: str) -> str:
        code = running.process.returncode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited {code}"
        return f"{running.title} {how} {when}.\nLast lines of {running.log_path}:\n{running.tail()}"

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
        await self.database.close()

    async def _stop_one(self, running: Running) -> None:
        process, title = running.process, running.title
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
