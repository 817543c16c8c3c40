"""The worker interceptor that puts an activity's case on every line it logs (``infra/log_context.py``)."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from infra.log_context import case_fields


class CaseLogInterceptor(Interceptor):
    """For the run of each activity: ``workflow_id``, ``application_id``, ``activity``, ``attempt``
    and ``stage`` bound as structlog context variables (a synchronous activity's thread gets them
    too: the SDK runs it in a copy of the context)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CaseLogActivityInbound(next)


class _CaseLogActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        fields: dict[str, Any] = case_fields(info.workflow_id, info.workflow_type, info.activity_type)
        fields["activity"] = info.activity_type
        fields["attempt"] = info.attempt
        with structlog.contextvars.bound_contextvars(**fields):
            return await super().execute_activity(input)
