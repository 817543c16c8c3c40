"""Every operator is a person: ``/ops/login`` opens a server-side session that names who signed in,
``/ops/logout`` ends it, and so do the idle and absolute timeouts and a token removed or changed;
in production the shared ops token cannot act, acknowledge or decode; wrong tokens are limited per
client address. Through the real gateway in process, on a real service database (SQLite here; the
store itself is tested on PostgreSQL too), with the gateway's clock set by the test."""

from __future__ import annotations

import base64
import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import create_app
from gateway.failures import FAILURES_ALLOWED
from gateway.sessions import ABSOLUTE_TIMEOUT, COOKIE, IDLE_TIMEOUT, TLS_COOKIE
from infra.settings import Settings
from store.alerts import AlertStore
from store.service import ServiceDatabase
from store.sessions import OpsSessions
from tests.factories import an_alert
from tests.gateway.support import OPS, bearer, gateway_settings

ZHANG_TOKEN = "zhang-wei-personal-token-00000000001"
LI_TOKEN = "li-na-personal-token-000000000000002"
SETTINGS = gateway_settings(
    data_dir=Path(tempfile.mkdtemp(prefix="ods-sessions-")),
    operator_tokens=f"zhang.wei:{ZHANG_TOKEN},li.na:{LI_TOKEN}",
)
T0 = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
NO_PAYLOADS = {"payloads": []}


class Clock:
    """The gateway's clock, moved by the test (no sleeping)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/ods.db"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def gateway_on(engine: AsyncEngine, clock: Clock, settings: Settings = SETTINGS) -> FastAPI:
    app = create_app(settings, client=None, database=ServiceDatabase.on(engine))
    app.state.clock = clock
    return app


@asynccontextmanager
async def browser(
    app: FastAPI, *, address: str = "10.0.0.1", base_url: str = "http://127.0.0.1:8000"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client from ``address`` that keeps cookies, as a browser does."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


def attributes_of(set_cookie: str) -> dict[str, str]:
    """The Set-Cookie header's attributes, names in lower case ("" for a flag)."""
    [morsel] = SimpleCookie(set_cookie).values()
    return {name: str(value) for name, value in morsel.items() if value}


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    resp = await client.post("/ops/login", data={"token": token})
    assert resp.status_code == 303, resp.text
    return resp


async def decode_status(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> int:
    return (await client.post("/codec/decode", json=NO_PAYLOADS, headers=headers)).status_code


# --- signing in and out -----------------------------------------------------------------------


async def test_signing_in_opens_a_session_naming_the_person_and_signing_out_ends_it(
    engine: AsyncEngine, clock: Clock
) -> None:
    app = gateway_on(engine, clock)
    async with browser(app) as client:
        resp = await sign_in(client, ZHANG_TOKEN)
        set_cookie = resp.headers["set-cookie"]
        assert set_cookie.startswith(f"{COOKIE}=")
        attributes = attributes_of(set_cookie)
        assert attributes["httponly"] is not None and "secure" not in attributes
        assert attributes["samesite"].lower() == "strict" and attributes["path"] == "/"
        assert attributes["max-age"] == str(int(ABSOLUTE_TIMEOUT.total_seconds()))
        session_id = client.cookies[COOKIE]
        # The database holds who and the id's hash, never the id nor the token.
        [stored] = await OpsSessions(engine).of("zhang.wei")
        assert stored.personal and session_id not in stored.id_sha256
        assert ZHANG_TOKEN not in stored.token_fingerprint
        page = await client.get("/ops/login")
        assert "Signed in as zhang.wei until 2026-12-10 17:30" in page.text  # 09:30 UTC, Beijing time
        assert await decode_status(client) == 200

        out = await client.post("/ops/logout")
        assert out.status_code == 303 and out.headers["location"] == "/ops/login"
        assert attributes_of(out.headers["set-cookie"])["max-age"] == "0"
        assert await OpsSessions(engine).of("zhang.wei") == []
        # The cookie kept by a copy of it opens nothing any more.
        assert await decode_status(client, {"Cookie": f"{COOKIE}={session_id}"}) == 401


async def test_signing_in_again_ends_the_browsers_earlier_session(engine: AsyncEngine, clock: Clock) -> None:
    async with browser(gateway_on(engine, clock)) as client:
        await sign_in(client, ZHANG_TOKEN)
        first = client.cookies[COOKIE]
        await sign_in(client, LI_TOKEN)
        assert await OpsSessions(engine).of("zhang.wei") == []
        assert [s.operator for s in await OpsSessions(engine).of("li.na")] == ["li.na"]
        assert await decode_status(client, {"Cookie": f"{COOKIE}={first}"}) == 401


async def test_outside_production_the_shared_token_signs_in_under_a_name_that_says_so(
    engine: AsyncEngine, clock: Clock
) -> None:
    async with browser(gateway_on(engine, clock)) as client:
        await sign_in(client, SETTINGS.ops_token)
        [stored] = await OpsSessions(engine).of("shared-ops-token")
        assert not stored.personal
        assert "Signed in as the shared ops token (ODS_OPS_TOKEN)" in (await client.get("/ops/login")).text
        assert await decode_status(client) == 200


async def test_a_forged_or_unknown_session_cookie_is_401(engine: AsyncEngine, clock: Clock) -> None:
    async with browser(gateway_on(engine, clock)) as client:
        for value in ("v1.99999999999.00", "x" * 43, ""):
            assert await decode_status(client, {"Cookie": f"{COOKIE}={value}"}) == 401


# --- when a session ends by itself -------------------------------------------------------------


async def test_a_session_unused_for_the_idle_timeout_ends(engine: AsyncEngine, clock: Clock) -> None:
    async with browser(gateway_on(engine, clock)) as client:
        await sign_in(client, ZHANG_TOKEN)
        almost = IDLE_TIMEOUT - timedelta(minutes=1)
        clock.now += almost
        assert await decode_status(client) == 200  # used: the idle time counts from here
        clock.now += almost
        assert await decode_status(client) == 200
        clock.now += IDLE_TIMEOUT
        assert await decode_status(client) == 401
        assert await OpsSessions(engine).of("zhang.wei") == []


async def test_a_session_ends_at_its_absolute_timeout_however_busy(engine: AsyncEngine, clock: Clock) -> None:
    async with browser(gateway_on(engine, clock)) as client:
        await sign_in(client, ZHANG_TOKEN)
        step = IDLE_TIMEOUT / 2
        while clock.now + step < T0 + ABSOLUTE_TIMEOUT:
            clock.now += step
            assert await decode_status(client) == 200, clock.now
        clock.now = T0 + ABSOLUTE_TIMEOUT
        assert await decode_status(client) == 401


async def test_removing_or_changing_a_persons_token_ends_their_sessions_on_every_gateway(
    engine: AsyncEngine, clock: Clock
) -> None:
    first = gateway_on(engine, clock)
    async with browser(first) as zhang, browser(first) as li, browser(first) as shared:
        await sign_in(zhang, ZHANG_TOKEN)
        await sign_in(li, LI_TOKEN)
        await sign_in(shared, SETTINGS.ops_token)
        # Another gateway on the same database, as configured before: it sees every session.
        same = gateway_on(engine, clock)
        async with browser(same) as other:
            for client in (zhang, li, shared):
                assert await decode_status(other, {"Cookie": f"{COOKIE}={client.cookies[COOKIE]}"}) == 200
        # A gateway restarted with zhang.wei's token removed, li.na's changed and a new ops token.
        changed = SETTINGS.model_copy(
            update={
                "operator_tokens": "li.na:li-na-new-personal-token-000000000003",
                "ops_token": "a-new-shared-ops-token",
            }
        )
        async with browser(gateway_on(engine, clock, changed)) as restarted:
            for client in (zhang, li, shared):
                cookie = {"Cookie": f"{COOKIE}={client.cookies[COOKIE]}"}
                assert await decode_status(restarted, cookie) == 401
        # Ended for good: the first gateway does not take them back either.
        for client in (zhang, li, shared):
            assert await decode_status(client) == 401


async def test_a_new_session_secret_ends_every_session(engine: AsyncEngine, clock: Clock) -> None:
    async with browser(gateway_on(engine, clock)) as client:
        await sign_in(client, ZHANG_TOKEN)
        renewed = SETTINGS.model_copy(update={"session_secret": "a-new-session-secret"})
        async with browser(gateway_on(engine, clock, renewed)) as restarted:
            assert await decode_status(restarted, {"Cookie": f"{COOKIE}={client.cookies[COOKIE]}"}) == 401


# --- the cookie over TLS ------------------------------------------------------------------------


async def test_over_tls_the_cookie_is_host_prefixed_and_secure(engine: AsyncEngine, clock: Clock) -> None:
    settings = SETTINGS.model_copy(update={"gateway_url": "https://gateway.example.cn"})
    app = gateway_on(engine, clock, settings)
    async with browser(app, base_url="https://gateway.example.cn") as client:
        resp = await sign_in(client, ZHANG_TOKEN)
        assert resp.headers["set-cookie"].startswith(f"{TLS_COOKIE}=")
        attributes = attributes_of(resp.headers["set-cookie"])
        assert "secure" in attributes and attributes["path"] == "/" and "domain" not in attributes
        assert attributes["samesite"].lower() == "strict" and "httponly" in attributes
        assert await decode_status(client) == 200
        # The plain name is not this gateway's cookie.
        value = client.cookies[TLS_COOKIE]
        client.cookies.clear()
        assert await decode_status(client, {"Cookie": f"{COOKIE}={value}"}) == 401
        assert await decode_status(client, {"Cookie": f"{TLS_COOKIE}={value}"}) == 200


# --- production: a person acts, acknowledges and decodes ----------------------------------------


def production_settings() -> Settings:
    strong = {
        name: f"production-{name}".ljust(40, "x")
        for name in ("portal_token", "ops_token", "alerts_token", "callback_secret", "webhook_secret")
    }
    return Settings(
        env="production",
        temporal_address="127.0.0.1:1",
        data_dir=SETTINGS.data_dir,
        codec_keys="k2026:" + base64.b64encode(bytes(range(32))).decode(),
        session_secret="production-session-secret".ljust(40, "x"),
        operator_tokens=f"zhang.wei:{ZHANG_TOKEN}",
        **strong,
    )


async def test_in_production_the_shared_ops_token_cannot_sign_in_act_acknowledge_or_decode(
    engine: AsyncEngine, clock: Clock
) -> None:
    settings = production_settings()
    shared, zhang = bearer(settings.ops_token), bearer(ZHANG_TOKEN)
    alert, _ = await AlertStore(engine).record(an_alert(1, stage="invoice", level="breached"))
    async with browser(gateway_on(engine, clock, settings)) as client:
        refused = await client.post("/ops/login", data={"token": settings.ops_token})
        assert refused.status_code == 403 and "ODS_ENV=production" in refused.text
        assert "set-cookie" not in refused.headers
        for answer in (
            await client.post("/codec/decode", json=NO_PAYLOADS, headers=shared),
            await client.post(
                "/v1/applications/AY20261127-0001/actions",
                json={"action": "retry", "operator": "值班员", "note": "try again"},
                headers=shared,
            ),
            await client.post(
                f"/v1/alerts/{alert.id}/acknowledge", json={"operator": "值班员"}, headers=shared
            ),
            await client.post(
                "/v1/ratings/rt-0123456789abcdef0123/actions",
                json={"action": "claim", "operator": "值班员"},
                headers=shared,
            ),
        ):
            assert answer.status_code == 403, answer.text
            assert "ODS_ENV=production" in answer.json()["detail"] and "personal" in answer.json()["detail"]
        assert (await AlertStore(engine).get(alert.id)).acknowledged_by is None  # type: ignore[union-attr]
        # The shared token still reads what it read; a person does all of it.
        assert (await client.get("/v1/alerts", headers=shared)).status_code == 200
        assert await decode_status(client, zhang) == 200
        acknowledged = await client.post(f"/v1/alerts/{alert.id}/acknowledge", json={}, headers=zhang)
        assert acknowledged.json()["acknowledged_by"] == "zhang.wei"
        await sign_in(client, ZHANG_TOKEN)
        assert await decode_status(client) == 200


# --- guessing ------------------------------------------------------------------------------------


async def test_wrong_tokens_from_one_address_are_429_with_retry_after_and_another_address_is_not(
    engine: AsyncEngine, clock: Clock
) -> None:
    app = gateway_on(engine, clock)
    allowed = FAILURES_ALLOWED.amount
    async with browser(app, address="10.0.0.66") as guesser, browser(app, address="10.0.0.7") as colleague:
        for n in range(allowed):
            wrong = bearer(f"guess-{n}") if n % 2 else {}
            resp = await guesser.get("/v1/alerts", headers=wrong or bearer("guess"))
            assert resp.status_code == 401, (n, resp.text)
        for attempt in (
            await guesser.get("/v1/alerts", headers=OPS),  # the right token too: not even compared
            await guesser.post("/codec/decode", json=NO_PAYLOADS, headers=OPS),
            await guesser.post("/ops/login", data={"token": ZHANG_TOKEN}),
        ):
            assert attempt.status_code == 429, attempt.text
            assert 1 <= int(attempt.headers["retry-after"]) <= FAILURES_ALLOWED.get_expiry()
        assert "set-cookie" not in attempt.headers
        assert (await colleague.get("/v1/alerts", headers=OPS)).status_code == 200
        await sign_in(colleague, ZHANG_TOKEN)


async def test_wrong_sign_ins_count_and_requests_without_a_token_do_not(
    engine: AsyncEngine, clock: Clock
) -> None:
    app = gateway_on(engine, clock)
    async with browser(app, address="10.0.0.8") as client:
        for _ in range(FAILURES_ALLOWED.amount * 2):
            assert (await client.get("/v1/alerts")).status_code == 401
            assert await decode_status(client, {"Cookie": f"{COOKIE}=expired-or-unknown"}) == 401
        assert (await client.get("/v1/alerts", headers=OPS)).status_code == 200
        for n in range(FAILURES_ALLOWED.amount):
            assert (await client.post("/ops/login", data={"token": f"guess-{n}"})).status_code == 401
        locked = await client.post("/ops/login", data={"token": ZHANG_TOKEN})
        assert locked.status_code == 429 and "retry-after" in locked.headers
        assert "too many wrong tokens" in locked.text


async def test_each_failure_is_logged_with_the_address_and_never_the_token(
    engine: AsyncEngine,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    guess = "a-guessed-token-that-must-not-be-logged"
    async with browser(gateway_on(engine, clock), address="10.0.0.9") as client:
        with caplog.at_level(logging.INFO):
            await client.get("/v1/alerts", headers=bearer(guess))
            await client.post("/ops/login", data={"token": guess + "2"})
            await sign_in(client, ZHANG_TOKEN)
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert logged.count("auth_failed") == 2 and "10.0.0.9" in logged
    assert "ops_session_opened" in logged and "zhang.wei" in logged
    assert guess not in logged and ZHANG_TOKEN not in logged
