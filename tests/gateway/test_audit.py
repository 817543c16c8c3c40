"""The audit log of personal data through the gateway (``service/audit.py``, ``GET /v1/audit``):
every decode, document served and acknowledgement is recorded under the caller's name, address and
user agent; only an auditor reads the log, and an auditor's token opens nothing else;
``starter.py audit verify`` and ``export`` on the same database. In process (httpx's
ASGITransport), no Temporal; the actions are recorded in tests/e2e/test_operator_actions_e2e.py."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from limits import parse
from pydantic import ValidationError
from sqlalchemy import text
from temporalio.api.common.v1 import Payload

from domain.audit import AuditEntry
from gateway.app import create_app
from gateway.failures import FailureLimiter
from infra.codec import EncryptionCodec
from infra.settings import Settings
from service.audit import cases_of_payloads
from store.alerts import AlertStore
from store.audit import AuditLog
from store.db import transaction
from store.documents import CaseDocuments
from store.service import ServiceDatabase
from tests.factories import an_alert
from tests.gateway.support import OPS, PORTAL, SUBSCRIBER, bearer, fields_of, gateway_settings, in_process
from tests.infra.test_settings import STRONG as BASE_STRONG

ROOT = Path(__file__).resolve().parents[2]
ZHANG_TOKEN = "zhang-wei-personal-token-000001"
AUDITOR_TOKEN = "wang-fang-auditor-token-0000001"
KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
SETTINGS = gateway_settings(
    data_dir=Path(tempfile.mkdtemp(prefix="ods-audit-test-")),
    codec_keys=KEYS,
    operator_tokens=f"zhang.wei:{ZHANG_TOKEN}",
    auditor_tokens=f"wang.fang:{AUDITOR_TOKEN}",
)
ZHANG = bearer(ZHANG_TOKEN)
AUDITOR = bearer(AUDITOR_TOKEN)
CASE = "AY20261127-0001"
PDF = b"%PDF-1.4\n% a small stand-in\n%%EOF\n"
SECRET = b'{"id_number":"410502199001011234","phone":"13803720000"}'


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # What the gateway records does not depend on the database (tests/store/test_audit_log.py runs
    # the log on both): SQLite only.
    return f"sqlite+aiosqlite:///{tmp_path}/ods.db"


@pytest.fixture
def app(store: AlertStore) -> FastAPI:
    app = create_app(SETTINGS, client=None, database=ServiceDatabase.on(store.engine))
    # These tests present many wrong tokens on purpose; the limit is tests/gateway/test_ops_sessions.py's.
    app.state.failures = FailureLimiter(parse("1000 per minute"))
    return app


async def audit_entries(gateway: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    resp = await gateway.get("/v1/audit", params=params, headers=AUDITOR)
    assert resp.status_code == 200, resp.text
    entries: list[dict[str, Any]] = resp.json()["entries"]
    return entries


def wire(payloads: list[Payload]) -> dict[str, Any]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


# --- the setting ---------------------------------------------------------------------------------

STRONG = BASE_STRONG | {"codec_keys": KEYS}


@pytest.mark.parametrize(
    "change,named",
    [
        (
            {"auditor_tokens": "wang.fang:short-auditor-token"},
            "ODS_AUDITOR_TOKENS (wang.fang) is shorter than 32",
        ),
        (
            {"auditor_tokens": f"wang.fang:{'c' * 40}"},
            "ODS_AUDITOR_TOKENS (wang.fang) is the same as ODS_CALLBACK",
        ),
    ],
)
def test_exposed_the_auditors_tokens_must_be_real_ones(change: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        Settings(env="production", **(STRONG | change))
    Settings(env="production", **(STRONG | {"auditor_tokens": f"wang.fang:{'f' * 40}"}))


@pytest.mark.parametrize("taken", ["ops_token", "operator_tokens"])
def test_an_auditors_token_that_opens_anything_else_is_refused(taken: str) -> None:
    token = "same-token-for-two-roles-0001"
    given = {"ops_token": token} if taken == "ops_token" else {"operator_tokens": f"zhang.wei:{token}"}
    with pytest.raises(ValidationError, match=re.escape("wang.fang's token is the same as")) as refused:
        Settings(auditor_tokens=f"wang.fang:{token}", **given)
    assert token not in str(refused.value)


def test_a_decode_is_attributed_to_the_cases_whose_keys_it_opened() -> None:
    sealed = b"binary/encrypted"
    metadata = [
        {"encryption-key-id": b"case/AY20261127-0002", "encoding": sealed},
        {"encryption-key-id": b"case/AY20261127-0001", "encoding": sealed},
        {"encryption-key-id": b"case/AY20261127-0002", "encoding": sealed},
        {"encryption-key-id": b"k1", "encoding": sealed},  # the master key: counted, no case
        {"encryption-key-id": b"case/AY20261127-0003"},  # not marked encrypted: neither
        {"encoding": b"json/plain"},  # not encrypted: not counted
    ]
    payloads = [Payload(metadata=meta, data=b"") for meta in metadata]
    assert cases_of_payloads(payloads) == (["AY20261127-0001", "AY20261127-0002"], 4)


# --- through the gateway -------------------------------------------------------------------------


async def test_only_an_auditor_reads_the_log_and_an_auditors_token_opens_nothing_else(
    gateway: httpx.AsyncClient,
) -> None:
    for headers in (OPS, ZHANG, PORTAL, SUBSCRIBER, {}):
        assert (await gateway.get("/v1/audit", headers=headers)).status_code == 401
    assert (await gateway.get("/v1/audit", headers=AUDITOR)).json() == {"entries": [], "next_cursor": None}
    for method, path in [
        ("GET", "/v1/alerts"),
        ("GET", f"/v1/applications/{CASE}/documents/acceptance_receipt"),
        ("GET", "/v1/subsidies?month=2026-11"),
        ("POST", "/codec/decode"),
        ("POST", "/codec/encode"),
    ]:
        resp = await gateway.request(method, path, headers=AUDITOR, json={"payloads": []})
        assert resp.status_code == 401, (path, resp.text)
    refused = await gateway.post("/ops/login", data={"token": AUDITOR_TOKEN})
    assert refused.status_code == 401 and "ods_ops_session" not in refused.cookies
    # The gateway has no way to change the log: no method but GET on it.
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await gateway.request(method, "/v1/audit", headers=AUDITOR)).status_code == 405
    # Only the refused sign-in with the auditor's token is in it.
    [refusal] = (await gateway.get("/v1/audit", headers=AUDITOR)).json()["entries"]
    assert (refusal["action"], refusal["actor"], refusal["detail"]) == (
        "login_failed",
        "unknown",
        "not an ops token",
    )


async def test_every_decode_is_recorded_with_who_from_where_which_cases_and_how_many(
    gateway: httpx.AsyncClient,
) -> None:
    codec = EncryptionCodec.from_text(KEYS)
    sealed = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=SECRET)] * 2)
    # Payloads under a case's own key name their case: tests/e2e/test_erasure_e2e.py (real keys).
    agent = {"User-Agent": "Mozilla/5.0 (temporal-ui) 13803720000", "X-Namespace": "default"}
    resp = await gateway.post("/codec/decode", json=wire(sealed), headers=ZHANG | agent)
    assert resp.status_code == 200, resp.text
    resp = await gateway.post("/codec/decode", json=wire(sealed[:1]), headers=OPS)
    assert resp.status_code == 200, resp.text
    # The Web UI's way: the session cookie of /ops/login, which names the person who signed in.
    assert (await gateway.post("/ops/login", data={"token": ZHANG_TOKEN})).status_code == 303
    assert (await gateway.post("/codec/decode", json={"payloads": []})).status_code == 200
    gateway.cookies.clear()
    # A refused decode opened nothing: not recorded.
    tampered = wire(sealed[:1])
    tampered["payloads"][0]["data"] = base64.b64encode(b"x" * 40).decode()
    assert (await gateway.post("/codec/decode", json=tampered, headers=OPS)).status_code == 422

    entries = await audit_entries(gateway, action="decode")
    assert [(e["actor"], e["role"], e["cases"], e["payloads"]) for e in entries] == [
        ("zhang.wei", "ops", [], 2),
        ("shared-ops-token", "ops", [], 1),
        ("zhang.wei", "ops", [], 0),
    ]
    first = entries[0]
    assert first["client"] == "127.0.0.1"
    assert first["user_agent"] == "Mozilla/5.0 (temporal-ui) 138****0000"  # masked like any text
    assert first["detail"] == "namespace default"
    by_zhang = await audit_entries(gateway, actor="zhang.wei")
    assert [e["id"] for e in by_zhang if e["action"] == "decode"] == [first["id"], entries[2]["id"]]
    assert [e["action"] for e in by_zhang] == ["decode", "login", "decode"]
    assert "410502199001011234" not in json.dumps(entries)


async def test_documents_and_acknowledgements_are_recorded(
    gateway: httpx.AsyncClient, store: AlertStore
) -> None:
    await CaseDocuments(store.engine).save(CASE, "acceptance_receipt", PDF)
    url = f"/v1/applications/{CASE}/documents/acceptance_receipt"
    for headers in (PORTAL, ZHANG):
        assert (await gateway.get(url, headers=headers)).content == PDF
    missing = await gateway.get(f"/v1/applications/{CASE}/documents/business_licence", headers=PORTAL)
    assert missing.status_code == 404  # nothing served: nothing recorded
    alert, _ = await store.record(an_alert(1, stage="invoice", level="breached"))
    other, _ = await store.record(an_alert(2, stage="invoice", level="breached"))
    assert (
        await gateway.post(f"/v1/alerts/{alert.id}/acknowledge", json={}, headers=ZHANG)
    ).status_code == 200
    shared = await gateway.post(
        f"/v1/alerts/{other.id}/acknowledge", json={"operator": "值班员"}, headers=OPS
    )
    assert shared.status_code == 200

    entries = await audit_entries(gateway)
    assert [(e["action"], e["actor"], e["role"], e["cases"], e["detail"]) for e in entries] == [
        ("document", "shared-portal-token", "portal", [CASE], "acceptance_receipt"),
        ("document", "zhang.wei", "ops", [CASE], "acceptance_receipt"),
        ("acknowledge", "zhang.wei", "ops", [CASE], f"alert {alert.id} (invoice breached)"),
        (
            "acknowledge",
            "shared-ops-token",
            "ops",
            ["AY20261127-0002"],
            f"alert {other.id} (invoice breached) as 值班员",
        ),
    ]
    assert all(AuditEntry.model_validate(e).computed_hash() == e["hash"] for e in entries)
    assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]


async def test_pages_go_oldest_first_and_bad_parameters_are_named(
    gateway: httpx.AsyncClient, store: AlertStore
) -> None:
    log = AuditLog(store.engine)
    for n in range(5):
        await log.append(actor="zhang.wei", role="ops", action="decode", payloads=n)
    first = (await gateway.get("/v1/audit", params={"limit": "2"}, headers=AUDITOR)).json()
    assert [e["payloads"] for e in first["entries"]] == [0, 1] and first["next_cursor"] == "000000000002"
    rest = (await gateway.get("/v1/audit", params={"after": first["next_cursor"]}, headers=AUDITOR)).json()
    assert [e["payloads"] for e in rest["entries"]] == [2, 3, 4] and rest["next_cursor"] is None
    since = first["entries"][1]["at"]
    assert [e["payloads"] for e in await audit_entries(gateway, since=since)] == [1, 2, 3, 4]
    assert [e["payloads"] for e in await audit_entries(gateway, until=since)] == [0]
    for name, bad in [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "+5"),
        ("action", "read"),
        ("case", "../etc"),
        ("after", "abc"),
        ("since", "2026-12-01T00:00:00"),  # no zone
        ("until", "yesterday"),
        ("actor", ""),
    ]:
        assert fields_of(await gateway.get("/v1/audit", params={name: bad}, headers=AUDITOR)) == {name}, (
            name,
            bad,
        )
    backwards = {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
    assert fields_of(await gateway.get("/v1/audit", params=backwards, headers=AUDITOR)) == {"until"}


async def test_the_route_is_in_the_openapi_document(gateway: httpx.AsyncClient) -> None:
    document = (await gateway.get("/openapi.json")).json()
    route = document["paths"]["/v1/audit"]["get"]
    assert {p["name"] for p in route["parameters"]} == {
        "case",
        "actor",
        "action",
        "since",
        "until",
        "after",
        "limit",
    }
    assert set(route["responses"]) >= {"200", "401", "422"}


# --- the command line ----------------------------------------------------------------------------


def starter(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    env |= {"ODS_DATABASE_URL": database_url, "USER": "auditor-on-duty", "LOGNAME": "auditor-on-duty"}
    return subprocess.run(
        [sys.executable, "starter.py", "audit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_command_line_verifies_the_chain_and_exports_it(
    store: AlertStore, database_url: str
) -> None:
    log = AuditLog(store.engine)
    for n in range(3):
        await log.append(actor="zhang.wei", role="ops", action="decode", cases=[CASE], payloads=n)
    since = (await log.page())[0][1].at.isoformat()

    held = await asyncio.to_thread(starter, database_url, "verify")
    assert held.returncode == 0 and "holds: 3 entries" in held.stdout, held.stderr
    exported = await asyncio.to_thread(starter, database_url, "export", "--since", since)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["000000000002", "000000000003"]
    assert all(AuditEntry.model_validate(line).computed_hash() == line["hash"] for line in lines)
    recorded = (await log.page(action="export"))[0]
    assert [(e.actor, e.role, e.detail.endswith(": 2 entries")) for e in recorded] == [
        ("auditor-on-duty", "cli", True)
    ]
    naive = await asyncio.to_thread(starter, database_url, "export", "--since", "2026-12-01T00:00")
    assert naive.returncode == 1 and "with its zone" in naive.stderr

    async with transaction(store.engine, write=True) as conn:
        await conn.execute(text("DROP TRIGGER audit_log_no_update"))
        await conn.execute(text("UPDATE audit_log SET cases = '[]' WHERE seq = 2"))
    broken = await asyncio.to_thread(starter, database_url, "verify")
    assert broken.returncode == 1 and "broken at entry 000000000002" in broken.stderr, broken.stderr


async def test_nothing_is_decoded_or_served_while_the_log_cannot_be_written() -> None:
    nowhere = ServiceDatabase("postgresql+asyncpg://ods@127.0.0.1:1/ods", connect_timeout_s=5)
    app = create_app(SETTINGS, client=None, database=nowhere)
    sealed = await EncryptionCodec.from_text(KEYS).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=SECRET)]
    )
    async with in_process(app) as gateway:
        resp = await gateway.post("/codec/decode", json=wire(sealed), headers=ZHANG)
    assert resp.status_code == 503 and "410502" not in resp.text, resp.text
