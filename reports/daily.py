"""The daily SLA report (``GET /v1/reports/daily``, ``…/daily.pdf``, ``starter.py report``).

Every figure comes from what the service recorded once in its database: the cases' facts
(``store/facts.py``), the alerts (``store/alerts.py``) and the first-seal subsidy ledger
(``store/subsidies.py``). Because of that, the figures add up to the case and to the cent, and
every gateway gives the same answer. The day is a calendar day in the SLA policy's time zone.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from domain.alerts import AlertRecord
from domain.facts import CaseFact
from domain.status import EXTRA_ITEMS, STAGE_NAMES
from reports.ratings import DayRatings, day_ratings
from store.service import ServiceDatabase

# The stages of the promise, in the order the report lists them; the six-item ones when they ran.
REPORT_STAGES = STAGE_NAMES
CORE_STAGES = frozenset(STAGE_NAMES) - frozenset(EXTRA_ITEMS)


class Durations(BaseModel):
    """Seconds; null when no stage of that kind finished that day."""

    median_s: float | None = None
    p90_s: float | None = None


class StageFigures(BaseModel):
    completed: int = 0
    within_sla: int = 0
    within_sla_rate: float | None = Field(default=None, description="0 to 1; null when none completed")
    working_time: Durations = Field(default_factory=Durations)
    wall_time: Durations = Field(default_factory=Durations)


class Breaches(BaseModel):
    total: int = 0
    by_stage: dict[str, int] = Field(default_factory=dict)
    by_district: dict[str, int] = Field(default_factory=dict)


class AttentionFigures(BaseModel):
    raised: int = 0
    resolved: int = 0
    open: int = Field(default=0, description="waiting for an operator at the end of the day")


class SubsidyFigures(BaseModel):
    enterprises: int = 0
    amount_cny: Decimal = Decimal("0.00")


class DeliveryFigures(BaseModel):
    postal: int = 0
    pickup: int = 0
    fallback: int = Field(default=0, description="meant for the post, handed over at the window")


class DailyReport(BaseModel):
    date: date
    timezone: str
    accepted: int = 0
    completed: int = 0
    rejected: int = 0
    withdrawn: int = 0
    completion_rate: float | None = Field(default=None, description="completed / cases closed that day")
    stages: dict[str, StageFigures] = Field(default_factory=dict)
    breaches: Breaches = Field(default_factory=Breaches)
    attention: AttentionFigures = Field(default_factory=AttentionFigures)
    subsidy: SubsidyFigures = Field(default_factory=SubsidyFigures)
    deliveries: DeliveryFigures = Field(default_factory=DeliveryFigures)
    ratings: DayRatings = Field(default_factory=DayRatings, description="好差评: ratings and follow-ups")


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` quantile, linear between the closest ranks (as numpy's default)."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _durations(values: list[float]) -> Durations:
    if not values:
        return Durations()
    return Durations(median_s=statistics.median(values), p90_s=percentile(values, 0.9))


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def compile_report(
    day: date,
    zone: ZoneInfo,
    facts_of_the_day: list[CaseFact],
    attention_until_end: list[CaseFact],
    breaches_of_the_day: list[AlertRecord],
    settled: list[tuple[str, Decimal]],
) -> DailyReport:
    """The report from what was recorded: pure, so it can be checked against known cases."""
    report = DailyReport(date=day, timezone=str(zone))
    closed = Counter(f.outcome for f in facts_of_the_day if f.kind == "closed")
    report.accepted = sum(1 for f in facts_of_the_day if f.kind == "accepted")
    report.completed, report.rejected, report.withdrawn = (
        closed["completed"],
        closed["rejected"],
        closed["withdrawn"],
    )
    report.completion_rate = _ratio(report.completed, sum(closed.values()))

    done = [f for f in facts_of_the_day if f.kind == "stage_done"]
    for stage in REPORT_STAGES:
        mine = [f for f in done if f.stage == stage]
        if not mine and stage not in CORE_STAGES:
            continue
        within = sum(1 for f in mine if f.within_sla)
        report.stages[stage] = StageFigures(
            completed=len(mine),
            within_sla=within,
            within_sla_rate=_ratio(within, len(mine)),
            working_time=_durations([f.working_seconds for f in mine if f.working_seconds is not None]),
            wall_time=_durations([f.wall_seconds for f in mine if f.wall_seconds is not None]),
        )

    breached = [a for a in breaches_of_the_day if a.level == "breached"]
    report.breaches = Breaches(
        total=len(breached),
        by_stage=dict(sorted(Counter(a.stage for a in breached).items())),
        by_district=dict(sorted(Counter(a.district_code for a in breached).items())),
    )

    start, _ = day_bounds(day, zone)
    raised = {
        (f.workflow_id, f.stage, f.episode) for f in attention_until_end if f.kind == "attention_raised"
    }
    resolved = {
        (f.workflow_id, f.stage, f.episode) for f in attention_until_end if f.kind == "attention_resolved"
    }
    today = [f for f in attention_until_end if f.at >= start]
    report.attention = AttentionFigures(
        raised=sum(1 for f in today if f.kind == "attention_raised"),
        resolved=sum(1 for f in today if f.kind == "attention_resolved"),
        open=len(raised - resolved),
    )

    report.subsidy = SubsidyFigures(
        enterprises=len(settled), amount_cny=sum((amount for _, amount in settled), Decimal("0.00"))
    )
    ways = Counter(f.outcome for f in facts_of_the_day if f.kind == "delivered")
    report.deliveries = DeliveryFigures(
        postal=ways["postal"], pickup=ways["pickup"], fallback=ways["fallback"]
    )
    return report


async def daily_report(database: ServiceDatabase, day: date, zone: ZoneInfo) -> DailyReport:
    """The report of ``day`` (a calendar day in ``zone``) from the service database."""
    start, end = day_bounds(day, zone)
    facts = await database.facts()
    of_the_day = await facts.between(start, end)
    # Attention still open at the end of the day may have been raised on any day before it.
    attention = await facts.between(
        datetime(1970, 1, 1, tzinfo=UTC), end, "attention_raised", "attention_resolved"
    )
    alerts = await (await database.alerts()).raised_between(start, end, level="breached")
    settled = await (await database.subsidies()).settled_between(start, end)
    report = compile_report(
        day, zone, of_the_day, attention, alerts, [(g.uscc, g.amount_cny) for g in settled]
    )
    report.ratings = await day_ratings(database, start, end)
    return report
