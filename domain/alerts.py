"""SLA alerts as the workflow raises them, and as ``GET /v1/alerts`` shows them (``AlertRecord``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, model_validator

from domain.sla_policy import SlaPolicy

AlertStage = Literal["registration", "seal_carving", "invoice", "delivery", "overall", "subsidy"]
AlertLevel = Literal["at_risk", "breached", "recovered", "budget_exhausted"]


class AlertIn(BaseModel):
    """An alert as the workflow raises it, before the store gives it an id."""

    model_config = ConfigDict(frozen=True)

    application_id: str
    workflow_id: str
    stage: AlertStage
    level: AlertLevel
    deadline: AwareDatetime | None = None
    raised_at: AwareDatetime
    district_code: str
    enterprise_name: str

    @model_validator(mode="after")
    def _budget_exhausted_is_the_subsidy_alert(self) -> AlertIn:
        if (self.level == "budget_exhausted") != (self.stage == "subsidy"):
            raise ValueError("level budget_exhausted goes with stage subsidy, and only with it")
        if self.level == "budget_exhausted" and self.deadline is not None:
            raise ValueError("a budget_exhausted alert has no deadline")
        return self


class AlertRecord(BaseModel):
    """An alert as the feed, the stream and the webhooks show it."""

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


class CalendarRequest(BaseModel):
    first_day: date
    last_day: date
    policy: SlaPolicy


class WebhookDeliveryInput(BaseModel):
    alert: AlertRecord
    urls: list[str]


class WebhookPost(BaseModel):
    url: str
    alert: AlertRecord
