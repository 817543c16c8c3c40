"""The service database unavailable for a while: SQLite locked by another process, PostgreSQL
stopped and started again. The alerts and the first-seal subsidy due meanwhile are written once it
is back (their activities wait or retry), and every case completes with every effect once.

The seal shop holds its orders and the seal promise is seconds (wall clock): an alert falls due,
and the subsidy is reserved or settled, while the database cannot take it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.case_ids import workflow_id_for
from tests import factories
from tests.faults.conftest import MakeStack, RestartablePostgres
from tests.faults.harness import (
    PYTHON,
    SEAL_ALERTS,
    FaultStack,
    carving,
    check_exactly_once,
    city_month,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

FAST_POST = {"collect_after_s": 0.05}

# Another process's write transaction on the existing file: BEGIN EXCLUSIVE until a line arrives.
LOCKER = """\
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=rw", uri=True, timeout=30, isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
print("released", flush=True)
"""


@contextlib.asynccontextmanager
async def sqlite_locked(path: Path) -> AsyncIterator[None]:
    """``path`` held under an exclusive write transaction by another process for the block."""
    locker = await asyncio.create_subprocess_exec(
        PYTHON,
        "-c",
        LOCKER,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert locker.stdin is not None and locker.stdout is not None
    try:
        line = await asyncio.wait_for(locker.stdout.readline(), timeout=30)
        assert line == b"locked\n", line
        yield
        locker.stdin.write(b"\n")
        await locker.stdin.drain()
        line = await asyncio.wait_for(locker.stdout.readline(), timeout=30)
        assert line == b"released\n", line
        assert await asyncio.wait_for(locker.wait(), timeout=10) == 0
    finally:
        if locker.returncode is None:
            locker.kill()
            await locker.wait()


def some_cases(n: int) -> list[dict[str, Any]]:
    districts = ["410502", "410503", "410505", "410506", "410522", "410581"]
    return [factories.application(district=districts[i % len(districts)]) for i in range(n)]


async def activities_in_hand(stack: FaultStack, app_id: str) -> dict[str, tuple[str, int]]:
    """Each pending activity of the case by type: (state, attempt)."""
    return {name: (state, attempt) for name, state, attempt in await stack.pending_activities(app_id)}


async def seal_breached(stack: FaultStack, app_id: str) -> bool:
    return ("seal_carving", "breached") in await stack.alerts_of(app_id)


async def test_sqlite_locked_by_another_process_holds_the_writes_until_it_is_released(
    stack: FaultStack,
) -> None:
    await stack.behave(seal_shop={"hold": True}, postal=FAST_POST)
    bodies = some_cases(4)
    database = stack.data_dir / "ods.db"
    # Intake writes each case's data key to this database (infra/case_keys.py): the cases begin
    # before the lock, their subsidies reserved and their seal promises broken (seconds, wall
    # clock), while the shop holds their orders.
    ids = [await stack.submit(body) for body in bodies]
    for app_id in ids:
        await stack.case_until(app_id, carving, what="subsidy reserved")
        await stack.until(lambda a=app_id: seal_breached(stack, a), what=f"{app_id}: the seal promise broken")
    stored = {app_id: facts_stored(database, app_id) for app_id in ids}
    assert all(stored.values()), stored  # accepted, at least

    async with sqlite_locked(database):
        stack.mark("ods.db locked by another process")
        # The shop carves under the lock: each case takes the completion (the gateway only reads
        # the case's key, and WAL readers are not blocked), then writes, and waits for the lock:
        # the settlement of its first-seal subsidy, and its outbox (the seal stage's fact and
        # its recovered alert, stored in order; a local activity of the case's worker, so not
        # among the pending activities: none of them is stored until the lock is released).
        for app_id in ids:
            await stack.finish_held_orders(app_id)

        async def settling(app_id: str) -> bool:
            doing = {name: state for name, (state, _) in (await activities_in_hand(stack, app_id)).items()}
            return doing.get("settle_first_seal_subsidy", "").endswith("STARTED")

        for app_id in ids:
            await stack.until(lambda a=app_id: settling(a), what=f"{app_id}: writing under the lock")
            assert facts_stored(database, app_id) == stored[app_id]
        # Readers are not blocked (WAL): the feed answers, with the breaches stored before the lock.
        feed = await stack.alert_feed()
        breached = {
            a["workflow_id"] for a in feed if (a["stage"], a["level"]) == ("seal_carving", "breached")
        }
        assert breached >= {workflow_id_for(app_id) for app_id in ids}, feed
    stack.mark("ods.db released")

    docs = await stack.all_completed(ids)
    await check_exactly_once(stack, bodies, docs)
    for app_id in ids:
        assert facts_stored(database, app_id) > stored[app_id]  # held, not lost
        assert await stack.alerts_of(app_id) >= SEAL_ALERTS


def facts_stored(database: Path, app_id: str) -> int:
    """How many facts of the case are in the service database (read-only: WAL readers are not
    blocked by the writer's lock)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        query = "SELECT count(*) FROM case_facts WHERE application_id = ?"
        (count,) = db.execute(query, (app_id,)).fetchone()
    return int(count)


async def test_postgresql_stopped_and_started_again_the_writes_are_retried(
    own_postgres: RestartablePostgres, stacks: MakeStack
) -> None:
    url = await own_postgres.server.create_database()
    stack = await stacks(database_url=url)
    await stack.behave(seal_shop={"hold": True}, postal=FAST_POST)
    bodies = some_cases(4)
    ids = [await stack.submit(body) for body in bodies]
    for app_id in ids:
        await stack.case_until(app_id, carving, what="subsidy reserved in PostgreSQL")

    await own_postgres.stop()
    now = datetime.now(UTC).isoformat()
    stack.mark("PostgreSQL stopped")
    # The shop finishes every order while the database is gone: settling each subsidy fails, and
    # so does the seal promise's at-risk alert when it falls due (the stage goes on until the
    # subsidy is settled); both are retried.
    for app_id in ids:
        await stack.finish_held_orders(app_id)

    async def retried(app_id: str) -> bool:
        doing = await activities_in_hand(stack, app_id)
        return all(doing.get(name, ("", 0))[1] >= 2 for name in ("settle_first_seal_subsidy", "raise_alert"))

    for app_id in ids:
        await stack.until(lambda a=app_id: retried(a), what=f"{app_id}: settling and alerting retried")
    # Meanwhile ops reading the alert feed or the subsidy ledger are told the database is
    # unreachable (a 503, as /openapi.json documents), not that the server failed. (Checked at the
    # end, so that a wrong answer here does not hide what follows.)
    during_outage: dict[str, tuple[int, str]] = {}
    for path, params in (("/v1/alerts", {}), ("/v1/subsidies", {"month": city_month(now)})):
        # A connection of its own each: uvicorn closes one after an unhandled error.
        async with httpx.AsyncClient(timeout=15, trust_env=False) as http:
            resp = await http.get(f"{stack.gateway_url}{path}", params=params, headers=stack.ops)
        during_outage[path] = (resp.status_code, resp.text)

    await own_postgres.start()
    stack.mark("PostgreSQL started again")
    docs = await stack.all_completed(ids)
    await check_exactly_once(stack, bodies, docs)
    for app_id in ids:
        assert ("seal_carving", "at_risk") in await stack.alerts_of(app_id)
    assert {path: status for path, (status, _) in during_outage.items()} == {
        "/v1/alerts": 503,
        "/v1/subsidies": 503,
    }, during_outage
