"""Personal data kept out of logs: ID numbers and mobile numbers are masked wherever they slip in.

The service never logs them on purpose (no names, ID numbers, phones or addresses go into log
fields, search attributes or details); this is the net under that rule. A mainland mobile
number keeps its first three and last four digits (``138****0000``), an 18-character resident
ID number its six-digit division code and last four (``410502********1234``). An all-digit
unified social credit code (an enterprise's, not personal) is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from domain.identifiers import is_valid_resident_id, is_valid_uscc

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")


def _id(match: re.Match[str]) -> str:
    whole = match.group(0)
    if is_valid_uscc(whole) and not is_valid_resident_id(whole):
        return whole
    return f"{match.group(1)}********{whole[-4:]}"


def mask_text(text: str) -> str:
    """``text`` with every ID number and mobile number in it masked."""
    text = _RESIDENT_ID.sub(_id, text)
    return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(v) for v in value)
    if isinstance(value, BaseException):
        return mask_text(f"{type(value).__name__}: {value}")
    return value


def mask_personal_data(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: every value of the event, nested ones too, masked."""
    for key, value in list(event.items()):
        if key == "exc_info":
            continue  # rendered later; the rendered text is masked by ``mask_rendered``
        event[key] = mask_value(value)
    return event


def mask_rendered(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """After the exception is formatted (``format_exc_info``): mask the traceback text too."""
    for key in ("exception", "stack"):
        if isinstance(event.get(key), str):
            event[key] = mask_text(event[key])
    return event
