"""Ratings (好差评): rating a closed case, reading and acting on a bad rating's follow-up, and the
applicant's verdict on its answer. The single implementation behind the gateway and starter.py.

A rating is kept once per case by the service database (``store/ratings.py``); a bad one then
starts its ``RatingFollowUp`` (``workflows/rating_follow_up.py``), id
``rating-follow-up-setup-<application_id>``: named after its case, so that its payloads (the
applicant's comment, the call's outcome) are encrypted under the case's key and an erasure of the
case (``service/erasure.py``) reaches them too. The rating id stays random; the rating's row gives its
follow-up's workflow id (older follow-ups' ids are ``rating-follow-up-rt-…``). Were the start lost
after the rating was kept (a gateway dying in between), the next rating of the same case, refused as
a second one, starts it. An erased case is not rated, and its follow-up's document is gone (410).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import cast

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.actions import ACTION_NOT_OFFERED
from domain.case_ids import follow_up_workflow_id, workflow_id_for
from domain.ratings import (
    APPEAL_BY_ITS_AUTHOR,
    BAD_LEVELS,
    LEVEL_NAMES,
    FollowUpAction,
    FollowUpDocument,
    FollowUpInput,
    Rating,
    RatingAnswer,
    RatingBody,
    Verdict,
    handling_unit,
)
from domain.sla_policy import SlaPolicy
from infra.privacy import mask_text
from infra.temporal import (
    SA_DISTRICT_CODE,
    SA_ENTERPRISE_NAME,
    SA_RATING_LEVEL,
    SA_RATING_STATE,
    SA_SETUP_STAGE,
    SA_SLA_STATUS,
)
from service.cases import ActionNotOffered, CaseStateConflict, _update, case_errors
from service.erasure import is_erased
from store.ratings import RatingExists
from store.service import ServiceDatabase
from workflows.rating_follow_up import RatingFollowUp

CLOSED_STAGES = frozenset({"completed", "rejected", "withdrawn"})
FollowUpHandle = WorkflowHandle[RatingFollowUp, FollowUpDocument]


class RatingNotFound(Exception):
    """No follow-up has this rating id (unknown, or a rating that is not bad)."""


class AppealByItsAuthor(Exception):
    """The operator who appealed may not decide the appeal (a 403)."""


class FollowUpErased(Exception):
    """The follow-up's case was erased: its payloads decode to the erased marker only (a 410)."""


async def rate(
    client: Client,
    database: ServiceDatabase,
    application_id: str,
    body: RatingBody,
    *,
    task_queue: str,
    sla_policy: SlaPolicy | None = None,
    portal_webhooks: list[str] | None = None,
) -> RatingAnswer:
    """The applicant's rating of a closed case, once (``CaseStateConflict`` for an open case or a
    second rating; ``CaseNotFound`` unknown). A bad rating starts its follow-up."""
    case = client.get_workflow_handle(workflow_id_for(application_id))
    with case_errors(application_id, unknown=True):
        description = await case.describe()
    if await is_erased(database, application_id):
        raise CaseStateConflict(f"case {application_id} was erased: it is not rated any more")
    attributes = description.typed_search_attributes
    stage = attributes.get(SA_SETUP_STAGE)
    if description.status == WorkflowExecutionStatus.RUNNING or stage not in CLOSED_STAGES:
        raise CaseStateConflict(f"case {application_id} is {stage or 'open'}: only a closed case is rated")
    district = attributes.get(SA_DISTRICT_CODE) or ""
    rating_id = f"rt-{uuid.uuid4().hex[:20]}"
    rating = Rating(
        rating_id=rating_id,
        application_id=application_id,
        level=body.level,
        about=body.about,
        unit=handling_unit(district, body.about),
        district_code=district,
        rated_at=datetime.now(UTC),
        follow_up=follow_up_workflow_id(application_id) if body.level in BAD_LEVELS else None,
    )
    follow_up = FollowUpInput(
        rating=rating,
        enterprise_name=attributes.get(SA_ENTERPRISE_NAME) or "",
        comment=mask_text(body.comment) if body.comment else None,
        policy=sla_policy or SlaPolicy(),
        portal_webhooks=list(portal_webhooks or []),
    )
    try:
        await (await database.ratings()).add(rating)
    except RatingExists as second:
        first = second.rating
        if first.follow_up is not None:
            # The first one's follow-up, should its start have been lost (its comment is not kept).
            kept = Rating.model_validate(first.model_dump(include=set(Rating.model_fields)))
            await _start_follow_up(
                client, follow_up.model_copy(update={"rating": kept, "comment": None}), task_queue
            )
        raise CaseStateConflict(f"case {application_id} was rated before: a case is rated once") from second
    if rating.follow_up is not None:
        await _start_follow_up(client, follow_up, task_queue)
    return RatingAnswer(rating_id=rating_id, follow_up=rating.follow_up)


async def _start_follow_up(client: Client, follow_up: FollowUpInput, task_queue: str) -> None:
    rating = follow_up.rating
    assert rating.follow_up is not None
    try:
        await client.start_workflow(
            RatingFollowUp.run,
            follow_up,
            id=rating.follow_up,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(SA_RATING_LEVEL, rating.level),
                    SearchAttributePair(SA_RATING_STATE, "open"),
                    SearchAttributePair(SA_DISTRICT_CODE, rating.district_code),
                    SearchAttributePair(SA_SLA_STATUS, "on_track"),
                ]
            ),
            # No personal data: the case's id, the level, what it is about and the unit.
            static_summary=f"差评回访 follow-up of {rating.application_id}: {LEVEL_NAMES[rating.level]} "
            f"about {rating.about}",
            static_details=f"rating: {rating.rating_id}\nlevel: {rating.level}\nabout: {rating.about}\n"
            f"unit: {rating.unit}",
        )
    except WorkflowAlreadyStartedError:
        pass  # closed already: it ran


async def _handle(client: Client, database: ServiceDatabase, rating_id: str) -> FollowUpHandle:
    """The rating's follow-up, by its row's workflow id; ``RatingNotFound`` without one,
    ``FollowUpErased`` once its case is erased."""
    record = await (await database.ratings()).get(rating_id)
    if record is None or record.follow_up is None:
        raise RatingNotFound(rating_id)
    if await is_erased(database, record.application_id):
        raise FollowUpErased(f"the case of rating {rating_id} was erased: its follow-up is gone")
    return client.get_workflow_handle_for(RatingFollowUp.run, record.follow_up)


async def _described(handle: FollowUpHandle, rating_id: str) -> WorkflowExecutionStatus | None:
    try:
        return (await handle.describe()).status
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise RatingNotFound(rating_id) from err
        raise


async def get_follow_up(client: Client, database: ServiceDatabase, rating_id: str) -> FollowUpDocument:
    """The follow-up document: a closed one's from its close event, an open one's by query."""
    handle = await _handle(client, database, rating_id)
    if await _described(handle, rating_id) == WorkflowExecutionStatus.COMPLETED:
        async for event in handle.fetch_history_events(
            event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        ):
            payloads = event.workflow_execution_completed_event_attributes.result.payloads
            [document] = await client.data_converter.decode(payloads, [FollowUpDocument])
            return cast(FollowUpDocument, document)
    return await handle.query(RatingFollowUp.status)


def _refusals(err: WorkflowUpdateFailedError) -> Exception:
    refusal = err.cause
    if isinstance(refusal, ApplicationError) and refusal.type == ACTION_NOT_OFFERED:
        details = refusal.details[0] if refusal.details else {}
        offered = details.get("offered", []) if isinstance(details, dict) else []
        return ActionNotOffered(refusal.message, [str(a) for a in offered])
    if isinstance(refusal, ApplicationError) and refusal.type == APPEAL_BY_ITS_AUTHOR:
        return AppealByItsAuthor(refusal.message)
    return CaseStateConflict(str(refusal.message if isinstance(refusal, ApplicationError) else err))


async def act(
    client: Client, database: ServiceDatabase, rating_id: str, action: FollowUpAction
) -> FollowUpDocument:
    """An operator's action, answered once recorded. A closed follow-up is a conflict (checked
    first), unless this very action (its Idempotency-Key) was recorded before it closed."""
    handle = await _handle(client, database, rating_id)
    key = action.idempotency_key
    if await _described(handle, rating_id) != WorkflowExecutionStatus.RUNNING:
        if key is not None and await handle.query(RatingFollowUp.action_taken, key):
            return await get_follow_up(client, database, rating_id)
        raise CaseStateConflict(f"the follow-up of rating {rating_id} is closed")
    update_id = None if key is None else "action-" + hashlib.sha256(key.encode()).hexdigest()[:32]
    try:
        with case_errors(rating_id, gone=f"the follow-up of rating {rating_id} is closed"):
            return await _update(lambda: handle.execute_update(RatingFollowUp.act, action, id=update_id))
    except CaseStateConflict as err:
        if isinstance(err.__cause__, WorkflowUpdateFailedError):
            raise _refusals(err.__cause__) from err.__cause__
        raise


async def give_verdict(
    client: Client, database: ServiceDatabase, rating_id: str, verdict: Verdict
) -> FollowUpDocument:
    """The applicant's verdict on the answer (from the portal): 409 before an answer or once closed."""
    handle = await _handle(client, database, rating_id)
    if await _described(handle, rating_id) != WorkflowExecutionStatus.RUNNING:
        raise CaseStateConflict(f"the follow-up of rating {rating_id} is closed")
    with case_errors(rating_id, gone=f"the follow-up of rating {rating_id} is closed"):
        return await _update(lambda: handle.execute_update(RatingFollowUp.verdict, verdict))
