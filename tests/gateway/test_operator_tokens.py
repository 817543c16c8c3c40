"""Personal ops tokens (``ODS_OPERATOR_TOKENS``): parsed and checked at start (a bad one stops every
part with the reason, never the token), accepted wherever the ops token is (``/ops/login`` and the
codec session included), and the name an acknowledgement or action is recorded under
(``Caller.operator``).
Through the real gateway over HTTP (httpx's ASGITransport; no Temporal is needed)."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import ValidationError

from domain.validation import ApplicationInvalid
from gateway.app import create_app
from gateway.auth import Caller, Role
from infra.settings import Settings, parse_operator_tokens
from store.alerts import AlertStore
from store.service import ServiceDatabase
from tests.factories import an_alert
from tests.gateway.support import OPS, PORTAL, SUBSCRIBER, bearer, gateway_settings

ROOT = Path(__file__).resolve().parents[2]
ZHANG_TOKEN = "Zh4ng-Wei.personal~token+0001/="
LI_TOKEN = "li-na-personal-token-000000002"
SETTINGS = gateway_settings(
    data_dir=Path(tempfile.mkdtemp(prefix="ods-operator-tokens-")),
    operator_tokens=f" zhang.wei:{ZHANG_TOKEN} ,李娜:{LI_TOKEN},",
)
ZHANG = bearer(ZHANG_TOKEN)
LI = bearer(LI_TOKEN)


# --- the setting ---------------------------------------------------------------------------------


def test_pairs_are_parsed_with_spaces_and_a_trailing_comma_forgiven() -> None:
    assert SETTINGS.personal_ops_tokens == {"zhang.wei": ZHANG_TOKEN, "李娜": LI_TOKEN}
    assert Settings().personal_ops_tokens == {}  # empty by default
    assert parse_operator_tokens("") == {} and parse_operator_tokens(" , ") == {}


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODS_OPERATOR_TOKENS", f"zhang.wei:{ZHANG_TOKEN}")
    assert Settings().personal_ops_tokens == {"zhang.wei": ZHANG_TOKEN}


TOKEN = "a-perfectly-good-personal-token-1234"
BAD = [
    (f"zhang.wei{TOKEN}", "entry 1 is not name:token"),
    (f"zhang.wei:{TOKEN},:{TOKEN}x", "entry 2: the name must be"),
    (f"zhang wei:{TOKEN}", "entry 1: the name must be"),
    ("zhang.wei:short-token", "entry 1 (zhang.wei): the token must be 16 to 512"),
    ("zhang.wei:a token with spaces in it", "entry 1 (zhang.wei): the token must be"),
    (f"zhang.wei:{TOKEN},zhang.wei:{TOKEN}-2", "entry 2 (zhang.wei): the name zhang.wei is given twice"),
    (f"zhang.wei:{TOKEN},li.na:{TOKEN}", "entry 2 (li.na): the token is the same as zhang.wei's"),
    (f"shared-ops-token:{TOKEN}", "entry 1 (shared-ops-token): shared-ops-token names the shared ops token"),
]


@pytest.mark.parametrize(("value", "message"), BAD)
def test_a_bad_entry_is_refused_with_a_clear_message_that_never_shows_a_token(
    value: str, message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(operator_tokens=value)
    text = str(refused.value)
    assert f"ODS_OPERATOR_TOKENS {message}" in text
    assert TOKEN not in text and "short-token" not in text and "spaces in it" not in text


@pytest.mark.parametrize("role", ["portal_token", "ops_token", "alerts_token"])
def test_a_personal_token_equal_to_a_roles_token_is_refused(role: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{role: TOKEN}, operator_tokens=f"zhang.wei:{TOKEN}")
    text = str(refused.value)
    assert f"zhang.wei's token is the same as ODS_{role.upper()}" in text
    assert TOKEN not in text


def test_production_takes_personal_tokens_beside_real_secrets() -> None:
    real = {
        name: f"real-{name}-value".ljust(32, "x") for name in ("portal_token", "ops_token", "alerts_token")
    }
    real |= {
        "callback_secret": "real-callback".ljust(32, "x"),
        "webhook_secret": "real-webhook".ljust(32, "x"),
        "session_secret": "real-session".ljust(32, "x"),
    }
    real["codec_keys"] = "k2026:" + base64.b64encode(bytes(range(32))).decode()
    settings = Settings(env="production", operator_tokens=f"zhang.wei:{TOKEN}", **real)
    assert settings.personal_ops_tokens == {"zhang.wei": TOKEN}


@pytest.mark.parametrize("command", [["worker.py"], ["-m", "gateway"]])
def test_a_bad_entry_stops_each_part_at_start_with_the_reason(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    env |= {
        "ODS_OPERATOR_TOKENS": f"zhang.wei:{TOKEN},li.na:{TOKEN}",
        "ODS_TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    done = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    output = done.stderr + done.stdout
    assert "ODS_OPERATOR_TOKENS entry 2 (li.na): the token is the same as zhang.wei's" in output
    assert TOKEN not in output
    assert "Traceback" not in done.stderr, done.stderr[-2000:]


# --- who acts ------------------------------------------------------------------------------------


def an_ops_caller(name: str, *, personal: bool) -> Caller:
    return Caller(role=Role.OPS, name=name, personal=personal, client="10.0.0.1", user_agent="", via="bearer")


def test_a_personal_caller_acts_under_its_own_name_only() -> None:
    caller = an_ops_caller("zhang.wei", personal=True)
    assert caller.personal_name == "zhang.wei"
    assert caller.operator(None) == "zhang.wei"
    assert caller.operator("zhang.wei") == "zhang.wei"
    assert caller.operator(" zhang.wei ") == "zhang.wei"
    assert caller.operator("") == "zhang.wei"
    with pytest.raises(HTTPException) as refused:
        caller.operator("li.na")
    assert refused.value.status_code == 403


def test_the_shared_token_records_the_name_given_and_needs_one() -> None:
    caller = an_ops_caller("shared-ops-token", personal=False)
    assert caller.personal_name is None
    assert caller.operator("李娜") == "李娜"
    assert caller.operator(" 李娜 ") == "李娜"
    for missing in (None, "", "   "):
        with pytest.raises(ApplicationInvalid) as refused:
            caller.operator(missing)
        assert [e.field for e in refused.value.errors] == ["operator"]


# --- through the gateway -------------------------------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # Whose name is recorded does not depend on the database: SQLite only.
    return f"sqlite+aiosqlite:///{tmp_path}/ods.db"


@pytest.fixture
def app(store: AlertStore) -> FastAPI:
    return create_app(SETTINGS, client=None, database=ServiceDatabase.on(store.engine))


async def raised(store: AlertStore, n: int) -> str:
    alert, _ = await store.record(an_alert(n, stage="invoice", level="breached"))
    return alert.id


async def test_a_personal_token_opens_what_the_ops_token_opens(gateway: httpx.AsyncClient) -> None:
    for headers in (OPS, ZHANG, LI):
        assert (await gateway.get("/v1/alerts", headers=headers)).status_code == 200
        assert (
            await gateway.get("/v1/subsidies", params={"month": "2026-11"}, headers=headers)
        ).status_code == 200
        codec = await gateway.post("/codec/encode", json={"payloads": []}, headers=headers)
        assert codec.status_code == 200, codec.text
        # The portal's routes too (no Temporal here: past the token, the case list is a 503).
        assert (await gateway.get("/v1/applications", headers=headers)).status_code == 503
    for headers in (PORTAL, SUBSCRIBER, {"Authorization": "Bearer zhang.wei"}):
        assert (
            await gateway.post("/codec/encode", json={"payloads": []}, headers=headers)
        ).status_code == 401
        assert (
            await gateway.get("/v1/subsidies", params={"month": "2026-11"}, headers=headers)
        ).status_code == 401


async def test_a_personal_token_signs_in_for_the_web_uis_codec_cookie(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.post("/ops/login", data={"token": ZHANG_TOKEN})
    assert resp.status_code == 303, resp.text
    assert "ods_ops_session" in resp.cookies
    page = await gateway.get("/ops/login")
    assert "Signed in as zhang.wei until" in page.text
    assert (await gateway.post("/codec/decode", json={"payloads": []})).status_code == 200  # the cookie
    gateway.cookies.clear()
    refused = await gateway.post("/ops/login", data={"token": "zhang.wei"})
    assert refused.status_code == 401 and "ods_ops_session" not in refused.cookies


async def test_an_acknowledgement_is_recorded_under_the_tokens_name(
    store: AlertStore, gateway: httpx.AsyncClient
) -> None:
    first, second, third = [await raised(store, n) for n in (1, 2, 3)]
    resp = await gateway.post(f"/v1/alerts/{first}/acknowledge", json={}, headers=LI)
    assert resp.status_code == 200 and resp.json()["acknowledged_by"] == "李娜"
    refused = await gateway.post(f"/v1/alerts/{second}/acknowledge", json={"operator": "李娜"}, headers=ZHANG)
    assert refused.status_code == 403
    assert (await store.get(second)).acknowledged_by is None  # type: ignore[union-attr]
    for headers in (PORTAL, SUBSCRIBER):
        assert (
            await gateway.post(f"/v1/alerts/{second}/acknowledge", json={}, headers=headers)
        ).status_code == 401
    shared = await gateway.post(f"/v1/alerts/{third}/acknowledge", json={"operator": "值班员"}, headers=OPS)
    assert shared.status_code == 200 and shared.json()["acknowledged_by"] == "值班员"


async def test_tokens_never_reach_the_log(
    store: AlertStore,
    gateway: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    alert = await raised(store, 9)
    with caplog.at_level(logging.DEBUG):
        await gateway.post(f"/v1/alerts/{alert}/acknowledge", json={"note": "x"}, headers=ZHANG)
        await gateway.post(f"/v1/alerts/{alert}/acknowledge", json={}, headers=LI)
        await gateway.post("/ops/login", data={"token": ZHANG_TOKEN})
        await gateway.get("/v1/alerts", headers={"Authorization": f"Bearer {ZHANG_TOKEN}x"})
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "alert_acknowledged" in logged  # the gateway did log the acknowledgement, by name
    assert ZHANG_TOKEN not in logged and LI_TOKEN not in logged
