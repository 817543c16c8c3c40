"""The CJK font: found where Debian installs it, TrueType with Latin, and a clear error when missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from documents.fonts import FONT_FILE_NAME, FONT_PACKAGE, FontMissing, find_font_file, has_glyph

# Everything the documents print: Chinese, ASCII, and the punctuation and symbols used in them.
PRINTED = (
    "营业执照受理通知书首套印章免费刻制凭证一日办结告知单邮件详情单统一社会信用代码"
    "安阳市文峰区晨曦餐饮有限公司龙安区汤阴县林州市滑县内黄县殷都区北关区"
    "、，。：；（）“”·—"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;()/-+_'"
)


def test_the_font_is_truetype_and_draws_chinese_and_latin(cjk_font: str) -> None:
    font = pdfmetrics.getFont(cjk_font)
    assert isinstance(font, TTFont), "reportlab embeds TrueType (glyf) outlines only"
    missing = sorted({c for c in PRINTED if not has_glyph(c)})
    assert not missing, f"the font has no glyph for {''.join(missing)!r}"


def test_the_font_is_found_under_a_font_root_when_not_at_a_known_path(tmp_path: Path, cjk_font: str) -> None:
    installed = find_font_file()
    moved = tmp_path / "share" / "fonts" / "somewhere" / FONT_FILE_NAME
    moved.parent.mkdir(parents=True)
    moved.symlink_to(installed)
    assert find_font_file(known_paths=(), search_roots=(tmp_path / "share",)) == moved


def test_a_missing_font_names_the_debian_package_and_make_system(tmp_path: Path) -> None:
    with pytest.raises(FontMissing) as raised:
        find_font_file(known_paths=(tmp_path / FONT_FILE_NAME,), search_roots=(tmp_path,))
    message = str(raised.value)
    assert FONT_PACKAGE in message
    assert "make system" in message
