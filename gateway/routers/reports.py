"""``/v1/reports/daily`` (JSON) and ``/v1/reports/daily.pdf``: the day's SLA figures, for
supervision and the service centre (ops token). Both read the service database only
(``reports/daily.py``): no Temporal, and every gateway gives the same figures."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Header, Query
from fastapi.responses import Response
from pydantic import WithJsonSchema

from gateway.dependencies import PoliciesDep, ServiceDatabaseDep
from gateway.errors import ParameterInvalid
from gateway.ops_routes import ops_read_router
from reports.daily import DailyReport, daily_report
from reports.pdf import daily_report_pdf
from reports.ratings import MonthlyRatings, monthly_ratings, monthly_ratings_pdf

PDF = "application/pdf"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_SCHEMA = {
    "type": "string",
    "format": "date",
    # A year from 0001 (Python's dates), as the months of /v1/subsidies.
    "pattern": r"^([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])"
    r"-(0[1-9]|[12][0-9]|3[01])$",
    "minLength": 10,
    "maxLength": 10,
    "description": "the day, YYYY-MM-DD, in the SLA policy's time zone",
    "examples": ["2026-12-01"],
}

router = ops_read_router("/v1/reports", "reports", "a bad date")

DateParam = Annotated[str, WithJsonSchema(DATE_SCHEMA), Query(description="the day, YYYY-MM-DD")]


def _day(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise ParameterInvalid("date", f"{text[:20]!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-01")
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise ParameterInvalid("date", f"{text}: {err}") from None


async def _report(database: ServiceDatabaseDep, policies: PoliciesDep, text: str) -> DailyReport:
    day = _day(text)
    return await daily_report(database, day, policies.sla.zone)  # ServiceDatabaseUnavailable → 503


@router.get("/daily", summary="The day's SLA figures")
async def daily(database: ServiceDatabaseDep, policies: PoliciesDep, date: DateParam) -> DailyReport:
    """Cases accepted and closed that day; each stage done that day, how many within their promise,
    median and p90 durations (working and wall time, seconds); breaches by stage and district;
    attention raised, resolved and still open at the end of the day; free seals settled with the
    shops that day; how the packages went. Rates are numbers from 0 to 1, null when nothing counts."""
    return await _report(database, policies, date)


@router.get(
    "/daily.pdf",
    summary="The day's SLA figures as a PDF, with charts",
    response_class=Response,
    responses={200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def daily_pdf(database: ServiceDatabaseDep, policies: PoliciesDep, date: DateParam) -> Response:
    report = await _report(database, policies, date)
    pdf = await anyio.to_thread.run_sync(daily_report_pdf, report, policies.sla)  # reportlab: CPU-bound
    return Response(
        content=pdf,
        media_type=PDF,
        headers={"Content-Disposition": f'inline; filename="daily-report-{report.date.isoformat()}.pdf"'},
    )


MONTH_SCHEMA = {
    "type": "string",
    "pattern": str(DATE_SCHEMA["pattern"]).split(")-(", 1)[0] + r")-(0[1-9]|1[0-2])$",
    "minLength": 7,
    "maxLength": 7,
    "description": "the month, YYYY-MM, in the SLA policy's time zone",
    "examples": ["2026-12"],
}


@router.get(
    "/ratings",
    summary="The month's ratings (好差评) and the ranking of districts and windows",
    response_model=MonthlyRatings,
    responses={200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def ratings(
    database: ServiceDatabaseDep,
    policies: PoliciesDep,
    month: Annotated[str, WithJsonSchema(MONTH_SCHEMA), Query(description="the month, YYYY-MM")],
    accept: Annotated[str | None, Header(description="application/pdf for the PDF, with a chart")] = None,
) -> Any:
    """JSON by default; with ``Accept: application/pdf`` the same as a PDF. The good share leaves out
    ratings whose appeal was upheld; ``by_district`` and ``by_unit`` rank best first."""
    if not re.fullmatch(str(MONTH_SCHEMA["pattern"]), month):
        raise ParameterInvalid("month", f"{month[:20]!r} is not a month; write YYYY-MM, e.g. 2026-12")
    report = await monthly_ratings(database, month, policies.sla.zone)
    if accept and PDF in accept:
        pdf = await anyio.to_thread.run_sync(monthly_ratings_pdf, report)
        return Response(
            content=pdf,
            media_type=PDF,
            headers={"Content-Disposition": f'inline; filename="ratings-{month}.pdf"'},
        )
    return report
