"""``/v1/subsidies`` and the shop statement, through the gateway, on a real ledger (a SQLite file and
a real PostgreSQL): ops only, months checked, the figures as recorded. No Temporal involved."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import create_app
from service import subsidies as subsidy_service
from store.service import ServiceDatabase
from store.subsidies import ShopStatement, SubsidyLedger
from tests.factories import a_reservation
from tests.gateway.support import OPS, PORTAL, SUBSCRIBER, gateway_settings, in_process

SETTINGS = gateway_settings()
SETTLED = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@pytest.fixture
def app(engine: AsyncEngine) -> FastAPI:
    # As the stack does it: the gateway gets the alert store, and its ledger shares that engine.
    return create_app(SETTINGS, client=None, database=ServiceDatabase.on(engine))


@pytest_asyncio.fixture
async def november(ledger: SubsidyLedger) -> list[str]:
    """Three enterprises at two shops: two settled in November, one still carving."""
    usccs = []
    for case, (shop_id, shop_name, seals) in enumerate(
        [
            (
                "KZ410502",
                "文峰区刻章店",
                ["official", "financial", "invoice", "legal_representative", "contract"],
            ),
            ("KZ410502", "文峰区刻章店", ["official", "invoice"]),
            ("KZ410503", "北关区刻章店", ["official"]),
        ],
        start=1,
    ):
        request = a_reservation(case=case, shop_id=shop_id, shop_name=shop_name, seals=seals)
        await ledger.reserve(request)
        usccs.append(request.uscc)
    await ledger.settle(usccs[0], SETTLED)
    await ledger.settle(usccs[1], SETTLED)
    return usccs


def fields_of(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 422, resp.text
    return [e["field"] for e in resp.json()["errors"]]


async def test_only_ops_may_read_the_ledger(gateway: httpx.AsyncClient) -> None:
    for path in ("/v1/subsidies?month=2026-11", "/v1/subsidies/statement.pdf?month=2026-11&shop=x"):
        for headers in ({}, PORTAL, SUBSCRIBER, {"Authorization": "Bearer nope"}):
            resp = await gateway.get(path, headers=headers)
            assert resp.status_code == 401, (path, headers)
            assert "detail" in resp.json()


async def test_a_bad_month_is_a_422_naming_month(gateway: httpx.AsyncClient) -> None:
    for month in ("2026-13", "2026-1", "nov", "", "2026-11-01", "2026/11", "2026-00"):
        resp = await gateway.get("/v1/subsidies", params={"month": month}, headers=OPS)
        assert fields_of(resp) == ["month"], month
        assert "YYYY-MM" in resp.json()["errors"][0]["message"] or month == ""
        resp = await gateway.get(
            "/v1/subsidies/statement.pdf", params={"month": month, "shop": "KZ1"}, headers=OPS
        )
        assert fields_of(resp) == ["month"], month


async def test_a_missing_month_or_shop_is_a_422(gateway: httpx.AsyncClient) -> None:
    assert fields_of(await gateway.get("/v1/subsidies", headers=OPS)) == ["month"]
    resp = await gateway.get("/v1/subsidies/statement.pdf", params={"month": "2026-11"}, headers=OPS)
    assert fields_of(resp) == ["shop"]
    resp = await gateway.get(
        "/v1/subsidies/statement.pdf", params={"month": "2026-11", "shop": ""}, headers=OPS
    )
    assert fields_of(resp) == ["shop"]


async def test_the_month_lists_the_entries_and_the_totals_per_shop(
    gateway: httpx.AsyncClient, november: list[str]
) -> None:
    resp = await gateway.get("/v1/subsidies", params={"month": "2026-11"}, headers=OPS)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert body["month"] == "2026-11"
    assert [e["uscc"] for e in body["entries"]] == november[:2]
    first = body["entries"][0]
    assert (first["amount_cny"], first["enterprise_pays_cny"], first["state"]) == (
        "640.00",
        "160.00",
        "settled",
    )
    assert first["extra_seals"] == ["contract"] and first["shop_name"] == "文峰区刻章店"
    assert body["totals_by_shop"] == [
        {
            "shop_id": "KZ410502",
            "shop_name": "文峰区刻章店",
            "count": 2,
            "amount_cny": "1000.00",
            "reserved_count": 0,
            "reserved_cny": "0.00",
        },
        {
            "shop_id": "KZ410503",
            "shop_name": "北关区刻章店",
            "count": 0,
            "amount_cny": "0.00",
            "reserved_count": 1,
            "reserved_cny": "200.00",
        },
    ]
    assert body["total_cny"] == "1000.00"
    assert sum(Decimal(e["amount_cny"]) for e in body["entries"]) == Decimal(body["total_cny"])
    assert [e["uscc"] for e in body["reserved"]] == [november[2]] and body["reserved_cny"] == "200.00"
    assert body["budget"]["settled_cny"] == "1000.00" and body["budget"]["remaining_cny"] == "1498800.00"

    empty = (await gateway.get("/v1/subsidies", params={"month": "2027-01"}, headers=OPS)).json()
    assert (empty["entries"], empty["totals_by_shop"], empty["total_cny"]) == ([], [], "0.00")


async def test_a_shop_without_settled_entries_that_month_has_no_statement(
    gateway: httpx.AsyncClient, november: list[str]
) -> None:
    for month, shop in [("2026-11", "KZ999999"), ("2026-11", "KZ410503"), ("2026-10", "KZ410502")]:
        resp = await gateway.get(
            "/v1/subsidies/statement.pdf", params={"month": month, "shop": shop}, headers=OPS
        )
        assert resp.status_code == 404, (month, shop)
        assert "detail" in resp.json()


async def test_the_statement_is_the_shops_settled_month_rendered_as_a_pdf(
    gateway: httpx.AsyncClient, november: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[ShopStatement] = []

    def render(statement: ShopStatement) -> bytes:
        rendered.append(statement)
        return b"%PDF-1.4 statement"

    monkeypatch.setattr(subsidy_service, "statement_renderer", lambda: render)
    resp = await gateway.get(
        "/v1/subsidies/statement.pdf", params={"month": "2026-11", "shop": "KZ410502"}, headers=OPS
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert 'filename="subsidy-statement-KZ410502-2026-11.pdf"' in resp.headers["content-disposition"]
    assert resp.content == b"%PDF-1.4 statement"
    [statement] = rendered
    assert (statement.shop_id, statement.month, statement.count) == ("KZ410502", "2026-11", 2)
    assert statement.total_cny == Decimal("1000.00")
    assert [e.uscc for e in statement.entries] == november[:2]


async def test_without_the_renderer_the_statement_is_a_503(
    gateway: httpx.AsyncClient, november: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subsidy_service, "statement_renderer", lambda: None)
    resp = await gateway.get(
        "/v1/subsidies/statement.pdf", params={"month": "2026-11", "shop": "KZ410502"}, headers=OPS
    )
    assert resp.status_code == 503 and "renderer" in resp.json()["detail"]


def _has_renderer() -> bool:
    try:
        module = importlib.import_module(subsidy_service.RENDERER_MODULE)
    except ImportError:
        return False
    return hasattr(module, subsidy_service.RENDERER_FUNCTION)


@pytest.mark.skipif(not _has_renderer(), reason="documents.render.subsidy_statement is not there yet")
async def test_the_real_statement_is_a_pdf(gateway: httpx.AsyncClient, november: list[str]) -> None:
    resp = await gateway.get(
        "/v1/subsidies/statement.pdf", params={"month": "2026-11", "shop": "KZ410502"}, headers=OPS
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF")


async def test_the_routes_are_in_the_openapi_document(gateway: httpx.AsyncClient) -> None:
    paths = (await gateway.get("/openapi.json")).json()["paths"]
    assert {"/v1/subsidies", "/v1/subsidies/statement.pdf"} <= set(paths)


async def test_a_gateway_that_opens_the_service_database_itself_serves_the_ledger(tmp_path: Path) -> None:
    settings = SETTINGS.model_copy(update={"data_dir": tmp_path})
    app = create_app(settings, client=None)
    try:
        async with in_process(app) as gateway:
            resp = await gateway.get("/v1/subsidies", params={"month": "2026-11"}, headers=OPS)
        assert resp.status_code == 200, resp.text
        assert resp.json()["entries"] == [] and resp.json()["total_cny"] == "0.00"
    finally:
        await app.state.database.close()
