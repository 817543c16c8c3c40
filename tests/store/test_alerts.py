"""The alert store on SQLite and on a real PostgreSQL: each (workflow, stage, level, episode) once, and
a feed that pages and streams every alert exactly once, in order."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import store.alerts
from store.alerts import AlertRecord, AlertStore, UnknownAlertId
from store.db import create_engine
from store.schema import alerts_table
from tests.databases import another_process
from tests.factories import an_alert

SHANGHAI = timezone(timedelta(hours=8))
REPO = Path(__file__).resolve().parents[2]


async def count_rows(engine: AsyncEngine, table: Table = alerts_table) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_an_alert_is_recorded_once_and_a_repeat_gets_the_first_back(
    alert_store: AlertStore, engine: AsyncEngine
) -> None:
    first, created = await alert_store.record(an_alert())
    assert created

    # A retried activity raises it again a little later: nothing new, the first one comes back.
    again, created_again = await alert_store.record(an_alert(raised_at=datetime.now(UTC)))
    assert not created_again
    assert again == first
    assert await alert_store.get(first.id) == first
    assert await alert_store.get("000000000999-deadbeef") is None
    assert await count_rows(engine) == 1

    # Another level, stage or workflow is another alert.
    others = [an_alert(level="breached"), an_alert(stage="invoice"), an_alert(case=2)]
    results = [await alert_store.record(a) for a in others]
    assert all(created for _, created in results)
    assert len({first.id, *(r.id for r, _ in results)}) == 4


async def test_twenty_simultaneous_repeats_from_two_processes_store_one_alert(
    alert_store: AlertStore, engine: AsyncEngine, database_url: str
) -> None:
    async with another_process(database_url) as other_worker:
        other_store = AlertStore(other_worker)
        stores = [alert_store, other_store] * 10
        results = await asyncio.gather(*(store.record(an_alert()) for store in stores))

    assert sum(created for _, created in results) == 1
    assert len({record.id for record, _ in results}) == 1
    assert await count_rows(engine) == 1


_RACER = """
import asyncio, json, sys
from datetime import datetime, timezone
import store.alerts
from store.alerts import AlertIn, AlertStore
from store.db import open_database

async def main(url, me):
    engine = await open_database(url)  # every process creates the schema at the same moment
    store = AlertStore(engine)
    def alert(workflow):
        return AlertIn(
            application_id=workflow, workflow_id=workflow, stage="overall", level="breached",
            raised_at=datetime.now(timezone.utc), district_code="410505", enterprise_name="殷都区某店",
        )
    shared = await asyncio.gather(*(store.record(alert("setup-shared")) for _ in range(5)))
    own, _ = await store.record(alert(f"setup-own-{me}"))
    await engine.dispose()
    created = sum(c for _, c in shared)
    print(json.dumps({"shared": [r.id for r, _ in shared], "created": created, "own": own.id}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_processes_starting_together_share_one_schema_and_one_alert(database_url: str) -> None:
    async def racer(me: int) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _RACER, database_url, str(me),
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        result: dict[str, Any] = json.loads(out)
        return result

    results = await asyncio.gather(*(racer(me) for me in range(3)))

    assert sum(r["created"] for r in results) == 1
    assert len({alert_id for r in results for alert_id in r["shared"]}) == 1
    engine = create_engine(database_url)
    try:
        page, cursor = await AlertStore(engine).list(limit=10)
    finally:
        await engine.dispose()
    assert [a.workflow_id for a in page].count("setup-shared") == 1
    assert {a.id for a in page} == {results[0]["shared"][0], *(r["own"] for r in results)}
    assert cursor is None


async def test_paging_with_the_cursor_walks_every_alert_once_in_order(alert_store: AlertStore) -> None:
    recorded = [(await alert_store.record(an_alert(case)))[0] for case in range(1, 26)]
    assert [a.id for a in recorded] == sorted(a.id for a in recorded), "ids sort like the feed"

    for limit in (5, 7, 25, 100):  # 5 and 25 end on a full page: the cursor must still say "the end"
        seen: list[AlertRecord] = []
        cursor: str | None = None
        pages = 0
        while True:
            page, cursor = await alert_store.list(after=cursor, limit=limit)
            pages += 1
            seen += page
            assert len(page) <= limit
            if cursor is None:
                break
            assert cursor == page[-1].id
        assert seen == recorded
        assert pages == -(-len(recorded) // limit)

    assert await alert_store.list(after=recorded[-1].id) == ([], None)


async def test_filters_narrow_the_feed_and_page_through_the_matches(alert_store: AlertStore) -> None:
    wenfeng, beiguan = "410502", "410503"
    for case in range(1, 7):
        district = wenfeng if case % 2 else beiguan
        await alert_store.record(an_alert(case, district_code=district))
        await alert_store.record(an_alert(case, district_code=district, level="breached"))
        await alert_store.record(an_alert(case, district_code=district, stage="seal_carving"))
    await alert_store.record(
        an_alert(99, stage="subsidy", level="budget_exhausted", deadline=None, district_code=beiguan)
    )

    breached, cursor = await alert_store.list(level="breached")
    assert [a.workflow_id for a in breached] == [f"setup-AY20261127-{c:04d}" for c in range(1, 7)]
    assert cursor is None

    page, cursor = await alert_store.list(district=beiguan, stage="registration", limit=2)
    assert [(a.district_code, a.stage) for a in page] == [(beiguan, "registration")] * 2
    rest, end = await alert_store.list(after=cursor, district=beiguan, stage="registration", limit=10)
    assert len(page + rest) == 6 and end is None
    assert {a.level for a in page + rest} == {"at_risk", "breached"}

    subsidy, _ = await alert_store.list(stage="subsidy")
    assert [(a.level, a.deadline) for a in subsidy] == [("budget_exhausted", None)]
    assert await alert_store.list(district="410581") == ([], None)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"stage": "lunch"}, "stage must be one of registration, seal_carving, invoice"),
        ({"level": "late"}, "level must be one of at_risk, breached, recovered, budget_exhausted, needs_at"),
        ({"district": "安阳"}, "district must be a six-digit district code"),
        ({"limit": 0}, "limit must be between 1 and"),
        ({"limit": 100_000}, "limit must be between 1 and"),
        ({"after": "no-such-alert"}, "no alert has the id 'no-such-alert'"),
    ],
)
async def test_a_bad_feed_query_is_refused_with_a_clear_message(
    alert_store: AlertStore, query: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await alert_store.list(**query)


async def alerts_since(store: AlertStore, after: str | None, limit: int = 1000) -> list[AlertRecord]:
    """The alerts of the stream's events after ``after`` (raised ones only, here)."""
    events = await store.events_since(after, limit=limit)
    assert all(e.kind == "alert.raised" and e.id == e.alert.id for e in events)
    return [e.alert for e in events]


async def test_the_stream_resumes_after_the_last_event_id(alert_store: AlertStore) -> None:
    assert await alert_store.latest_event_id() is None
    assert await alert_store.events_since(None) == []

    recorded = [(await alert_store.record(an_alert(case)))[0] for case in range(1, 6)]

    assert await alerts_since(alert_store, None) == recorded
    assert await alerts_since(alert_store, recorded[1].id) == recorded[2:]
    assert await alerts_since(alert_store, recorded[1].id, limit=2) == recorded[2:4]
    assert await alert_store.latest_event_id() == recorded[-1].id
    assert await alerts_since(alert_store, recorded[-1].id) == []
    assert await alert_store.has_event(recorded[0].id)
    assert not await alert_store.has_event("000000000001-00000000")
    with pytest.raises(UnknownAlertId):
        await alert_store.events_since("000000000001-00000000")


async def test_a_slow_writer_holds_back_later_alerts_so_a_follower_never_skips_one(
    alert_store: AlertStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alert 1 is written but its commit is held up; alert 2 arrives meanwhile from another process.
    # Were alert 2 visible first, a follower would move its cursor past alert 1 and never see it.
    written, release = asyncio.Event(), asyncio.Event()
    real_transaction = store.alerts.transaction

    @asynccontextmanager
    async def slow_first_commit(engine: AsyncEngine, *, write: bool = False) -> AsyncIterator[Any]:
        async with real_transaction(engine, write=write) as conn:
            yield conn
            if write and not written.is_set():
                written.set()
                await release.wait()

    monkeypatch.setattr(store.alerts, "transaction", slow_first_commit)
    other_engine = create_engine(database_url)
    try:
        first = asyncio.create_task(alert_store.record(an_alert(1)))
        await written.wait()
        second = asyncio.create_task(AlertStore(other_engine).record(an_alert(2)))
        await asyncio.sleep(0.3)
        assert await alert_store.events_since(None) == [], "nothing may show before the earlier alert commits"
        release.set()
        (one, _), (two, _) = await asyncio.gather(first, second)
    finally:
        release.set()
        await other_engine.dispose()

    assert await alerts_since(alert_store, None) == [one, two]
    assert one.id < two.id


async def test_times_keep_their_instant_and_zone_on_the_way_through(alert_store: AlertStore) -> None:
    deadline = datetime(2026, 2, 13, 17, 0, tzinfo=SHANGHAI)  # the end of a working day in Anyang
    raised = datetime(2026, 2, 13, 3, 59, 59, 123456, tzinfo=timezone(timedelta(hours=-5)))

    created, _ = await alert_store.record(an_alert(deadline=deadline, raised_at=raised))
    stored = await alert_store.get(created.id)

    assert stored is not None and stored == created
    assert stored.deadline == deadline and stored.raised_at == raised
    assert stored.deadline is not None and stored.deadline.utcoffset() == timedelta(0)
    assert stored.raised_at.utcoffset() == timedelta(0)
    page, _ = await alert_store.list()
    assert page[0].deadline == deadline


def test_an_alert_without_a_time_zone_or_with_a_mismatched_level_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        an_alert(raised_at=datetime(2026, 2, 13, 9, 0))
    with pytest.raises(ValidationError, match="budget_exhausted goes with stage subsidy"):
        an_alert(level="budget_exhausted")
    with pytest.raises(ValidationError, match="budget_exhausted goes with stage subsidy"):
        an_alert(stage="subsidy", level="breached")
    with pytest.raises(ValidationError, match="no deadline"):
        an_alert(stage="subsidy", level="budget_exhausted")
    with pytest.raises(ValidationError):
        an_alert(stage="lunch")


async def test_an_alert_reads_as_the_contract_shows_it(alert_store: AlertStore) -> None:
    created, _ = await alert_store.record(an_alert())
    document = created.model_dump(mode="json")

    assert list(document) == [
        "id", "application_id", "workflow_id", "stage", "level",
        "deadline", "raised_at", "district_code", "enterprise_name",
        "episode", "reason", "acknowledged_by", "acknowledged_at", "note",
    ]  # fmt: skip
    assert (document["episode"], document["reason"]) == (1, None)
    assert document["acknowledged_by"] is document["acknowledged_at"] is document["note"] is None
    assert datetime.fromisoformat(document["deadline"]) == datetime(2026, 11, 27, 14, 30, tzinfo=SHANGHAI)
    assert document["enterprise_name"] == "安阳市文峰区晨曦餐饮有限公司"
