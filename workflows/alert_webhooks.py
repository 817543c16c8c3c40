"""``AlertWebhookDelivery``: one alert POSTed to every subscriber, retried until each takes it.

A workflow of its own, started by the alert activity, so a subscriber that is down for hours
never holds a case open; when it comes back it gets every alert (the id lets it drop a repeat).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.alert_webhooks import AlertWebhookActivities
    from domain.alerts import WebhookDeliveryInput, WebhookPost

WEBHOOK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)


@workflow.defn(name="AlertWebhookDelivery")
class AlertWebhookDelivery:
    @workflow.run
    async def run(self, delivery: WebhookDeliveryInput) -> list[str]:
        async def deliver(url: str) -> str:
            await workflow.execute_activity_method(
                AlertWebhookActivities.post_alert_webhook,
                WebhookPost(url=url, alert=delivery.alert),
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(days=7),
                retry_policy=WEBHOOK_RETRY,
                summary=f"alert {delivery.alert.id} to {url}",
            )
            return url

        return list(await asyncio.gather(*(deliver(u) for u in delivery.urls)))
