"""Checking request bodies the way a real partner would, with the failing fields named.

A failed check is ``400 invalid_request`` with ``fields`` (dotted paths, list items by index,
as in ``shareholders.1.uscc``) and ``details`` (each field with what is wrong with it).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from domain.districts import ANYANG_DISTRICTS
from domain.identifiers import APPLICATION_ID_PATTERN, resident_id_problem, uscc_problem
from partner_sandbox.calls import PartnerError

M = TypeVar("M", bound=BaseModel)

_MONEY = re.compile(r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?$")
_PHONE = re.compile(r"^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$")


def _money(value: str) -> str:
    if not _MONEY.fullmatch(value):
        raise ValueError("money is a decimal string in yuan with at most 2 decimals, like '500000.00'")
    return f"{Decimal(value):.2f}"


def _resident_id(value: str) -> str:
    value = value.strip().upper()  # a lower-case x is read as X
    problem = resident_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _uscc(value: str) -> str:
    value = value.strip()
    problem = uscc_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _district(value: str) -> str:
    if value not in ANYANG_DISTRICTS:
        raise ValueError(f"not one of Anyang's districts ({', '.join(ANYANG_DISTRICTS)})")
    return value


def _phone(value: str) -> str:
    value = value.strip().replace(" ", "")
    if not _PHONE.fullmatch(value):
        raise ValueError("a mainland mobile number (11 digits) or a landline like 0372-1234567")
    return value


def _callback_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an absolute http(s) URL")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ApplicationId = Annotated[str, Field(pattern=APPLICATION_ID_PATTERN)]
Money = Annotated[str, AfterValidator(_money)]
ResidentId = Annotated[str, AfterValidator(_resident_id)]
Uscc = Annotated[str, AfterValidator(_uscc)]
DistrictCode = Annotated[str, AfterValidator(_district)]
Phone = Annotated[str, AfterValidator(_phone)]
CallbackUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_callback_url)]


class EnterpriseRequest(BaseModel):
    """What a request about a registered enterprise begins with."""

    model_config = ConfigDict(extra="ignore")

    application_id: ApplicationId
    uscc: Uscc
    enterprise_name: Name


MAX_EMPLOYEES = 10_000


class EmployerRequest(EnterpriseRequest):
    """A request about a registered enterprise as an employer (social insurance, housing fund)."""

    employees: int = Field(ge=1, le=MAX_EMPLOYEES, strict=True, description="the employees it covers")


def field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def invalid(problems: list[tuple[str, str]]) -> PartnerError:
    fields = list(dict.fromkeys(f for f, _ in problems if f))
    return PartnerError(
        400,
        "invalid_request",
        "; ".join(f"{f}: {m}" if f else m for f, m in problems),
        fields,
        [{"field": f, "message": m} for f, m in problems],
    )


def parse(model: type[M], body: Any) -> M:
    """``body`` as ``model``, or ``PartnerError`` 400 naming every failing field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append((field_path(error["loc"]), message))
        raise invalid(problems) from exc


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON body of a route that reads it raw."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = defs[node["$ref"].rsplit("/", 1)[1]]
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return inline({**target, **rest})
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}},
        }
    }
