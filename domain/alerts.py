"""SLA alerts as the workflow raises them, and as ``GET /v1/alerts`` shows them (``AlertRecord``).

Each (workflow, stage, level, episode) is alerted once. ``episode`` is 1 except for
``needs_attention``, which counts each time the same stage needs an operator again (its ``reason``
says why), and a follow-up of a bad rating (``rating_follow_up``), whose two promises are episode 1
(the call back) and 2 (the answer to the applicant), its ``reason`` naming which. An operator
acknowledges an alert once (``acknowledged_by``, ``acknowledged_at``,
``note``); the stream and the webhooks carry that as an ``alert.acknowledged`` event of its own
(``AlertEvent``), with an event id of its own.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.sla_policy import SlaPolicy

AlertStage = Literal[
    "registration",
    "seal_carving",
    "invoice",
    "delivery",
    "overall",
    "subsidy",
    "social_insurance",
    "housing_fund",
    "bank_account",
    "rating_follow_up",
]
AlertLevel = Literal["at_risk", "breached", "recovered", "budget_exhausted", "needs_attention"]
AlertEventKind = Literal["alert.raised", "alert.acknowledged"]
"""What happened to an alert: raised (the event id is the alert's id), or acknowledged by an operator
(an event id of its own)."""

ALERT_RAISED: AlertEventKind = "alert.raised"
ALERT_ACKNOWLEDGED: AlertEventKind = "alert.acknowledged"


class AlertIn(BaseModel):
    """An alert as the workflow raises it, before the store gives it an id.

    ``episode`` and ``reason`` default, so an alert from a workflow that predates them (an old
    payload) still reads: episode 1, no reason."""

    model_config = ConfigDict(frozen=True)

    application_id: str
    workflow_id: str
    stage: AlertStage
    level: AlertLevel
    deadline: AwareDatetime | None = None
    raised_at: AwareDatetime
    district_code: str
    enterprise_name: str
    episode: int = Field(default=1, ge=1)
    reason: str | None = None

    @model_validator(mode="after")
    def _levels_keep_their_rules(self) -> AlertIn:
        if (self.level == "budget_exhausted") != (self.stage == "subsidy"):
            raise ValueError("level budget_exhausted goes with stage subsidy, and only with it")
        if self.level == "budget_exhausted" and self.deadline is not None:
            raise ValueError("a budget_exhausted alert has no deadline")
        if self.level == "needs_attention":
            if self.reason is None or not self.reason.strip():
                raise ValueError("a needs_attention alert says why (reason)")
        elif self.episode != 1 and self.stage != "rating_follow_up":
            raise ValueError("only a needs_attention alert has an episode other than 1")
        return self


class AlertRecord(BaseModel):
    """An alert as the feed, the stream and the webhooks show it.

    The fields after ``enterprise_name`` default, so an alert recorded by an older release (a
    payload of a running webhook delivery) still reads."""

    model_config = ConfigDict(frozen=True)

    id: str
    application_id: str
    workflow_id: str
    stage: AlertStage
    level: AlertLevel
    deadline: AwareDatetime | None
    raised_at: AwareDatetime
    district_code: str
    enterprise_name: str
    episode: int = 1
    reason: str | None = None
    acknowledged_by: str | None = Field(default=None, description="the operator who acknowledged it")
    acknowledged_at: AwareDatetime | None = None
    note: str | None = Field(default=None, description="the operator's note on acknowledging it")


class AlertEvent(BaseModel):
    """One event of the alert stream: an alert raised (``id`` is the alert's id) or acknowledged
    (``id`` is the acknowledgement's own event id). Event ids sort in the stream's order."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: AlertEventKind
    alert: AlertRecord


class CalendarRequest(BaseModel):
    first_day: date
    last_day: date
    policy: SlaPolicy


class WebhookDeliveryInput(BaseModel):
    """What ``AlertWebhookDelivery`` posts. ``event`` and ``event_id`` default (an alert raised, its
    event id the alert's), so the input of a delivery started by an older release reads the same."""

    alert: AlertRecord
    urls: list[str]
    event: AlertEventKind = ALERT_RAISED
    event_id: str | None = None


class WebhookPost(BaseModel):
    url: str
    alert: AlertRecord
    event: AlertEventKind = ALERT_RAISED
    event_id: str | None = None
    """None: the alert's id (an alert raised)."""
