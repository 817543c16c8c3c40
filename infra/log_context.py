"""Every log line written while handling a case names the case: ``workflow_id``, ``application_id``
and, in an activity of a stage, ``stage``.

- Activities: ``CaseLogInterceptor`` (``infra/log_interceptor.py``, on every worker) binds structlog
  context variables from ``activity.info()`` for the activity's run: ``workflow_id``,
  ``application_id``, ``activity`` (its type), ``attempt`` and ``stage`` (``ACTIVITY_STAGES``).
- The SDK's own lines (``temporalio.activity`` and ``workflow.logger``, e.g. "Completing activity as
  failed", written after the activity's run): ``temporal_record_fields``, a processor of the
  logging setup, reads the same from the details the SDK puts on the record.
- The gateway: ``CaseLogContext`` binds ``application_id`` and ``workflow_id`` for a request to
  ``/v1/applications/{application_id}…``, its access line included.

A field the line sets itself wins (``raise_alert`` logs the alert's own ``stage``). Nothing here is
personal data; the masking (``infra/privacy.py``) runs on these fields as on all others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import structlog

from domain.case_ids import case_application_id, workflow_id_for
from domain.identifiers import is_application_id

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from domain.status import StageName

# The stage each activity works for, by activity type (the names in activities/registry.py). The one
# copy of this map: a new activity of a stage belongs here. Activities of no one stage (the working
# calendar, alerts and their webhooks, case facts, documents) have none.
ACTIVITY_STAGES: dict[str, StageName] = {
    "file_registration": "registration",
    "list_seal_shops": "seal_carving",
    "order_seals": "seal_carving",
    "cancel_pending_seal_orders": "seal_carving",
    # The first-seal subsidy follows the seal order (reserved with it, settled when carving ends).
    "reserve_first_seal_subsidy": "seal_carving",
    "settle_first_seal_subsidy": "seal_carving",
    "release_first_seal_subsidy": "seal_carving",
    "issue_first_invoices": "invoice",
    "register_social_insurance": "social_insurance",
    "open_housing_fund_account": "housing_fund",
    "book_bank_appointment": "bank_account",
    "book_waybill": "delivery",
    "amend_waybill": "delivery",
    "request_redelivery": "delivery",
    "return_to_centre": "delivery",
}


def case_fields(
    workflow_id: str | None, workflow_type: str | None = None, activity_type: str | None = None
) -> dict[str, str]:
    """The log fields naming a workflow's case (and the stage of ``activity_type``): ``workflow_id``
    always, ``application_id`` for a case or its delivery child, ``stage`` for an activity of a stage."""
    fields: dict[str, str] = {}
    if not workflow_id:
        return fields
    fields["workflow_id"] = workflow_id
    application_id = case_application_id(workflow_id, workflow_type)
    if application_id:
        fields["application_id"] = application_id
    stage = ACTIVITY_STAGES.get(activity_type or "")
    if stage:
        fields["stage"] = stage
    return fields


def temporal_record_fields(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor for stdlib records: the case fields of the activity or workflow that the
    Temporal SDK's loggers note on a record (``temporal_activity`` / ``temporal_workflow``)."""
    record = event.get("_record")
    activity = getattr(record, "temporal_activity", None)
    details = activity if isinstance(activity, Mapping) else getattr(record, "temporal_workflow", None)
    if not isinstance(details, Mapping):
        return event
    fields: dict[str, Any] = case_fields(
        details.get("workflow_id"), details.get("workflow_type"), details.get("activity_type")
    )
    if isinstance(activity, Mapping):
        fields["activity"] = activity.get("activity_type")
        fields["attempt"] = activity.get("attempt")
    for key, value in fields.items():
        if value is not None:
            event.setdefault(key, value)
    return event


_CASE_PATH = re.compile(r"^/v1/applications/([^/]+)")


def case_of_path(path: str) -> str | None:
    """The application id of a gateway path under ``/v1/applications/{application_id}``, if it is one."""
    match = _CASE_PATH.match(path)
    if match and is_application_id(match.group(1)):
        return match.group(1)
    return None


class CaseLogContext:
    """Pure ASGI middleware: a request under ``/v1/applications/{application_id}`` has the case's
    ``application_id`` and ``workflow_id`` on every line logged while it is handled. Wrap it around
    the request log (add it after ``RequestLogMiddleware``) so the access line has them too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        application_id = case_of_path(str(scope.get("path", ""))) if scope["type"] == "http" else None
        if application_id is None:
            await self.app(scope, receive, send)
            return
        with structlog.contextvars.bound_contextvars(
            application_id=application_id, workflow_id=workflow_id_for(application_id)
        ):
            await self.app(scope, receive, send)
