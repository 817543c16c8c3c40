"""What the gateway refuses on its own, before any case is touched: no Temporal needed.

The gateway here has no Temporal client and points at a port where nothing listens, so any
request that reached for Temporal would come back 503; every refusal below proves it did not.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from infra.signing import SIGNATURE_HEADER, sign
from tests import factories
from tests.gateway.support import OPS, PORTAL, fields_of, gateway_settings, in_process

SETTINGS = gateway_settings(
    data_dir=Path(tempfile.mkdtemp(prefix="ods-gateway-test-")), callback_secret="test-callback-secret"
)
CASE = "AY20261127-0001"

PROTECTED_ROUTES = [
    ("POST", "/v1/applications"),
    ("GET", "/v1/applications"),
    ("GET", f"/v1/applications/{CASE}"),
    ("POST", f"/v1/applications/{CASE}/supplement"),
    ("POST", f"/v1/applications/{CASE}/withdraw"),
]
NOT_ACCEPTED = {
    "no header": {},
    "empty bearer": {"Authorization": "Bearer "},
    "wrong token": {"Authorization": "Bearer not-a-token"},
    "the alerts token": {"Authorization": f"Bearer {SETTINGS.alerts_token}"},
    "the callback secret": {"Authorization": f"Bearer {SETTINGS.callback_secret}"},
    "basic scheme": {"Authorization": f"Basic {SETTINGS.portal_token}"},
    "token with a suffix": {"Authorization": f"Bearer {SETTINGS.portal_token}x"},
}
# Not even a byte outside ASCII in the header may turn a 401 into a 500.
NOT_ACCEPTED_RAW = {"non-ascii token": [(b"Authorization", "Bearer tést".encode("latin-1"))]}


@pytest.fixture
def app() -> FastAPI:
    return create_app(SETTINGS, client=None)


def signed(
    body: bytes, *, secret: str = SETTINGS.callback_secret, now: float | None = None
) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(secret, body, now=now), "Content-Type": "application/json"}


def envelope(**overrides: Any) -> bytes:
    event = {
        "event_id": "evt-1",
        "event": "seal_order.completed",
        "application_id": CASE,
        "occurred_at": "2026-11-27T10:00:00+08:00",
        "data": {"order_id": "SO-1"},
    }
    event.update(overrides)
    event = {k: v for k, v in event.items() if v is not None}
    return json.dumps(event).encode()


# --- bearer tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", PROTECTED_ROUTES)
@pytest.mark.parametrize("credentials", NOT_ACCEPTED.values(), ids=NOT_ACCEPTED.keys())
async def test_a_missing_wrong_or_other_roles_token_is_401_and_changes_nothing(
    gateway: httpx.AsyncClient, method: str, path: str, credentials: dict[str, str]
) -> None:
    resp = await gateway.request(method, path, json=factories.application(), headers=credentials)
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"] == "Bearer"
    assert isinstance(resp.json()["detail"], str)


@pytest.mark.parametrize("method,path", PROTECTED_ROUTES)
async def test_a_token_that_is_not_even_ascii_is_401_too(
    gateway: httpx.AsyncClient, method: str, path: str
) -> None:
    headers = httpx.Headers(NOT_ACCEPTED_RAW["non-ascii token"])
    resp = await gateway.request(method, path, json=factories.application(), headers=headers)
    assert resp.status_code == 401, resp.text


async def test_an_unauthenticated_request_for_a_malformed_case_id_is_still_401(
    gateway: httpx.AsyncClient,
) -> None:
    assert (await gateway.get("/v1/applications/no!")).status_code == 401


@pytest.mark.parametrize("token", [SETTINGS.portal_token, SETTINGS.ops_token], ids=["portal", "ops"])
async def test_the_portal_and_ops_tokens_both_open_the_applications(
    gateway: httpx.AsyncClient, token: str
) -> None:
    resp = await gateway.post("/v1/applications", content=b"{}", headers={"Authorization": f"bearer {token}"})
    assert resp.status_code == 422


# --- the application body ---------------------------------------------------------------------


async def test_an_invalid_application_is_422_with_dotted_paths_and_starts_nothing(
    gateway: httpx.AsyncClient,
) -> None:
    body = factories.application()
    person = body["shareholders"][0]["id_number"]
    body["shareholders"][0]["id_number"] = person[:17] + ("0" if person[17] != "0" else "1")
    body["enterprise"]["district_code"] = "110101"
    del body["delivery"]
    resp = await gateway.post("/v1/applications", json=body, headers=PORTAL)
    assert resp.headers["content-type"] == "application/json"
    assert {"shareholders.0.id_number", "enterprise.district_code", "delivery"} <= fields_of(resp)
    assert all(e["message"] for e in resp.json()["errors"])


@pytest.mark.parametrize("content", [b"not json", b"", b"[1, 2]", b'"text"', b"null", b"\xff\xfe{"], ids=repr)
async def test_a_body_that_is_not_a_json_object_is_a_422_on_the_body(
    gateway: httpx.AsyncClient, content: bytes
) -> None:
    resp = await gateway.post("/v1/applications", content=content, headers=PORTAL)
    assert fields_of(resp) == {"body"}


async def test_a_body_over_a_megabyte_is_refused_unread(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.post("/v1/applications", content=b" " * (2 << 20), headers=PORTAL)
    assert resp.status_code == 413
    assert "detail" in resp.json()


async def test_a_withdrawal_reason_is_checked_before_the_case(gateway: httpx.AsyncClient) -> None:
    path = f"/v1/applications/{CASE}/withdraw"
    assert fields_of(await gateway.post(path, json={"reason": "x" * 501}, headers=PORTAL)) == {"reason"}
    assert fields_of(await gateway.post(path, content=b"[]", headers=PORTAL)) == {"body"}


# --- case ids and list filters ----------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["abc", "x" * 65, "AY2026_0001", "AY%E5%AE%89%E9%98%B31"])
@pytest.mark.parametrize("suffix", ["", "/withdraw", "/supplement"])
async def test_a_path_that_cannot_name_a_case_is_404(
    gateway: httpx.AsyncClient, bad_id: str, suffix: str
) -> None:
    method = "GET" if not suffix else "POST"
    resp = await gateway.request(method, f"/v1/applications/{bad_id}{suffix}", json={}, headers=OPS)
    assert resp.status_code == 404, resp.text
    assert "detail" in resp.json()


@pytest.mark.parametrize(
    "params,field",
    [
        ({"stage": "finished"}, "stage"),
        ({"sla_status": "late"}, "sla_status"),
        ({"district": "110101"}, "district"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
async def test_a_list_filter_that_cannot_be_used_is_422_naming_the_parameter(
    gateway: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    resp = await gateway.get("/v1/applications", params=params, headers=OPS)
    assert fields_of(resp) == {field}


async def test_the_list_of_all_cases_is_for_ops_only(gateway: httpx.AsyncClient) -> None:
    # The portal asks after one case at a time; every case, named, is not its to read.
    resp = await gateway.get("/v1/applications", headers=PORTAL)
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"] == "Bearer"


# --- partner callbacks ------------------------------------------------------------------------


async def test_a_callback_needs_no_bearer_token_but_a_good_signature(
    gateway: httpx.AsyncClient,
) -> None:
    body = envelope(event_id=None)  # a malformed envelope, to stop before the case
    resp = await gateway.post("/v1/callbacks/seal_shop", content=body, headers=signed(body))
    assert fields_of(resp) == {"event_id"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SIGNATURE_HEADER: "t=1,sha256"},
        {SIGNATURE_HEADER: "garbage"},
        signed(envelope(), secret="another-secret"),
        signed(envelope(event_id="evt-2")),  # signed over another body
        signed(envelope(), now=time.time() - 3600),  # stale
        signed(envelope(), now=time.time() + 3600),  # from the future
        OPS,  # a bearer token does not replace the signature
    ],
    ids=["missing", "malformed", "garbage", "wrong-key", "other-body", "stale", "future", "bearer-instead"],
)
async def test_a_callback_with_a_bad_or_stale_signature_is_401(
    gateway: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    resp = await gateway.post("/v1/callbacks/postal", content=envelope(), headers=headers)
    assert resp.status_code == 401, resp.text
    assert resp.json()["detail"]


async def test_the_reason_a_signature_fails_is_named(gateway: httpx.AsyncClient) -> None:
    stale = await gateway.post(
        "/v1/callbacks/postal",
        content=envelope(),
        headers=signed(envelope(), now=time.time() - 3600),
    )
    assert "stale" in stale.json()["detail"]
    missing = await gateway.post("/v1/callbacks/postal", content=envelope())
    assert SIGNATURE_HEADER in missing.json()["detail"]


async def test_a_callback_from_an_unknown_partner_is_404(gateway: httpx.AsyncClient) -> None:
    body = envelope()
    resp = await gateway.post("/v1/callbacks/bank", content=body, headers=signed(body))
    assert resp.status_code == 404


@pytest.mark.parametrize(
    "body,fields",
    [
        (b"not json", {"body"}),
        (b"[]", {"body"}),
        (envelope(occurred_at="yesterday"), {"occurred_at"}),
        (json.dumps({"event": "postal.collected"}).encode(), {"event_id", "application_id", "occurred_at"}),
    ],
    ids=["not-json", "not-object", "bad-time", "missing-fields"],
)
async def test_a_signed_but_malformed_envelope_is_422(
    gateway: httpx.AsyncClient, body: bytes, fields: set[str]
) -> None:
    resp = await gateway.post("/v1/callbacks/postal", content=body, headers=signed(body))
    assert fields_of(resp) == fields


async def test_a_signed_event_for_an_id_that_cannot_be_a_case_is_404(
    gateway: httpx.AsyncClient,
) -> None:
    body = envelope(application_id="no such case!")
    resp = await gateway.post("/v1/callbacks/seal_shop", content=body, headers=signed(body))
    assert resp.status_code == 404


# --- without Temporal -------------------------------------------------------------------------


async def test_a_valid_request_while_temporal_is_unreachable_is_503_not_a_stack_trace(
    app: FastAPI,
) -> None:
    async with in_process(app) as gateway:
        resp = await gateway.post("/v1/applications", json=factories.application(), headers=PORTAL)
        assert resp.status_code == 503
        assert resp.headers["content-type"] == "application/json"
        assert set(resp.json()) == {"detail"} and "Temporal" in resp.json()["detail"]
        assert resp.headers["retry-after"]
        body = envelope()
        callback = await gateway.post("/v1/callbacks/seal_shop", content=body, headers=signed(body))
        assert callback.status_code == 503  # a 5xx: the partner retries later
    assert not app.state.temporal.connected


# --- open endpoints ---------------------------------------------------------------------------


async def test_healthz_needs_no_token(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.get("/healthz")
    assert resp.status_code == 200
    body = resp.json()
    assert (body["status"], body["temporal"]) == ("ok", "not connected")
    assert set(body["calendar"]) == {"known_until", "days_ahead", "warning"}  # test_observability.py


async def test_metrics_count_requests_by_route_template_and_status(
    gateway: httpx.AsyncClient,
) -> None:
    # The counters are the process's (prometheus_client's default registry): count what moves.
    def counted(text: str, route: str, status: str) -> float:
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "ods_gateway_requests_total"
            and s.labels == {"method": "GET", "route": route, "status": status}
        )

    before = (await gateway.get("/metrics")).text
    await gateway.get(f"/v1/applications/{CASE}")
    await gateway.get("/v1/applications/AY20261127-0002")
    await gateway.get("/no/such/route")
    resp = await gateway.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    case_route = "/v1/applications/{application_id}"
    assert counted(text, case_route, "401") == counted(before, case_route, "401") + 2
    assert counted(text, "unmatched", "404") == counted(before, "unmatched", "404") + 1
    assert CASE not in text
    assert "# TYPE ods_gateway_request_duration_seconds histogram" in text


async def test_an_unknown_route_is_a_plain_json_404(gateway: httpx.AsyncClient) -> None:
    for path in ("/v1/nothing-here", "/v1/nothing", "/"):
        resp = await gateway.get(path, headers=OPS)
        assert resp.status_code == 404
        assert resp.json() == {"detail": "Not Found"}


async def test_the_openapi_document_lists_every_route_and_the_application_schema(
    gateway: httpx.AsyncClient,
) -> None:
    resp = await gateway.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    paths = doc["paths"]
    assert {
        "/v1/applications",
        "/v1/applications/{application_id}",
        "/v1/applications/{application_id}/supplement",
        "/v1/applications/{application_id}/withdraw",
        "/v1/callbacks/{partner}",
        "/healthz",
        "/metrics",
    } <= set(paths)
    submit = paths["/v1/applications"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Application"
    }
    assert {"202", "200", "401", "409", "422"} <= set(submit["responses"])
    schemas = doc["components"]["schemas"]
    assert {"Application", "Enterprise", "StatusDocument", "Supplement", "FieldErrors"} <= set(schemas)
    assert "shareholders" in schemas["Application"]["properties"]
    # Every $ref points at a schema the document has.
    refs = {r.rsplit("/", 1)[1] for r in _refs(doc)}
    assert refs <= set(schemas)
    assert paths["/v1/applications"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in paths["/v1/callbacks/{partner}"]["post"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []
