"""Erasing a closed case (PIPL Art. 47): its data key, documents and free text destroyed, its figures kept.

``erase`` is the one implementation behind ``POST /v1/applications/{id}/erasure``. It refuses an
open case, and a closed one whose bad rating's follow-up (``workflows/rating_follow_up.py``) is still
open (``CaseStateConflict``: the follow-up still calls the applicant back and encrypts under the
case's key), and an unknown one (``CaseNotFound``); for a closed case it

- keeps the status document without personal data (stages and times) for
  ``GET /v1/applications/{id}``, which answers it from then on with ``erased_at``;
- destroys the case's data key (``store/case_keys.py``; the row stays with when, by whom and why), so
  every payload of the case (its bad rating's follow-up's too: ``domain.case_ids.case_of_workflow``)
  in Temporal, and in every backup of it, decodes only to
  ``{"erased": true, …}`` (``infra/codec.py``); the process's cached key goes at once, other
  processes' within ``infra.case_keys.DEFAULT_TTL_S``;
- deletes the case's documents (they answer ``410 Gone``);
- replaces the alerts' reasons, notes and enterprise name of the case (its follow-up's alerts are
  the case's) by ``ERASED_TEXT``.

The case's rating row (``store/ratings.py``) is kept as it is: it holds no free text (the comment,
the call's outcome and the answer live only in the follow-up's payloads), only the level, what it
is about, the unit and the times the reports count.

A second erasure of the same case changes nothing and answers the first (``Erased.first`` False).
What it answers is what an audit entry needs: who, when, which case, what was removed; no personal
data (the reason is masked).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from domain.case_ids import workflow_id_for
from domain.ratings import RATING_FOLLOW_UP_WORKFLOW
from domain.status import StatusDocument
from infra.privacy import mask_text
from service import cases
from store.service import ServiceDatabase

ERASED_TEXT = "(erased)"
REASON_MAX_LENGTH = 500
# What the status document keeps: where the case went and when, nothing of whom it was about.
_KEPT = ("application_id", "workflow_id", "stage", "sla_status", "accepted_at", "completed_at", "stages")


class Forgets(Protocol):
    """Whatever caches the case's key in this process (``infra.case_keys.CaseKeyring.forget``)."""

    def forget(self, application_id: str) -> None: ...


@dataclass(frozen=True)
class Erased:
    """An erasure, as the audit log records it."""

    application_id: str
    erased_at: datetime
    erased_by: str
    reason: str
    first: bool
    documents_deleted: int = 0
    alerts_redacted: int = 0


def erased_status(status: StatusDocument | None, application_id: str, at: datetime) -> dict[str, Any]:
    """The status document an erased case answers: its stages and times, ``erased_at``."""
    kept: dict[str, Any] = (
        {k: v for k, v in status.model_dump(mode="json").items() if k in _KEPT}
        if status is not None
        else {"application_id": application_id, "workflow_id": workflow_id_for(application_id)}
    )
    return {**kept, "erased_at": at.isoformat()}


async def status_of_erased(database: ServiceDatabase, application_id: str) -> dict[str, Any] | None:
    """The status document of an erased case (``erased_status``); None when it is not erased."""
    record = await (await database.case_keys()).get(application_id)
    if record is None or record.erased_status is None:
        return None
    found: dict[str, Any] = json.loads(record.erased_status)
    return found


async def is_erased(database: ServiceDatabase, application_id: str) -> bool:
    record = await (await database.case_keys()).get(application_id)
    return record is not None and record.erased


async def _running(client: Client, workflow_id: str) -> bool:
    try:
        return (await client.get_workflow_handle(workflow_id).describe()).status == (
            WorkflowExecutionStatus.RUNNING
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False  # its start was lost (service/ratings.py): nothing runs under the key
        raise


async def erase(
    client: Client,
    database: ServiceDatabase,
    application_id: str,
    *,
    by: str,
    reason: str,
    keys: Forgets | None = None,
    at: datetime | None = None,
) -> Erased:
    """Erase the closed case ``application_id`` (the module's docstring)."""
    reason = mask_text(reason.strip())[:REASON_MAX_LENGTH]
    store = await database.case_keys()
    earlier = await store.get(application_id)
    if earlier is not None and earlier.erased_at is not None:
        return Erased(
            application_id, earlier.erased_at, earlier.erased_by or "", earlier.erasure_reason or "", False
        )
    handle = client.get_workflow_handle(workflow_id_for(application_id))
    with cases.case_errors(application_id, unknown=True):
        description = await handle.describe()
    if description.status == WorkflowExecutionStatus.RUNNING:
        raise cases.CaseStateConflict(f"case {application_id} is open: only a closed case can be erased")
    rating = await (await database.ratings()).of_case(application_id)
    if rating is not None and rating.follow_up is not None:
        if await _running(client, rating.follow_up):
            raise cases.CaseStateConflict(
                f"the follow-up of case {application_id}'s bad rating ({RATING_FOLLOW_UP_WORKFLOW} "
                f"{rating.follow_up}) is open: close it first"
            )
    try:
        status: StatusDocument | None = await cases.get_status(client, application_id)
    except Exception:  # a case that failed or was terminated has no status document to keep
        status = None
    at = at or datetime.now(UTC)
    kept = json.dumps(erased_status(status, application_id, at), ensure_ascii=False)
    record, first = await store.erase(application_id, by=by, reason=reason, status=kept, at=at)
    if keys is not None:
        keys.forget(application_id)
    if not first:
        return Erased(
            application_id, record.erased_at or at, record.erased_by or "", record.erasure_reason or "", False
        )
    documents = await (await database.documents()).delete_case(application_id)
    alerts = await (await database.alerts()).erase_case_text(application_id, ERASED_TEXT)
    return Erased(application_id, at, by, reason, True, documents, alerts)
