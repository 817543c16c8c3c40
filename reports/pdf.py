"""The daily report as a PDF: the figures, and two charts (reportlab graphics) with Chinese and
English labels in the embedded CJK TrueType font (``documents.fonts``).

The charts: each stage's median and p90 working time against its promise, and the breaches by
district. No clock is read: the same report always gives the same PDF.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table

from documents.fonts import register_font
from domain.sla_policy import SlaPolicy
from reports.daily import DailyReport, StageFigures
from reports.layout import build_pdf, district_chart, grid_style, title_style

STAGE_LABELS: dict[str, tuple[str, str]] = {
    "registration": ("企业设立登记", "registration"),
    "seal_carving": ("印章刻制", "seal carving"),
    "invoice": ("发票申领", "first invoices"),
    "social_insurance": ("员工参保登记", "social insurance"),
    "housing_fund": ("公积金缴存登记", "housing fund"),
    "bank_account": ("银行预约开户", "bank account"),
    "delivery": ("免费寄递", "delivery"),
    "overall": ("一日办全程", "the whole day"),
}


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 3600:.2f} h" if seconds >= 360 else f"{seconds / 60:.0f} min"


def _rate(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def _label(stage: str) -> str:
    zh, en = STAGE_LABELS.get(stage, (stage, stage))
    return f"{zh} {en}"


def durations_chart(report: DailyReport, policy: SlaPolicy, font: str) -> Drawing:
    """Median and p90 working time of each stage done that day, beside the stage's promise (hours)."""
    stages = [s for s in report.stages if s in type(policy.limits).model_fields]
    drawing = Drawing(170 * mm, 78 * mm)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 48 * mm, 14 * mm, 112 * mm, 58 * mm
    medians = [(report.stages[s].working_time.median_s or 0) / 3600 for s in stages]
    p90s = [(report.stages[s].working_time.p90_s or 0) / 3600 for s in stages]
    limits = [policy.limit(s).total_seconds() / 3600 for s in stages]
    chart.data = [medians or [0], p90s or [0], limits or [0]]
    chart.categoryAxis.categoryNames = [_label(s) for s in stages] or ["—"]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.HexColor("#2b6cb0")
    chart.bars[1].fillColor = colors.HexColor("#90cdf4")
    chart.bars[2].fillColor = colors.HexColor("#e2e8f0")
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = 48 * mm, 8 * mm
    legend.fontName, legend.fontSize = font, 7
    legend.columnMaximum, legend.deltax = 1, 40 * mm
    legend.colorNamePairs = [
        (chart.bars[0].fillColor, "中位数 median"),
        (chart.bars[1].fillColor, "90% 分位 p90"),
        (chart.bars[2].fillColor, "承诺时限 promise"),
    ]
    drawing.add(legend)
    drawing.add(
        String(
            0,
            74 * mm,
            "各环节用时（工作时间，小时）Stage durations (working hours)",
            fontName=font,
            fontSize=9,
        )
    )
    return drawing


def breaches_chart(report: DailyReport, font: str) -> Drawing:
    """Breached promises by district."""
    worst = max(1, *report.breaches.by_district.values()) if report.breaches.by_district else 1
    title = "超时承诺（按区县）Broken promises by district"
    return district_chart(
        report.breaches.by_district, title, "#c53030", font, value_max=worst, value_step=max(1, worst // 5)
    )


def _stage_row(stage: str, figures: StageFigures) -> list[str]:
    return [
        _label(stage),
        str(figures.completed),
        str(figures.within_sla),
        _rate(figures.within_sla_rate),
        _hours(figures.working_time.median_s),
        _hours(figures.working_time.p90_s),
        _hours(figures.wall_time.median_s),
        _hours(figures.wall_time.p90_s),
    ]


def daily_report_pdf(report: DailyReport, policy: SlaPolicy) -> bytes:
    font = register_font()
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13)
    title = title_style(font)
    grid = grid_style(font)
    story: list[object] = [
        Paragraph(escape(f"一日办 每日报告 One-Day Setup daily report — {report.date.isoformat()}"), title),
        Paragraph(escape(f"时区 time zone: {report.timezone}"), body),
        Spacer(1, 4 * mm),
    ]
    cases = [
        ["受理 accepted", "办结 completed", "驳回 rejected", "撤回 withdrawn", "办结率 completion rate"],
        [
            str(report.accepted),
            str(report.completed),
            str(report.rejected),
            str(report.withdrawn),
            _rate(report.completion_rate),
        ],
    ]
    story += [Table(cases, style=grid), Spacer(1, 4 * mm)]
    header = [
        "环节 stage",
        "完成 done",
        "按时 in time",
        "按时率 rate",
        "工作时中位 median (working)",
        "工作时 p90",
        "自然时中位 median (wall)",
        "自然时 p90",
    ]
    rows = [header] + [_stage_row(stage, figures) for stage, figures in report.stages.items()]
    story += [Table(rows, style=grid, repeatRows=1), Spacer(1, 4 * mm)]
    story.append(durations_chart(report, policy, font))
    story.append(breaches_chart(report, font))
    others = [
        [
            "超时 breaches",
            "待人工 attention raised / resolved / open",
            "免费刻章 free seals",
            "寄递 postal / 自取 pickup / 转自取 fallback",
        ],
        [
            str(report.breaches.total),
            f"{report.attention.raised} / {report.attention.resolved} / {report.attention.open}",
            f"{report.subsidy.enterprises} 户 enterprises, ¥{report.subsidy.amount_cny:,.2f}",
            f"{report.deliveries.postal} / {report.deliveries.pickup} / {report.deliveries.fallback}",
        ],
    ]
    story += [Spacer(1, 2 * mm), Table(others, style=grid)]
    if report.breaches.by_stage:
        lines = ", ".join(f"{_label(s)}: {n}" for s, n in report.breaches.by_stage.items())
        story.append(Paragraph(escape(f"按环节 by stage: {lines}"), body))
    r = report.ratings
    rated = [
        [
            "好差评 ratings",
            "好评率 good share",
            "差评 bad",
            "回访 called back (in time)",
            "答复 answered (in time)",
            "申诉成立 appeals upheld",
            "未结 open / 超时 late",
        ],
        [
            f"{r.ratings} ({', '.join(f'{k}: {n}' for k, n in r.by_level.items() if n)})"
            if r.ratings
            else "0",
            _rate(r.good_share),
            str(r.bad),
            f"{r.called_back} ({r.called_back_on_time})",
            f"{r.answered} ({r.answered_on_time})",
            str(r.appeals_upheld),
            f"{r.follow_ups_open} / {r.follow_ups_late}",
        ],
    ]
    story += [Spacer(1, 2 * mm), Table(rated, style=grid)]
    return build_pdf(story, f"One-Day Setup daily report {report.date.isoformat()}")
