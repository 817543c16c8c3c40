"""Personal data kept out of logs: ID numbers and phone numbers are masked wherever they slip in.

The service never logs them on purpose (no names, ID numbers, phones or addresses go into log
fields, search attributes or details); this is the net under that rule. The rules are
domain/privacy.py's (``mask_text``), the ones partner text and operator notes are masked with.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from domain.privacy import mask_text

__all__ = ["mask_personal_data", "mask_rendered", "mask_text", "mask_value"]


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
