"""How the workflows call their activities: timeouts and retries, and what a cancellation looks like.

Partners may be slow (up to 30 s an answer) or down for a while: their calls are retried with
backoff for as long as it takes, with the same idempotency key; the SLA timers, not the retry
policy, tell people when it takes too long. Business refusals are non-retryable and reach the
workflow as a :class:`activities.partners.PartnerRefusal`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.partners import NON_RETRYABLE_TYPES

PARTNER_CALL_TIMEOUT = timedelta(seconds=75)
PARTNER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)
# Undoing work at the end of a case (cancelling seal orders): bounded, the case must close.
CLEANUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
    non_retryable_error_types=NON_RETRYABLE_TYPES,
)
# The service's own database (alerts, the subsidy ledger): retried until it answers.
SERVICE_CALL_TIMEOUT = timedelta(seconds=30)
SERVICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# The working calendar is package data plus the policy: a retry is cheap.
CALENDAR_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
# A document that cannot be made never holds the case: a few attempts, then it is noted and skipped.
DOCUMENT_TIMEOUT = timedelta(seconds=60)
DOCUMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=5
)


def is_cancellation(err: BaseException) -> bool:
    """A withdrawal cancels the work in hand: awaited activities and children then fail with a
    Temporal ``CancelledError`` cause rather than raising ``asyncio.CancelledError`` themselves."""
    if isinstance(err, asyncio.CancelledError):
        return True
    return isinstance(err, (ActivityError, ChildWorkflowError)) and isinstance(err.cause, CancelledError)
