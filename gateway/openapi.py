"""Request bodies the gateway parses itself, documented from their pydantic models anyway.

Routes read raw bytes (so that invalid JSON is a 422 in our shape, and callbacks can be
verified byte for byte), which leaves FastAPI nothing to document. ``json_body`` names the
model in the route's ``openapi_extra``; ``install_openapi`` adds the models' JSON schemas to
the document's components.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from gateway.models import FieldErrors

_REF_TEMPLATE = "#/components/schemas/{model}"
_documented: dict[str, type[BaseModel]] = {}


def json_body(model: type[BaseModel], description: str, *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is validated by ``model``."""
    _documented[model.__name__] = model
    return {
        "requestBody": {
            "required": required,
            "description": description,
            "content": {"application/json": {"schema": {"$ref": _REF_TEMPLATE.format(model=model.__name__)}}},
        }
    }


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


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        _use_our_422(schema, components)
        for name, model in sorted(_documented.items()):
            model_schema = model.model_json_schema(ref_template=_REF_TEMPLATE)
            for def_name, definition in model_schema.pop("$defs", {}).items():
                components.setdefault(def_name, definition)
            components.setdefault(name, model_schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
