"""What the gateway answers, as pydantic models: the single source of its OpenAPI document.

The status document itself is ``domain.status.StatusDocument``; the application and its
parts are ``domain.application``'s models; an alert is ``domain.alerts.AlertRecord``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, field_validator
from typing_extensions import TypeAliasType

from domain.actions import NOTE_MAX_LENGTH, OPERATOR_MAX_LENGTH
from domain.alerts import AlertRecord
from domain.application import TEXT_PATTERN
from domain.identifiers import APPLICATION_ID_PATTERN
from domain.privacy import MaskedText
from domain.status import CaseStage, SlaState
from domain.validation import MAX_JSON_STRING, FieldError, operator_required_in_the_document

NO_NUL_PATTERN = "^[^\\x00]*$"
NoNulText = Annotated[str, StringConstraints(max_length=MAX_JSON_STRING, pattern=NO_NUL_PATTERN)]
JsonValue = TypeAliasType(  # type: ignore[misc]
    "JsonValue", "bool | int | float | NoNulText | list[JsonValue] | dict[NoNulText, JsonValue] | None"
)
"""Free-form JSON (a callback's ``data``, members the gateway ignores) within the limits every body
keeps (the API's description): no string or key holds NUL."""


class Detail(BaseModel):
    """Every refusal that is not about fields: 401, 404, 409, 413, 503."""

    detail: str


class FieldErrors(BaseModel):
    """A 422: one entry per problem, ``field`` a dotted path (list items by index)."""

    errors: list[FieldError]


class SubmitAnswer(BaseModel):
    """The answer to ``POST /v1/applications`` (202 started, 200 the same one already was)."""

    application_id: str
    workflow_id: str = Field(examples=["setup-AY20261127-0001"])
    status_url: str = Field(
        description="path of the case's status document", examples=["/v1/applications/AY20261127-0001"]
    )


class CaseListItem(BaseModel):
    """One case as Temporal visibility knows it (search attributes; no personal data)."""

    application_id: str
    workflow_id: str
    enterprise_name: str | None
    district_code: str | None
    # Plain strings: a value an older workflow wrote must not turn the whole list into a 500.
    stage: str | None = Field(description=f"one of {', '.join(get_args(CaseStage))}")
    sla_status: str | None = Field(description=f"one of {', '.join(get_args(SlaState))}")
    accepted_at: datetime | None
    needs_attention: bool = Field(default=False, description="an operator must act (NeedsAttention)")


class CaseList(BaseModel):
    """One page of cases, newest first; ``next_cursor`` is ``after`` for the next page."""

    applications: list[CaseListItem]
    next_cursor: str | None = Field(description="null on the last page")

    @classmethod
    def of(cls, found: Sequence[object], *, next_cursor: str | None) -> CaseList:
        """The page of the service's case summaries (``service.cases.CaseSummary``)."""
        return cls(
            applications=_CASE_LIST_ITEMS.validate_python(found, from_attributes=True),
            next_cursor=next_cursor,
        )


_CASE_LIST_ITEMS: TypeAdapter[list[CaseListItem]] = TypeAdapter(list[CaseListItem])


class CallbackEnvelope(BaseModel):
    """A partner's callback as the partner sends it (docs/partner-api.md, "Callbacks"); which partner
    it is comes from the path. Other members are ignored."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[NoNulText, JsonValue] = Field(init=False)  # type: ignore[valid-type]

    event_id: str = Field(
        min_length=1, max_length=200, description="the partner's id of the event; a repeat is dropped"
    )
    event: str = Field(
        min_length=1,
        max_length=100,
        description="what happened",
        examples=["seal_order.completed", "postal.collected"],
    )
    application_id: str = Field(
        description="the case's application id; one that cannot be an id, or names no case, is a 404",
        json_schema_extra={"pattern": APPLICATION_ID_PATTERN},
    )
    occurred_at: datetime = Field(description="when it happened, with its offset (RFC 3339)")
    data: dict[NoNulText, JsonValue] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="the event's details"
    )


class WithdrawBody(BaseModel):
    """``POST …/withdraw``: why the case is withdrawn (optional). An empty body is no reason at all;
    other members are ignored."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[NoNulText, JsonValue] = Field(init=False)  # type: ignore[valid-type]

    reason: str | None = Field(
        default=None,
        max_length=500,
        description="shown in the case's history; at most 500 characters, no NUL",
        json_schema_extra={"pattern": NO_NUL_PATTERN},
    )


class ErasureBody(BaseModel):
    """``POST …/erasure``: why the case is erased (kept, masked, with the erasure's record)."""

    reason: str = Field(
        min_length=1,
        max_length=500,
        description="why (a request under PIPL Art. 47, the retention period, …); 1 to 500 characters, "
        "no NUL; ID numbers and phones in it are masked before it is kept",
        json_schema_extra={"pattern": NO_NUL_PATTERN},
    )
    operator: str | None = Field(
        default=None,
        max_length=OPERATOR_MAX_LENGTH,
        description="who erases: required with the shared ops token, implied by a personal one",
        json_schema_extra={"pattern": NO_NUL_PATTERN},
    )


class ErasureAnswer(BaseModel):
    """The erasure of a case: when and by whom (the first one, when the case was erased before)."""

    application_id: str
    erased_at: datetime
    erased_by: str
    documents_deleted: int
    alerts_redacted: int


class CallbackAccepted(BaseModel):
    """The case has the partner's event (a durable signal); the partner stops retrying."""

    accepted: bool = True


class CalendarHealth(BaseModel):
    """How far ahead the official holiday calendar is known (``domain.calendar_coverage``)."""

    known_until: date = Field(
        description="the last day of the State Council schedule the gateway knows: chinese-calendar's "
        "data, extended by each following year in which the SLA policy lists an extra holiday or workday",
        examples=["2026-12-31"],
    )
    days_ahead: int = Field(
        description="days from today (the SLA policy's time zone) to known_until; negative once passed",
        examples=[30],
    )
    warning: str | None = Field(
        description="set when fewer than 60 days are known: the year to enter in the SLA policy's "
        "extra_holidays/extra_workdays, and where the runbook says how; null otherwise",
        examples=[None],
    )


class Health(BaseModel):
    status: str = "ok"
    temporal: str = Field(
        description="'connected' once the gateway has a Temporal client; liveness does not depend on it",
        examples=["connected", "not connected"],
    )
    calendar: CalendarHealth = Field(
        description="how far ahead working time rests on the official calendar; liveness does not "
        "depend on it"
    )


class AlertFeed(BaseModel):
    """One page of the alert feed, oldest first; ``next_cursor`` is ``after`` for the next page."""

    alerts: list[AlertRecord]
    next_cursor: str | None = Field(
        description="the id of the page's last alert while more follow; null at the end of the feed",
        examples=["000000000042-9f3a61c2", None],
    )


class AcknowledgeBody(BaseModel):
    """``POST /v1/alerts/{id}/acknowledge``: who takes the alert, and a note (optional)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=operator_required_in_the_document)

    operator: str | None = Field(
        default=None,
        min_length=1,
        max_length=OPERATOR_MAX_LENGTH,
        description="who takes it: required with the shared ops token; with a personal ops token the "
        "token's name (which may be left out; another name is a 403). One line, 1 to "
        f"{OPERATOR_MAX_LENGTH} characters, surrounding spaces trimmed",
        json_schema_extra={"pattern": TEXT_PATTERN},
        examples=["zhang.wei"],
    )
    note: MaskedText | None = Field(
        default=None,
        max_length=NOTE_MAX_LENGTH,
        description=f"what the operator will do, for the record; at most {NOTE_MAX_LENGTH} "
        "characters, no NUL; blank is none; ID numbers and phone numbers in it are masked",
        json_schema_extra={"pattern": NO_NUL_PATTERN},
        examples=["calling the seal shop"],
    )

    @field_validator("operator")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(TEXT_PATTERN, value):
            raise ValueError("one line of text, not only spaces (no control characters)")
        return value.strip()

    @field_validator("note")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "\x00" in value:
            raise ValueError("a note holds no NUL")
        return value.strip() or None
