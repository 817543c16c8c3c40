"""Alert webhooks: one alert POSTed to one subscriber, signed (``AlertWebhookDelivery`` runs these)."""

from __future__ import annotations

import json

from temporalio import activity

from domain.alerts import WebhookPost
from infra.http import http_client
from infra.settings import Settings
from infra.signing import SIGNATURE_HEADER, sign


class AlertWebhookActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def post_alert_webhook(self, post: WebhookPost) -> int:
        """POST one alert to one subscriber, signed; 2xx is done, anything else is retried."""
        body = json.dumps(post.alert.model_dump(mode="json"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.settings.webhook_secret, body),
            "X-ODS-Alert-Id": post.alert.id,
        }
        async with http_client(timeout=15.0) as client:
            resp = await client.post(post.url, content=body, headers=headers)
        if not resp.is_success:
            raise RuntimeError(f"subscriber {post.url} answered {resp.status_code}")
        return resp.status_code
