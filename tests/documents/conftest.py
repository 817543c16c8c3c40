"""The machine packages the document tests need: they fail (never skip) when one is missing."""

from __future__ import annotations

import shutil

import pytest

from documents.fonts import FontMissing, register_font
from tests.documents import POPPLER_MISSING


@pytest.fixture(scope="session")
def cjk_font() -> str:
    """The embedded CJK font, registered; a clear failure naming `make system` when it is missing."""
    try:
        return register_font()
    except FontMissing as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def poppler_utils() -> None:
    for tool in ("pdftotext", "pdffonts", "pdftoppm"):
        if shutil.which(tool) is None:
            pytest.fail(POPPLER_MISSING.format(tool=tool), pytrace=False)
