"""How a refused application is reported: one ``FieldError`` per problem, with a dotted path.

The gateway answers 422 ``{"errors": [{"field": "shareholders.0.id_number", "message": …}]}``
(the ``FieldErrors`` schema of ``/openapi.json``); the supplement request of a case names fields
the same way. Request bodies are decoded here too (``decode_json_body``, ``json_object``,
``validated``), so every caller refuses a malformed body with the same words.

Whatever its schema, no body may be hostile in shape: ``decode_json_body`` refuses (422, at the
offending path) JSON nested deeper than ``MAX_JSON_DEPTH``, a string longer than
``MAX_JSON_STRING``, an array or object with more than ``MAX_JSON_ITEMS`` entries, a key given
twice, ``NaN``/``Infinity``, and strings with NUL (U+0000) or an unpaired surrogate (text that
cannot be UTF-8), before any model sees the value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

# Tags of the shareholder union (domain.application) and of the action union (domain.actions).
# Pydantic puts a tagged union's tag into the error location (``shareholders.0.person.id_number``,
# ``reject.reason``); the portal should not see it.
SHAREHOLDER_TAGS: frozenset[str] = frozenset({"person", "enterprise"})
ACTION_TAGS: tuple[str, ...] = ("retry_stage", "reassign_seal_shop", "switch_to_pickup", "reject")
_UNION_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})

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
    for index, part in enumerate(loc):
        if isinstance(part, str) and (
            (part in SHAREHOLDER_TAGS and isinstance(previous, int))
            or (index == 0 and part in ACTION_TAGS and len(loc) > 1)
            or _SCHEMA_STEP.match(part)
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


def _union_tag_problem(error: Any) -> tuple[str, str] | None:
    """A tagged union's tag missing or unknown: the problem is the tag's field (``action``)."""
    if error.get("type") not in _UNION_TAG_ERRORS:
        return None
    context = error.get("ctx") or {}
    field = dotted_path([*error["loc"], str(context.get("discriminator", "")).strip("'")])
    expected = str(context.get("expected_tags", "")).replace("'", "")
    if not expected and field == "action":
        expected = ", ".join(ACTION_TAGS)  # an action left out: the choices, not just "required"
    return field, f"must be one of {expected}" if expected else _PLAIN_MESSAGES["missing"]


def field_errors(exc: ValidationError | Iterable[Any]) -> list[FieldError]:
    """The problems of a pydantic ``ValidationError`` (or its ``errors()``, as FastAPI reports a
    request's, their locations relative to the body) as the portal sees them, without repeats."""
    seen: set[tuple[str, str]] = set()
    result: list[FieldError] = []
    for error in exc.errors(include_url=False) if isinstance(exc, ValidationError) else exc:
        item = _union_tag_problem(error) or (dotted_path(error["loc"]), _message(error))
        if item not in seen:
            seen.add(item)
            result.append(FieldError(field=item[0], message=item[1]))
    return result


_M = TypeVar("_M", bound=BaseModel)


MAX_JSON_DEPTH = 32
"""Objects and arrays inside one another: the application needs 4; partner ``data`` gets the rest."""
MAX_JSON_STRING = 65_536
"""Characters in one string (or key): every text field of this API is far shorter."""
MAX_JSON_ITEMS = 10_000
"""Entries of one array or object."""
_PATH_PART_CHARS = 64  # a hostile key is not echoed whole in a field path


class _JsonShapeError(ValueError):
    """Raised by the decoder's hooks: a body no request may carry, refused at ``body``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _reject_constant(name: str) -> object:
    raise _JsonShapeError(f"{name} is not JSON; numbers must be finite")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _JsonShapeError(f"the key {key[:_PATH_PART_CHARS]!r} appears twice in one object")
            seen.add(key)
    return members


def _string_problem(text: str, max_string: int) -> str | None:
    if len(text) > max_string:
        return f"a string has at most {max_string} characters"
    if "\x00" in text:
        return "a string must not contain NUL (U+0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a string must not contain an unpaired surrogate (it cannot be UTF-8)"
    return None


def _shape_problem(value: object, max_string: int) -> FieldError | None:
    """The first part of a decoded JSON value that no request may carry, without recursion."""
    stack: list[tuple[object, tuple[str | int, ...], int]] = [(value, (), 0)]
    while stack:
        item, path, depth = stack.pop()
        children: list[tuple[str | int, object]]
        if isinstance(item, str):
            problem = _string_problem(item, max_string)
            if problem is not None:
                return FieldError(field=dotted_path(path), message=problem)
            continue
        if isinstance(item, dict):
            children = list(item.items())
            for key, _ in children:
                problem = _string_problem(str(key), max_string)
                if problem is not None:
                    return FieldError(field=dotted_path(path), message=f"a key: {problem}")
        elif isinstance(item, list):
            children = list(enumerate(item))
        else:
            continue
        if depth >= MAX_JSON_DEPTH:
            return FieldError(
                field=dotted_path(path), message=f"JSON may nest at most {MAX_JSON_DEPTH} levels deep"
            )
        if len(children) > MAX_JSON_ITEMS:
            return FieldError(field=dotted_path(path), message=f"at most {MAX_JSON_ITEMS} entries")
        for key, child in reversed(children):
            part = key[:_PATH_PART_CHARS] if isinstance(key, str) else key
            stack.append((child, (*path, part), depth + 1))
    return None


def decode_json_body(body: bytes | bytearray, *, max_string: int = MAX_JSON_STRING) -> object:
    """The JSON value of a request body; ``ApplicationInvalid`` at ``body`` when it is not JSON, and
    at the offending path when its shape is hostile (see the module's docstring). ``max_string``:
    characters in one string, for a body whose strings may be longer (the codec's payloads)."""
    try:
        value = json.loads(body, parse_constant=_reject_constant, object_pairs_hook=_unique_members)
    except _JsonShapeError as err:
        raise ApplicationInvalid([FieldError(field=BODY_FIELD, message=err.message)]) from None
    except RecursionError:
        # Far deeper than MAX_JSON_DEPTH: the decoder itself gave up.
        message = f"JSON may nest at most {MAX_JSON_DEPTH} levels deep"
        raise ApplicationInvalid([FieldError(field=BODY_FIELD, message=message)]) from None
    except ValueError:  # UnicodeDecodeError included
        raise ApplicationInvalid([FieldError(field=BODY_FIELD, message=_NOT_JSON)]) from None
    problem = _shape_problem(value, max_string)
    if problem is not None:
        raise ApplicationInvalid([problem])
    return value


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


def operator_required_in_the_document(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of an operator's body: ``operator`` documented as the shared ops token
    needs it, a required string. A personal ops token may leave it out (or send null): its name
    is the operator then (``gateway.auth.Caller.operator``)."""
    properties = schema["properties"]
    branches = properties["operator"].pop("anyOf", None)
    if branches:
        properties["operator"] = {
            **next(b for b in branches if b.get("type") == "string"),
            **properties["operator"],
        }
    properties["operator"].pop("default", None)
    schema["required"] = sorted({*schema.get("required", []), "operator"})
