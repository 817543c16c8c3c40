"""What is wrong with a partner: the last failure of a workflow's pending call to it.

A partner call retried by Temporal keeps its last failure on the server (the pending activity),
not in the workflow's history; a case past its ``partner_patience`` asks this activity, which
describes the workflow, so that the operator is told "the tax bureau refuses our credentials
(401)" rather than only that it has been silent.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, TimeoutError

from activities.partners import PARTNER_UNAVAILABLE
from domain.partner_trouble import PartnerTrouble, TroubleQuery


class PartnerTroubleActivities:
    def __init__(self, client: Client | None) -> None:
        self.client = client

    @activity.defn
    async def partner_trouble(self, query: TroubleQuery) -> PartnerTrouble | None:
        """The last failure of the workflow's pending call among ``activity_types``; None when
        there is none (the call has not failed yet, or ended) or this worker has no client."""
        if self.client is None:
            return None
        described = await self.client.get_workflow_handle(query.workflow_id).describe()
        for pending in described.raw_description.pending_activities:
            if pending.activity_type.name not in query.activity_types or not pending.HasField("last_failure"):
                continue
            failure = await self.client.data_converter.decode_failure(pending.last_failure)
            if isinstance(failure, TimeoutError):
                return PartnerTrouble(status=None, kind="timeout", attempts=pending.attempt - 1)
            if not isinstance(failure, ApplicationError) or failure.type != PARTNER_UNAVAILABLE:
                continue
            details = failure.details[0] if failure.details and isinstance(failure.details[0], dict) else {}
            status, kind = details.get("status"), details.get("kind")
            return PartnerTrouble(
                status=status if isinstance(status, int) else None,
                kind=kind if kind in ("http", "timeout", "unreachable", "transport") else "transport",
                attempts=pending.attempt - 1,
            )
        return None
