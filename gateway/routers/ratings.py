"""Ratings (好差评): the portal rates a closed case and gives its verdict on a follow-up's answer;
ops read and act on a bad rating's follow-up. Each route calls ``service/ratings.py``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path

from domain.actions import IdempotencyKey
from domain.ratings import (
    FollowUpAction,
    FollowUpActionRequest,
    FollowUpDocument,
    RatingAnswer,
    RatingBody,
    VerdictBody,
)
from gateway.access import access_of
from gateway.auth import OpsCallerDep, ops_access, portal_access
from gateway.bodies import BodyRoute
from gateway.dependencies import CaseId, PoliciesDep, ServiceDatabaseDep, SettingsDep, TemporalDep
from gateway.models import Detail, FieldErrors
from service import audit, ratings

_RATING_ID = re.compile(r"^[A-Za-z0-9-]{1,40}$")
_COMMON: dict[int | str, dict[str, Any]] = {
    401: {"model": Detail, "description": "missing or wrong bearer token; nothing changed"},
    404: {"model": Detail, "description": "no follow-up with that rating id (unknown, or not a bad rating)"},
    409: {"model": Detail, "description": "the follow-up's state does not allow this"},
    503: {"model": Detail, "description": "Temporal or the service database is unreachable; try again"},
}

_ERASED: dict[int | str, dict[str, Any]] = {
    410: {"model": Detail, "description": "the rating's case was erased: its follow-up is gone"}
}

router = APIRouter(route_class=BodyRoute, tags=["ratings"], responses=_COMMON)


def rating_id(
    rating_id: Annotated[str, Path(description="the rating's id (`rating_id` of the rating's answer)")],
) -> str:
    if not _RATING_ID.fullmatch(rating_id):
        raise HTTPException(404, f"no follow-up of rating {rating_id[:40]!r}")
    return rating_id


RatingId = Annotated[str, Depends(rating_id)]


@router.post(
    "/v1/applications/{application_id}/rating",
    status_code=201,
    summary="The applicant's rating (好差评) of a closed case, once",
    dependencies=[Depends(portal_access)],
    responses={
        409: {"model": Detail, "description": "the case is open, was rated before, or was erased"},
        422: {"model": FieldErrors, "description": "field errors (level, about, comment)"},
    },
)
async def rate_application(
    application_id: CaseId,
    body: Annotated[RatingBody, Body(description="the level, what it is about, and an optional comment")],
    settings: SettingsDep,
    policies: PoliciesDep,
    database: ServiceDatabaseDep,
    temporal: TemporalDep,
) -> RatingAnswer:
    """201 for a completed, rejected or withdrawn case; a bad rating (dissatisfied, very_dissatisfied)
    opens a follow-up (its workflow id in `follow_up`). 409 for an open case, a second rating or an
    erased case."""
    return await ratings.rate(
        await temporal.client(),
        database,
        application_id,
        body,
        task_queue=settings.task_queue,
        sla_policy=policies.sla,
        portal_webhooks=settings.portal_webhook_urls,
    )


@router.get(
    "/v1/ratings/{rating_id}",
    summary="A bad rating's follow-up",
    dependencies=[Depends(ops_access)],
    responses=_ERASED,
)
async def get_follow_up(
    rating_id: RatingId, temporal: TemporalDep, database: ServiceDatabaseDep
) -> FollowUpDocument:
    return await ratings.get_follow_up(await temporal.client(), database, rating_id)


@router.post(
    "/v1/ratings/{rating_id}/actions",
    status_code=202,
    summary="An operator's action on a follow-up (ops or personal ops token)",
    responses={
        **_ERASED,
        403: {
            "model": Detail,
            "description": "the appeal's own author deciding it, another's token, or (in production) "
            "the shared ops token",
        },
        422: {"model": FieldErrors, "description": "field errors, or an action not offered now (`offered`)"},
    },
)
async def act_on_follow_up(
    rating_id: RatingId,
    request: Annotated[FollowUpActionRequest, Body(description="the action, who takes it, and its fields")],
    caller: OpsCallerDep,
    temporal: TemporalDep,
    database: ServiceDatabaseDep,
    idempotency_key: Annotated[
        IdempotencyKey | None,
        Header(alias="Idempotency-Key", description="a repeat answers the first answer and does nothing"),
    ] = None,
) -> FollowUpDocument:
    """202 with the follow-up once recorded; 409 closed; 422 not offered now; 403 an appeal decided by
    the operator who made it."""
    action = FollowUpAction(
        action=request.root.action,
        operator=caller.operator(request.root.operator),
        note=request.root.note,
        idempotency_key=idempotency_key,
        **request.fields(),  # type: ignore[arg-type]
    )
    document = await ratings.act(await temporal.client(), database, rating_id, action)
    shared = "" if caller.personal_name else f" as {action.operator}"
    detail = f"rating {rating_id}: {action.action}{shared}"
    await audit.record(database, access_of(caller), "act", cases=[document.application_id], detail=detail)
    return document


@router.post(
    "/v1/ratings/{rating_id}/verdict",
    status_code=202,
    summary="The applicant's verdict on the follow-up's answer",
    dependencies=[Depends(portal_access)],
    responses={**_ERASED, 422: {"model": FieldErrors, "description": "an unknown verdict"}},
)
async def give_verdict(
    rating_id: RatingId,
    body: Annotated[VerdictBody, Body(description="satisfied, basically_satisfied or dissatisfied")],
    temporal: TemporalDep,
    database: ServiceDatabaseDep,
) -> FollowUpDocument:
    """202 once the follow-up has it (it closes); 409 before it has an answer, or once closed."""
    return await ratings.give_verdict(await temporal.client(), database, rating_id, body.verdict)
