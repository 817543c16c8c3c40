"""Each document is a valid PDF: its Chinese text renders and can be searched; only the embedded font."""

from __future__ import annotations

import itertools
import re
import unicodedata
import zlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import TypeAdapter

from documents import render
from documents.fonts import has_glyph
from documents.models import CaseDocumentData, document_name
from tests.documents import (
    APPLICATION_ID,
    ENTERPRISE,
    USCC,
    WAYBILL_NO,
    licence,
    notice,
    pdf_text,
    poppler,
    receipt,
    statement,
    voucher,
    waybill,
)

pytestmark = pytest.mark.usefixtures("cjk_font", "poppler_utils")

# name: (renderer, input, what pdftotext must find in it)
DOCUMENTS: dict[str, tuple[Callable[[Any], bytes], Callable[[], Any], list[str]]] = {
    "acceptance_receipt": (
        render.acceptance_receipt,
        receipt,
        [
            "受理通知书",
            ENTERPRISE,
            APPLICATION_ID,
            f"setup-{APPLICATION_ID}",
            "工作时间 4 小时",
            "2026-11-27 13:30",
        ],
    ),
    "business_licence": (
        render.business_licence,
        licence,
        [ENTERPRISE, USCC, "张艳鹏", "安阳市文峰区市场监督管理局", "人民币 500,000.00 元", "2026年11月27日"],
    ),
    "subsidy_voucher": (
        render.subsidy_voucher,
        voucher,
        [
            "首套印章免费刻制凭证",
            ENTERPRISE,
            USCC,
            "安阳市文峰区诚信刻章店",
            "人民币 640.00 元",
            "合同专用章",
        ],
    ),
    "waybill_label": (
        render.waybill_label,
        waybill,
        [WAYBILL_NO, "张艳鹏", "13803720000", "安阳市文峰区政务服务中心"],
    ),
    "inbound_waybill_label": (
        render.waybill_label,
        lambda: waybill("inbound"),
        [WAYBILL_NO, "回寄", "企业开办纸质申请材料"],
    ),
    "completion_notice": (
        render.completion_notice,
        notice,
        ["一日办结告知单", ENTERPRISE, USCC, "超时", "按时", "印章刻制", WAYBILL_NO],
    ),
    "subsidy_statement": (
        render.subsidy_statement,
        statement,
        ["首套印章免费刻制补贴结算单", ENTERPRISE, USCC, "安阳市文峰区明德商贸中心", "1,000.00"],
    ),
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, bytes]:
    return {name: make(data()) for name, (make, data, _) in DOCUMENTS.items()}


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_each_document_is_a_pdf_whose_text_can_be_searched(
    name: str, rendered: dict[str, bytes], tmp_path: Path
) -> None:
    pdf = rendered[name]
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text = pdf_text(pdf, tmp_path, name)
    missing = [wanted for wanted in DOCUMENTS[name][2] if wanted not in text]
    assert not missing, f"pdftotext did not find {missing} in {name}:\n{text}"
    generated = "2026-12-01 08:00" if name == "subsidy_statement" else "2026-11-27 16:05"
    assert f"Generated {generated}" in text, "the footer shows the generated time passed in"


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_every_glyph_comes_from_the_embedded_cjk_font(
    name: str, rendered: dict[str, bytes], tmp_path: Path, cjk_font: str
) -> None:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(rendered[name])
    rows = poppler("pdffonts", path).splitlines()[2:]  # past the header and its rule
    assert rows, f"{name} uses no font at all"
    for row in rows:
        font, *_, emb, _sub, _uni, _obj, _gen = row.split()
        assert cjk_font in font, f"{name} uses {font}, not only {cjk_font}: {row}"
        assert emb == "yes", f"{name} does not embed {font}: {row}"
    text = pdf_text(rendered[name], tmp_path, name)
    undrawable = sorted(
        {c for c in text if not c.isspace() and unicodedata.category(c) != "Cc" and not has_glyph(c)}
    )
    assert not undrawable, f"{name} prints characters the font cannot draw (empty boxes): {undrawable}"


def _dark_share(png: Path, box: tuple[float, float, float, float] = (0, 0, 1, 1)) -> float:
    """The share of dark pixels in ``box`` (fractions of the width and height) of the image."""
    with Image.open(png) as image:
        gray = image.convert("L")
        w, h = gray.size
        pixels = gray.crop((int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h))).tobytes()
    return sum(1 for p in pixels if p < 128) / len(pixels)


def _raster(pdf: bytes, tmp_path: Path, name: str, dpi: int = 50) -> Path:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    poppler("pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", path, tmp_path / name)
    return tmp_path / f"{name}.png"


def test_the_licence_rasterises_to_a_page_with_its_chinese_title_drawn(
    rendered: dict[str, bytes], tmp_path: Path
) -> None:
    png = _raster(rendered["business_licence"], tmp_path, "licence")
    with Image.open(png) as image:
        assert image.size[0] < image.size[1], "A4 portrait"
    assert _dark_share(png) > 0.01, "the rasterised licence is blank"
    # The band of the title 营 业 执 照 (upper middle of the page) has ink in it.
    assert _dark_share(png, (0.35, 0.12, 0.65, 0.22)) > 0.02, "the licence's title is not drawn"


def test_the_waybill_label_carries_a_barcode(rendered: dict[str, bytes], tmp_path: Path) -> None:
    png = _raster(rendered["waybill_label"], tmp_path, "waybill", dpi=100)
    with Image.open(png) as image:
        gray = image.convert("L")
        w, h = gray.size
        pixels = gray.tobytes()
    widest = 0
    for y in range(h // 10, h // 2):
        row = [p < 128 for p in pixels[y * w : (y + 1) * w]]
        widest = max(widest, sum(1 for a, b in itertools.pairwise(row) if a != b))
    assert widest > 60, f"no barcode found on the label (at most {widest} black/white changes in a row)"


def test_the_same_input_gives_the_same_bytes_and_the_footer_follows_generated_at(tmp_path: Path) -> None:
    data = notice()
    assert render.completion_notice(data) == render.completion_notice(notice())
    later = data.model_copy(update={"generated_at": data.generated_at + timedelta(days=1, minutes=7)})
    text = pdf_text(render.completion_notice(later), tmp_path)
    assert "Generated 2026-11-28 16:12" in text


def test_a_case_document_survives_json_and_renders_under_its_stored_name() -> None:
    adapter: TypeAdapter[CaseDocumentData] = TypeAdapter(CaseDocumentData)
    for original in (receipt(), licence(), voucher(), waybill(), waybill("inbound"), notice()):
        through_temporal = adapter.validate_json(adapter.dump_json(original))
        assert through_temporal == original
        assert render.render_case_document(through_temporal) == render.render_case_document(original)
    assert [document_name(d) for d in (waybill(), waybill("inbound"), voucher())] == [
        "waybill_label",
        "inbound_waybill_label",
        "subsidy_voucher",
    ]


def test_the_late_stage_is_named_in_the_result(tmp_path: Path) -> None:
    text = pdf_text(render.completion_notice(notice()), tmp_path)
    assert "超出承诺时限的环节：印章刻制" in text
    on_time = notice()
    stages = [s for s in on_time.stages if s.stage != "seal_carving"]
    text = pdf_text(render.completion_notice(on_time.model_copy(update={"stages": stages})), tmp_path)
    assert "已按承诺时限办结" in text


def _embedded_chars(pdf: bytes) -> set[str]:
    """The characters the PDF's embedded font subsets map (their ToUnicode CMaps)."""
    chars: set[str] = set()
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            cmap = zlib.decompressobj().decompress(stream)
        except zlib.error:
            continue
        if b"begincmap" in cmap:
            chars.update(chr(int(code, 16)) for code in re.findall(rb"<[0-9A-F]{2}> <([0-9A-F]{4})>", cmap))
    return chars


def test_a_document_embeds_its_own_kinds_wording_and_not_another_kinds(rendered: dict[str, bytes]) -> None:
    label = _embedded_chars(rendered["waybill_label"])
    assert set("详情单收件人寄件人内") <= label
    # The receipt's title and the licence's heading: not a glyph of them is on the label.
    assert not set("受理通知书") & label
    assert not set("统社会信用代码") & label
