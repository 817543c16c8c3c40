"""Alert webhooks: one stream event (an alert raised, or acknowledged) POSTed to one subscriber,
signed (``AlertWebhookDelivery`` runs these; ``service.alerts.AlertWebhooks`` starts a delivery).

The body is the alert as the event shows it (``AlertRecord``). Headers tell the events apart:
``X-ODS-Event`` (``alert.raised`` or ``alert.acknowledged``), ``X-ODS-Event-Id`` (the stream's event
id: the alert's id for ``alert.raised``, the acknowledgement's own for ``alert.acknowledged``; a
receiver drops a repeat by it), ``X-ODS-Alert-Id`` (the alert's id), and ``X-ODS-Signature``;
beside them the Standard Webhooks headers (``infra.signing.standard_webhook_headers``):
``webhook-id`` (the same event id), ``webhook-timestamp`` and ``webhook-signature``, signed at the
same instant as ``X-ODS-Signature``.
"""

from __future__ import annotations

import json
import time

from temporalio import activity

from domain.alerts import WebhookPost
from infra.http import http_client
from infra.settings import Settings
from infra.signing import SIGNATURE_HEADER, sign, standard_webhook_headers, webhook_key

EVENT_HEADER = "X-ODS-Event"
EVENT_ID_HEADER = "X-ODS-Event-Id"
ALERT_ID_HEADER = "X-ODS-Alert-Id"
DELIVERY_WORKFLOW = "AlertWebhookDelivery"
"""The workflow type of ``workflows.alert_webhooks.AlertWebhookDelivery``."""


def delivery_workflow_id(event_id: str) -> str:
    """``alert-webhooks-<event id>``: for an alert raised, its id; for an acknowledgement, its own."""
    return f"alert-webhooks-{event_id}"


class AlertWebhookActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def post_alert_webhook(self, post: WebhookPost) -> int:
        """POST one event to one subscriber, signed; 2xx is done, anything else is retried."""
        body = json.dumps(post.alert.model_dump(mode="json"), ensure_ascii=False).encode()
        event_id = post.event_id or post.alert.id
        # The subscriber's own secret (``URL whsec_…`` in ODS_ALERT_WEBHOOKS), else ODS_WEBHOOK_SECRET.
        secret, now = self.settings.webhook_secret_of("alert", post.url), time.time()
        headers = {
            "Content-Type": "application/json",
            # The secret's key: a whsec_ value base64-decoded, any other its UTF-8 bytes.
            SIGNATURE_HEADER: sign(webhook_key(secret), body, now=now),
            ALERT_ID_HEADER: post.alert.id,
            EVENT_HEADER: post.event,
            EVENT_ID_HEADER: event_id,
            **standard_webhook_headers(secret, event_id, body, now=now),
        }
        async with http_client(timeout=15.0) as client:
            resp = await client.post(post.url, content=body, headers=headers)
        if not resp.is_success:
            raise RuntimeError(f"subscriber {post.url} answered {resp.status_code}")
        return resp.status_code
