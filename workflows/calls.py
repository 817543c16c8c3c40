"""How the workflows call their activities: timeouts and retries, and what a cancellation looks like.

Partners may be slow (up to 30 s an answer) or down for a while: their calls are retried with
backoff for as long as it takes, with the same idempotency key; the SLA timers, not the retry
policy, tell people when it takes too long. Business refusals are non-retryable and reach the
workflow as a :class:`activities.partners.PartnerRefusal`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.partners import NON_RETRYABLE_TYPES
    from domain.task_queues import activity_task_queue

from workflows.versions import patched

A = TypeVar("A")
R = TypeVar("R")
# A withdrawal's cancellation that met an activity's result on its way is raised after all.
SWALLOWED_CANCEL_PATCH = "withdraw-sticky-cancel-v1"

# Activities on task queues of their own (domain/task_queues.py): each partner's calls, the
# service's records, the webhooks. Cases from before it run them all on the cases' own queue.
QUEUES_APART_PATCH = "activity-queues-v1"

# An attempt holds its worker slot at most this long: the HTTP client gives up after 45 s without
# an answer (infra/http.py), which covers the 30 s the partners may take (docs/partner-api.md).
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
# A look-up that helps a person decide (a district's seal shops): a few attempts, then without it.
LOOKUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=4,
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
# Documents on their own task queue (patch DOCUMENTS_APART_PATCH): the activity tells a drawing
# that fails (non-retryable after its own few attempts) from a database that does not answer
# (retried until it does, like every other write to the service database).
DOCUMENTS_APART_PATCH = "documents-apart-v1"
DOCUMENT_STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


def is_cancellation(err: BaseException) -> bool:
    """A withdrawal cancels the work in hand: awaited activities and children then fail with a
    Temporal ``CancelledError`` cause rather than raising ``asyncio.CancelledError`` themselves."""
    if isinstance(err, asyncio.CancelledError):
        return True
    return isinstance(err, (ActivityError, ChildWorkflowError)) and isinstance(err.cause, CancelledError)


def honour_cancellation() -> None:
    """Raise the cancellation of the current task if it was requested but swallowed.

    When a withdrawal cancels the work while an activity's (or child's) result is already on its
    way in the same workflow task, the SDK returns the result and the cancellation is lost
    (temporalio/sdk-python#620): the stage would go on and the case never close. The task still
    counts the request, so the work path calls this after each call it awaits.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling() and patched(SWALLOWED_CANCEL_PATCH):
        raise asyncio.CancelledError("cancelled while the result of an activity was on its way")


def queues_apart() -> bool:
    """Whether this run puts its activities on their own task queues (``QUEUES_APART_PATCH``).
    The SDK keeps the first answer for the whole run, whichever call site asks first."""
    return patched(QUEUES_APART_PATCH)


async def run_activity(
    activity: Callable[[Any, A], Awaitable[R]], arg: A, *, local: bool = False, **options: Any
) -> R:
    """``workflow.execute_activity_method`` on the activity's own task queue
    (``domain/task_queues.py``) when the run has them, else on the workflow's; ``local``: a local
    activity in the case's own worker instead (a lean case's, ``workflows/versions.py``: a marker
    in its history, no activity task and no workflow task of its own)."""
    if local:
        done: R = await workflow.execute_local_activity_method(activity, arg, **options)
        return done
    if "task_queue" not in options and queues_apart():
        queue = activity_task_queue(workflow.info().task_queue, activity.__name__)
        if queue is not None:
            options["task_queue"] = queue
    result: R = await workflow.execute_activity_method(activity, arg, **options)
    return result


async def execute(
    activity: Callable[[Any, A], Awaitable[R]], arg: A, *, local: bool = False, **options: Any
) -> R:
    """:func:`run_activity` for the work path of a case: a cancellation that arrives with the activity's
    result is not lost (:func:`honour_cancellation`)."""
    result = await run_activity(activity, arg, local=local, **options)
    honour_cancellation()
    return result
