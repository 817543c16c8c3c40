"""SLA alerts (CONTRACT §4 "Alert") as the workflow raises them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from domain.sla_policy import SlaPolicy

AlertStage = Literal["registration", "seal_carving", "invoice", "delivery", "overall", "subsidy"]
AlertLevel = Literal["at_risk", "breached", "recovered", "budget_exhausted"]


class AlertDraft(BaseModel):
    """An alert the workflow asks to raise; the store gives it its id (once per workflow, stage, level)."""

    application_id: str
    workflow_id: str
    stage: AlertStage
    level: AlertLevel
    deadline: datetime | None
    raised_at: datetime
    district_code: str
    enterprise_name: str


class Alert(AlertDraft):
    id: str


class CalendarRequest(BaseModel):
    first_day: date
    last_day: date
    policy: SlaPolicy
