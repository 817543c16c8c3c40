"""``GET /v1/audit``: the audit log of personal data (``service/audit.py``), for auditors only.

An auditor's token (``ODS_AUDITOR_TOKENS``) opens this and nothing else; no other token opens it,
and nothing in the gateway changes or deletes an entry. Pages go oldest first, each entry with the
hash of the one before it (``starter.py audit verify`` checks the chain).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from domain.application import TEXT_PATTERN
from domain.audit import ACTOR_MAX_LENGTH, ENTRY_ID_PATTERN, AuditAction, AuditEntry
from domain.identifiers import APPLICATION_ID_PATTERN
from gateway.auth import auditor_access
from gateway.bodies import BodyRoute
from gateway.dependencies import ServiceDatabaseDep
from gateway.errors import ParameterInvalid
from gateway.models import Detail, FieldErrors
from gateway.parameters import AuditPageSize
from store.audit import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

router = APIRouter(
    route_class=BodyRoute,
    prefix="/v1/audit",
    tags=["audit"],
    dependencies=[Depends(auditor_access)],
    responses={
        401: {"model": Detail, "description": "missing or wrong bearer token (an auditor's token only)"},
        422: {"model": FieldErrors, "description": "a filter or the cursor not of its form"},
        503: {"model": Detail, "description": "the service database is unreachable; try again"},
    },
)


class AuditPage(BaseModel):
    """One page of the audit log, oldest first; ``next_cursor`` is ``after`` for the next page."""

    entries: list[AuditEntry]
    next_cursor: str | None = Field(
        description="the id of the page's last entry while more follow; null at the end",
        examples=["000000000042", None],
    )


@router.get("", summary="The audit log of personal data, oldest first (auditors only)")
async def audit_log(
    database: ServiceDatabaseDep,
    case: Annotated[
        str | None, Query(pattern=APPLICATION_ID_PATTERN, description="only entries concerning this case")
    ] = None,
    actor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=ACTOR_MAX_LENGTH,
            pattern=TEXT_PATTERN,
            description="only entries of this actor: a personal token's name, or a shared credential "
            "(such as `shared-ops-token`)",
        ),
    ] = None,
    action: Annotated[AuditAction | None, Query(description="only entries of this action")] = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="only entries recorded at this time or later (ISO 8601, with zone)"),
    ] = None,
    until: Annotated[
        AwareDatetime | None,
        Query(description="only entries recorded before this time (ISO 8601, with zone)"),
    ] = None,
    after: Annotated[
        str | None, Query(pattern=ENTRY_ID_PATTERN, description="the previous page's `next_cursor`")
    ] = None,
    limit: Annotated[
        AuditPageSize | None,
        Query(description=f"page size (default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE})"),
    ] = None,
) -> AuditPage:
    """Pass each page's ``next_cursor`` as ``after`` for the next; it is null on the last page."""
    if since is not None and until is not None and until <= since:
        raise ParameterInvalid("until", "until must be later than since")
    log = await database.audit()
    entries, next_cursor = await log.page(
        case=case,
        actor=actor,
        action=action,
        since=since,
        until=until,
        after=after,
        limit=limit or DEFAULT_PAGE_SIZE,
    )
    return AuditPage(entries=entries, next_cursor=next_cursor)
