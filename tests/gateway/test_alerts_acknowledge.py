"""``POST /v1/alerts/{id}/acknowledge``, the feed's ``acknowledged`` filter and the stream's
``alert.acknowledged`` events, on a real alert store (a SQLite file and a real PostgreSQL) through
the gateway over HTTP; the stream served by uvicorn and read line by line, as a subscriber reads it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from gateway.app import create_app
from service import alerts as alert_service
from store.alerts import AlertRecord, AlertStore
from store.service import ServiceDatabase
from tests.gateway.support import OPS, PORTAL, SUBSCRIBER, bearer, fields_of, gateway_settings
from tests.gateway.test_alerts_feed import EventStream, raise_alert, subscribed

ZHANG_TOKEN = "zhang-wei-personal-token-0001"
LI_TOKEN = "li-na-personal-token-000000002"
SETTINGS = gateway_settings(operator_tokens=f"zhang.wei:{ZHANG_TOKEN}, li.na:{LI_TOKEN}")
ZHANG = bearer(ZHANG_TOKEN)
LI = bearer(LI_TOKEN)
FAST_POLL_S = 0.1
QUIET_S = 4 * FAST_POLL_S


@pytest.fixture
def app(store: AlertStore) -> FastAPI:
    # No Temporal and no webhooks here (tests/gateway/test_alerts_webhooks.py has them).
    return create_app(SETTINGS, client=None, database=ServiceDatabase.on(store.engine))


@pytest_asyncio.fixture
async def gateway(served: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served, timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alert_service, "POLL_INTERVAL_S", FAST_POLL_S)


def acknowledge_path(alert_id: str) -> str:
    return f"/v1/alerts/{alert_id}/acknowledge"


async def next_event(stream: EventStream, timeout: float = 2.0) -> tuple[str, str, dict[str, Any]]:
    """The next event's name, id and data, skipping retry and keep-alive blocks."""
    deadline = time.monotonic() + timeout
    while True:
        block = await stream.next_block(max(deadline - time.monotonic(), 0.001))
        if "event" in block:
            return block["event"], block["id"], json.loads(block["data"])


async def no_event(stream: EventStream, within: float = QUIET_S) -> None:
    try:
        event = await next_event(stream, within)
    except TimeoutError:
        return
    raise AssertionError(f"an unexpected event {event}")


# --- acknowledging -------------------------------------------------------------------------------


async def test_an_operator_acknowledges_an_alert_once_and_the_first_acknowledgement_stays(
    store: AlertStore, gateway: httpx.AsyncClient
) -> None:
    alert = await raise_alert(store)

    resp = await gateway.post(
        acknowledge_path(alert.id), json={"operator": " 张伟 ", "note": "calling the tax bureau"}, headers=OPS
    )
    assert resp.status_code == 200, resp.text
    taken = resp.json()
    assert taken["id"] == alert.id
    assert (taken["acknowledged_by"], taken["note"]) == ("张伟", "calling the tax bureau")
    assert taken["acknowledged_at"].endswith("Z")
    assert {k: v for k, v in taken.items() if not k.startswith("acknowledged_") and k != "note"} == {
        k: v
        for k, v in json.loads(alert.model_dump_json()).items()
        if not k.startswith("acknowledged_") and k != "note"
    }
    feed = (await gateway.get("/v1/alerts", headers=SUBSCRIBER)).json()["alerts"]
    assert feed == [taken]

    again = await gateway.post(acknowledge_path(alert.id), json={"operator": "li.na"}, headers=OPS)
    assert again.status_code == 409, again.text
    assert "already acknowledged by 张伟" in again.json()["detail"]
    assert (await store.get(alert.id)) == AlertRecord.model_validate(taken)


async def test_an_unknown_alert_is_a_404(gateway: httpx.AsyncClient) -> None:
    for alert_id in ("000000000999-deadbeef", "not-an-alert", "0" * 40):
        resp = await gateway.post(acknowledge_path(alert_id), json={"operator": "张伟"}, headers=OPS)
        assert resp.status_code == 404, (alert_id, resp.text)
        assert "no alert has the id" in resp.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "operator"),  # the shared ops token: who acts must be said
        ({"operator": None, "note": "x"}, "operator"),
        ({"operator": "   "}, "operator"),
        ({"operator": "a\nb"}, "operator"),
        ({"operator": "x" * 101}, "operator"),
        ({"operator": 7}, "operator"),
        ({"operator": "张伟", "note": "n" * 1001}, "note"),
        ({"operator": "张伟", "note": "a\u0000b"}, "note"),
        ({"operator": "张伟", "notes": "typo"}, "notes"),
        ([], "body"),
    ],
)
async def test_a_bad_body_is_a_422_naming_the_field_and_changes_nothing(
    store: AlertStore, gateway: httpx.AsyncClient, body: Any, field: str
) -> None:
    alert = await raise_alert(store)
    resp = await gateway.post(acknowledge_path(alert.id), json=body, headers=OPS)
    assert fields_of(resp) == {field}
    assert (await store.get(alert.id)) == alert
    not_json = await gateway.post(acknowledge_path(alert.id), content=b"{operator", headers=OPS)
    assert fields_of(not_json) == {"body"}


async def test_a_personal_token_acknowledges_under_its_own_name_and_no_other(
    store: AlertStore, gateway: httpx.AsyncClient
) -> None:
    mine, same_name, not_mine = [await raise_alert(store) for _ in range(3)]

    resp = await gateway.post(acknowledge_path(mine.id), json={"note": "on it"}, headers=ZHANG)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["acknowledged_by"], resp.json()["note"]) == ("zhang.wei", "on it")
    # Giving one's own name is fine too.
    resp = await gateway.post(acknowledge_path(same_name.id), json={"operator": "zhang.wei"}, headers=ZHANG)
    assert resp.status_code == 200 and resp.json()["acknowledged_by"] == "zhang.wei"

    # Another operator's name with a personal token: refused, nothing recorded.
    refused = await gateway.post(acknowledge_path(not_mine.id), json={"operator": "li.na"}, headers=ZHANG)
    assert refused.status_code == 403, refused.text
    assert "zhang.wei" in refused.json()["detail"] and ZHANG_TOKEN not in refused.text
    assert (await store.get(not_mine.id)) == not_mine
    resp = await gateway.post(acknowledge_path(not_mine.id), json={}, headers=LI)
    assert resp.status_code == 200 and resp.json()["acknowledged_by"] == "li.na"


REFUSED = {
    "no token": {},
    "the portal's token": PORTAL,
    "the alerts token": SUBSCRIBER,
    "a wrong token": {"Authorization": "Bearer not-a-token"},
    "a personal token's name": {"Authorization": "Bearer zhang.wei"},
}


async def test_only_the_ops_and_personal_ops_tokens_may_acknowledge(
    store: AlertStore, gateway: httpx.AsyncClient
) -> None:
    alert = await raise_alert(store)
    for refused, headers in REFUSED.items():
        # A bad body and an unknown alert too: the token is checked before anything else.
        for path, body in (
            (acknowledge_path(alert.id), {"operator": "张伟"}),
            (acknowledge_path("nope"), []),
        ):
            resp = await gateway.post(path, json=body, headers=headers)
            assert resp.status_code == 401, (refused, resp.text)
            assert resp.headers["www-authenticate"] == "Bearer"
    assert (await store.get(alert.id)) == alert
    # Reading stays open to the alerts token, and to personal ops tokens like the ops token.
    for headers in (SUBSCRIBER, OPS, ZHANG):
        assert (await gateway.get("/v1/alerts", headers=headers)).status_code == 200
    assert (await gateway.get("/v1/alerts", headers=PORTAL)).status_code == 401


async def test_of_simultaneous_acknowledgements_exactly_one_wins(
    store: AlertStore, gateway: httpx.AsyncClient
) -> None:
    alert = await raise_alert(store)
    answers = await asyncio.gather(
        *(
            gateway.post(acknowledge_path(alert.id), json={"operator": f"operator-{n}"}, headers=OPS)
            for n in range(8)
        ),
        gateway.post(acknowledge_path(alert.id), json={}, headers=ZHANG),
        gateway.post(acknowledge_path(alert.id), json={}, headers=LI),
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 9, [a.text for a in answers]
    (winner,) = (a.json() for a in answers if a.status_code == 200)
    assert json.loads((await store.get(alert.id)).model_dump_json()) == winner  # type: ignore[union-attr]
    events = await store.events_since(alert.id)
    assert [(e.kind, e.alert.acknowledged_by) for e in events] == [
        ("alert.acknowledged", winner["acknowledged_by"])
    ]


# --- the feed's filter ----------------------------------------------------------------------------


async def test_which_alerts_nobody_has_taken_is_one_query(
    store: AlertStore, gateway: httpx.AsyncClient
) -> None:
    alerts = [
        await raise_alert(store, level=level) for level in ("at_risk", "breached", "at_risk", "recovered")
    ]
    for alert in alerts[:2]:
        resp = await gateway.post(acknowledge_path(alert.id), json={"operator": "张伟"}, headers=OPS)
        assert resp.status_code == 200

    async def feed(**params: str) -> list[str]:
        resp = await gateway.get("/v1/alerts", params=params, headers=SUBSCRIBER)
        assert resp.status_code == 200, resp.text
        return [a["id"] for a in resp.json()["alerts"]]

    assert await feed(acknowledged="false") == [alerts[2].id, alerts[3].id]
    assert await feed(acknowledged="true") == [alerts[0].id, alerts[1].id]
    assert await feed(acknowledged="false", level="at_risk") == [alerts[2].id]
    assert await feed(acknowledged="true", limit="1", after=alerts[0].id) == [alerts[1].id]
    assert len(await feed()) == 4
    for bad in ("", "maybe"):
        resp = await gateway.get("/v1/alerts", params={"acknowledged": bad}, headers=SUBSCRIBER)
        assert fields_of(resp) == {"acknowledged"}


# --- the stream ----------------------------------------------------------------------------------


async def test_the_stream_carries_an_acknowledgement_as_an_event_of_its_own(
    store: AlertStore, served: str, gateway: httpx.AsyncClient
) -> None:
    async with subscribed(served, headers=SUBSCRIBER) as stream:
        alert = await raise_alert(store)
        assert (await next_event(stream))[:2] == ("alert", alert.id)
        taken = (await gateway.post(acknowledge_path(alert.id), json={"note": "mine"}, headers=ZHANG)).json()

        name, ack_id, data = await next_event(stream)
        assert name == "alert.acknowledged"
        assert ack_id != alert.id and ack_id > alert.id, "a new id, after the alert's"
        assert data == taken and data["id"] == alert.id and data["acknowledged_by"] == "zhang.wei"
        later = await raise_alert(store, stage="invoice")
        assert (await next_event(stream))[:2] == ("alert", later.id)
        await no_event(stream)

    # Resuming after the acknowledgement: only what came after it.
    async with subscribed(served, headers=SUBSCRIBER | {"Last-Event-ID": ack_id}) as stream:
        assert (await next_event(stream))[:2] == ("alert", later.id)
        await no_event(stream)
    # Resuming after the alert (a subscriber that missed the acknowledgement): it comes, then the rest.
    async with subscribed(served, headers=SUBSCRIBER | {"Last-Event-ID": alert.id}) as stream:
        name, event_id, data = await next_event(stream)
        assert (name, event_id, data["acknowledged_by"]) == ("alert.acknowledged", ack_id, "zhang.wei")
        name, event_id, data = await next_event(stream)
        assert (name, event_id, data["acknowledged_by"]) == ("alert", later.id, None)
        await no_event(stream)
    # ?after= takes an acknowledgement's id as well.
    async with subscribed(served, params={"after": ack_id}) as stream:
        assert (await next_event(stream))[1] == later.id


async def test_a_resumed_stream_shows_an_alert_as_raised_and_then_its_acknowledgement(
    store: AlertStore, served: str, gateway: httpx.AsyncClient
) -> None:
    before = await raise_alert(store)
    alert = await raise_alert(store)
    await gateway.post(acknowledge_path(alert.id), json={"operator": "张伟"}, headers=OPS)
    async with subscribed(served, headers=SUBSCRIBER | {"Last-Event-ID": before.id}) as stream:
        raised = await next_event(stream)
        acknowledged = await next_event(stream)
    assert (raised[0], raised[1], raised[2]["acknowledged_by"]) == ("alert", alert.id, None)
    assert (acknowledged[0], acknowledged[2]["id"], acknowledged[2]["acknowledged_by"]) == (
        "alert.acknowledged", alert.id, "张伟",
    )  # fmt: skip


async def test_the_streams_acknowledged_filter_picks_the_kind_of_event(
    store: AlertStore, served: str, gateway: httpx.AsyncClient
) -> None:
    start = await raise_alert(store)
    first, second = await raise_alert(store), await raise_alert(store, stage="delivery")
    for alert in (first, second):
        await gateway.post(acknowledge_path(alert.id), json={}, headers=LI)
    resume = SUBSCRIBER | {"Last-Event-ID": start.id}

    async with subscribed(served, params={"acknowledged": "true"}, headers=resume) as stream:
        got = [await next_event(stream) for _ in range(2)]
        await no_event(stream)
    assert [(name, data["id"]) for name, _, data in got] == [
        ("alert.acknowledged", first.id), ("alert.acknowledged", second.id),
    ]  # fmt: skip
    async with subscribed(
        served, params={"acknowledged": "false", "stage": "delivery"}, headers=resume
    ) as stream:
        assert (await next_event(stream))[:2] == ("alert", second.id)
        await no_event(stream)


async def test_the_openapi_document_describes_acknowledging_and_both_kinds_of_event(
    gateway: httpx.AsyncClient,
) -> None:
    document = (await gateway.get("/openapi.json")).json()
    operation = document["paths"]["/v1/alerts/{alert_id}/acknowledge"]["post"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(operation["responses"])
    body = document["components"]["schemas"]["AcknowledgeBody"]
    assert set(body["properties"]) == {"operator", "note"}
    stream = document["paths"]["/v1/alerts/stream"]["get"]
    event = stream["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert event["properties"]["event"]["enum"] == ["alert", "alert.acknowledged"]
    assert {p["name"] for p in stream["parameters"]} >= {"acknowledged", "Last-Event-ID", "after"}
    record = document["components"]["schemas"]["AlertRecord"]["properties"]
    assert {"episode", "reason", "acknowledged_by", "acknowledged_at", "note"} <= set(record)
