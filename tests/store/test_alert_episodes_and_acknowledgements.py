"""Episodes and acknowledgements in the alert store, on SQLite and on a real PostgreSQL: each
(workflow, stage, level, episode) once; each alert acknowledged once, however many try at once; and
an acknowledgement its own event in the stream, after every event before it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import get_args

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.alerts import AlertLevel, AlertStage
from store.alerts import AlertAlreadyAcknowledged, AlertIn, AlertNotFound, AlertStore, UnknownAlertId
from store.schema import alert_events_table
from tests.databases import another_process
from tests.factories import an_attention_alert

SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=SHANGHAI)


async def test_each_episode_of_needs_attention_is_alerted_once(alert_store: AlertStore) -> None:
    first, created = await alert_store.record(an_attention_alert())
    assert created and (first.episode, first.reason) == (1, "the seal shop takes no orders")
    assert await alert_store.record(an_attention_alert(reason="said again on a retry")) == (first, False)

    second, created = await alert_store.record(an_attention_alert(episode=2, reason="the shop is down again"))
    assert created and second.id > first.id and second.episode == 2
    assert await alert_store.record(an_attention_alert(episode=2)) == (second, False)

    page, _ = await alert_store.list(level="needs_attention")
    assert [(a.episode, a.reason) for a in page] == [
        (1, "the seal shop takes no orders"), (2, "the shop is down again"),
    ]  # fmt: skip


def test_episodes_and_reasons_keep_their_rules() -> None:
    with pytest.raises(ValidationError, match="says why"):
        an_attention_alert(reason=None)
    with pytest.raises(ValidationError, match="says why"):
        an_attention_alert(reason="  ")
    with pytest.raises(ValidationError, match="only a needs_attention alert has an episode"):
        an_attention_alert(level="breached", episode=2, reason=None)
    with pytest.raises(ValidationError):
        an_attention_alert(episode=0)
    # An alert as a workflow of the previous release sends it: no episode, no reason.
    old = AlertIn.model_validate(
        {
            "application_id": "AY20261127-0001",
            "workflow_id": "setup-AY20261127-0001",
            "stage": "registration",
            "level": "at_risk",
            "deadline": "2026-11-27T14:30:00+08:00",
            "raised_at": "2026-11-27T13:45:00+08:00",
            "district_code": "410502",
            "enterprise_name": "安阳市文峰区晨曦餐饮有限公司",
        }
    )
    assert (old.episode, old.reason) == (1, None)


async def test_every_stage_and_level_the_model_knows_the_database_takes(alert_store: AlertStore) -> None:
    # The CHECK constraints of the migrations follow AlertStage and AlertLevel.
    case = 0
    for stage in get_args(AlertStage):
        for level in get_args(AlertLevel):
            if (level == "budget_exhausted") != (stage == "subsidy"):
                continue
            case += 1
            deadline = None if level in ("budget_exhausted", "needs_attention") else NOW
            reason = "why" if level == "needs_attention" else None
            _, created = await alert_store.record(
                an_attention_alert(case, stage=stage, level=level, deadline=deadline, reason=reason)
            )
            assert created, (stage, level)


async def test_an_acknowledgement_is_recorded_once_and_the_first_one_stays(alert_store: AlertStore) -> None:
    alert, _ = await alert_store.record(an_attention_alert())

    taken = await alert_store.acknowledge(alert.id, " zhang.wei ", "calling the shop", NOW)
    assert (taken.acknowledged_by, taken.acknowledged_at, taken.note) == (
        "zhang.wei",
        NOW,
        "calling the shop",
    )
    assert taken.acknowledged_at is not None and taken.acknowledged_at.utcoffset() == timedelta(0)
    assert await alert_store.get(alert.id) == taken
    assert taken.model_copy(update={"acknowledged_by": None, "acknowledged_at": None, "note": None}) == alert

    with pytest.raises(AlertAlreadyAcknowledged, match=r"already acknowledged by zhang\.wei") as refused:
        await alert_store.acknowledge(alert.id, "li.na", None, NOW + timedelta(minutes=1))
    assert refused.value.alert == taken
    assert await alert_store.get(alert.id) == taken

    with pytest.raises(AlertNotFound):
        await alert_store.acknowledge("000000000999-deadbeef", "zhang.wei", None, NOW)
    for operator, note, at in (("", None, NOW), ("x" * 101, None, NOW), ("zhang.wei", "n" * 1001, NOW)):
        with pytest.raises(ValueError):
            await alert_store.acknowledge(alert.id, operator, note, at)
    with pytest.raises(ValueError, match="time zone"):
        await alert_store.acknowledge(alert.id, "zhang.wei", None, datetime(2026, 11, 27, 15, 0))


async def test_of_simultaneous_acknowledgements_from_two_processes_exactly_one_wins(
    alert_store: AlertStore, engine: AsyncEngine, database_url: str
) -> None:
    alert, _ = await alert_store.record(an_attention_alert())
    async with another_process(database_url) as other_gateway:
        stores = [alert_store, AlertStore(other_gateway)] * 6
        results = await asyncio.gather(
            *(store.acknowledge(alert.id, f"operator-{n}", None, NOW) for n, store in enumerate(stores)),
            return_exceptions=True,
        )

    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, AlertAlreadyAcknowledged)]
    assert len(winners) == 1 and len(losers) == len(stores) - 1, results
    assert all(loser.alert == winners[0] for loser in losers)
    assert await alert_store.get(alert.id) == winners[0]
    async with engine.connect() as conn:
        count = (
            select(func.count())
            .select_from(alert_events_table)
            .where(alert_events_table.c.kind == "alert.acknowledged")
        )
        assert await conn.scalar(count) == 1


async def test_an_acknowledgement_is_an_event_of_its_own_after_every_earlier_one(
    alert_store: AlertStore,
) -> None:
    first, _ = await alert_store.record(an_attention_alert(1))
    second, _ = await alert_store.record(an_attention_alert(2))
    assert await alert_store.acknowledgement(first.id) is None

    taken = await alert_store.acknowledge(first.id, "zhang.wei", "on it", NOW)
    third, _ = await alert_store.record(an_attention_alert(3))

    events = await alert_store.events_since(None)
    assert [(e.kind, e.alert.id) for e in events] == [
        ("alert.raised", first.id), ("alert.raised", second.id),
        ("alert.acknowledged", first.id), ("alert.raised", third.id),
    ]  # fmt: skip
    ack = events[2]
    assert ack.id not in (first.id, second.id, third.id)
    assert [e.id for e in events] == sorted(e.id for e in events), "event ids sort like the stream"
    assert first.id < second.id < ack.id < third.id
    # Each event shows the alert as it was then: raised not yet taken, acknowledged with who and why.
    assert events[0].alert == first and events[0].alert.acknowledged_by is None
    assert ack.alert == taken
    assert await alert_store.acknowledgement(first.id) == ack
    assert await alert_store.latest_event_id() == third.id

    # Resuming after the acknowledgement: only what came later. After the alert: the rest, the
    # acknowledgement among it.
    assert [e.id for e in await alert_store.events_since(ack.id)] == [third.id]
    assert [e.id for e in await alert_store.events_since(first.id)] == [second.id, ack.id, third.id]
    assert await alert_store.has_event(ack.id)

    # The feed's cursor is an alert id; an acknowledgement's id is not one.
    with pytest.raises(UnknownAlertId):
        await alert_store.list(after=ack.id)


async def test_the_feed_shows_who_took_what_and_what_nobody_has(alert_store: AlertStore) -> None:
    alerts = [(await alert_store.record(an_attention_alert(case)))[0] for case in range(1, 6)]
    for alert in alerts[1::2]:
        await alert_store.acknowledge(alert.id, "zhang.wei", None, NOW)

    nobody, _ = await alert_store.list(acknowledged=False)
    assert [a.id for a in nobody] == [alerts[0].id, alerts[2].id, alerts[4].id]
    assert all(a.acknowledged_by is None for a in nobody)
    taken, _ = await alert_store.list(acknowledged=True)
    assert [a.id for a in taken] == [alerts[1].id, alerts[3].id]
    assert all(a.acknowledged_by == "zhang.wei" for a in taken)
    page, cursor = await alert_store.list(acknowledged=False, limit=2)
    assert [a.id for a in page] == [alerts[0].id, alerts[2].id] and cursor == alerts[2].id
    assert [a.id for a in (await alert_store.list(after=cursor, acknowledged=False))[0]] == [alerts[4].id]
    everything, _ = await alert_store.list()
    assert len(everything) == 5
