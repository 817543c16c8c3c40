"""``AlertWebhookDelivery``: one stream event (an alert raised, or acknowledged) POSTed to every
subscriber, retried until each takes it.

A workflow of its own, started by the alert activity (an alert raised) or by the gateway (an
acknowledgement), so a subscriber that is down for hours never holds a case open; when it comes
back it gets every event (``X-ODS-Event-Id`` lets it drop a repeat).

Replay: an input from before acknowledgements (no ``event``) reads as an alert raised and takes
exactly the path it always did (the same activity, the same summary).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.alert_webhooks import AlertWebhookActivities
    from domain.alerts import ALERT_RAISED, WebhookDeliveryInput, WebhookPost

WEBHOOK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)


@workflow.defn(name="AlertWebhookDelivery")
class AlertWebhookDelivery:
    @workflow.run
    async def run(self, delivery: WebhookDeliveryInput) -> list[str]:
        alert = delivery.alert

        async def deliver(url: str) -> str:
            if delivery.event == ALERT_RAISED:
                summary = f"alert {alert.id} to {url}"
            else:
                summary = f"acknowledgement {delivery.event_id} of alert {alert.id} to {url}"
            await workflow.execute_activity_method(
                AlertWebhookActivities.post_alert_webhook,
                WebhookPost(url=url, alert=alert, event=delivery.event, event_id=delivery.event_id),
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(days=7),
                retry_policy=WEBHOOK_RETRY,
                summary=summary,
            )
            return url

        return list(await asyncio.gather(*(deliver(u) for u in delivery.urls)))
