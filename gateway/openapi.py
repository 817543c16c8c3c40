"""What the generated document needs besides the routes and their models.

Request and answer bodies come from the routes' pydantic models (``gateway/bodies.py`` reads a body
as its model says). ``install_openapi`` states what holds for every request: the body limits
(``LIMITS``), the one shape of every 422 (``FieldErrors``), parameters as they travel (a query
parameter or header is never ``null``: it is there or not), and keys that hold no NUL.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from domain.validation import MAX_JSON_DEPTH, MAX_JSON_ITEMS, MAX_JSON_STRING
from gateway.bodies import MAX_BODY_BYTES
from gateway.models import NO_NUL_PATTERN, FieldErrors

_REF_TEMPLATE = "#/components/schemas/{model}"
LIMITS = f"""
Limits: a body is at most {MAX_BODY_BYTES // (1 << 20)} MiB (413 before it is read, whether
Content-Length says so or a chunked body grows past it); JSON nests at most {MAX_JSON_DEPTH} levels,
a string has at most {MAX_JSON_STRING} characters (a codec payload's as many as the body holds), an
array or object at most {MAX_JSON_ITEMS} entries, keys are unique, numbers finite, and no string holds
NUL (U+0000) or an unpaired surrogate: a 422 at the offending field otherwise. A body is read as JSON
whatever its Content-Type says. The schemas' own lengths and patterns are tighter still. Every path
answers `OPTIONS` with its `Allow` header, and a method it does not take with 405 and `Allow`.
"""


def _use_our_422(schema: dict[str, Any], components: dict[str, Any]) -> None:
    """FastAPI documents its own 422 shape; the gateway answers every 422 as ``FieldErrors``."""
    ours = {"$ref": _REF_TEMPLATE.format(model=FieldErrors.__name__)}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422")
            content = (answer or {}).get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                answer["description"] = "field errors, each at its dotted path"
                content["schema"] = ours
                components.setdefault(
                    FieldErrors.__name__, FieldErrors.model_json_schema(ref_template=_REF_TEMPLATE)
                )
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)


def _too_many_wrong_tokens(schema: dict[str, Any]) -> None:
    """Every route that takes a token may answer 429 (``gateway/failures.py``)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and operation.get("security"):
                operation.setdefault("responses", {}).setdefault(
                    "429",
                    {
                        "description": "too many wrong tokens from this address; try again after "
                        "`Retry-After` seconds (the right token too)",
                        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                        "content": {
                            "application/json": {"schema": {"$ref": _REF_TEMPLATE.format(model="Detail")}}
                        },
                    },
                )


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {"type": "null"}]`` -> ``X`` (the other keys, such as the description, kept)."""
    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        return schema
    kept = [b for b in branches if b != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {**rest, "anyOf": kept}


def _parameters_as_sent(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    parameter["schema"] = _without_null(parameter["schema"])


def _body_descriptions_on_the_body(schema: dict[str, Any]) -> None:
    """FastAPI writes a body's ``Body(description=…)`` beside the model's ``$ref`` (or in the ``anyOf``
    of an optional body); it describes the request body, so say it there (``requestBody.description``)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not isinstance(body, dict):
                continue
            for content in body.get("content", {}).values():
                body_schema = content.get("schema", {})
                if ("$ref" in body_schema or "anyOf" in body_schema) and "description" in body_schema:
                    body.setdefault("description", body_schema.pop("description"))


_FREE_JSON = ("/JsonValue", "/CodecJson")
"""Free-form JSON (``gateway.models.JsonValue``, ``gateway.codec.CodecJson``): its keys hold no NUL."""


def _keys_without_nul(node: Any) -> None:
    """Pydantic writes ``dict[NoNulText, X]`` as ``patternProperties`` (which leaves other keys free);
    the gateway refuses any key with NUL, so say it with ``propertyNames`` and ``additionalProperties``."""
    if isinstance(node, list):
        for item in node:
            _keys_without_nul(item)
        return
    if not isinstance(node, dict):
        return
    pattern_properties = node.get("patternProperties")
    if isinstance(pattern_properties, dict) and list(pattern_properties) == [NO_NUL_PATTERN]:
        node["additionalProperties"] = node.pop("patternProperties")[NO_NUL_PATTERN]
        node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": NO_NUL_PATTERN}
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and str(extra.get("$ref", "")).endswith(_FREE_JSON):
        node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": NO_NUL_PATTERN}
    for value in node.values():
        _keys_without_nul(value)


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=f"{app.description or ''}{LIMITS}",
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        _use_our_422(schema, components)
        _too_many_wrong_tokens(schema)
        _parameters_as_sent(schema)
        _body_descriptions_on_the_body(schema)
        _keys_without_nul(components)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
