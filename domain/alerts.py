"""SLA alerts (CONTRACT §4 "Alert") as the workflow raises them."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from domain.sla_policy import SlaPolicy
from store.alerts import AlertLevel, AlertRecord, AlertStage

__all__ = [
    "AlertLevel",
    "AlertRecord",
    "AlertStage",
    "CalendarRequest",
    "WebhookDeliveryInput",
    "WebhookPost",
]


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
