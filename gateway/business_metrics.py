"""The business series on the gateway's ``/metrics``, read from the service database at each scrape.

They are derived from what is recorded once (the cases' facts, the alerts, the subsidy ledger),
never counted in a process that might see an event twice. Every gateway therefore shows the same
values, however many gateways and workers run. Prometheus takes them as counters because the rows
only ever grow.

- ``ods_setups_started_total``: cases accepted.
- ``ods_setups_completed_total{outcome}``: cases closed, as completed, rejected or withdrawn.
- ``ods_stage_duration_seconds{stage}``: how long each stage took, in working time on the
  case's SLA clock (a histogram).
- ``ods_sla_alerts_total{stage,level}``: alerts raised.
- ``ods_attention_open``: the stages that wait for an operator now.
- ``ods_subsidy_amount_cny_total``: first-seal subsidies settled with the shops (yuan).
- ``ods_subsidy_settled_total``: how many subsidies were settled.
- ``ods_ratings_total{level,district,about}``: ratings (好差评) made; ``ods_rating_good_share``: the
  share of 非常满意 and 满意 (upheld appeals left out).
- ``ods_rating_follow_ups_called_back_on_time_total``, ``…_answered_on_time_total``: bad ratings
  called back and answered by their deadlines; ``ods_rating_appeals_total{outcome}``: appeals.
- ``ods_rating_follow_ups_open``, ``ods_rating_follow_ups_late``: follow-ups open now, and those
  of them past a promise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from reports.ratings import good_share
from store.db import transaction
from store.facts import case_facts_table
from store.service import ServiceDatabase

# Working time: a minute to the fourteen hours of the delivery promise.
DURATION_BUCKETS: tuple[float, ...] = (60, 300, 900, 1800, 3600, 7200, 14400, 25200, 50400)


@dataclass
class Snapshot:
    started: int = 0
    closed: dict[str, int] = field(default_factory=dict)
    # stage -> (cumulative counts per bucket, count, sum)
    durations: dict[str, tuple[list[int], int, float]] = field(default_factory=dict)
    alerts: dict[tuple[str, str], int] = field(default_factory=dict)
    attention_open: int = 0
    subsidy_count: int = 0
    subsidy_cny: Decimal = Decimal("0.00")
    ratings: dict[tuple[str, str, str], int] = field(default_factory=dict)
    good_share: float = 0.0
    called_back_on_time: int = 0
    answered_on_time: int = 0
    appeals: dict[str, int] = field(default_factory=dict)
    follow_ups_open: int = 0
    follow_ups_late: int = 0


async def read_snapshot(database: ServiceDatabase) -> Snapshot:
    t = case_facts_table
    snap = Snapshot()
    async with transaction(await database.engine()) as conn:
        kinds = (
            await conn.execute(select(t.c.kind, t.c.outcome, func.count()).group_by(t.c.kind, t.c.outcome))
        ).all()
        seconds = t.c.working_seconds
        buckets = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
        durations = (
            await conn.execute(
                select(t.c.stage, func.count(), func.coalesce(func.sum(seconds), 0.0), *buckets)
                .where(t.c.kind == "stage_done", seconds.is_not(None))
                .group_by(t.c.stage)
            )
        ).all()
        episodes = (
            await conn.execute(
                select(t.c.kind, func.count())
                .where(t.c.kind.in_(("attention_raised", "attention_resolved")))
                .group_by(t.c.kind)
            )
        ).all()
    for kind, outcome, n in kinds:
        if kind == "accepted":
            snap.started += int(n)
        elif kind == "closed" and outcome:
            snap.closed[outcome] = snap.closed.get(outcome, 0) + int(n)
    for stage, count, total, *cumulative in durations:
        snap.durations[stage] = ([int(c or 0) for c in cumulative], int(count), float(total))
    raised: dict[str, int] = {str(kind): int(n) for kind, n in episodes}
    snap.attention_open = max(
        int(raised.get("attention_raised", 0)) - int(raised.get("attention_resolved", 0)), 0
    )
    snap.alerts = await (await database.alerts()).counts()
    snap.subsidy_count, snap.subsidy_cny = await (await database.subsidies()).settled_total()
    ratings = await (await database.ratings()).all()
    now = datetime.now(UTC)
    snap.ratings = dict(Counter((r.level, r.district_code, r.about) for r in ratings))
    snap.good_share = good_share(ratings) or 0.0
    follow_ups = [r for r in ratings if r.follow_up is not None]
    snap.called_back_on_time = sum(1 for r in follow_ups if r.called_back_on_time)
    snap.answered_on_time = sum(1 for r in follow_ups if r.answered_on_time)
    snap.appeals = dict(Counter(r.appeal for r in follow_ups if r.appeal))
    snap.follow_ups_open = sum(1 for r in follow_ups if r.state != "closed")
    snap.follow_ups_late = sum(1 for r in follow_ups if r.late(now))
    return snap


class BusinessMetrics(Collector):
    """Yields the last snapshot read (``refresh`` before each scrape)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    async def refresh(self, database: ServiceDatabase) -> None:
        self.snapshot = await read_snapshot(database)

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        started = CounterMetricFamily("ods_setups_started", "Cases accepted (企业开办申请受理).")
        started.add_metric([], s.started)
        yield started
        closed = CounterMetricFamily(
            "ods_setups_completed",
            "Cases closed, by outcome (completed, rejected, withdrawn).",
            labels=["outcome"],
        )
        for outcome in ("completed", "rejected", "withdrawn"):
            closed.add_metric([outcome], s.closed.get(outcome, 0))
        yield closed
        durations = HistogramMetricFamily(
            "ods_stage_duration_seconds",
            "How long each stage took, in working time on the case's SLA clock.",
            labels=["stage"],
        )
        for stage, (cumulative, count, total) in sorted(s.durations.items()):
            bounds = [(str(float(b)), c) for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)]
            durations.add_metric([stage], [*bounds, ("+Inf", count)], sum_value=total)
        yield durations
        alerts = CounterMetricFamily(
            "ods_sla_alerts", "Alerts raised, by stage and level.", labels=["stage", "level"]
        )
        for (stage, level), n in sorted(s.alerts.items()):
            alerts.add_metric([stage, level], n)
        yield alerts
        attention = GaugeMetricFamily("ods_attention_open", "Stages waiting for an operator now.")
        attention.add_metric([], s.attention_open)
        yield attention
        amount = CounterMetricFamily(
            "ods_subsidy_amount_cny", "First-seal subsidies settled with the seal shops, in yuan."
        )
        amount.add_metric([], float(s.subsidy_cny))
        yield amount
        settled = CounterMetricFamily(
            "ods_subsidy_settled", "First-seal subsidies settled with the seal shops."
        )
        settled.add_metric([], s.subsidy_count)
        yield settled
        ratings = CounterMetricFamily(
            "ods_ratings",
            "Ratings (好差评) made, by level, district and what they are about.",
            labels=["level", "district", "about"],
        )
        for (level, district, about), n in sorted(s.ratings.items()):
            ratings.add_metric([level, district, about], n)
        yield ratings
        share = GaugeMetricFamily("ods_rating_good_share", "Share of good ratings (非常满意, 满意), 0 to 1.")
        share.add_metric([], s.good_share)
        yield share
        for name, value, text in (
            ("called_back_on_time", s.called_back_on_time, "Bad ratings called back by their deadline."),
            ("answered_on_time", s.answered_on_time, "Bad ratings answered by their deadline."),
        ):
            on_time = CounterMetricFamily(f"ods_rating_follow_ups_{name}", text)
            on_time.add_metric([], value)
            yield on_time
        appeals = CounterMetricFamily(
            "ods_rating_appeals", "Appeals against ratings, by outcome.", labels=["outcome"]
        )
        for outcome in ("pending", "upheld", "refused"):
            appeals.add_metric([outcome], s.appeals.get(outcome, 0))
        yield appeals
        for name, value, text in (
            ("open", s.follow_ups_open, "Follow-ups of bad ratings open now."),
            ("late", s.follow_ups_late, "Open follow-ups past their call-back or answer deadline."),
        ):
            gauge = GaugeMetricFamily(f"ods_rating_follow_ups_{name}", text)
            gauge.add_metric([], value)
            yield gauge


BUSINESS = BusinessMetrics()
