"""The workflow ids of a case, and the case a workflow id names: pure string rules, no SDK.

A case runs as the ``EnterpriseSetup`` workflow ``setup-<application_id>``; its postal delivery as the
``PostalDelivery`` child ``setup-<application_id>-delivery`` (``workflows/delivery.py``), its status
push to the portal as ``portal-push-setup-<application_id>`` (``domain/portal.py``), the follow-up of
its bad rating (``workflows/rating_follow_up.py``) as ``rating-follow-up-setup-<application_id>``
(a case is rated once), and that follow-up's push as ``portal-push-`` and its id. Kept apart
from ``infra/temporal.py`` (the SDK's connection and converter) so that logging, the gateway and the
workflows can name a case without importing the Temporal client.
"""

from __future__ import annotations

WORKFLOW_TYPE = "EnterpriseSetup"
WORKFLOW_ID_PREFIX = "setup-"
# A case's delivery child (workflows/delivery.py), its workflow id the case's plus DELIVERY_SUFFIX.
DELIVERY_WORKFLOW_TYPE = "PostalDelivery"
DELIVERY_SUFFIX = "-delivery"
# A case's PortalPush child (workflows/portal_push.py): this prefix and the case's workflow id.
PORTAL_PUSH_PREFIX = "portal-push-"
# A bad rating's RatingFollowUp (workflows/rating_follow_up.py): this prefix and the case's workflow id.
# Follow-ups started before it was named after the case are ``rating-follow-up-rt-<random>``: they
# name no case (their payloads stay under the master key) and are found by their rating's row.
RATING_FOLLOW_UP_PREFIX = "rating-follow-up-"


def workflow_id_for(application_id: str) -> str:
    """The case's workflow id: ``setup-<application_id>``."""
    return f"{WORKFLOW_ID_PREFIX}{application_id}"


def application_id_of(workflow_id: str) -> str:
    """The application id in a case's workflow id (``workflow_id_for`` backwards)."""
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


def delivery_workflow_id(case_workflow_id: str) -> str:
    """The ``PostalDelivery`` child of a case: ``setup-<application_id>-delivery``."""
    return f"{case_workflow_id}{DELIVERY_SUFFIX}"


def follow_up_workflow_id(application_id: str) -> str:
    """The follow-up of the case's bad rating: ``rating-follow-up-setup-<application_id>``."""
    return f"{RATING_FOLLOW_UP_PREFIX}{workflow_id_for(application_id)}"


def case_application_id(workflow_id: str, workflow_type: str | None = None) -> str | None:
    """The application id of a case's workflow, or of its delivery child when ``workflow_type`` says
    it is one (an application id may itself end in ``-delivery``); None for a workflow of no case."""
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return None
    application_id = application_id_of(workflow_id)
    if workflow_type == DELIVERY_WORKFLOW_TYPE:
        application_id = application_id.removesuffix(DELIVERY_SUFFIX)
    return application_id or None


def case_of_workflow(workflow_id: str) -> str | None:
    """The case whose data a workflow holds, from its id alone (the payload codec knows no workflow
    type): the case's own workflow, its delivery child, its portal push, its bad rating's follow-up
    and that one's portal push; None for any other. An id ``setup-X-delivery`` is taken for X's
    delivery child, so a case whose own id ends in ``-delivery`` shares the key of the case without
    that ending (the portal's ids never do)."""
    workflow_id = workflow_id.removeprefix(PORTAL_PUSH_PREFIX).removeprefix(RATING_FOLLOW_UP_PREFIX)
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return None
    return application_id_of(workflow_id).removesuffix(DELIVERY_SUFFIX) or None
