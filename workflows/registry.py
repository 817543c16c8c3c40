"""Every workflow a worker registers (and a replayer replays)."""

from __future__ import annotations

from workflows.alert_webhooks import AlertWebhookDelivery
from workflows.enterprise_setup import EnterpriseSetup

ALL_WORKFLOWS: list[type] = [EnterpriseSetup, AlertWebhookDelivery]
