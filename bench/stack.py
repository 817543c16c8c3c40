"""The bench's embedded stack: devstack's parts (``devstack.stack``) on free ports and a data dir of
the bench's own, so ``make run`` can be up at the same time.

The Temporal dev server and the partner sandbox run for the whole bench. The gateway and the
workers are started per part, each as a one-part ``devstack.stack.Stack`` (so all of them start at
once), with the part's own variables: the intake part's gateway starts cases on a task queue nobody
polls, the timers part's reads a wall-clock SLA policy, the workers part runs a second set of
workers, the scale part measures freshly started ones. Every part of ``devstack.stack.stack_parts``
that runs ``worker.py`` is a worker (today the cases' and the documents' workers): "two worker
processes" means two of each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from rich.console import Console
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client

from bench.baseline import baseline_task_queue
from devstack.stack import (
    Part,
    Stack,
    StackError,
    isolated_settings,
    settings_with,
    stack_parts,
    worker_polling,
)
from infra.settings import Settings
from partner_sandbox.behaviour import Behaviour

BASE_PARTS = ("temporal", "sandbox")
# The bench empties its data dir at every run; only a folder with this file in it.
DATA_DIR_MARK = ".bench-data-dir"
GATEWAY = "gateway"
BASELINE = "baseline"
# Settings that would point the bench elsewhere or change a case's shape: the bench runs with their
# defaults, whatever the caller's ODS_* variables say.
_CLEARED = (
    "sla_policy",
    "alert_webhooks",
    "portal_webhooks",
    "temporal_tls",
    "temporal_api_key",
    "temporal_namespace",
    "task_queue",
    "worker_role",
)
# Nor do its processes export traces anywhere.
_CHILD_ENV: dict[str, str | None] = {"OTEL_EXPORTER_OTLP_ENDPOINT": None}
# Subsidies for every case of a whole bench: the default annual budget runs out after ~2300 cases.
SUBSIDY_POLICY = 'annual_budget_cny = "900000000000.00"\n'


class BenchError(Exception):
    """The bench cannot go on; the message says why."""


def sandbox_behaviour(*, hold_seals: bool) -> dict[str, Any]:
    """Every partner at zero latency, no errors, carving and collection at once; seal orders held
    (carved only when told, which the bench never does) when ``hold_seals``."""
    behaviour = Behaviour().model_dump()
    for part in behaviour.values():
        part.update(latency_s=0.0, error_rate=0.0)
    behaviour["seal_shop"].update(carving_s=0.0, hold=hold_seals)
    behaviour["postal"].update(collect_after_s=0.0, hold=False)
    return behaviour


@dataclass(frozen=True)
class GatewaySpec:
    """What a gateway is started with: the cases' task queue, the SLA policy file."""

    task_queue: str | None = None
    sla_policy: Path | None = None

    def env(self) -> dict[str, str | None]:
        """The gateway's variables (None: the default)."""
        return {
            "ODS_TASK_QUEUE": self.task_queue,
            "ODS_SLA_POLICY": str(self.sla_policy) if self.sla_policy else None,
        }


def _is_worker(part: Part) -> bool:
    return "worker.py" in part.command


def _copy(part: Part, number: int) -> Part:
    if number == 1:
        return part
    return dataclasses.replace(part, name=f"{part.name}-{number}", title=f"{part.title} {number}")


class BenchStack:
    """The stack of one bench run. ``start`` brings up Temporal and the sandbox; ``ensure`` makes
    the gateway and workers what a part needs; ``stop`` takes everything down."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self._log: IO[str] | None = None
        self.console = Console(quiet=True)
        self.settings = isolated_settings(
            self.data_dir,
            database_url=f"sqlite+aiosqlite:///{self.data_dir}/ods.db",
            worker_metrics_addr="0",
            subsidy_policy=self.data_dir / "bench-subsidy-policy.toml",
            log_format="json",
            **{name: Settings.model_fields[name].default for name in _CLEARED},
        )
        self._base: Stack | None = None
        self._running: dict[str, tuple[Stack, object]] = {}
        self._stop = asyncio.Event()
        self.client: Client
        self.sandbox: httpx.AsyncClient
        self.gateway: httpx.AsyncClient

    # ------------------------------------------------------------------ the whole run
    async def start(self) -> None:
        """A fresh data dir, then the Temporal dev server and the partner sandbox."""
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            if not (self.data_dir / DATA_DIR_MARK).exists():
                raise BenchError(
                    f"{self.data_dir} is not empty and not a bench data dir (no {DATA_DIR_MARK}): "
                    "give BENCH_DATA_DIR a folder of the bench's own"
                )
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / DATA_DIR_MARK).write_text("made by `make bench`; emptied at every run\n")
        (self.data_dir / "logs").mkdir()
        # What devstack says of each part (started, ready, stopped) goes to a log of its own.
        self._log = (self.data_dir / "logs" / "stack.log").open("a", encoding="utf-8")
        self.console = Console(file=self._log, width=160, soft_wrap=True)
        (self.data_dir / "bench-subsidy-policy.toml").write_text(SUBSIDY_POLICY)
        base = self._stack(self.settings, BASE_PARTS)
        self._base = base
        await self._start(base)
        assert base.client is not None
        self.client = base.client
        self.sandbox = httpx.AsyncClient(base_url=f"http://{self.settings.sandbox_addr}", timeout=30)
        # The portal's client, holding as many connections open as the bench's clients need.
        self.gateway = httpx.AsyncClient(
            base_url=f"http://{self.settings.gateway_addr}",
            timeout=60,
            headers={"Authorization": f"Bearer {self.settings.portal_token}"},
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )

    async def stop(self) -> None:
        await asyncio.gather(*(self._stop_one(name) for name in list(self._running)))
        if self._base is not None:
            await self._base.stop()
        for client in ("sandbox", "gateway"):
            if hasattr(self, client):
                await getattr(self, client).aclose()
        if self._log is not None:
            self._log.close()

    # ------------------------------------------------------------------ per part
    async def ensure(
        self,
        *,
        gateway: GatewaySpec | None = GatewaySpec(),
        workers: int = 1,
        baseline: bool = False,
        fresh_workers: bool = False,
        worker_env: Mapping[str, str] | None = None,
    ) -> None:
        """Run exactly these processes beside Temporal and the sandbox: a gateway started with
        ``gateway`` (none if None), ``workers`` copies of every worker part (with ``worker_env``
        over the bench's variables, when given), the baseline's worker. A process already running
        with the same settings is kept, unless ``fresh_workers``."""
        wanted: dict[str, tuple[Callable[[], Stack], object]] = {}
        if gateway is not None:
            wanted[GATEWAY] = (lambda: self._one(GATEWAY, gateway.env()), gateway)
        key = None if worker_env is None else tuple(sorted(worker_env.items()))
        for number in range(1, workers + 1):
            for name in self._worker_part_names():
                copy = name if number == 1 else f"{name}-{number}"
                wanted[copy] = (self._maker(name, number, dict(worker_env or {})), key)
        if baseline:
            wanted[BASELINE] = (self._baseline, None)

        def keep(name: str, spec: object) -> bool:
            if name not in wanted:
                return False
            if name == GATEWAY:
                return wanted[name][1] == spec
            if fresh_workers:
                return False
            # Workers asked for without variables of their own: any running ones will do.
            return name == BASELINE or wanted[name][1] is None or wanted[name][1] == spec

        unwanted = [name for name, (_, spec) in self._running.items() if not keep(name, spec)]
        await asyncio.gather(*(self._stop_one(name) for name in unwanted))
        missing = {name: make for name, (make, _) in wanted.items() if name not in self._running}
        stacks = {name: make() for name, make in missing.items()}
        # Known before they start, so that a failed start still stops every one of them.
        for name, stack in stacks.items():
            self._running[name] = (stack, wanted[name][1])
        started = await asyncio.gather(
            *(self._start(stack) for stack in stacks.values()), return_exceptions=True
        )
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome

    def pid(self, name: str) -> int:
        """The process id of a running part (``temporal``, ``gateway``, ``worker``, …)."""
        for stack in self._stacks():
            for running in stack.running:
                if running.part.name == name:
                    return running.process.pid
        raise KeyError(name)

    def running_parts(self) -> list[str]:
        return [r.part.name for stack in self._stacks() for r in stack.running]

    def worker_processes(self) -> dict[str, int]:
        """Every running worker part (the baseline's too) and its process id."""
        return {
            r.part.name: r.process.pid
            for stack in self._stacks()
            for r in stack.running
            if _is_worker(r.part) or r.part.name == BASELINE
        }

    def check_alive(self) -> None:
        """Raise BenchError naming the part when any process of the stack has died."""
        for stack in self._stacks():
            for running in stack.running:
                if running.process.returncode is not None:
                    raise BenchError(stack.death_report(running, "during the bench"))

    async def set_sandbox(self, *, hold_seals: bool) -> None:
        answer = await self.sandbox.put("/_sandbox/behaviour", json=sandbox_behaviour(hold_seals=hold_seals))
        answer.raise_for_status()

    async def effects(self) -> dict[str, int]:
        """Side effects performed so far, per partner (the sandbox's counters)."""
        answer = await self.sandbox.get("/_sandbox/effects")
        answer.raise_for_status()
        return {partner: int(counts["effects"]) for partner, counts in answer.json().items()}

    # ------------------------------------------------------------------ helpers
    def _stacks(self) -> list[Stack]:
        base = [self._base] if self._base is not None else []
        return base + [stack for stack, _ in self._running.values()]

    def _worker_part_names(self) -> list[str]:
        return [p.name for p in stack_parts(self.settings) if _is_worker(p)]

    def _stack(self, settings: Settings, parts: tuple[str, ...]) -> Stack:
        """A devstack Stack of these parts on the bench's own settings (none of the caller's)."""
        return Stack(settings, self.console, parts=parts, env=_CHILD_ENV, isolated=True)

    def _one(
        self, name: str, env: Mapping[str, str | None], change: Callable[[Part], Part] | None = None
    ) -> Stack:
        """A one-part Stack of ``stack_parts``'s part ``name``, with ``env`` over the settings."""
        try:
            stack = self._stack(settings_with(self.settings, env), (name,))
        except StackError as exc:
            raise BenchError(str(exc)) from exc
        if change:
            stack.parts = [change(stack.parts[0])]
        stack.client = self.client
        return stack

    def _maker(self, name: str, number: int, env: Mapping[str, str]) -> Callable[[], Stack]:
        return lambda: self._one(name, env, lambda part: _copy(part, number))

    def _baseline(self) -> Stack:
        stack = self._stack(self.settings, ())
        stack.parts = [
            Part(
                name=BASELINE,
                title="baseline worker",
                command=[sys.executable, "-m", "bench.baseline"],
                ports=[],
                ready_timeout_s=20,
                probe=worker_polling(
                    baseline_task_queue(self.settings.task_queue), TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
                ),
                soft_ready=True,
            )
        ]
        stack.client = self.client
        return stack

    async def _start(self, stack: Stack) -> None:
        try:
            started = await stack.start(self._stop)
        except StackError as exc:
            raise BenchError(str(exc)) from exc
        if not started:
            raise BenchError("the stack did not start")

    async def _stop_one(self, name: str) -> None:
        stack, _ = self._running.pop(name)
        await stack.stop()
