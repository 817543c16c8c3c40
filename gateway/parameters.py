"""The query parameters and headers of the gateway, each with its rule and the schema that states it.

Every value is checked exactly as its schema in ``/openapi.json`` says (a 422 naming the parameter
otherwise, before any case or database is touched): Anyang's district codes, alert ids, months, the
cursors this service hands out. An empty value (``?district=``) is a value like any other, and so a
422 when the rule wants something: leave the parameter out to mean "no filter".

The case list's cursor is Temporal's page token, base64url, sealed with an HMAC so that a cursor this
service did not hand out is refused here and never reaches Temporal: ``<token>.<32 hex>``. The key
is derived from the ops token (as the ops session's is), so every gateway with the same settings
accepts the others' cursors, and a new ops token ends the old ones (they are for paging, not for
keeping).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from domain.application import TEXT_PATTERN
from infra.settings import Settings
from store.alerts import MAX_PAGE_SIZE
from store.audit import MAX_PAGE_SIZE as AUDIT_MAX_PAGE_SIZE

# --- page sizes: a whole number as digits (not "+5", "1_0" or " 5", which pydantic would read) -------


def _digits(value: object) -> object:
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError("int_parsing", "a page size is a whole number, written in digits")
    return value


CasePageSize = Annotated[int, Field(ge=1, le=1000), BeforeValidator(_digits)]
AlertPageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE), BeforeValidator(_digits)]
AuditPageSize = Annotated[int, Field(ge=1, le=AUDIT_MAX_PAGE_SIZE), BeforeValidator(_digits)]

# --- the case list's cursor -----------------------------------------------------------------------

CASE_CURSOR_MAX_LENGTH = 4096
CASE_CURSOR_PATTERN = r"^[A-Za-z0-9_-]+={0,2}\.[0-9a-f]{32}$"
_CASE_CURSOR = re.compile(CASE_CURSOR_PATTERN, re.ASCII)
_CURSOR_MAC_BYTES = 16
NOT_OUR_CURSOR = "not a cursor this service returned (pass a page's next_cursor as it is)"


def _cursor_key(settings: Settings) -> bytes:
    return hmac.new(settings.ops_token.encode("utf-8"), b"ods case list cursor v1", hashlib.sha256).digest()


def _cursor_mac(settings: Settings, token: str) -> str:
    digest = hmac.new(_cursor_key(settings), token.encode("ascii"), hashlib.sha256).digest()
    return digest[:_CURSOR_MAC_BYTES].hex()


def seal_cursor(settings: Settings, token: str | None) -> str | None:
    """The ``next_cursor`` the caller sees for the service's page token (None on the last page)."""
    if token is None:
        return None
    return f"{token}.{_cursor_mac(settings, token)}"


def open_cursor(settings: Settings, cursor: str | None) -> str | None:
    """The service's page token inside a cursor this service sealed; ``ValueError`` for any other."""
    if cursor is None:
        return None
    if len(cursor) > CASE_CURSOR_MAX_LENGTH or not _CASE_CURSOR.fullmatch(cursor):
        raise ValueError(NOT_OUR_CURSOR)
    token, _, mac = cursor.rpartition(".")
    if not hmac.compare_digest(mac.encode("ascii"), _cursor_mac(settings, token).encode("ascii")):
        raise ValueError(NOT_OUR_CURSOR)
    return token


def _case_cursor_syntax(value: str) -> str:
    if len(value) > CASE_CURSOR_MAX_LENGTH or not _CASE_CURSOR.fullmatch(value):
        raise PydanticCustomError("cursor", NOT_OUR_CURSOR)
    return value


CaseCursor = Annotated[
    str,
    AfterValidator(_case_cursor_syntax),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": CASE_CURSOR_PATTERN,
            "maxLength": CASE_CURSOR_MAX_LENGTH,
            "description": "the `next_cursor` of the previous page, as it was returned. The cursor is "
            "sealed by the gateway: a value of this form that it did not seal (or sealed under another "
            "ops token) names no page, and gets an empty last page; any other value is a 422",
        }
    ),
]

# --- alert ids (the feed's cursor) and event ids (the stream's: an alert's, or an acknowledgement's) ---

ALERT_ID_PATTERN = r"^[0-9]{12,19}-[0-9a-f]{8}$"
_ALERT_ID = re.compile(ALERT_ID_PATTERN, re.ASCII)
ALERT_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": ALERT_ID_PATTERN,
    "maxLength": 28,
    "description": "an alert id as the feed and the stream give it (such as `000000000042-9f3a61c2`), or "
    "on the stream an acknowledgement's event id (the same form); any other value is a 422",
}


def is_alert_id_form(value: str) -> bool:
    return _ALERT_ID.fullmatch(value) is not None


def _alert_id_form(value: str) -> str:
    if not is_alert_id_form(value):
        raise PydanticCustomError(
            "alert_id", "'{value}' is not an alert id (e.g. 000000000042-9f3a61c2)", {"value": value[:64]}
        )
    return value


AlertId = Annotated[str, AfterValidator(_alert_id_form), WithJsonSchema(ALERT_ID_SCHEMA)]

# --- a six-digit district code (the alert filters take any; alerts carry Anyang's) -----------------

SIX_DIGITS_PATTERN = r"^[0-9]{6}$"
_SIX_DIGITS = re.compile(SIX_DIGITS_PATTERN, re.ASCII)


def _six_digits(value: str) -> str:
    if not _SIX_DIGITS.fullmatch(value):
        raise PydanticCustomError(
            "district_code",
            "'{value}' is not a six-digit district code such as 410502",
            {"value": value[:20]},
        )
    return value


SixDigitDistrict = Annotated[
    str,
    AfterValidator(_six_digits),
    WithJsonSchema(
        {"type": "string", "pattern": SIX_DIGITS_PATTERN, "description": "a six-digit code, e.g. 410502"}
    ),
]

# --- months and shops (the subsidy ledger) ----------------------------------------------------------

MONTH_PATTERN = r"^([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN, re.ASCII)
MONTH_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": MONTH_PATTERN,
    "minLength": 7,
    "maxLength": 7,
    "description": "the month, YYYY-MM (Beijing time): a year from 0001, a month 01 to 12",
    "examples": ["2026-11"],
}


def month_problem(value: str) -> str | None:
    if _MONTH.fullmatch(value) is None:
        return f"{value[:20]!r} is not a month; write YYYY-MM, e.g. 2026-11"
    return None


_TEXT = re.compile(TEXT_PATTERN)
SHOP_MAX_LENGTH = 128
SHOP_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": SHOP_MAX_LENGTH,
    "pattern": TEXT_PATTERN,
    "description": "the seal shop's id (as in the ledger's `shop_id`), or its exact name: one line, "
    "not only spaces (surrounding spaces are trimmed)",
}


def shop_problem(value: str) -> str | None:
    if not value or len(value) > SHOP_MAX_LENGTH or _TEXT.fullmatch(value) is None:
        return f"name a seal shop by its id or exact name: one line of 1 to {SHOP_MAX_LENGTH} characters"
    return None
