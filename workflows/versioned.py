"""The workflows as a versioned worker registers them (``worker.deployment_config``): the portal
push and the alert webhooks move to the current version when a release becomes current, the
cases and their deliveries stay on the version they started on (the deployment's default).

Declared here, not on the workflows themselves: with a behaviour declared in its definition, a
workflow on an unversioned worker of the dev server lost its tasks after a restart
(tests/workflows/test_free_services.py). Subclasses that only say so, for the sandbox to import.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior

with workflow.unsafe.imports_passed_through():
    from domain.alerts import WebhookDeliveryInput
    from domain.portal import PORTAL_PUSH_WORKFLOW, PortalPushInput, PortalPushOutcome

from workflows.alert_webhooks import AlertWebhookDelivery
from workflows.delivery import PostalDelivery
from workflows.enterprise_setup import EnterpriseSetup
from workflows.portal_push import PortalPush
from workflows.rating_follow_up import RatingFollowUp
from workflows.retention import Retention


@workflow.defn(name=PORTAL_PUSH_WORKFLOW, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class AutoUpgradingPortalPush(PortalPush):
    @workflow.run
    async def run(self, input: PortalPushInput) -> PortalPushOutcome:
        return await super().run(input)


@workflow.defn(name="AlertWebhookDelivery", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class AutoUpgradingAlertWebhookDelivery(AlertWebhookDelivery):
    @workflow.run
    async def run(self, delivery: WebhookDeliveryInput) -> list[str]:
        return await super().run(delivery)


VERSIONED_WORKFLOWS: list[type] = [
    EnterpriseSetup,
    PostalDelivery,
    AutoUpgradingAlertWebhookDelivery,
    AutoUpgradingPortalPush,
    RatingFollowUp,
    # One short run a day: it stays on the version it started on, like the cases.
    Retention,
]
