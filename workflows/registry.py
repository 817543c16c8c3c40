"""Every workflow a worker registers (and a replayer replays)."""

from __future__ import annotations

from workflows.alert_webhooks import AlertWebhookDelivery
from workflows.delivery import PostalDelivery
from workflows.enterprise_setup import EnterpriseSetup
from workflows.portal_push import PortalPush
from workflows.rating_follow_up import RatingFollowUp
from workflows.retention import Retention

ALL_WORKFLOWS: list[type] = [
    EnterpriseSetup,
    PostalDelivery,
    AlertWebhookDelivery,
    PortalPush,
    RatingFollowUp,
    Retention,
]
# Started on the webhooks' own task queue (domain/task_queues.py); those from before it run on the
# cases' queue, where ALL_WORKFLOWS keeps them.
WEBHOOK_WORKFLOWS: list[type] = [AlertWebhookDelivery, PortalPush]
