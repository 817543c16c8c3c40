"""SLA look-ups and alerts: the working calendar, and raising an alert once (its webhooks are
delivered by ``AlertWebhookDelivery``, activities in ``activities/alert_webhooks.py``)."""

from __future__ import annotations

from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.alerts import ALERT_RAISED, AlertEvent, AlertIn, AlertRecord, CalendarRequest
from domain.working_time import CalendarSlice, calendar_slice
from infra.logging import get_logger
from infra.settings import Settings
from infra.worker_metrics import observe_alert_store_delay
from store.alerts import AlertStore

log = get_logger("sla")


class AlertWebhookStarter(Protocol):
    """Starts the delivery of an alert event to the webhooks (``service.alerts.AlertWebhooks``, given
    by the worker): once per event, whoever asks again."""

    async def start(self, event: AlertEvent) -> object: ...


class SlaActivities:
    def __init__(
        self, settings: Settings, store: AlertStore | None, webhooks: AlertWebhookStarter | None
    ) -> None:
        self.settings = settings
        self.store = store
        self.webhooks = webhooks

    @activity.defn
    async def load_working_calendar(self, req: CalendarRequest) -> CalendarSlice:
        """Which days are working days (State Council schedule + the policy's extras)."""
        result = calendar_slice(req.first_day, req.last_day, req.policy)
        if result.uncovered_years:
            log.warning(
                "no official holiday data; counting weekends only",
                years=result.uncovered_years,
                first_day=req.first_day.isoformat(),
                last_day=req.last_day.isoformat(),
            )
        return result

    @activity.defn
    async def raise_alert(self, alert: AlertIn) -> AlertRecord:
        """Store the alert (once per workflow, stage, level and episode: a database rule) and hand it
        to the webhook deliverer, a workflow of its own so a subscriber that is down never holds the
        case. A retry starts no second delivery (the delivery's id is the alert's)."""
        if self.store is None:
            raise ApplicationError("this worker has no alert store", non_retryable=False)
        record, created = await self.store.record(alert)
        if created:
            observe_alert_store_delay(alert.raised_at)
        log.info(
            "alert raised" if created else "alert already raised",
            alert_id=record.id,
            workflow_id=record.workflow_id,
            stage=record.stage,
            level=record.level,
            episode=record.episode,
        )
        if self.webhooks is not None:
            # The alert as raised (a retry after an acknowledgement still sends the raised event).
            raised = record.model_copy(
                update={"acknowledged_by": None, "acknowledged_at": None, "note": None}
            )
            await self.webhooks.start(AlertEvent(id=record.id, kind=ALERT_RAISED, alert=raised))
        return record
