"""The PDFs of a case (受理通知书, 营业执照, 印章凭证, EMS 详情单, 办结告知单) and a shop's monthly statement.

Pure functions: one model in, PDF bytes out. A4, Chinese titles with English subtitles, every glyph
from the embedded CJK TrueType font (``documents.fonts``), no clock read: the same input gives the
same bytes. Times are printed in Beijing time.
"""

from __future__ import annotations

import ast
import io
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.qrencoder import QRCode, QRErrorCorrectLevel
from reportlab.lib import colors
from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from documents.fonts import register_font, seed
from documents.layout import (
    Area,
    Block,
    Cell,
    Figure,
    Frame,
    Metrics,
    Para,
    Run,
    Space,
    Table,
    Together,
    flow,
)
from documents.models import (
    AcceptanceReceiptData,
    BusinessLicenceData,
    CaseDocumentData,
    CompletionNoticeData,
    PostalParty,
    StageTiming,
    SubsidyStatementData,
    SubsidyVoucherData,
    WaybillLabelData,
)
from domain.districts import ANYANG_DISTRICTS, CITY_ZONE
from domain.sla_policy import parse_duration

ISSUER = "安阳市“一日办”企业开办服务"
ISSUER_EN = "Anyang One-Day Setup (一日办) enterprise services"

INK = colors.HexColor("#1a1a1a")
MUTED = colors.HexColor("#5f6368")
RULE = colors.HexColor("#9aa0a6")
OFFICIAL_RED = colors.HexColor("#c8102e")
SHADE = colors.HexColor("#f1f3f4")
EMS_GREEN = colors.HexColor("#00693c")
ON_TIME_GREEN = colors.HexColor("#1e7d32")

KIND_LABELS: dict[str, tuple[str, str]] = {
    "limited_company": ("有限责任公司", "Limited liability company"),
    "sole_proprietorship": ("个人独资企业", "Sole proprietorship"),
    "partnership": ("合伙企业", "Partnership"),
    "individual_business": ("个体工商户", "Individual business"),
}
SEAL_LABELS: dict[str, tuple[str, str]] = {
    "official": ("公章", "Official seal"),
    "financial": ("财务专用章", "Financial seal"),
    "invoice": ("发票专用章", "Invoice seal"),
    "contract": ("合同专用章", "Contract seal"),
    "legal_representative": ("法定代表人名章", "Legal representative's name seal"),
}
STAGE_LABELS: dict[str, tuple[str, str]] = {
    "registration": ("企业设立登记", "Company registration"),
    "seal_carving": ("印章刻制", "Seal carving"),
    "invoice": ("发票初次申领", "First invoice issuance"),
    "social_insurance": ("员工参保登记", "Employees' social insurance"),
    "housing_fund": ("住房公积金缴存登记", "Housing provident fund"),
    "bank_account": ("银行预约开户", "Bank account appointment"),
    "delivery": ("寄递", "Delivery"),
    "overall": ("全程（一日办结）", "Overall (one day)"),
}
INVOICE_LABELS: dict[str, tuple[str, str]] = {
    "electronic_general": ("电子发票（普通发票）", "electronic general invoices"),
    "electronic_special": ("电子发票（增值税专用发票）", "electronic VAT special invoices"),
}
# The licence names a few fields by the kind of enterprise, as the registration authority prints them.
LICENCE_REPRESENTATIVE: dict[str, tuple[str, str]] = {
    "limited_company": ("法定代表人", "Legal representative"),
    "sole_proprietorship": ("投资人", "Investor"),
    "partnership": ("执行事务合伙人", "Managing partner"),
    "individual_business": ("经营者", "Operator"),
}
LICENCE_CAPITAL: dict[str, tuple[str, str]] = {
    "limited_company": ("注册资本", "Registered capital"),
    "sole_proprietorship": ("出资额", "Capital contribution"),
    "partnership": ("出资额", "Capital contribution"),
    "individual_business": ("资金数额", "Capital"),
}
LICENCE_ADDRESS: dict[str, tuple[str, str]] = {
    "limited_company": ("住所", "Domicile"),
    "sole_proprietorship": ("住所", "Domicile"),
    "partnership": ("主要经营场所", "Principal place of business"),
    "individual_business": ("经营场所", "Place of business"),
}
VERDICT_LABELS: dict[str, tuple[str, str]] = {
    "on_time": ("按时", "On time"),
    "late": ("超时", "Late"),
    "open": ("未完成", "Not finished"),
    "skipped": ("不适用", "Not applicable"),
}

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 20 * mm
FRAME_PADDING = 6  # reportlab's default padding inside a frame
BODY_WIDTH = PAGE_WIDTH - 2 * MARGIN - 2 * FRAME_PADDING
BORDER_PADDING = 6 * mm  # inside the licence's red frame
BOTTOM_MARGIN = MARGIN + 2 * mm
FRAME_HEIGHT = PAGE_HEIGHT - (MARGIN + 4 * mm) - BOTTOM_MARGIN  # below the issuer line, above the footer


# --- text helpers -------------------------------------------------------------------------------


def beijing(moment: datetime) -> str:
    return moment.astimezone(CITY_ZONE).strftime("%Y-%m-%d %H:%M")


def chinese_date(moment: datetime) -> str:
    local = moment.astimezone(CITY_ZONE)
    return f"{local.year}年{local.month}月{local.day}日"


def yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def duration_text(limit: str, clock: str) -> tuple[str, str]:
    """``"4h"`` → ("4 个工作小时", "4 working hours") on the working-hours clock."""
    total = int(parse_duration(limit).total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    zh_parts = [f"{n} {u}" for n, u in ((hours, "小时"), (minutes, "分钟"), (seconds, "秒")) if n]
    en_parts = [
        f"{n} {u}{'' if n == 1 else 's'}"
        for n, u in ((hours, "hour"), (minutes, "minute"), (seconds, "second"))
        if n
    ]
    if clock == "working_hours":
        return "工作时间 " + " ".join(zh_parts), " ".join(en_parts) + " of working time"
    return " ".join(zh_parts), " ".join(en_parts)


def locality(district_code: str) -> str:
    """安阳市文峰区 for the city's districts; 汤阴县, 林州市 for its counties and county-level city."""
    name = ANYANG_DISTRICTS[district_code]
    return f"安阳市{name}" if name.endswith("区") else name


def full_address(district_code: str | None, address: str) -> str:
    """河南省安阳市文峰区文明大道100号, whether or not the address already names the district or city."""
    if district_code not in ANYANG_DISTRICTS or address.startswith(("河南", "安阳")):
        return address
    district = ANYANG_DISTRICTS[district_code]
    return f"河南省安阳市{district}{address.removeprefix(district)}"


# --- styles and page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    size: float
    leading: float
    color: Color = INK
    align: str = "left"
    space_before: float = 0.0
    space_after: float = 0.0


BODY = Style(10, 15)
TITLE = Style(22, 28, align="center")
SUBTITLE = Style(10.5, 14, MUTED, "center")
HEADING = Style(12, 17, space_before=10, space_after=4)
SMALL = Style(8.5, 12, MUTED)
CELL = Style(9.5, 13)
CELL_RIGHT = Style(9.5, 13, align="right")
LABEL = Style(9.5, 11.5)
RIGHT = Style(10, 15, align="right")

BREAK = "\n"  # a line break inside a paragraph (platypus's <br/>)
# Any run of white space (the ideographic space too) is one space, as platypus's markup parser makes it.
_SPACES = re.compile(r"[^\S\n]+")


@lru_cache(maxsize=1)
def _definitions() -> dict[str, ast.AST]:
    """This module's top-level functions, classes and constants by name, from its own source."""
    found: dict[str, ast.AST] = {}
    for node in ast.parse(Path(__file__).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            found[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.update((t.id, node) for t in targets if isinstance(t, ast.Name))
    return found


@cache
def _fixed_text(renderer: str) -> str:
    """The non-ASCII characters of one document kind's fixed wording, in code point order: the string
    literals of its ``renderer`` and of this module's functions and constants it uses (its labels,
    the page furniture), docstrings left out. These are the glyphs its documents are seeded with
    (``fonts.seed``): a kind embeds only its own wording, and what a case adds goes to a subset of its
    own (or to the kind's last, short subset), so a character missed here costs size and CPU, never
    a wrong page."""
    definitions = _definitions()
    chars: set[str] = set()
    seen: set[str] = set()
    todo = [renderer]
    while todo:
        name = todo.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        nodes = [definitions[name]]
        while nodes:
            node = nodes.pop()
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # a docstring: never drawn
            if isinstance(node, ast.Name):
                todo.append(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                chars.update(c for c in node.value if ord(c) >= 0x80 and not c.isspace())
            nodes.extend(ast.iter_child_nodes(node))
    return "".join(sorted(chars))


@lru_cache(maxsize=1)
def _metrics() -> Metrics:
    """The font's widths, read once per process (the font itself is registered once too)."""
    return Metrics(register_font())


def _para(style: Style, *runs: str | tuple[str, float] | tuple[str, float, Color]) -> Para:
    """A paragraph in ``style``: plain strings in the style's size and colour, or (text, size[, colour]).

    Spaces are collapsed and the ends trimmed, as a platypus paragraph does with its markup."""
    cleaned: list[Run] = []
    for run in runs:
        text, size, color = (
            (run, style.size, style.color) if isinstance(run, str) else (*run, style.color)[:3]
        )
        text = _SPACES.sub(" ", text)
        if (
            cleaned
            and (cleaned[-1].text.endswith((" ", BREAK)) or not cleaned[-1].text)
            and text.startswith(" ")
        ):
            text = text[1:]
        if not cleaned:
            text = text.lstrip(" ")
        cleaned.append(Run(text, size, color))
    if cleaned:
        last = cleaned[-1]
        cleaned[-1] = Run(last.text.rstrip(" "), last.size, last.color)
    return Para(
        _metrics(),
        cleaned,
        style.leading,
        style.align,
        space_before=style.space_before,
        space_after=style.space_after,
    )


def _text(text: object, style: Style = CELL) -> Para:
    return _para(style, str(text))


def _bilingual(zh: str, en: str, style: Style, en_size: float = 7.5) -> Para:
    """Chinese over a smaller grey English line, for labels and column heads."""
    return _para(style, zh + BREAK, (en, en_size, MUTED))


def _inline(zh: str, en: str, style: Style, en_size: float = 7.5) -> Para:
    """Chinese followed by smaller grey English on the same line, for table rows."""
    return _para(style, zh + " ", (en, en_size, MUTED))


class _Page:
    """The page furniture: issuer line on top, a rule, and the footer naming the document's case."""

    def __init__(self, footer: str, generated_at: datetime, top_rule: Color, border: bool) -> None:
        self.footer = footer
        self.generated = beijing(generated_at)
        self.top_rule = top_rule
        self.border = border

    def __call__(self, canvas: Canvas, page: int) -> None:
        canvas.saveState()
        if self.border:  # the licence's red frame, around the body on every page
            canvas.setStrokeColor(OFFICIAL_RED)
            canvas.setLineWidth(2.0)
            canvas.rect(MARGIN, BOTTOM_MARGIN, PAGE_WIDTH - 2 * MARGIN, FRAME_HEIGHT)
        top = PAGE_HEIGHT - 12 * mm
        canvas.setFont(_metrics().name, 8)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, top, f"{ISSUER}  {ISSUER_EN}")
        canvas.setStrokeColor(self.top_rule)
        canvas.setLineWidth(1.2)
        canvas.line(MARGIN, top - 3 * mm, PAGE_WIDTH - MARGIN, top - 3 * mm)
        bottom = 12 * mm
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, bottom + 4 * mm, PAGE_WIDTH - MARGIN, bottom + 4 * mm)
        canvas.drawString(MARGIN, bottom, f"{self.footer}    生成时间 Generated {self.generated} (UTC+08:00)")
        canvas.drawRightString(PAGE_WIDTH - MARGIN, bottom, f"第 {page} 页  Page {page}")
        canvas.restoreState()


def _build(
    blocks: Sequence[Block],
    *,
    renderer: Callable[..., bytes],
    title: str,
    subject: str,
    footer: str,
    generated_at: datetime,
    top_rule: Color = OFFICIAL_RED,
    border: bool = False,
) -> bytes:
    font = _metrics().name
    buffer = io.BytesIO()
    # No creation time or random document id in the file (invariant): the same input gives the same bytes.
    canvas = Canvas(buffer, pagesize=A4, invariant=1, lang="zh-CN", initialFontName=font)
    canvas.setAuthor(ISSUER)
    canvas.setTitle(title)
    canvas.setSubject(subject)
    canvas.setCreator("One-Day Setup (一日办)")
    canvas.setProducer("One-Day Setup (一日办) with ReportLab")
    seed(canvas, _fixed_text(renderer.__name__))
    pad = (BORDER_PADDING if border else 0) + FRAME_PADDING
    frame = Frame(
        x=MARGIN + pad,
        bottom=BOTTOM_MARGIN + pad,
        width=PAGE_WIDTH - 2 * MARGIN - 2 * pad,
        top=BOTTOM_MARGIN + FRAME_HEIGHT - pad,
        new_page=_Page(footer, generated_at, top_rule, border),
    )
    flow(canvas, frame, blocks)
    canvas.save()
    return buffer.getvalue()


def _titles(zh: str, en: str) -> list[Block]:
    return [_text(zh, TITLE), _text(en, SUBTITLE), Space(5 * mm)]


def _heading(zh: str, en: str) -> Para:
    return _para(HEADING, zh + " ", (en, 9, MUTED))


def _fields(
    rows: Sequence[tuple[str, str, Any]],
    label_width: float = 38 * mm,
    width: float = BODY_WIDTH,
) -> Table:
    """A two-column form: bilingual label, value (text, or a block as is)."""
    return Table(
        [[[_bilingual(zh, en, LABEL)], [v if isinstance(v, Para) else _text(v)]] for zh, en, v in rows],
        [label_width, width - label_width],
        padding=(6, 6, 2.5, 3.5),
        backgrounds=[(((0, 0), (0, -1)), SHADE)],
        lines=[("GRID", ((0, 0), (-1, -1)), 0.5, RULE)],
        split_in_row=True,  # a long value (a business scope of many items) may continue on the next page
    )


def _grid(
    head: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    right: Sequence[int] = (),
    total: Sequence[Any] | None = None,
) -> Table:
    """A table with a bilingual header row; columns in ``right`` are right-aligned (amounts)."""

    def cell(value: Any, column: int) -> list[Block]:
        if isinstance(value, Para):
            return [value]
        return [_text(value, CELL_RIGHT if column in right else CELL)]

    data: list[list[Cell]] = [[[_bilingual(zh, en, LABEL)] for zh, en in head]]
    data += [[cell(v, i) for i, v in enumerate(row)] for row in rows]
    backgrounds: list[tuple[Area, Color]] = [(((0, 0), (-1, 0)), SHADE)]
    lines: list[tuple[str, Area, float, Color]] = [("GRID", ((0, 0), (-1, -1)), 0.5, RULE)]
    if total is not None:
        data.append([cell(v, i) for i, v in enumerate(total)])
        backgrounds.append((((0, -1), (-1, -1)), SHADE))
        lines.append(("LINEABOVE", ((0, -1), (-1, -1)), 1.0, INK))
    return Table(data, widths, padding=(6, 6, 2.5, 3.5), backgrounds=backgrounds, lines=lines, repeat_rows=1)


def _signature_block(parties: Sequence[tuple[str, str]]) -> Table:
    cells: list[Cell] = [
        [
            _para(
                CELL,
                zh + BREAK,
                (en + BREAK, 7.5, MUTED),
                BREAK
                + "签字（盖章）Signature ____________________"
                + BREAK
                + BREAK
                + "日期 Date ____________",
            )
        ]
        for zh, en in parties
    ]
    return Table([cells], [BODY_WIDTH / len(cells)] * len(cells), padding=(6, 6, 10, 3), valign="top")


# --- 受理通知书 -------------------------------------------------------------------------------


def _item_fields(data: AcceptanceReceiptData) -> list[tuple[str, str, str]]:
    """The rest of the 企业开办 scope applied for, one line each."""
    lines = []
    for item in data.items:
        zh, en = STAGE_LABELS[item]
        detail = {
            "social_insurance": f"{data.employees} 名员工 employees",
            "housing_fund": f"{data.employees} 名员工 employees",
            "bank_account": data.bank or "",
        }[item]
        lines.append((zh, en, detail))
    return lines


def acceptance_receipt(data: AcceptanceReceiptData) -> bytes:
    """受理通知书 Notice of Acceptance: the case, what happens next and the promised times."""
    kind_zh, kind_en = KIND_LABELS[data.kind]
    district = ANYANG_DISTRICTS[data.district_code]
    story: list[Block] = _titles("受理通知书", "Notice of Acceptance")
    story.append(
        _text(
            f"{data.enterprise_name}：{BREAK}"
            f"　　你（单位）提交的企业开办申请材料齐全、符合法定形式，已于 {beijing(data.accepted_at)} "
            "予以受理。企业设立登记、印章刻制和发票申领将按下列承诺时限办结。",
            BODY,
        )
    )
    story.append(
        _text(
            "Your application to set up an enterprise is complete and has been accepted. Registration, "
            "seal carving and first invoices will be handled within the times promised below.",
            SMALL,
        )
    )
    story.append(Space(4 * mm))
    services = ["、".join(SEAL_LABELS[k][0] for k in data.seals)]
    if data.invoice:
        services.append(INVOICE_LABELS[data.invoice][0])
    if data.delivery_method == "postal":
        delivery = "免费邮寄送达 Free postal delivery"
        if data.inbound_materials:
            delivery += "；纸质材料免费回寄 prepaid inbound mailing of paper materials"
    else:
        delivery = "窗口领取 Pickup at the service centre"
    story.append(
        _fields(
            [
                ("申请编号", "Application no.", data.application_id),
                ("企业名称", "Enterprise name", data.enterprise_name),
                ("企业类型", "Kind", f"{kind_zh}  {kind_en}"),
                ("所在区县", "District", f"{locality(data.district_code)}（{data.district_code}）"),
                ("受理时间", "Accepted at", f"{beijing(data.accepted_at)} (UTC+08:00)"),
                ("首套印章", "First seals (free)", services[0]),
                *([("发票申领", "Invoices", f"{INVOICE_LABELS[data.invoice][0]}")] if data.invoice else []),
                *_item_fields(data),
                ("送达方式", "Delivery", delivery),
                ("办理流程号", "Workflow id", data.workflow_id),
            ],
        )
    )
    story.append(_heading("办理环节与承诺时限", "Next steps and promises"))
    rows = []
    for promise in data.promises:
        zh, en = STAGE_LABELS[promise.stage]
        limit_zh, limit_en = duration_text(promise.limit, data.clock)
        rows.append(
            [
                _bilingual(zh, en, CELL),
                _bilingual(limit_zh, limit_en, CELL),
                beijing(promise.deadline) if promise.deadline else "自开始时起算 from its start",
            ]
        )
    story.append(
        _grid(
            [("环节", "Stage"), ("承诺时限", "Promised within"), ("截止时间", "Deadline")],
            rows,
            [55 * mm, 55 * mm, BODY_WIDTH - 110 * mm],
        )
    )
    story.append(Space(3 * mm))
    notes = [
        "时限按工作时间计算，不含法定节假日与周末；等待补正材料的时间不计入。",
        "Limits count working time: weekends, public holidays and time awaiting a supplement do not count.",
        "首套印章由政府出资免费刻制；执照与印章免费寄递。进度可凭申请编号查询，监督投诉请拨打 12345。",
        "The first set of seals is free and licence and seals are mailed free. Quote the application "
        "number to follow the case; call 12345 for complaints.",
    ]
    story += [_text(n, SMALL) for n in notes]
    story.append(Space(5 * mm))
    story.append(
        _text(f"{locality(data.district_code)}政务服务中心　{chinese_date(data.accepted_at)}", RIGHT)
    )
    return _build(
        story,
        renderer=acceptance_receipt,
        title=f"受理通知书 {data.application_id}",
        subject=f"Notice of acceptance, {district}",
        footer=f"申请编号 Application {data.application_id}",
        generated_at=data.generated_at,
    )


# --- 营业执照 ---------------------------------------------------------------------------------


def qr_code(value: str, size: float) -> Figure:
    """A QR code of ``value`` (level M), ``size`` points square with its four-module quiet zone."""
    qr = QRCode(None, QRErrorCorrectLevel.M)
    qr.addData(value)
    qr.make()
    count = qr.getModuleCount()
    box = size / (count + 8)

    def paint(canvas: Canvas, x: float, y: float) -> None:
        canvas.saveState()
        canvas.translate(x, y)
        canvas.scale(box, box)  # in modules, as reportlab's QR widget draws them (same look)
        canvas.setFillColor(colors.black)
        for r, row in enumerate(qr.modules):
            c = 0
            for dark, group in itertools.groupby(bool(m) for m in row):
                n = sum(1 for _ in group)
                if dark:
                    canvas.rect(c + 4, count + 3 - r, n, 1, stroke=0, fill=1)
                c += n
        canvas.restoreState()

    return Figure(size, size, paint, align="center")


def business_licence(data: BusinessLicenceData) -> bytes:
    """营业执照 (electronic): the licence as the registration authority issued it, with a QR of the USCC."""
    lic = data.licence
    inner = BODY_WIDTH - 2 * BORDER_PADDING
    kind_zh, kind_en = KIND_LABELS.get(lic.kind, (lic.kind, lic.kind))
    qr_size = 28 * mm
    head = Table(
        [
            [
                [
                    _para(
                        Style(10.5, 15),
                        "统一社会信用代码" + BREAK,
                        ("Unified Social Credit Code" + BREAK, 7.5, MUTED),
                        lic.uscc,
                    )
                ],
                [
                    _text("营 业 执 照", Style(30, 36, align="center")),
                    _text("Business Licence (electronic)", SUBTITLE),
                ],
                [
                    qr_code(lic.uscc, qr_size),
                    _text("扫码核验 Scan to verify", Style(8.5, 12, MUTED, "center")),
                ],
            ]
        ],
        [46 * mm, inner - 46 * mm - qr_size - 4 * mm, qr_size + 4 * mm],
        padding=(0, 0, 3, 3),
    )
    rep_zh, rep_en = LICENCE_REPRESENTATIVE.get(lic.kind, LICENCE_REPRESENTATIVE["limited_company"])
    cap_zh, cap_en = LICENCE_CAPITAL.get(lic.kind, LICENCE_CAPITAL["limited_company"])
    addr_zh, addr_en = LICENCE_ADDRESS.get(lic.kind, LICENCE_ADDRESS["limited_company"])
    address = full_address(lic.district_code, lic.address)
    capital = yuan(lic.registered_capital_cny)
    scope = "；".join(lic.business_scope) + "。（依法须经批准的项目，经相关部门批准后方可开展经营活动）"
    fields = _fields(
        [
            ("名称", "Name", lic.name),
            ("类型", "Type", f"{kind_zh}  {kind_en}"),
            (rep_zh, rep_en, lic.legal_representative),
            (cap_zh, cap_en, f"人民币 {capital} 元  CNY {capital}"),
            ("成立日期", "Date of establishment", chinese_date(lic.issued_at)),
            (addr_zh, addr_en, address),
            ("经营范围", "Business scope", scope),
        ],
        label_width=40 * mm,
        width=inner,
    )
    authority = _para(
        Style(11, 17, align="right"),
        "登记机关 ",
        ("Registration authority" + BREAK, 8, MUTED),
        lic.authority + BREAK + chinese_date(lic.issued_at),
    )
    note = _text(
        f"登记编号 Filing {lic.filing_id}。本件依据登记机关签发的电子营业执照生成，"
        "可通过国家企业信用信息公示系统核验。This copy is generated from the electronic licence "
        "issued by the registration authority; verify it on the National Enterprise Credit "
        "Information Publicity System.",
        SMALL,
    )
    story: list[Block] = [
        head,
        Space(6 * mm),
        fields,
        Space(10 * mm),
        Together([authority, Space(6 * mm), note]),
    ]
    return _build(
        story,
        renderer=business_licence,
        title=f"营业执照 {lic.name}",
        subject=f"Business licence {lic.uscc}",
        footer=f"申请编号 Application {data.application_id}",
        generated_at=data.generated_at,
        border=True,
    )


# --- 首套印章免费刻制凭证 -----------------------------------------------------------------------


def subsidy_voucher(data: SubsidyVoucherData) -> bytes:
    """首套印章免费刻制凭证: what the city pays the shop for this enterprise's first seals, and the extras."""
    story: list[Block] = _titles("首套印章免费刻制凭证", "Voucher for a Free First Set of Seals")
    story.append(
        _fields(
            [
                ("凭证编号", "Voucher (grant) no.", data.grant_id),
                ("企业名称", "Enterprise", data.enterprise_name),
                ("统一社会信用代码", "USCC", data.uscc),
                ("刻制单位", "Seal shop", f"{data.shop_name}（{data.shop_id}）"),
                *([("刻制订单", "Seal order", data.order_id)] if data.order_id else []),
                ("核发时间", "Granted at", f"{beijing(data.granted_at)} (UTC+08:00)"),
            ],
        )
    )
    story.append(_heading("印章明细", "Seals"))
    rows = [
        [
            _inline(*SEAL_LABELS[line.kind], CELL),
            yuan(line.price_cny),
            _inline("政府补贴", "Paid by the city", CELL)
            if line.paid_by == "city"
            else _inline("企业自付", "Paid by the enterprise", CELL),
        ]
        for line in data.seals
    ]
    total = sum((line.price_cny for line in data.seals), Decimal("0.00"))
    story.append(
        _grid(
            [("印章", "Seal"), ("合同价（元）", "Contracted price, CNY"), ("支付方", "Paid by")],
            rows,
            [70 * mm, 45 * mm, BODY_WIDTH - 115 * mm],
            right=(1,),
            total=[_inline("合计", "Total", CELL), yuan(total), ""],
        )
    )
    story.append(Space(5 * mm))
    story.append(
        _fields(
            [
                ("政府支付", "Paid by the city", f"人民币 {yuan(data.city_pays_cny)} 元"),
                ("企业自付", "Paid by the enterprise", f"人民币 {yuan(data.enterprise_pays_cny)} 元"),
            ],
        )
    )
    story.append(Space(3 * mm))
    for line in (
        "本凭证用于新开办企业首套印章免费刻制，每户企业限享受一次，由市财政向刻制单位结算；"
        "标准套餐以外的印章由企业自行付费。",
        "The city pays the shop for a new enterprise's first standard set of seals, once per enterprise; "
        "seals beyond the standard set are paid by the enterprise.",
    ):
        story.append(_text(line, SMALL))
    story.append(Space(6 * mm))
    story.append(_signature_block([("刻制单位", "Seal shop"), ("企业经办人", "For the enterprise")]))
    return _build(
        story,
        renderer=subsidy_voucher,
        title=f"首套印章免费刻制凭证 {data.grant_id}",
        subject=f"First-seal subsidy voucher {data.uscc}",
        footer=f"申请编号 Application {data.application_id}",
        generated_at=data.generated_at,
    )


# --- EMS 邮件详情单 ---------------------------------------------------------------------------


def _party_block(zh: str, en: str, party: PostalParty, big: bool) -> list[Block]:
    size = 12 if big else 10
    lines = party.name
    if party.phone:
        lines += f"　{party.phone}"
    return [
        _bilingual(zh, en, LABEL, en_size=7),
        _para(Style(size, size * 1.45), lines + BREAK + full_address(party.district_code, party.address)),
    ]


def _barcode(value: str) -> Figure:
    """The waybill number as a Code 128 barcode, centred in its cell."""
    code = Code128(value, barHeight=16 * mm, barWidth=0.36 * mm, humanReadable=False, quiet=True)
    width, height = code.wrap(0, 0)
    return Figure(width, height, lambda canvas, x, y: code.drawOn(canvas, x, y), align="center")


def waybill_label(data: WaybillLabelData) -> bytes:
    """EMS 邮件详情单: the label, with the waybill number as a Code 128 barcode (outbound or 回寄)."""
    width = 120 * mm
    inner = width - 8 * mm
    if data.direction == "outbound":
        service = ("免费寄递 · 邮费由政府支付", "Free delivery, postage paid by the government")
        heading = ("EMS 邮件详情单", "EMS waybill · outbound (licence and seals)")
    else:
        service = ("回寄 · 邮费已预付", "Inbound, postage prepaid")
        heading = ("EMS 邮件详情单（回寄）", "EMS waybill · prepaid inbound (paper materials)")
    top = Table(
        [
            [
                [_text("EMS", Style(20, 24, EMS_GREEN))],
                [_bilingual(*heading, Style(11, 14))],
            ]
        ],
        [22 * mm, inner - 22 * mm],
        padding=(0, 6, 3, 3),
    )
    rows: list[list[Cell]] = [
        [[top]],
        [[_barcode(data.waybill_no), _text(data.waybill_no, Style(14, 18, align="center"))]],
        [_party_block("收件人", "To", data.recipient, big=True)],
        [_party_block("寄件人", "From", data.sender, big=False)],
        [[_bilingual("内件", "Contents", LABEL, en_size=7), _text("、".join(data.contents))]],
        [
            [
                _bilingual(*service, CELL, en_size=7),
                _text(f"收寄日期 Booked {beijing(data.booked_at)}  申请编号 {data.application_id}", SMALL),
            ]
        ],
    ]
    label = Table(
        rows,
        [width],
        padding=(4 * mm, 4 * mm, 3 * mm, 3 * mm),
        lines=[("BOX", ((0, 0), (-1, -1)), 1.5, INK), ("LINEBELOW", ((0, 0), (-1, -2)), 0.8, INK)],
        align="left",
    )
    cut = _text("沿边框剪下贴于邮件上 Cut along the border and stick it on the parcel", SMALL)
    title = "EMS 邮件详情单" if data.direction == "outbound" else "EMS 邮件详情单（回寄）"
    return _build(
        [Together([label, Space(3 * mm), cut])],
        renderer=waybill_label,
        title=f"{title} {data.waybill_no}",
        subject=f"EMS waybill {data.waybill_no} ({data.direction})",
        footer=f"申请编号 Application {data.application_id}",
        generated_at=data.generated_at,
        top_rule=RULE,
    )


# --- 一日办结告知单 ---------------------------------------------------------------------------


def _timing_row(timing: StageTiming, clock: str) -> list[Any]:
    zh, en = STAGE_LABELS[timing.stage]
    verdict = timing.verdict
    v_zh, v_en = VERDICT_LABELS[verdict]
    colour = {"late": OFFICIAL_RED, "on_time": ON_TIME_GREEN}.get(verdict, MUTED)
    limit = _bilingual(*duration_text(timing.limit, clock), CELL, en_size=7) if timing.limit else "—"
    return [
        _bilingual(zh, en, CELL, en_size=7),
        beijing(timing.started_at) if timing.started_at else "—",
        beijing(timing.finished_at) if timing.finished_at else "—",
        limit,
        beijing(timing.deadline) if timing.deadline else "—",
        _para(CELL, (v_zh + BREAK, CELL.size, colour), (v_en, 7)),
    ]


def completion_notice(data: CompletionNoticeData) -> bytes:
    """一日办结告知单: each stage's started and finished times against its promise; the result."""
    story: list[Block] = _titles("一日办结告知单", "Notice of Completion of One-Day Setup")
    if data.on_time:
        result = ("已按承诺时限办结", "Completed within every promised time")
    else:
        late = "、".join(STAGE_LABELS[t.stage][0] for t in data.stages if t.verdict == "late")
        result = (f"已办结；超出承诺时限的环节：{late}", "Completed; some stages took longer than promised")
    story.append(
        _fields(
            [
                ("申请编号", "Application no.", data.application_id),
                ("企业名称", "Enterprise", data.enterprise_name),
                ("统一社会信用代码", "USCC", data.uscc),
                ("受理时间", "Accepted at", f"{beijing(data.accepted_at)} (UTC+08:00)"),
                ("办结时间", "Completed at", f"{beijing(data.completed_at)} (UTC+08:00)"),
                ("办理结果", "Result", _bilingual(*result, CELL, en_size=7.5)),
                *_delivery_rows(data),
                ("办理流程号", "Workflow id", data.workflow_id),
            ],
        )
    )
    story.append(_heading("各环节办理时间", "Stages against their promises"))
    story.append(
        _grid(
            [
                ("环节", "Stage"),
                ("开始", "Started"),
                ("完成", "Finished"),
                ("承诺时限", "Promise"),
                ("截止", "Deadline"),
                ("结果", "Result"),
            ],
            [_timing_row(t, data.clock) for t in data.stages],
            [34 * mm, 27 * mm, 27 * mm, 28 * mm, 27 * mm, BODY_WIDTH - 143 * mm],
        )
    )
    story.append(Space(3 * mm))
    for line in (
        "时间均为北京时间；时限按工作时间计算，不含周末、法定节假日和等待补正的时间。"
        "对办理结果有意见，请拨打 12345。",
        "Times are Beijing time (UTC+08:00). Limits count working time, without weekends, public holidays "
        "or time awaiting a supplement. Call 12345 with any complaint.",
    ):
        story.append(_text(line, SMALL))
    return _build(
        story,
        renderer=completion_notice,
        title=f"一日办结告知单 {data.application_id}",
        subject=f"Completion notice {data.uscc}",
        footer=f"申请编号 Application {data.application_id}",
        generated_at=data.generated_at,
    )


def _delivery_rows(data: CompletionNoticeData) -> list[tuple[str, str, str]]:
    if data.delivery_method == "postal" and data.waybill_no:
        return [("送达方式", "Delivery", f"EMS 免费寄递 Free postal delivery，运单号 {data.waybill_no}")]
    if data.delivery_method == "pickup":
        place = f"：{data.pickup_at}" if data.pickup_at else ""
        return [("送达方式", "Delivery", f"窗口领取 Pickup{place}")]
    return []


# --- 月度结算单 -------------------------------------------------------------------------------


def subsidy_statement(data: SubsidyStatementData) -> bytes:
    """A seal shop's monthly statement of first-seal subsidies, for the city's finance office."""
    year, month = data.month.split("-")
    story: list[Block] = _titles(
        "首套印章免费刻制补贴结算单", f"Monthly Statement of First-Seal Subsidies · {data.month}"
    )
    story.append(
        _fields(
            [
                ("刻制单位", "Seal shop", f"{data.shop_name}（{data.shop_id}）"),
                ("结算月份", "Month", f"{year}年{int(month)}月  {data.month}"),
                ("企业户数", "Enterprises", str(len(data.entries))),
                ("结算金额", "Amount due", f"人民币 {yuan(data.total_cny)} 元"),
            ],
        )
    )
    story.append(_heading("明细", "Entries"))
    rows = [
        [
            str(n),
            _para(CELL, e.enterprise_name + BREAK, (e.uscc, 7.5, INK)),
            "、".join(SEAL_LABELS[k][0] for k in e.seals),
            beijing(e.settled_at)[:10] if e.settled_at else "—",
            yuan(e.amount_cny),
        ]
        for n, e in enumerate(data.entries, start=1)
    ]
    if not rows:
        rows = [["—", "本月无补贴 No subsidies this month", "", "", yuan(Decimal("0.00"))]]
    story.append(
        _grid(
            [
                ("序号", "No."),
                ("企业名称 / 统一社会信用代码", "Enterprise / USCC"),
                ("印章", "Seals"),
                ("结算日期", "Settled"),
                ("金额（元）", "Amount, CNY"),
            ],
            rows,
            [12 * mm, 68 * mm, BODY_WIDTH - 132 * mm, 24 * mm, 28 * mm],
            right=(4,),
            total=["", _bilingual("合计", "Total", CELL), "", "", yuan(data.total_cny)],
        )
    )
    story.append(Space(8 * mm))
    story.append(
        _signature_block([("刻制单位", "Seal shop"), ("财政部门审核", "Checked by the finance office")])
    )
    return _build(
        story,
        renderer=subsidy_statement,
        title=f"首套印章免费刻制补贴结算单 {data.month} {data.shop_id}",
        subject=f"First-seal subsidy statement {data.month} {data.shop_id}",
        footer=f"结算单 Statement {data.month} · {data.shop_id}",
        generated_at=data.generated_at,
    )


# --- one entry point for activities ---------------------------------------------------------------


_RENDERERS: dict[type, Callable[[Any], bytes]] = {
    AcceptanceReceiptData: acceptance_receipt,
    BusinessLicenceData: business_licence,
    SubsidyVoucherData: subsidy_voucher,
    WaybillLabelData: waybill_label,
    CompletionNoticeData: completion_notice,
}


def render_case_document(data: CaseDocumentData) -> bytes:
    """The PDF of any case document (store it under ``documents.models.document_name(data)``)."""
    return _RENDERERS[type(data)](data)
