"""What the gateway answers, as pydantic models: the single source of its OpenAPI document.

The status document itself is ``domain.status.StatusDocument``; the application and its
parts are ``domain.application``'s models; an alert is ``domain.alerts.AlertRecord``.
"""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from pydantic import BaseModel, Field

from domain.alerts import AlertRecord
from domain.status import CaseStage, SlaState
from domain.validation import FieldError


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


class CaseList(BaseModel):
    """One page of cases, newest first; ``next_cursor`` is ``after`` for the next page."""

    applications: list[CaseListItem]
    next_cursor: str | None = Field(description="null on the last page")


class CallbackAccepted(BaseModel):
    """The case has the partner's event (a durable signal); the partner stops retrying."""

    accepted: bool = True


class Health(BaseModel):
    status: str = "ok"
    temporal: str = Field(
        description="'connected' once the gateway has a Temporal client; liveness does not depend on it",
        examples=["connected", "not connected"],
    )


class AlertFeed(BaseModel):
    """One page of the alert feed, oldest first; ``next_cursor`` is ``after`` for the next page."""

    alerts: list[AlertRecord]
    next_cursor: str | None = Field(
        description="the id of the page's last alert while more follow; null at the end of the feed",
        examples=["000000000042-9f3a61c2", None],
    )
