"""Reading a policy file (TOML) into its model, with errors that name the file and the key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class PolicyFileError(ValueError):
    """A policy file cannot be used; the message names the file and every offending key, one a line."""


def load_policy_file(
    path: Path | None,
    model: type[M],
    error: type[PolicyFileError],
    *,
    what: str,
    sections: dict[str, type[BaseModel]] | None = None,
) -> M:
    """``model`` from the TOML at ``path`` (None: no file, the model's defaults); ``error`` with one
    line per problem, naming the file and the key path of each, otherwise.

    ``sections`` names the model of each table (``{"limits": SlaLimits}``) so that an unknown
    key there lists the keys that table knows.
    """
    if path is None:
        return model()
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} file: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe(path, problem, model, sections or {}) for problem in exc.errors()]
        raise error("\n".join(lines)) from exc


def _describe(path: Path, problem: Any, model: type[BaseModel], sections: dict[str, type[BaseModel]]) -> str:
    key = ""
    for part in problem["loc"]:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    kind = problem["type"]
    if kind == "extra_forbidden":
        parent = next((m for name, m in sections.items() if key.startswith(f"{name}.")), model)
        what = f"unknown key (known keys: {', '.join(parent.model_fields)})"
    elif kind == "value_error":
        what = str(problem["ctx"]["error"])
    elif kind in {"literal_error", "greater_than", "less_than"}:
        what = f"{problem['input']!r} is not allowed: {problem['msg'].lower()}"
    elif kind == "iso_date" or kind.startswith("money_"):
        what = problem["msg"]
    else:
        what = f"{problem['msg']} (got {problem['input']!r})"
    return f"{path}: {key or '(top level)'}: {what}"
