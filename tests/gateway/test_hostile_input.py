"""Hostile input, found from outside against the running gateway, each refused cleanly and early.

As in ``test_gateway_refusals``, the gateway here has no Temporal client and points at a port where
nothing listens: a request that reached for Temporal would come back 503, so every 4xx below also
proves that nothing was started or asked. (``test_openapi_fuzz`` does the same against a real
Temporal, and checks there that no refused application has a case.)
"""

from __future__ import annotations

import hmac
import json
import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI

from domain.application import parse_application
from domain.districts import ANYANG_DISTRICTS
from domain.identifiers import APPLICATION_ID_PATTERN
from domain.validation import MAX_JSON_DEPTH, MAX_JSON_ITEMS, MAX_JSON_STRING, ApplicationInvalid
from gateway.app import create_app
from gateway.bodies import MAX_BODY_BYTES
from gateway.parameters import CASE_CURSOR_PATTERN, MONTH_PATTERN, open_cursor, seal_cursor
from infra import signing
from infra.serving import serve_in_background
from infra.signing import SIGNATURE_HEADER, sign, verify
from service import cases
from tests import factories
from tests.gateway.support import OPS, gateway_settings

SETTINGS = gateway_settings(
    data_dir=Path(tempfile.mkdtemp(prefix="ods-hostile-test-")), callback_secret="test-callback-secret"
)
CASE = "AY20261127-0001"
BODY_ROUTES = [
    ("POST", "/v1/applications"),
    ("POST", f"/v1/applications/{CASE}/supplement"),
    ("POST", f"/v1/applications/{CASE}/withdraw"),
    ("PUT", f"/v1/applications/{CASE}/delivery"),
]


@pytest.fixture
def app() -> FastAPI:
    return create_app(SETTINGS, client=None)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(SETTINGS, client=None).openapi()


def errors_of(resp: httpx.Response) -> dict[str, str]:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/json"
    return {e["field"]: e["message"] for e in resp.json()["errors"]}


def nested(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


# --- bodies: size, depth, strings, lists, NUL ------------------------------------------------------


@pytest.mark.parametrize("method,path", BODY_ROUTES)
async def test_json_nested_5000_deep_is_a_422_not_a_500(
    gateway: httpx.AsyncClient, method: str, path: str
) -> None:
    resp = await gateway.request(method, path, content=nested(5000), headers=OPS)
    assert errors_of(resp) == {"body": f"JSON may nest at most {MAX_JSON_DEPTH} levels deep"}


async def test_json_one_level_too_deep_is_refused_where_it_gets_too_deep(gateway: httpx.AsyncClient) -> None:
    resp = await gateway.post("/v1/applications", content=nested(MAX_JSON_DEPTH + 1), headers=OPS)
    assert errors_of(resp) == {
        ".".join(["a"] * MAX_JSON_DEPTH): f"JSON may nest at most {MAX_JSON_DEPTH} levels deep"
    }
    # 32 levels are only JSON the application model then refuses, field by field.
    assert "body" not in errors_of(
        await gateway.post("/v1/applications", content=nested(MAX_JSON_DEPTH), headers=OPS)
    )


def _application_with(path: list[str | int], value: Any) -> dict[str, Any]:
    body = factories.application()
    node: Any = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return body


HOSTILE_VALUES = {
    "NUL": (["enterprise", "address"], "文峰区\u0000文明大道", "a string must not contain NUL (U+0000)"),
    "a lone surrogate": (["legal_representative", "name"], "张\ud800", "unpaired surrogate"),
    "a huge string": (
        ["enterprise", "name"],
        "安" * (MAX_JSON_STRING + 1),
        f"at most {MAX_JSON_STRING} characters",
    ),
    "a huge list": (
        ["enterprise", "business_scope"],
        ["餐饮服务"] * (MAX_JSON_ITEMS + 1),
        f"at most {MAX_JSON_ITEMS} entries",
    ),
}


@pytest.mark.parametrize("where,value,message", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
async def test_hostile_values_are_a_422_at_their_field(
    gateway: httpx.AsyncClient, where: list[str | int], value: Any, message: str
) -> None:
    # ensure_ascii keeps the lone surrogate an escape, as a hostile client would send it.
    content = json.dumps(_application_with(where, value)).encode()
    errors = errors_of(await gateway.post("/v1/applications", content=content, headers=OPS))
    field = ".".join(map(str, where))
    assert field in errors and message in errors[field], errors


@pytest.mark.parametrize(
    "content,message",
    [
        (b'{"application_id": "A", "application_id": "B"}', "appears twice"),
        (b'{"enterprise": {"registered_capital_cny": NaN}}', "NaN is not JSON"),
        (b'{"enterprise": {"registered_capital_cny": -Infinity}}', "-Infinity is not JSON"),
        (b'{"a": "\\u0000"}', "NUL"),
        (b"\x00", "not valid JSON"),
    ],
    ids=["duplicate-key", "nan", "infinity", "nul-escape", "nul-byte"],
)
async def test_json_that_is_not_plain_json_is_a_422_on_the_body_or_its_field(
    gateway: httpx.AsyncClient, content: bytes, message: str
) -> None:
    errors = errors_of(await gateway.post("/v1/applications", content=content, headers=OPS))
    assert any(message in m for m in errors.values()), errors


@pytest.mark.parametrize("method,path", BODY_ROUTES)
async def test_a_declared_body_over_the_limit_is_a_413_unread(
    gateway: httpx.AsyncClient, method: str, path: str
) -> None:
    resp = await gateway.request(method, path, content=b" " * (MAX_BODY_BYTES + 1), headers=OPS)
    assert resp.status_code == 413, resp.text
    assert resp.json() == {"detail": "the body is larger than 1 MiB"}


async def test_a_chunked_body_that_grows_past_the_limit_is_a_413_as_soon_as_it_does(app: FastAPI) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 4 MiB unless the gateway stops reading
            sent += 1
            yield b" " * (64 << 10)

    async with serve_in_background(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        try:
            resp = await client.post("/v1/applications", content=chunks(), headers=OPS)
        except httpx.HTTPError:
            pytest.fail("the gateway hung up instead of answering 413")
        assert resp.status_code == 413, resp.text
        assert "content-length" not in resp.request.headers  # it really was chunked
    assert not app.state.temporal.connected


async def test_a_hostile_callback_needs_its_signature_first_and_then_is_a_422(
    gateway: httpx.AsyncClient,
) -> None:
    body = nested(5000)
    unsigned = await gateway.post("/v1/callbacks/postal", content=body)
    assert unsigned.status_code == 401
    headers = {SIGNATURE_HEADER: sign(SETTINGS.callback_secret, body), "Content-Type": "application/json"}
    assert errors_of(await gateway.post("/v1/callbacks/postal", content=body, headers=headers)) == {
        "body": f"JSON may nest at most {MAX_JSON_DEPTH} levels deep"
    }


def test_decoding_refuses_what_no_request_may_carry_without_recursing() -> None:
    with pytest.raises(ApplicationInvalid) as refused:
        parse_application(b"[" * 200_000 + b"]" * 200_000)
    assert [e.field for e in refused.value.errors] == ["body"]
    assert parse_application(json.dumps(factories.application()).encode()).application_id


# --- the case list's cursor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "after",
    ["%%%%", "null", "", "AAAA", "x" * 5000, "é"],
    ids=["percents", "null", "empty", "bare-base64", "long", "non-ascii"],
)
async def test_a_cursor_not_of_the_documented_form_is_a_422_before_temporal(
    gateway: httpx.AsyncClient, after: str
) -> None:
    resp = await gateway.get("/v1/applications", params={"after": after}, headers=OPS)
    assert set(errors_of(resp)) == {"after"}


async def test_a_cursor_of_the_form_this_service_did_not_seal_is_an_empty_last_page_before_temporal(
    gateway: httpx.AsyncClient,
) -> None:
    token = cases._encode_cursor(b'{"StartTime":"2026-11-27T10:00:00Z","RunID":"r1"}')
    other = SETTINGS.model_copy(update={"ops_token": "another-ops-token"})
    for after in ["AAAA.0123456789abcdef0123456789abcdef", seal_cursor(other, token)]:
        resp = await gateway.get("/v1/applications", params={"after": after}, headers=OPS)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"applications": [], "next_cursor": None}


def test_cursors_are_sealed_and_only_ours_open() -> None:
    token = cases._encode_cursor(b'{"StartTime":"2026-11-27T10:00:00Z","RunID":"r1"}')
    assert token is not None
    cursor = seal_cursor(SETTINGS, token)
    assert cursor is not None and re.fullmatch(CASE_CURSOR_PATTERN, cursor)
    assert open_cursor(SETTINGS, cursor) == token
    assert (
        cases._decode_cursor(open_cursor(SETTINGS, cursor))
        == b'{"StartTime":"2026-11-27T10:00:00Z","RunID":"r1"}'
    )
    assert seal_cursor(SETTINGS, None) is None and open_cursor(SETTINGS, None) is None
    other = SETTINGS.model_copy(update={"ops_token": "another-ops-token"})
    tampered = ("B" if cursor[0] != "B" else "C") + cursor[1:]
    for bad, settings in [(cursor, other), (tampered, SETTINGS), (cursor + "0", SETTINGS)]:
        with pytest.raises(ValueError):
            open_cursor(settings, bad)


@pytest.mark.parametrize("cursor", ["%%%%", "", "AAA", "AA=A", "é"])
def test_the_service_decodes_only_strict_base64url(cursor: str) -> None:
    with pytest.raises(cases.InvalidQuery):
        cases._decode_cursor(cursor)


# --- query parameters and headers as the schema says ------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/alerts", "/v1/alerts/stream"])
@pytest.mark.parametrize("name", ["district", "stage", "level", "after"])
async def test_an_empty_alert_filter_is_a_422_not_no_filter(
    gateway: httpx.AsyncClient, path: str, name: str
) -> None:
    assert set(errors_of(await gateway.get(path, params={name: ""}, headers=OPS))) == {name}


@pytest.mark.parametrize("value", ["null", "", "1", "000000000042-9F3A61C2", "４１０５０２"])
async def test_a_last_event_id_that_cannot_be_an_alert_id_is_a_422(
    gateway: httpx.AsyncClient, value: str
) -> None:
    headers = OPS | {"Last-Event-ID": value}
    resp = await gateway.get(
        "/v1/alerts/stream", headers=httpx.Headers(list(headers.items()), encoding="utf-8")
    )
    assert set(errors_of(resp)) == {"Last-Event-ID"}


@pytest.mark.parametrize(
    "params,field",
    [
        ({"district": "410101"}, "district"),  # six digits, but not Anyang's
        ({"district": ""}, "district"),
        ({"stage": ""}, "stage"),
        ({"limit": ""}, "limit"),
        ({"limit": "+5"}, "limit"),
        ({"limit": "1_0"}, "limit"),
    ],
)
async def test_case_list_filters_are_exactly_as_documented(
    gateway: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    assert set(errors_of(await gateway.get("/v1/applications", params=params, headers=OPS))) == {field}


@pytest.mark.parametrize(
    "month", ["0000000000000000000", "0000-11", " 2026-11", "2026-11 ", "2026-13", "２０２６-11"]
)
async def test_a_month_that_is_not_yyyy_mm_is_a_422(gateway: httpx.AsyncClient, month: str) -> None:
    for path, extra in [("/v1/subsidies", {}), ("/v1/subsidies/statement.pdf", {"shop": "KZ1"})]:
        resp = await gateway.get(path, params={"month": month, **extra}, headers=OPS)
        assert set(errors_of(resp)) == {"month"}, (path, month)


@pytest.mark.parametrize("shop", ["   ", "KZ\u00001", "KZ\n1", "x" * 129])
async def test_a_shop_that_is_not_one_line_of_text_is_a_422(gateway: httpx.AsyncClient, shop: str) -> None:
    resp = await gateway.get(
        "/v1/subsidies/statement.pdf", params={"month": "2026-11", "shop": shop}, headers=OPS
    )
    assert set(errors_of(resp)) == {"shop"}


async def test_a_pickup_delivery_with_inbound_materials_is_refused_as_the_document_says(
    gateway: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    delivery = {"method": "pickup", "inbound_materials": True}
    resp = await gateway.put(f"/v1/applications/{CASE}/delivery", json=delivery, headers=OPS)
    assert set(errors_of(resp)) == {"inbound_materials"}
    assert not _validator(document, "Delivery").is_valid(delivery)
    assert _validator(document, "Delivery").is_valid({"method": "pickup"})


# --- methods --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,allowed",
    [
        ("/v1/applications", {"GET", "POST"}),
        (f"/v1/applications/{CASE}", {"GET"}),
        (f"/v1/applications/{CASE}/delivery", {"PUT"}),
        ("/v1/alerts/stream", {"GET"}),
        ("/healthz", {"GET"}),
    ],
)
async def test_options_and_405_name_every_method_of_the_path(
    gateway: httpx.AsyncClient, document: dict[str, Any], path: str, allowed: set[str]
) -> None:
    template = next(p for p in document["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path))
    assert {m.upper() for m in document["paths"][template]} == allowed
    options = await gateway.options(path)  # no token needed: it tells no more than the document
    assert options.status_code == 204
    assert _allow(options) == allowed | {"OPTIONS"}
    not_taken = await gateway.request("PATCH", path, headers=OPS)
    assert not_taken.status_code == 405
    assert _allow(not_taken) == allowed | {"OPTIONS"}
    assert (await gateway.options("/no/such/path")).status_code == 404


def _allow(resp: httpx.Response) -> set[str]:
    return {m.strip() for m in resp.headers["allow"].split(",")}


# --- partner signatures ------------------------------------------------------------------------------


BODY = b'{"event_id":"evt-1"}'


def test_a_signature_is_checked_in_constant_time_as_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, object]] = []
    compare_digest = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    assert verify("k", BODY, sign("k", BODY)) is None
    assert verify("k", BODY, sign("other", BODY)) == "signature does not match the body"
    assert len(seen) == 2 and all(isinstance(x, bytes) and isinstance(y, bytes) for x, y in seen)


@pytest.mark.parametrize(
    "header,reason",
    [
        ("t=1700000000,sha256=é" + "0" * 63, "malformed signature"),
        ("t=１７００,sha256=" + "0" * 64, "malformed signature timestamp"),
        ("t=,sha256=" + "0" * 64, "malformed signature timestamp"),
        ("t=99999999999999999999,sha256=" + "0" * 64, "malformed signature timestamp"),
        ("t=1700000000,sha256=abc", "malformed signature"),
        ("sha256=" + "0" * 64, "malformed signature header"),
    ],
)
def test_a_malformed_signature_is_a_reason_never_an_exception(header: str, reason: str) -> None:
    problem = verify("k", BODY, header, now=1700000000)
    assert problem is not None and problem.startswith(reason)


def test_the_replay_window_is_five_minutes_either_way() -> None:
    now = 1_800_000_000.0
    for offset in (-300, 0, 300):
        assert verify("k", BODY, sign("k", BODY, now=now + offset), now=now) is None
    for offset in (-301, 301, -86400):
        assert "stale" in (verify("k", BODY, sign("k", BODY, now=now + offset), now=now) or "")


async def test_a_non_ascii_signature_is_a_401_not_a_500(gateway: httpx.AsyncClient) -> None:
    headers = httpx.Headers(
        [(SIGNATURE_HEADER.encode(), f"t={int(time.time())},sha256=".encode() + b"\xe9" * 64)]
    )
    resp = await gateway.post("/v1/callbacks/seal_shop", content=BODY, headers=headers)
    assert resp.status_code == 401, resp.text


async def test_a_stale_but_correct_signature_is_a_401(gateway: httpx.AsyncClient) -> None:
    body = b'{"event_id":"evt-1","event":"seal_order.completed","application_id":"AY20261127-0001"}'
    headers = {SIGNATURE_HEADER: sign(SETTINGS.callback_secret, body, now=time.time() - 301)}
    resp = await gateway.post("/v1/callbacks/seal_shop", content=body, headers=headers)
    assert resp.status_code == 401 and "stale" in resp.json()["detail"]


# --- the document states the rules ----------------------------------------------------------------


def _validator(document: dict[str, Any], name: str) -> Any:
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    )


def _parameter(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    found = [p for p in document["paths"][path][method].get("parameters", []) if p["name"] == name]
    assert found, (path, method, name)
    schema: dict[str, Any] = found[0]["schema"]
    return schema


def test_the_document_names_anyangs_districts_months_ids_and_cursors(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["Enterprise"]["properties"]["district_code"]["enum"] == list(ANYANG_DISTRICTS)
    assert _parameter(document, "/v1/applications", "get", "district")["enum"] == list(ANYANG_DISTRICTS)
    assert schemas["Application"]["properties"]["application_id"]["pattern"] == APPLICATION_ID_PATTERN
    path_id = _parameter(document, "/v1/applications/{application_id}", "get", "application_id")
    assert path_id["pattern"] == APPLICATION_ID_PATTERN
    assert _parameter(document, "/v1/subsidies", "get", "month")["pattern"] == MONTH_PATTERN
    after = _parameter(document, "/v1/applications", "get", "after")
    assert after["pattern"] == CASE_CURSOR_PATTERN and after["maxLength"] > 0
    last_event_id = _parameter(document, "/v1/alerts/stream", "get", "Last-Event-ID")
    assert last_event_id["pattern"] and "null" not in json.dumps(last_event_id)
    assert _parameter(document, "/v1/alerts", "get", "district")["pattern"] == "^[0-9]{6}$"
    for path in ("/v1/applications", "/v1/alerts"):
        limit = _parameter(document, path, "get", "limit")
        assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 1000)
    # Parameters are never null on the wire: no {"type": "null"} branch anywhere among them.
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                assert '"null"' not in json.dumps(parameter["schema"]), parameter
    # Bodies: the limits in the description, 413 on every route that takes one.
    assert f"{MAX_JSON_DEPTH} levels" in document["info"]["description"]
    for method, path in [("post", "/v1/applications"), ("post", "/v1/callbacks/{partner}")]:
        assert "413" in document["paths"][path][method]["responses"]


def test_the_delivery_rules_are_a_one_of_on_method(document: dict[str, Any]) -> None:
    delivery = document["components"]["schemas"]["Delivery"]
    assert delivery["discriminator"]["propertyName"] == "method"
    assert set(delivery["discriminator"]["mapping"]) == {"postal", "pickup"}
    schemas = document["components"]["schemas"]
    assert schemas["PickupDelivery"]["properties"]["inbound_materials"]["const"] is False
    assert set(schemas["PostalDelivery"]["required"]) == {
        "method",
        "recipient",
        "phone",
        "district_code",
        "address",
    }
    validator = _validator(document, "Delivery")
    assert not validator.is_valid({"method": "postal", "recipient": "张三"})  # no address
    assert validator.is_valid(factories.application()["delivery"])


def test_every_valid_application_is_valid_by_the_document_and_the_obvious_mistakes_are_not(
    document: dict[str, Any],
) -> None:
    validator = _validator(document, "Application")
    for body in [
        factories.application(),
        factories.application(delivery="pickup"),
        factories.individual_business(),
    ]:
        assert validator.is_valid(body), list(validator.iter_errors(body))[:3]
    mistakes: Iterator[tuple[list[str | int], Any]] = iter(
        [
            (["enterprise", "district_code"], "110101"),
            (["application_id"], "AY 1"),
            (["enterprise", "name"], ""),
            (["enterprise", "address"], "文峰区\n文明大道"),
            (["legal_representative", "id_number"], "41050219900101123"),
            (["legal_representative", "phone"], "12345"),
            (["seals"], ["financial"]),
            (["seals"], ["official", "official"]),
            (["enterprise", "business_scope"], []),
            (["enterprise", "registered_capital_cny"], "1.234"),
            (["enterprise", "name"], "安阳市文峰区晨曦餐饮店"),  # a limited company's name
            (["shareholders"], []),  # a limited company needs a shareholder
            (["delivery", "inbound_materials"], "yes"),
        ]
    )
    for where, value in mistakes:
        body = _application_with(where, value)
        assert not validator.is_valid(body), (where, value)
        with pytest.raises(ApplicationInvalid):
            parse_application(body)


def test_every_pattern_in_the_document_compiles_for_python_too(document: dict[str, Any]) -> None:
    def patterns(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                yield node["pattern"]
            for value in node.values():
                yield from patterns(value)
        elif isinstance(node, list):
            for value in node:
                yield from patterns(value)

    found = set(patterns(document))
    assert len(found) >= 10
    for pattern in found:
        re.compile(pattern)
