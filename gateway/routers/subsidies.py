"""``/v1/subsidies``: the first-seal subsidy ledger (免费刻制首套印章), for operations and finance.

The month's ledger as JSON, and one seal shop's monthly statement as a PDF for the finance office.
Both read the service database only: no Temporal.
"""

from __future__ import annotations

import re
from typing import Annotated

import anyio.to_thread
from fastapi import HTTPException, Query
from fastapi.responses import Response
from pydantic import WithJsonSchema

from gateway.dependencies import ServiceDatabaseDep
from gateway.errors import ParameterInvalid
from gateway.models import Detail
from gateway.ops_routes import ops_read_router
from gateway.parameters import MONTH_SCHEMA, SHOP_SCHEMA, month_problem, shop_problem
from infra.logging import get_logger
from service import subsidies as subsidy_service
from store.subsidies import MonthReport, ShopStatement, parse_month

log = get_logger("gateway.subsidies")

PDF = "application/pdf"


router = ops_read_router("/v1/subsidies", "subsidies", "a bad month or shop")

MonthParam = Annotated[
    str, WithJsonSchema(MONTH_SCHEMA), Query(description="the month, YYYY-MM (Beijing time)")
]


def _month(month: str) -> str:
    problem = month_problem(month)
    if problem is not None:
        raise ParameterInvalid("month", problem)
    try:
        year, number = parse_month(month)
    except ValueError as err:
        raise ParameterInvalid("month", str(err)) from None
    return f"{year:04d}-{number:02d}"


@router.get("", summary="The month's subsidy ledger: entries and totals per seal shop")
async def month_ledger(database: ServiceDatabaseDep, month: MonthParam) -> MonthReport:
    """``entries`` are the grants settled to the shops that month (carving completed); they add up,
    to the cent, to each shop's ``amount_cny`` in ``totals_by_shop`` and to ``total_cny``.
    ``reserved`` lists the grants reserved that month whose seals are still being carved."""
    month = _month(month)
    ledger = await database.subsidies()
    return await ledger.month_report(month)


def _filename(statement: ShopStatement) -> str:
    shop = re.sub(r"[^A-Za-z0-9-]+", "_", statement.shop_id).strip("_") or "shop"
    return f"subsidy-statement-{shop}-{statement.month}.pdf"


@router.get(
    "/statement.pdf",
    summary="One seal shop's monthly subsidy statement (PDF)",
    response_class=Response,
    responses={
        200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}},
        404: {"model": Detail, "description": "the shop has no settled subsidy that month"},
    },
)
async def shop_statement(
    database: ServiceDatabaseDep,
    month: MonthParam,
    shop: Annotated[
        str,
        WithJsonSchema(SHOP_SCHEMA),
        Query(description="the seal shop's id (as in the ledger's `shop_id`), or its exact name"),
    ],
) -> Response:
    """The shop's settled grants of the month, for the finance office to pay from."""
    month = _month(month)
    problem = shop_problem(shop)
    if problem is not None:
        raise ParameterInvalid("shop", problem)
    ledger = await database.subsidies()
    statement = await ledger.shop_statement(month, shop.strip())
    if statement is None:
        raise HTTPException(404, f"seal shop {shop[:64]!r} has no settled subsidy in {month}")
    render = subsidy_service.statement_renderer()
    if render is None:
        log.error(
            "subsidy_statement_renderer_missing",
            module=subsidy_service.RENDERER_MODULE,
            function=subsidy_service.RENDERER_FUNCTION,
        )
        raise HTTPException(503, "the statement renderer is not installed; try again later")
    pdf = await anyio.to_thread.run_sync(render, statement)  # reportlab: CPU-bound
    filename = _filename(statement)
    return Response(
        content=pdf,
        media_type=PDF,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
