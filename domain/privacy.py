"""ID numbers and phone numbers masked wherever text from outside (a partner's words, an
operator's note) could carry them on past the encrypted payloads.

A mainland mobile number keeps its first three and last four digits (``138****0000``), a
landline its area code and last four (``0372-****5678``), an 18-character resident ID number
its six-digit division code and last four (``410502********1234``). An all-digit unified social
credit code (an enterprise's, not personal) is left as it is. Logs are masked with the same
rules (infra/privacy.py).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from domain.identifiers import is_valid_resident_id, is_valid_uscc

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
# A landline written with its area code apart (0372-2345678, (0372)2345678, 0372 2345678): a bare
# run of digits is too often a waybill's or an order's number to be read as one.
_LANDLINE = re.compile(r"(?<!\d)(\(?0\d{2,3}\)?[-\s]?)(\d{3,4})(\d{4})(?!\d)")
_LANDLINE_APART = re.compile(r"\(0\d{2,3}\)|0\d{2,3}[-\s]")
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")


def _id(match: re.Match[str]) -> str:
    whole = match.group(0)
    if is_valid_uscc(whole) and not is_valid_resident_id(whole):
        return whole
    return f"{match.group(1)}********{whole[-4:]}"


def _landline(match: re.Match[str]) -> str:
    if not _LANDLINE_APART.fullmatch(match.group(1)):
        return match.group(0)
    return f"{match.group(1)}{'*' * len(match.group(2))}{match.group(3)}"


def mask_text(text: str) -> str:
    """``text`` with every ID number and phone number in it masked."""
    text = _RESIDENT_ID.sub(_id, text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE.sub(_landline, text)


MaskedText = Annotated[str, AfterValidator(mask_text)]
"""Free text that is kept or passed on (an operator's note or reason): masked as it is read."""
