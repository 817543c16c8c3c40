"""The CJK font every generated PDF embeds, so a document looks the same on a phone without Chinese fonts.

reportlab embeds TrueType outlines (``glyf``) only, not OpenType/CFF, so the font is WenQuanYi
Micro Hei (文泉驿微米黑, Debian ``fonts-wqy-microhei``): TrueType, with the Latin letters, digits and
punctuation a USCC, a waybill number or an English subtitle needs. ``scripts/setup-system.sh`` (run
by ``make``) installs it; when it is missing, rendering stops with :class:`FontMissing`.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, TTFError, TTFont, TTFontFace
from reportlab.pdfgen.canvas import Canvas

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

# How many embedded subsets (their TrueType bytes, compressed) a process keeps: the few made of each
# document kind's fixed wording (see seed) come back in every document of the kind; a case's own
# names and addresses make the others, which seldom do (a drawing of the same case again does).
SUBSET_CACHE_SIZE = 32
# A kind's fixed wording ends in a subset of its own only when that last subset would hold at least
# this many of its glyphs; a shorter tail takes the case's characters too. Each subset embeds the
# font's tables once more (about 3.6 KB compressed), while making a subset of a few dozen glyphs
# costs about what making one of the case's few characters does.
SHARED_TAIL_BELOW = 48

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


class _SubsetCachingFace(TTFontFace):
    """The font's face, whose embedded subsets are made and compressed once per process.

    reportlab cuts a TrueType subset out of the 5 MB collection and compresses it for every document
    (a third of a short document's CPU); the same subset of glyphs gives the same bytes, so they are
    kept (``SUBSET_CACHE_SIZE``, least recently used dropped) and written as an already-filtered
    stream. The font descriptor is reportlab's own (``TTFontFile.addSubsetObjects``)."""

    _subsets: OrderedDict[tuple[int, ...], tuple[int, bytes]]

    def _subset_stream(self, subset: list[int]) -> tuple[int, bytes]:
        key = tuple(subset)
        cache = self._subsets
        found = cache.get(key)
        if found is None:
            raw = self.makeSubset(subset)
            found = cache[key] = (len(raw), zlib.compress(raw))
            if len(cache) > SUBSET_CACHE_SIZE:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        return found

    def addSubsetObjects(self, doc: Any, fontname: str, subset: list[int]) -> Any:
        if not doc.compression:
            return super().addSubsetObjects(doc, fontname, subset)
        length, compressed = self._subset_stream(subset)
        font_file = pdfdoc.PDFStream(content=compressed)
        font_file.dictionary["Length1"] = length
        font_file.dictionary["Filter"] = pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")])
        font_file_ref = doc.Reference(font_file, f"fontFile:{self.filename}({fontname})")
        descriptor = pdfdoc.PDFDictionary(
            {
                "Type": "/FontDescriptor",
                "Ascent": self.ascent,
                "CapHeight": self.capHeight,
                "Descent": self.descent,
                "Flags": (self.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC,
                "FontBBox": pdfdoc.PDFArray(self.bbox),
                "FontName": pdfdoc.PDFName(fontname),
                "ItalicAngle": self.italicAngle,
                "StemV": self.stemV,
                "FontFile2": font_file_ref,
                "MissingWidth": self.defaultWidth,
            }
        )
        return doc.Reference(descriptor, "fontDescriptor:" + fontname)


def seed(canvas: Canvas, text: str) -> None:
    """Give the glyphs of ``text`` (a document kind's fixed wording) the first codes of a new canvas,
    and start the rest (a case's own names) on a subset of their own, unless the wording's last
    subset is short (``SHARED_TAIL_BELOW``): the wording's other subsets are then the same in every
    document of the kind, so their embedded bytes are made once (``_SubsetCachingFace``)."""
    font = pdfmetrics.getFont(register_font())
    assert isinstance(font, TTFont)
    font.splitString(text, canvas._doc)
    state = font.state[canvas._doc]
    tail = state.nextCode & 0xFF
    if tail and not (len(state.subsets) > 1 and tail < SHARED_TAIL_BELOW):
        state.nextCode = (state.nextCode | 0xFF) + 1


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
            font.face.__class__ = _SubsetCachingFace
            font.face._subsets = OrderedDict()
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
