"""The portal's status push (docs/operations.md): every change of a case's top-level ``stage`` and of
its ``attention``, POSTed to each ``ODS_PORTAL_WEBHOOKS`` URL, in order per case.

``PortalEvent`` is one change as the body says it; ``PortalPushInput`` is what the case's
``PortalPush`` child (``workflows/portal_push.py``) starts with, and what it carries over when it
continues as new; ``PortalPost`` is one event for one URL (``activities/portal_push.py``).

An event's id is ``<workflow id>/<sequence>``: the same change may be posted twice (a retry whose
answer was lost), never under two ids, and a receiver drops a repeat by it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from domain.case_ids import PORTAL_PUSH_PREFIX

PortalEventType = Literal["case.stage_changed", "case.attention_changed", "rating.follow_up_replied"]
STAGE_CHANGED: PortalEventType = "case.stage_changed"
ATTENTION_CHANGED: PortalEventType = "case.attention_changed"
# The answer of a bad rating's follow-up (workflows/rating_follow_up.py), for the applicant to rate.
RATING_REPLIED: PortalEventType = "rating.follow_up_replied"

RECEIVER_GONE = "PortalReceiverGone"
"""ApplicationError type of a receiver that answered 410 Gone: this case posts it nothing more."""

PORTAL_PUSH_WORKFLOW = "PortalPush"


def portal_push_workflow_id(case_workflow_id: str) -> str:
    """The ``PortalPush`` child of a case: ``portal-push-setup-<application_id>``."""
    return f"{PORTAL_PUSH_PREFIX}{case_workflow_id}"


def portal_event_id(workflow_id: str, sequence: int) -> str:
    return f"{workflow_id}/{sequence}"


class PortalEvent(BaseModel):
    """One change of a case, as POSTed (``body``). ``attention`` is the status document's
    ``attention`` object as JSON (null once it is cleared); only attention changes carry it."""

    id: str
    type: PortalEventType
    application_id: str
    workflow_id: str
    stage: str
    """The case's top-level stage at that moment (the status document's ``stage``)."""
    sequence: int = Field(ge=1)
    at: AwareDatetime
    attention: dict[str, Any] | None = None
    rating: dict[str, Any] | None = None
    """A ``rating.follow_up_replied`` event's answer: ``rating_id``, ``kind``, ``answer``, ``date``."""

    @classmethod
    def change(
        cls,
        *,
        type: PortalEventType,
        application_id: str,
        workflow_id: str,
        stage: str,
        sequence: int,
        at: datetime,
        attention: dict[str, Any] | None = None,
        rating: dict[str, Any] | None = None,
    ) -> Self:
        """The event of one change, its id made from the case and the sequence."""
        return cls(
            id=portal_event_id(workflow_id, sequence),
            type=type,
            application_id=application_id,
            workflow_id=workflow_id,
            stage=stage,
            sequence=sequence,
            at=at,
            attention=attention,
            rating=rating,
        )

    @model_validator(mode="after")
    def _one_id_per_change(self) -> Self:
        if self.id != portal_event_id(self.workflow_id, self.sequence):
            raise ValueError("a portal event's id is <workflow_id>/<sequence>")
        if self.type == STAGE_CHANGED and self.attention is not None:
            raise ValueError("a case.stage_changed event carries no attention")
        return self

    def body(self) -> dict[str, Any]:
        """The JSON body (docs/operations.md); ``attention`` only in an attention change, where null
        says the case no longer needs an operator."""
        body = self.model_dump(mode="json")
        if self.type != ATTENTION_CHANGED:
            del body["attention"]
        if self.type != RATING_REPLIED:
            del body["rating"]
        return body


class PortalPushInput(BaseModel):
    """The ``PortalPush`` child of one case. The fields after ``urls`` are empty when the case
    starts it; a run that continues as new carries its state in them."""

    case_workflow_id: str
    application_id: str
    urls: list[str]
    queued: list[PortalEvent] = Field(default_factory=list)
    """Events some URL has not taken yet, by sequence."""
    taken: dict[str, int] = Field(default_factory=dict)
    """Per URL, the last sequence it took (0 or absent: none yet)."""
    gone: list[str] = Field(default_factory=list)
    """URLs that answered 410 Gone: they get nothing more from this case."""
    last_sequence: int | None = None
    """The case's last event (``finish``), once it has said so."""


class PortalPushOutcome(BaseModel):
    """What a finished push did: the last sequence each URL took, and the URLs that went away."""

    taken: dict[str, int]
    gone: list[str] = Field(default_factory=list)
    idle: bool = False
    """Ended because the case went quiet (``PortalPush``'s idle limit), not by its ``finish``."""


class PortalPost(BaseModel):
    """One event for one URL."""

    url: str
    event: PortalEvent
