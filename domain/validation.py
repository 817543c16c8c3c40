"""How a refused application is reported: one ``FieldError`` per problem, with a dotted path.

The gateway answers 422 ``{"errors": [{"field": "shareholders.0.id_number", "message": …}]}``
(the ``FieldErrors`` schema of ``/openapi.json``); the supplement request of a case names fields
the same way. Request bodies are decoded here too (``decode_json_body``, ``json_object``,
``validated``), so every caller refuses a malformed body with the same words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

# Tags of the shareholder union (domain.application). Pydantic puts a tagged union's tag into
# the error location (``shareholders.0.person.id_number``); the portal should not see it.
SHAREHOLDER_TAGS: frozenset[str] = frozenset({"person", "enterprise"})

# The field name used for problems with the body as a whole (not a JSON object, …).
BODY_FIELD = "body"
_NOT_JSON = "the body is not valid JSON (UTF-8)"
_NOT_AN_OBJECT = "the body must be a JSON object"

# Pydantic's own wording where it would leak class names or read poorly.
_PLAIN_MESSAGES: dict[str, str] = {
    "missing": "this field is required",
    "extra_forbidden": "unknown field; remove it",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a list (JSON array)",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
}
_PREFIXES = ("Value error, ", "Assertion failed, ")
# Schema steps pydantic sometimes writes into a location, e.g. ``function-after[check(), str]``.
_SCHEMA_STEP = re.compile(r"^[a-z][a-z-]*\[.*\]$", re.DOTALL)


class FieldError(BaseModel):
    """One problem: a dotted ``field`` path (list items by index) and what is wrong with it."""

    field: str
    message: str


class ApplicationInvalid(Exception):
    """An application (or a supplement, or a delivery change) that cannot be accepted."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        # The list is the only argument, so the exception pickles and re-raises intact.
        super().__init__(self.errors)

    def __str__(self) -> str:
        if not self.errors:
            return "the application is invalid"
        return "; ".join(f"{e.field}: {e.message}" for e in self.errors)

    def as_body(self) -> dict[str, list[dict[str, str]]]:
        """The 422 answer: ``{"errors": [{"field": …, "message": …}, …]}``."""
        return {"errors": [e.model_dump() for e in self.errors]}

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> ApplicationInvalid:
        return cls(field_errors(exc))


def dotted_path(loc: Sequence[str | int]) -> str:
    """``("shareholders", 0, "person", "id_number")`` -> ``"shareholders.0.id_number"``."""
    parts: list[str] = []
    previous: str | int | None = None
    for part in loc:
        if isinstance(part, str) and (
            (part in SHAREHOLDER_TAGS and isinstance(previous, int)) or _SCHEMA_STEP.match(part)
        ):
            previous = part
            continue
        parts.append(str(part))
        previous = part
    return ".".join(parts) if parts else BODY_FIELD


def _message(error: Any) -> str:
    kind = error.get("type", "")
    if kind in ("model_type", "model_attributes_type", "dict_type") and not error.get("loc"):
        return _NOT_AN_OBJECT
    plain = _PLAIN_MESSAGES.get(kind)
    if plain is not None:
        return plain
    message = str(error.get("msg", "is invalid"))
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def field_errors(exc: ValidationError) -> list[FieldError]:
    """The problems of a pydantic ``ValidationError`` as the portal sees them, without repeats."""
    seen: set[tuple[str, str]] = set()
    result: list[FieldError] = []
    for error in exc.errors(include_url=False):
        item = (dotted_path(error["loc"]), _message(error))
        if item not in seen:
            seen.add(item)
            result.append(FieldError(field=item[0], message=item[1]))
    return result


_M = TypeVar("_M", bound=BaseModel)


def decode_json_body(body: bytes | bytearray) -> object:
    """The JSON value of a request body; ``ApplicationInvalid`` at ``body`` when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:  # UnicodeDecodeError included
        raise ApplicationInvalid([FieldError(field=BODY_FIELD, message=_NOT_JSON)]) from None


def json_object(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object; ``ApplicationInvalid`` at ``body`` otherwise."""
    if not isinstance(value, dict):
        raise ApplicationInvalid([FieldError(field=BODY_FIELD, message=_NOT_AN_OBJECT)])
    return value


def validated(model: type[_M], data: object) -> _M:
    """``model`` from a decoded body; ``ApplicationInvalid`` listing every problem otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApplicationInvalid.from_validation_error(exc) from None
