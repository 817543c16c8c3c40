"""What every report PDF shares: A4 pages, the title's style and the tables' grid. Apart from
``reports/pdf.py`` (the daily report), which the ratings' report (``reports/ratings.py``) must not
import: the daily report imports the ratings'.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, TableStyle

from domain.districts import ANYANG_DISTRICTS


def grid_style(font: str) -> TableStyle:
    """The reports' tables: a grey grid, a shaded header row, figures right-aligned."""
    return TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), font),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#edf2f7")),
            ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ]
    )


def title_style(font: str) -> ParagraphStyle:
    return ParagraphStyle("title", fontName=font, fontSize=15, leading=20, spaceAfter=4)


def build_pdf(story: list[object], title: str) -> bytes:
    """An A4 report of ``story``; no clock is read (``invariant``), so the same story gives the same bytes."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title,
        author="One-Day Setup",
        invariant=1,
    )
    document.build(story)  # type: ignore[arg-type]
    return buffer.getvalue()


def district_chart(
    values: Mapping[str, float], title: str, colour: str, font: str, *, value_max: float, value_step: float
) -> Drawing:
    """A bar per district of Anyang (in the city's order, 0 for one without a value), titled."""
    drawing = Drawing(170 * mm, 62 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 14 * mm, 16 * mm, 150 * mm, 38 * mm
    districts = list(ANYANG_DISTRICTS)
    chart.data = [[values.get(code, 0) for code in districts]]
    chart.categoryAxis.categoryNames = [ANYANG_DISTRICTS[code] for code in districts]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.angle = 30
    chart.categoryAxis.labels.dy = -6
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, value_max, value_step
    chart.bars[0].fillColor = colors.HexColor(colour)
    drawing.add(chart)
    drawing.add(String(0, 58 * mm, title, fontName=font, fontSize=9))
    return drawing
