"""Fixed layouts drawn straight on a reportlab canvas: the few pieces the case documents are made of.

reportlab's platypus (``Paragraph``, ``Table``, ``BaseDocTemplate``) parses markup, reflows every
paragraph glyph by glyph through generic fragment objects and measures each table twice; for
documents of short texts in fixed columns that was most of their CPU (issue 21). These pieces keep
platypus's geometry (a paragraph's first baseline one font size below its top, lines ``leading``
apart, the same CJK line breaking; a table's rows as high as their tallest cell plus its padding;
the frame's flow with ``spaceBefore`` dropped at the top of a page), so the pages look as they did,
and draw through the canvas's text objects, so the text stays searchable.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reportlab.lib.colors import Color
from reportlab.lib.textsplit import ALL_CANNOT_START
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

_FUZZ = 1e-6  # platypus's tolerance when a line is full


class Block(Protocol):
    """What a page or a table cell holds: measured for a width, then drawn with its top-left corner."""

    space_before: float
    space_after: float

    def height(self, width: float) -> float: ...

    def draw(self, canvas: Canvas, x: float, top: float, width: float) -> None: ...


class Metrics:
    """The widths of the font's glyphs, per 1000 units of size, read once per process."""

    def __init__(self, font_name: str) -> None:
        font = pdfmetrics.getFont(font_name)
        assert isinstance(font, TTFont)
        self.name = font_name
        self._widths: dict[int, float] = dict(font.face.charWidths)
        self._default = float(font.face.defaultWidth)

    def width(self, text: str, size: float) -> float:
        widths, default = self._widths, self._default
        return sum(widths.get(ord(c), default) for c in text) * size / 1000.0


@dataclass(frozen=True)
class Run:
    """A piece of a paragraph in one size and colour (``"\\n"`` in ``text`` breaks the line)."""

    text: str
    size: float
    color: Color


@dataclass
class _Line:
    runs: list[Run]
    width: float
    size: float  # the largest size on the line (its first baseline sits this far below the top)


def _break(metrics: Metrics, runs: Sequence[Run], max_width: float) -> list[_Line]:
    """platypus's CJK line breaking (``cjkFragSplit``): break anywhere, but step back to a space or a
    CJK character inside a run of Latin letters, and let a closing mark hang rather than start a line."""
    chars: list[str] = []
    owners: list[int] = []
    widths: list[float] = []
    for n, run in enumerate(runs):
        scale = run.size / 1000.0
        table, default = metrics._widths, metrics._default
        for c in run.text:
            chars.append(c)
            owners.append(n)
            widths.append(0.0 if c == "\n" else table.get(ord(c), default) * scale)
    lines: list[_Line] = []
    start = i = 0
    used = 0.0
    count = len(chars)

    def emit(end: int, used: float) -> None:
        pieces: list[Run] = []
        size = 0.0
        for k in range(start, end):
            c = chars[k]
            run = runs[owners[k]]
            size = max(size, run.size)
            if c == "\n":
                continue
            if pieces and pieces[-1].size == run.size and pieces[-1].color is run.color:
                last = pieces[-1]
                pieces[-1] = Run(last.text + c, last.size, last.color)
            else:
                pieces.append(Run(c, run.size, run.color))
        if not size and owners:
            size = runs[owners[min(end, count) - 1]].size
        lines.append(_Line(pieces, used, size))

    while i < count:
        c = chars[i]
        w = widths[i]
        i += 1
        used += w
        hard = c == "\n"
        if hard or (used > max_width + _FUZZ and used > 0):
            if not hard:
                if ord(c) < 0x3000:
                    limit = (start + i) >> 1
                    for j in range(i - 1, limit, -1):
                        cj = chars[j]
                        if (cj and unicodedata.category(cj) == "Zs") or ord(cj) >= 0x3000:
                            k = j + 1
                            if k < i:
                                j = k + 1
                                used -= sum(widths[m] for m in range(j, i))
                                w = widths[k]
                                c = chars[k]
                                i = j
                                break
                if c not in ALL_CANNOT_START and i > start + 1:
                    i -= 1
                    used -= w
            emit(i, used)
            start = i
            used = 0.0
    if used > 0:
        emit(count, used)
    return lines


@dataclass
class Para:
    """A paragraph: runs of text, one leading, aligned ``left``, ``center`` or ``right``."""

    metrics: Metrics
    runs: Sequence[Run]
    leading: float
    align: str = "left"
    space_before: float = 0.0
    space_after: float = 0.0
    _cache: tuple[float, list[_Line]] | None = field(default=None, repr=False)

    def lines(self, width: float) -> list[_Line]:
        if self._cache is None or self._cache[0] != width:
            self._cache = (width, _break(self.metrics, self.runs, width))
        return self._cache[1]

    def height(self, width: float) -> float:
        return len(self.lines(width)) * self.leading

    def draw(self, canvas: Canvas, x: float, top: float, width: float) -> None:
        self.draw_lines(canvas, x, top, width, self.lines(width))

    def draw_lines(self, canvas: Canvas, x: float, top: float, width: float, lines: Sequence[_Line]) -> None:
        if not lines:
            return
        text = canvas.beginText()
        y = top - lines[0].size
        font, size, color = None, None, None
        for line in lines:
            if self.align == "center":
                start = x + (width - line.width) / 2
            elif self.align == "right":
                start = x + width - line.width
            else:
                start = x
            text.setTextOrigin(start, y)
            for run in line.runs:
                if run.size != size or font is None:
                    font, size = self.metrics.name, run.size
                    text.setFont(font, size)
                if run.color is not color:
                    color = run.color
                    text.setFillColor(color)
                text.textOut(run.text)
            y -= self.leading
        canvas.drawText(text)


@dataclass
class _Lines:
    """Some of a paragraph's lines, already broken (a table row split across pages)."""

    para: Para
    lines: list[_Line]
    space_before: float = 0.0
    space_after: float = 0.0

    def height(self, width: float) -> float:
        return len(self.lines) * self.para.leading

    def draw(self, canvas: Canvas, x: float, top: float, width: float) -> None:
        self.para.draw_lines(canvas, x, top, width, self.lines)


def _split_cell(cell: Cell, width: float, room: float) -> tuple[list[Block], list[Block]] | None:
    """A cell of one paragraph cut after the lines that fit in ``room`` (platypus's ``splitInRow``)."""
    if not cell:
        return [], []
    if len(cell) != 1 or not isinstance(cell[0], Para):
        return None
    para = cell[0]
    lines = para.lines(width)
    fit = int((room + _FUZZ) // para.leading)
    if fit >= len(lines):
        return [para], []
    if fit < 1:
        return None
    return [_Lines(para, lines[:fit])], [_Lines(para, lines[fit:])]


@dataclass
class Space:
    """Vertical space."""

    amount: float
    space_before: float = 0.0
    space_after: float = 0.0

    def height(self, width: float) -> float:
        return self.amount

    def draw(self, canvas: Canvas, x: float, top: float, width: float) -> None:
        return None


@dataclass
class Figure:
    """A drawing of a fixed size (a barcode, a QR code), drawn by ``paint(canvas, x, y)`` from its
    bottom-left corner; in a cell it is placed as the cell's alignment says."""

    width: float
    tall: float
    paint: Callable[[Canvas, float, float], None]
    align: str = "left"
    space_before: float = 0.0
    space_after: float = 0.0

    def height(self, width: float) -> float:
        return self.tall

    def draw(self, canvas: Canvas, x: float, top: float, width: float) -> None:
        if self.align == "center":
            x += (width - self.width) / 2
        elif self.align == "right":
            x += width - self.width
        self.paint(canvas, x, top - self.tall)


Cell = Sequence[Block]
Area = tuple[tuple[int, int], tuple[int, int]]  # (first column, first row), (last column, last row)


@dataclass
class Table:
    """platypus's ``Table`` for cells of blocks: column widths given, each row as high as its tallest
    cell plus the padding, then the backgrounds, the cells and the lines (``GRID``, ``BOX``,
    ``LINEABOVE``, ``LINEBELOW`` over an area, negative indices from the end) in that order."""

    rows: list[list[Cell]]
    widths: Sequence[float]
    padding: tuple[float, float, float, float] = (6, 6, 3, 3)  # left, right, top, bottom
    valign: str = "middle"
    backgrounds: Sequence[tuple[Area, Color]] = ()
    lines: Sequence[tuple[str, Area, float, Color]] = ()
    repeat_rows: int = 0
    align: str = "center"  # of the table in the frame
    split_in_row: bool = False  # a row of paragraphs may continue on the next page
    space_before: float = 0.0
    space_after: float = 0.0
    _heights: list[float] | None = field(default=None, repr=False)

    @property
    def width(self) -> float:
        return sum(self.widths)

    def row_heights(self) -> list[float]:
        if self._heights is None:
            left, right, top, bottom = self.padding
            self._heights = [
                max(
                    (
                        sum(b.height(w - left - right) + b.space_before + b.space_after for b in cell)
                        for cell, w in zip(row, self.widths, strict=True)
                    ),
                    default=0.0,
                )
                + top
                + bottom
                for row in self.rows
            ]
        return self._heights

    def height(self, width: float) -> float:
        return sum(self.row_heights())

    def split(self, available: float) -> tuple[Table, Table] | None:
        """The rows that fit in ``available`` and the rest (the header rows repeated), or ``None``."""
        heights = self.row_heights()
        used, n = 0.0, 0
        while n < len(heights) and used + heights[n] <= available + _FUZZ:
            used += heights[n]
            n += 1
        if n == len(heights):
            return None
        head, tail = self.rows[:n], self.rows[n:]
        if self.split_in_row:
            left, right, top, bottom = self.padding
            cut = [
                _split_cell(cell, w - left - right, available - used - top - bottom)
                for cell, w in zip(tail[0], self.widths, strict=True)
            ]
            parts = [c for c in cut if c is not None]
            if len(parts) == len(cut) and any(rest for _, rest in parts):
                head = [*head, [first for first, _ in parts]]
                tail = [[rest for _, rest in parts], *tail[1:]]
        if len(head) <= self.repeat_rows:
            return None
        first = Table(head, self.widths, self.padding, self.valign, self.backgrounds, self.lines)
        rest = Table(
            self.rows[: self.repeat_rows] + tail,
            self.widths,
            self.padding,
            self.valign,
            self.backgrounds,
            self.lines,
            self.repeat_rows,
            self.align,
            self.split_in_row,
        )
        first.align = self.align
        return first, rest

    def _area(self, area: Area) -> tuple[int, int, int, int]:
        (c0, r0), (c1, r1) = area
        cols, rows = len(self.widths), len(self.rows)
        return c0 % cols, r0 % rows, c1 % cols, r1 % rows

    def draw(self, canvas: Canvas, x: float, top: float, width: float) -> None:
        if self.align == "center":
            x += (width - self.width) / 2
        heights = self.row_heights()
        xs = [x]
        for w in self.widths:
            xs.append(xs[-1] + w)
        ys = [top]
        for h in heights:
            ys.append(ys[-1] - h)
        canvas.saveState()
        for area, color in self.backgrounds:
            c0, r0, c1, r1 = self._area(area)
            canvas.setFillColor(color)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    canvas.rect(xs[c], ys[r + 1], xs[c + 1] - xs[c], ys[r] - ys[r + 1], stroke=0, fill=1)
        left, right, pad_top, pad_bottom = self.padding
        for r, row in enumerate(self.rows):
            row_top, row_bottom = ys[r], ys[r + 1]
            for c, cell in enumerate(row):
                inner = self.widths[c] - left - right
                tall = sum(b.height(inner) + b.space_before + b.space_after for b in cell)
                if self.valign == "top":
                    y = row_top - pad_top
                else:  # platypus's middle: the padding-adjusted centre
                    y = row_bottom + (heights[r] + pad_bottom - pad_top + tall) / 2
                for block in cell:
                    y -= block.space_before
                    block.draw(canvas, xs[c] + left, y, inner)
                    y -= block.height(inner) + block.space_after
        canvas.setLineCap(1)
        for kind, area, weight, color in self.lines:
            c0, r0, c1, r1 = self._area(area)
            canvas.setStrokeColor(color)
            canvas.setLineWidth(weight)
            if kind == "GRID" or kind == "BOX":
                inner_lines = kind == "GRID"
                row_marks = range(r0, r1 + 2) if inner_lines else (r0, r1 + 1)
                col_marks = range(c0, c1 + 2) if inner_lines else (c0, c1 + 1)
                for r in row_marks:
                    canvas.line(xs[c0], ys[r], xs[c1 + 1], ys[r])
                for c in col_marks:
                    canvas.line(xs[c], ys[r0], xs[c], ys[r1 + 1])
            else:
                for r in range(r0, r1 + 1):
                    y = ys[r] if kind == "LINEABOVE" else ys[r + 1]
                    canvas.line(xs[c0], y, xs[c1 + 1], y)
        canvas.restoreState()


@dataclass
class Together:
    """Blocks kept on one page (platypus's ``KeepTogether``)."""

    blocks: Sequence[Block]
    space_before: float = 0.0
    space_after: float = 0.0

    def height(self, width: float) -> float:
        return sum(b.height(width) + b.space_before + b.space_after for b in self.blocks)

    def draw(self, canvas: Canvas, x: float, top: float, width: float) -> None:
        y = top
        for block in self.blocks:
            y -= block.space_before
            block.draw(canvas, x, y, width)
            y -= block.height(width) + block.space_after


@dataclass
class Frame:
    """Where the blocks flow: a box on every page; ``new_page(canvas, number)`` draws its furniture."""

    x: float
    bottom: float
    width: float
    top: float
    new_page: Callable[[Canvas, int], None]


def flow(canvas: Canvas, frame: Frame, blocks: Sequence[Block]) -> None:
    """Place the blocks down the frame, page after page (a table breaks between rows)."""
    page = 1
    frame.new_page(canvas, page)
    y = frame.top
    at_top = True
    pending: list[Any] = list(blocks)
    while pending:
        block = pending.pop(0)
        before = 0.0 if at_top else block.space_before
        tall = block.height(frame.width)
        if y - before - tall < frame.bottom - _FUZZ and not at_top:
            parts = block.split(y - before - frame.bottom) if isinstance(block, Table) else None
            if parts is None:
                canvas.showPage()
                page += 1
                frame.new_page(canvas, page)
                y, at_top = frame.top, True
                pending.insert(0, block)
                continue
            block, rest = parts
            pending.insert(0, rest)
            tall = block.height(frame.width)
        elif y - before - tall < frame.bottom - _FUZZ and isinstance(block, Table):
            parts = block.split(y - before - frame.bottom)
            if parts is not None:
                block, rest = parts
                pending.insert(0, rest)
                tall = block.height(frame.width)
        y -= before
        block.draw(canvas, frame.x, y, frame.width)
        y -= tall + block.space_after
        at_top = False
        if pending and y < frame.bottom:
            canvas.showPage()
            page += 1
            frame.new_page(canvas, page)
            y, at_top = frame.top, True
    canvas.showPage()
