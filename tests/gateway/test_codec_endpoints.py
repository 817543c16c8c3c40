"""The gateway's codec endpoints (``/codec/encode``, ``/codec/decode``) and the ops sign-in page
(``/ops/login``): who may, CORS for exactly the Web UI's origin, the codec protocol's JSON. The
sessions themselves (timeouts, sign-out, tokens removed, production) in ``test_ops_sessions.py``.

In process (httpx's ASGITransport; no Temporal is needed or reached)."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from temporalio.api.common.v1 import Payload

from gateway.app import create_app
from gateway.sessions import ABSOLUTE_TIMEOUT, COOKIE
from infra.codec import EncryptionCodec
from infra.settings import Settings
from tests.gateway.support import OPS, gateway_settings, in_process

KEYS = f"k2:{base64.b64encode(os.urandom(32)).decode()},k1:{base64.b64encode(os.urandom(32)).decode()}"
UI = "http://127.0.0.1:18233"
SETTINGS = gateway_settings(
    data_dir=Path(tempfile.mkdtemp(prefix="ods-codec-test-")), codec_keys=KEYS, ui_origin=UI
)
CODEC = EncryptionCodec.from_text(KEYS)
SECRET = b'{"id_number":"410502199001011234","phone":"13803720000"}'


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def wire(payloads: list[Payload]) -> dict[str, Any]:
    """Payloads as the codec protocol's JSON (what the CLI and the Web UI send)."""
    return {
        "payloads": [
            {"metadata": {k: b64(v) for k, v in p.metadata.items()}, "data": b64(p.data)} for p in payloads
        ]
    }


def from_wire(body: dict[str, Any]) -> list[Payload]:
    return [
        Payload(
            metadata={k: base64.b64decode(v) for k, v in p.get("metadata", {}).items()},
            data=base64.b64decode(p.get("data", "")),
        )
        for p in body["payloads"]
    ]


PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=SECRET)


@pytest.fixture
def app() -> FastAPI:
    return create_app(SETTINGS, client=None)


@pytest_asyncio.fixture
async def gateway(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # The sign-in page names the codec at the address the browser reached the gateway on.
    async with in_process(app, base_url="http://127.0.0.1:8000") as client:
        yield client
    assert not app.state.temporal.connected  # the codec never needs Temporal


async def encrypted() -> dict[str, Any]:
    return wire(await CODEC.encode([PLAIN]))


async def signed_in(gateway: httpx.AsyncClient) -> httpx.Response:
    resp = await gateway.post("/ops/login", data={"token": SETTINGS.ops_token})
    assert resp.status_code == 303, resp.text
    return resp


# --- the protocol -----------------------------------------------------------------------------


async def test_decode_with_the_ops_token_gives_back_the_plaintext_payload(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.post(
        "/codec/decode?preserveStorageRefs=true",
        json=await encrypted(),
        headers=OPS | {"X-Namespace": "default"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert from_wire(resp.json()) == [PLAIN]


async def test_encode_encrypts_with_the_first_key_and_decode_reverses_it(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.post("/codec/encode", json=wire([PLAIN, PLAIN]), headers=OPS)
    assert resp.status_code == 200, resp.text
    encoded = from_wire(resp.json())
    assert [p.metadata["encryption-key-id"] for p in encoded] == [b"k2", b"k2"]
    assert all(b"410502199001011234" not in p.data for p in encoded)
    assert await CODEC.decode(encoded) == [PLAIN, PLAIN]
    back = await gateway.post("/codec/decode", json=resp.json(), headers=OPS)
    assert from_wire(back.json()) == [PLAIN, PLAIN]


async def test_decode_passes_plaintext_through_and_an_old_key_still_decrypts(
    gateway: httpx.AsyncClient,
) -> None:
    old = EncryptionCodec.from_text(KEYS.partition(",")[2])  # k1 alone: payloads before the rotation
    body = wire([PLAIN, *await old.encode([PLAIN])])
    resp = await gateway.post("/codec/decode", json=body, headers=OPS)
    assert resp.status_code == 200, resp.text
    assert from_wire(resp.json()) == [PLAIN, PLAIN]


async def test_no_payloads_are_no_payloads(gateway: httpx.AsyncClient) -> None:
    for body in ({}, {"payloads": []}):
        resp = await gateway.post("/codec/decode", json=body, headers=OPS)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"payloads": []}


async def test_an_unknown_key_id_is_a_422_naming_it(gateway: httpx.AsyncClient) -> None:
    other = EncryptionCodec.from_text(f"gone-2025:{b64(os.urandom(32))}")
    resp = await gateway.post("/codec/decode", json=wire(await other.encode([PLAIN])), headers=OPS)
    assert resp.status_code == 422, resp.text
    [error] = resp.json()["errors"]
    assert error["field"] == "payloads"
    assert "'gone-2025'" in error["message"]


async def test_an_encrypted_payload_too_short_to_hold_a_nonce_and_tag_is_a_422(
    gateway: httpx.AsyncClient,
) -> None:
    [encrypted] = wire(await EncryptionCodec.from_text(Settings().codec_keys).encode([PLAIN]))["payloads"]
    for data in ("", b64(b"short")):
        resp = await gateway.post(
            "/codec/decode", json={"payloads": [{**encrypted, "data": data}]}, headers=OPS
        )
        assert resp.status_code == 422, (data, resp.text)
        assert resp.json()["errors"][0]["field"] == "payloads"


async def test_a_body_that_is_not_payloads_json_is_a_422_at_its_field(gateway: httpx.AsyncClient) -> None:
    # Read as every body of the gateway is (gateway/bodies.py): the field at its dotted path.
    for body, field in (
        (b"not json", "body"),
        (b"", "body"),
        (b'{"payloads": [{"metadata": "x"}]}', "payloads.0.metadata"),
        (b'{"payloads": [{"data": "not base64!"}]}', "payloads.0.data"),
        (b'{"payloads": 3}', "payloads"),
    ):
        resp = await gateway.post("/codec/decode", content=body, headers=OPS)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["errors"][0]["field"] == field, (body, resp.text)


# --- who may ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/codec/encode", "/codec/decode"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {SETTINGS.portal_token}"},
        {"Authorization": f"Bearer {SETTINGS.alerts_token}"},
        {"Cookie": f"{COOKIE}=v1.99999999999.00"},
    ],
    ids=["none", "empty", "wrong", "portal", "alerts", "forged cookie"],
)
async def test_without_the_ops_token_or_session_it_is_401(
    gateway: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    resp = await gateway.post(path, json=await encrypted(), headers=headers)
    assert resp.status_code == 401, resp.text
    assert isinstance(resp.json()["detail"], str)
    assert "410502199001011234" not in resp.text


async def test_the_login_page_is_a_form_that_explains_what_the_codec_is_for(
    gateway: httpx.AsyncClient,
) -> None:
    resp = await gateway.get("/ops/login")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "no-store"
    page = resp.text
    assert '<form method="post"' in page and 'name="token"' in page and 'type="password"' in page
    for words in (
        "summary",
        "current details",
        "query results",
        "ciphertext",
        "--codec-auth",
        "Include cross-origin credentials",
        "http://127.0.0.1:8000/codec",
    ):
        assert words in page
    assert "Signed in" not in page


async def test_signing_in_sets_an_httponly_strict_cookie_that_opens_the_codec(
    gateway: httpx.AsyncClient,
) -> None:
    resp = await signed_in(gateway)
    assert resp.headers["location"] == "/ops/login"
    set_cookie = resp.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=")
    attributes = {a.strip().split("=")[0].lower(): a for a in set_cookie.split(";")[1:]}
    assert "httponly" in attributes
    # Same-site: the Web UI on another port of the same host sends it; no other site makes it go.
    assert attributes["samesite"].strip().lower() == "samesite=strict"
    assert attributes["max-age"].strip() == f"Max-Age={int(ABSOLUTE_TIMEOUT.total_seconds())}"
    assert attributes["path"].strip() == "Path=/"
    assert SETTINGS.ops_token not in set_cookie
    # The client now holds the cookie, as a browser would; no Authorization header.
    assert gateway.cookies.get(COOKIE)
    decoded = await gateway.post("/codec/decode?preserveStorageRefs=true", json=await encrypted())
    assert decoded.status_code == 200, decoded.text
    assert from_wire(decoded.json()) == [PLAIN]
    page = await gateway.get("/ops/login")
    assert "Signed in as the shared ops token" in page.text


async def test_a_wrong_token_gets_the_page_again_with_401_and_no_cookie(gateway: httpx.AsyncClient) -> None:
    for token, message in (
        ("not-the-token", "not an ops token"),
        (SETTINGS.portal_token, "not an ops token"),
        ("", "Enter your personal ops token"),
    ):
        resp = await gateway.post("/ops/login", data={"token": token})
        assert resp.status_code == 401, resp.text
        assert resp.headers["content-type"].startswith("text/html")
        assert message in resp.text
        assert '<form method="post"' in resp.text
        assert "set-cookie" not in resp.headers
    assert (await gateway.post("/codec/decode", json=await encrypted())).status_code == 401


async def test_the_session_cookie_opens_nothing_but_the_codec(gateway: httpx.AsyncClient) -> None:
    await signed_in(gateway)
    for path in ("/v1/applications", "/v1/alerts", "/v1/subsidies?month=2026-11"):
        assert (await gateway.get(path)).status_code == 401, path


# --- CORS -------------------------------------------------------------------------------------


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }


@pytest.mark.parametrize("path", ["/codec/decode", "/codec/encode", "/codec/decode?preserveStorageRefs=true"])
async def test_a_preflight_from_the_web_ui_is_answered_with_credentials(
    gateway: httpx.AsyncClient, path: str
) -> None:
    resp = await gateway.options(path, headers=preflight_headers(UI))
    assert resp.status_code in (200, 204), resp.text
    assert resp.headers["access-control-allow-origin"] == UI
    assert resp.headers["access-control-allow-credentials"] == "true"
    assert "POST" in resp.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in resp.headers["access-control-allow-headers"].lower().split(",")}
    assert {"content-type", "x-namespace"} <= allowed
    assert "Origin" in resp.headers["vary"]


async def test_the_web_uis_signed_in_decode_carries_cors_headers(gateway: httpx.AsyncClient) -> None:
    await signed_in(gateway)
    resp = await gateway.post(
        "/codec/decode?preserveStorageRefs=true",
        json=await encrypted(),
        headers={"Origin": UI, "X-Namespace": "default"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["access-control-allow-origin"] == UI
    assert resp.headers["access-control-allow-credentials"] == "true"
    # A refusal too, so that the UI can tell a 401 from a network failure.
    gateway.cookies.clear()
    refused = await gateway.post("/codec/decode", json=await encrypted(), headers={"Origin": UI})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == UI


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "http://127.0.0.1:8233", "null", UI + ".evil.example"]
)
async def test_any_other_origin_gets_no_cors_headers(gateway: httpx.AsyncClient, origin: str) -> None:
    resp = await gateway.options("/codec/decode", headers=preflight_headers(origin))
    assert resp.status_code >= 400
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")]
    answer = await gateway.post("/codec/decode", json=await encrypted(), headers=OPS | {"Origin": origin})
    assert answer.status_code == 200
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")]


async def test_other_routes_get_no_cors_headers_even_for_the_web_ui(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.get("/healthz", headers={"Origin": UI})
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")]
    resp = await gateway.options("/v1/applications", headers=preflight_headers(UI))
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")]


async def test_the_openapi_document_lists_the_codec_and_login_routes(gateway: httpx.AsyncClient) -> None:
    paths = (await gateway.get("/openapi.json")).json()["paths"]
    assert {"/codec/encode", "/codec/decode", "/ops/login", "/ops/logout"} <= set(paths)
    security = paths["/codec/decode"]["post"]["security"]
    assert {"HTTPBearer": []} in security and {"OpsSessionCookie": []} in security
