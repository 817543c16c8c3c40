"""The CJK font every generated PDF embeds, so a document looks the same on a phone without Chinese fonts.

reportlab embeds TrueType outlines (``glyf``) only, not OpenType/CFF, so the font is WenQuanYi
Micro Hei (文泉驿微米黑, Debian ``fonts-wqy-microhei``): TrueType, with the Latin letters, digits and
punctuation a USCC, a waybill number or an English subtitle needs. ``scripts/setup-system.sh`` (run
by ``make``) installs it; when it is missing, rendering stops with :class:`FontMissing`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

FONT_NAME = "WenQuanYiMicroHei"
FONT_PACKAGE = "fonts-wqy-microhei"
FONT_FILE_NAME = "wqy-microhei.ttc"
# The collection's first face is the proportional Micro Hei; the second is its monospaced sibling.
SUBFONT_INDEX = 0
KNOWN_PATHS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy") / FONT_FILE_NAME,
    Path("/usr/share/fonts/wqy-microhei") / FONT_FILE_NAME,
)
SEARCH_ROOTS: tuple[Path, ...] = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))

_lock = threading.Lock()
_registered: str | None = None


class FontMissing(RuntimeError):
    """The CJK TrueType font is not installed (or cannot be read); the message says how to fix it."""


def _missing_message(detail: str) -> str:
    return (
        f"the CJK TrueType font for generated PDFs is missing: {detail}. "
        f"Install the Debian package {FONT_PACKAGE} with `make system` "
        f"(as root it runs apt-get; otherwise: sudo apt-get install -y {FONT_PACKAGE})"
    )


def find_font_file(
    known_paths: Iterable[Path] = KNOWN_PATHS, search_roots: Iterable[Path] = SEARCH_ROOTS
) -> Path:
    """Where ``wqy-microhei.ttc`` is: a known Debian path, else the first one under the font roots."""
    for path in known_paths:
        if path.is_file():
            return path
    roots = list(search_roots)
    for root in roots:
        if root.is_dir():
            for path in sorted(root.rglob(FONT_FILE_NAME)):
                if path.is_file():
                    return path
    looked = ", ".join(str(r) for r in roots) or "nowhere"
    raise FontMissing(_missing_message(f"no {FONT_FILE_NAME} under {looked}"))


def register_font() -> str:
    """Register the font with reportlab once (thread-safe) and return its name for styles."""
    global _registered
    with _lock:
        if _registered is None:
            path = find_font_file()
            try:
                font = TTFont(FONT_NAME, str(path), subfontIndex=SUBFONT_INDEX)
            except (TTFError, OSError) as exc:
                raise FontMissing(_missing_message(f"{path} cannot be embedded ({exc})")) from exc
            pdfmetrics.registerFont(font)
            # The face has no bold or italic: <b> and <i> in a paragraph fall back to it, never to a
            # base-14 font that would not be embedded and has no Chinese.
            for bold in (0, 1):
                for italic in (0, 1):
                    addMapping(FONT_NAME, bold, italic, FONT_NAME)
            _registered = FONT_NAME
        return _registered


def has_glyph(char: str) -> bool:
    """Whether the font draws ``char`` (rather than the empty box of a missing glyph)."""
    font = pdfmetrics.getFont(register_font())
    assert isinstance(font, TTFont)
    return ord(char) in font.face.charToGlyph
