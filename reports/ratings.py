"""Ratings (好差评) in figures: the month's report and ranking (``GET /v1/reports/ratings?month=``,
JSON or PDF), and the day's figures the daily report carries.

Everything is read from the ratings the service database keeps once per case (``store/ratings.py``):
no rater, no comment. The good share (非常满意 + 满意) leaves out the ratings whose appeal was
upheld: they stay on record (counted in ``ratings`` and ``by_level``) but out of the score.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from domain.ratings import BAD_LEVELS, GOOD_LEVELS, RATING_LEVELS
from reports.layout import build_pdf, district_chart, grid_style, title_style
from store.ratings import RatingRecord
from store.service import ServiceDatabase


class DistrictScore(BaseModel):
    district_code: str
    ratings: int
    good_share: float


class UnitScore(BaseModel):
    """One window (the unit a rating is about, ``<district>/<about>``) in the month's ranking."""

    unit: str
    ratings: int
    good_share: float
    bad: int


class MonthlyRatings(BaseModel):
    month: str
    ratings: int = 0
    by_level: dict[str, int] = Field(default_factory=dict)
    good_share: float = Field(default=0.0, description="0 to 1; upheld appeals left out")
    bad: int = 0
    called_back_on_time: int = 0
    answered_on_time: int = 0
    appeals_upheld: int = 0
    by_stage: dict[str, int] = Field(default_factory=dict, description="ratings by what they are about")
    by_district: list[DistrictScore] = Field(default_factory=list, description="best good share first")
    by_unit: list[UnitScore] = Field(default_factory=list, description="the windows' ranking, best first")


class DayRatings(BaseModel):
    """The daily report's ratings: made that day, and the follow-ups as they stood at its end."""

    ratings: int = 0
    by_level: dict[str, int] = Field(default_factory=dict)
    good_share: float | None = None
    bad: int = 0
    called_back: int = 0
    called_back_on_time: int = 0
    answered: int = 0
    answered_on_time: int = 0
    appeals_upheld: int = 0
    follow_ups_open: int = Field(default=0, description="open at the end of the day")
    follow_ups_late: int = Field(default=0, description="open at the end of the day past a promise")


def _scored(ratings: list[RatingRecord]) -> list[RatingRecord]:
    return [r for r in ratings if r.appeal != "upheld"]


def good_share(ratings: list[RatingRecord]) -> float | None:
    scored = _scored(ratings)
    return sum(1 for r in scored if r.level in GOOD_LEVELS) / len(scored) if scored else None


def _by_level(ratings: list[RatingRecord]) -> dict[str, int]:
    counted = Counter(r.level for r in ratings)
    return {level: counted[level] for level in RATING_LEVELS}


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``YYYY-MM`` → its first instant and the next month's, in ``zone`` (ValueError otherwise)."""
    first = date.fromisoformat(f"{month}-01")
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(following, time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def compile_monthly(month: str, ratings: list[RatingRecord]) -> MonthlyRatings:
    """The month's figures from its ratings: pure, so it can be checked against known ratings."""
    report = MonthlyRatings(month=month, ratings=len(ratings), by_level=_by_level(ratings))
    report.good_share = good_share(ratings) or 0.0
    bad = [r for r in ratings if r.level in BAD_LEVELS]
    report.bad = len(bad)
    report.called_back_on_time = sum(1 for r in bad if r.called_back_on_time)
    report.answered_on_time = sum(1 for r in bad if r.answered_on_time)
    report.appeals_upheld = sum(1 for r in bad if r.appeal == "upheld")
    report.by_stage = dict(sorted(Counter(r.about for r in ratings).items()))
    districts: dict[str, list[RatingRecord]] = {}
    units: dict[str, list[RatingRecord]] = {}
    for r in ratings:
        districts.setdefault(r.district_code, []).append(r)
        units.setdefault(r.unit, []).append(r)
    report.by_district = sorted(
        (
            DistrictScore(district_code=d, ratings=len(rs), good_share=good_share(rs) or 0.0)
            for d, rs in districts.items()
        ),
        key=lambda s: (-s.good_share, -s.ratings, s.district_code),
    )
    report.by_unit = sorted(
        (
            UnitScore(
                unit=u,
                ratings=len(rs),
                good_share=good_share(rs) or 0.0,
                bad=sum(1 for r in _scored(rs) if r.level in BAD_LEVELS),
            )
            for u, rs in units.items()
        ),
        key=lambda s: (-s.good_share, s.bad, -s.ratings, s.unit),
    )
    return report


async def monthly_ratings(database: ServiceDatabase, month: str, zone: ZoneInfo) -> MonthlyRatings:
    start, end = month_bounds(month, zone)
    return compile_monthly(month, await (await database.ratings()).between(start, end))


def _within(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def compile_day(
    start: datetime, end: datetime, made: list[RatingRecord], follow_ups: list[RatingRecord]
) -> DayRatings:
    """The day [start, end): ratings made in it, and every follow-up as it stood at its end."""
    figures = DayRatings(ratings=len(made), by_level=_by_level(made), good_share=good_share(made))
    figures.bad = sum(1 for r in made if r.level in BAD_LEVELS)
    for r in follow_ups:
        if _within(r.called_back_at, start, end):
            figures.called_back += 1
            figures.called_back_on_time += r.called_back_on_time
        if _within(r.answered_at, start, end):
            figures.answered += 1
            figures.answered_on_time += r.answered_on_time
        if r.appeal == "upheld" and _within(r.closed_at, start, end):
            figures.appeals_upheld += 1
        if r.rated_at < end and (r.closed_at is None or r.closed_at >= end):
            figures.follow_ups_open += 1
            as_then = r.model_copy(
                update={
                    "state": "open",
                    "called_back_at": r.called_back_at
                    if _within(r.called_back_at, r.rated_at, end)
                    else None,
                    "answered_at": r.answered_at if _within(r.answered_at, r.rated_at, end) else None,
                }
            )
            figures.follow_ups_late += as_then.late(end)
    return figures


async def day_ratings(database: ServiceDatabase, start: datetime, end: datetime) -> DayRatings:
    store = await database.ratings()
    return compile_day(start, end, await store.between(start, end), await store.follow_ups())


# --- the month's PDF ----------------------------------------------------------------------------
def monthly_ratings_pdf(report: MonthlyRatings) -> bytes:
    """The month's figures and ranking, with a chart of the good share by district."""
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer, Table

    from documents.fonts import register_font
    from domain.ratings import LEVEL_NAMES

    font = register_font()
    title, grid = title_style(font), grid_style(font)
    share = f"{report.good_share:.0%}" if report.ratings else "—"
    story: list[object] = [
        Paragraph(escape(f"好差评 月度报告 Ratings of {report.month}"), title),
        Table(
            [
                [
                    "评价 ratings",
                    "好评率 good share",
                    "差评 bad",
                    "按时回访 called back in time",
                    "按时答复 answered in time",
                    "申诉成立 appeals upheld",
                ],
                [
                    str(report.ratings),
                    share,
                    str(report.bad),
                    str(report.called_back_on_time),
                    str(report.answered_on_time),
                    str(report.appeals_upheld),
                ],
            ],
            style=grid,
        ),
        Spacer(1, 4 * mm),
        Table(
            [
                [f"{LEVEL_NAMES[level]} {level}" for level in report.by_level],
                [str(n) for n in report.by_level.values()],
            ],
            style=grid,
        ),
        Spacer(1, 4 * mm),
    ]
    scores = {s.district_code: s.good_share * 100 for s in report.by_district}
    title = "好评率（按区县）Good share by district, %"
    drawing = district_chart(scores, title, "#2f855a", font, value_max=100, value_step=20)
    story += [drawing, Spacer(1, 2 * mm)]
    ranking = [["排名 rank", "窗口 window", "评价 ratings", "好评率 good share", "差评 bad"]] + [
        [str(i), s.unit, str(s.ratings), f"{s.good_share:.0%}", str(s.bad)]
        for i, s in enumerate(report.by_unit, 1)
    ]
    story.append(Table(ranking, style=grid, repeatRows=1))
    return build_pdf(story, f"One-Day Setup ratings {report.month}")
