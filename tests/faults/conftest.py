"""Fixtures of the fault tests: whole stacks of real processes, and a PostgreSQL server of their own
that a test may stop and start again. Every process started here is killed at the end, whatever
the outcome; a failed test prints the tail of every part's log."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import FaultStack
from tests.pg import (
    _FAST_AND_PRIVATE,
    PORT,
    PostgresServer,
    PostgresUnavailable,
    _as_server_user,
    _run,
    check_postgres_available,
    running_postgres,
)

MakeStack = Callable[..., Awaitable[FaultStack]]


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    return request.node.stash.get(_FAILED, False)


@pytest.fixture(scope="package")
async def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultStack]:
    """One stack (SQLite, the default seal promise) for every test that needs nothing else."""
    stack = FaultStack(tmp_path_factory.mktemp("faults-stack"))
    try:
        yield stack
    finally:
        await stack.close()


@pytest.fixture
async def stack(request: pytest.FixtureRequest, shared_stack: FaultStack) -> AsyncIterator[FaultStack]:
    """The shared stack, whole (a part a test before stopped or lost is started again), with a
    sandbox that has forgotten everything: its counters count this test's effects only."""
    await shared_stack.up()
    await shared_stack.reset_sandbox()
    shared_stack.begin()
    try:
        yield shared_stack
    finally:
        if _failed(request):
            print(f"\n===== the shared stack in {shared_stack.root} =====\n{shared_stack.report()}")


@pytest.fixture
async def stacks(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStack]:
    """``await stacks(**options)``: a stack of the test's own (``FaultStack`` options), up."""
    made: list[FaultStack] = []

    async def make(**options: Any) -> FaultStack:
        stack = FaultStack(tmp_path / f"stack-{len(made)}", **options)
        made.append(stack)
        await stack.up()
        return stack

    try:
        yield make
    finally:
        for stack in made:
            if _failed(request):
                print(f"\n===== logs of the stack in {stack.root} =====\n{stack.report()}")
            await stack.close()


class RestartablePostgres:
    """A throwaway PostgreSQL server (tests/pg.py's) that a test may stop and start again."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.running = True

    def _pg_ctl(self, *args: str) -> list[str]:
        return [
            *_as_server_user(),
            str(self.server.bin_dir / "pg_ctl"),
            "-D",
            str(self.server.root / "data"),
            *args,
        ]

    async def stop(self) -> None:
        """A fast shutdown: every session is disconnected, the server is gone until ``start``."""
        await _run(self._pg_ctl("-m", "fast", "-w", "stop"), self.server.root)
        self.running = False

    async def start(self) -> None:
        """The same server again: same data, same socket."""
        options = f"{_FAST_AND_PRIVATE} -k {self.server.root} -p {PORT}"
        log = str(self.server.root / "server.log")
        await _run(self._pg_ctl("-l", log, "-w", "-t", "60", "-o", options, "start"), self.server.root)
        self.running = True


@pytest.fixture
async def own_postgres() -> AsyncIterator[RestartablePostgres]:
    """A PostgreSQL server for this test alone (never the session's: this one gets stopped)."""
    try:
        bin_dir = check_postgres_available()
    except PostgresUnavailable as e:
        if os.environ.get("ODS_SKIP_PG") == "1":
            pytest.skip(f"ODS_SKIP_PG=1: {e}")
        pytest.fail(str(e), pytrace=False)
    async with running_postgres(bin_dir) as server:
        pg = RestartablePostgres(server)
        try:
            yield pg
        finally:
            if not pg.running:  # running_postgres stops a running server, and only that
                await pg.start()
