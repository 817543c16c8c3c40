"""The retention schedule's activity (``workflows/retention.py``): erase the cases that closed before
the cut-off, each through ``service/erasure.py`` as the operator ``retention``.

The cases are found by a visibility query on the case workflows of the task queue and their close
time (``expired_cases_query``), a page at a time; the cases of a page erased before are found in one
read of ``case_keys`` and only counted. Each erasure is idempotent, so a retried attempt, or the next
day's run, takes up whatever an interrupted one left. The heartbeat carries the counts so far (no
personal data: application ids are not logged in it either).

This worker's own cache of an erased case's key expires as every other process's does
(``infra.case_keys.DEFAULT_TTL_S``); the case is closed, so nothing is encrypted under it meanwhile.
"""

from __future__ import annotations

from datetime import UTC

from temporalio import activity
from temporalio.client import Client

from domain.case_ids import WORKFLOW_TYPE, application_id_of
from domain.retention import (
    ERASE_EXPIRED_CASES,
    RETENTION_OPERATOR,
    RETENTION_REASON,
    ExpiredCases,
    RetentionCounts,
)
from infra.logging import get_logger
from service import audit, cases, erasure
from service.audit import Access
from store.service import ServiceDatabase

log = get_logger("retention")
# Who erases when the retention period does: the schedule, run by a worker (no person, no client).
SCHEDULE_ACCESS = Access(actor=RETENTION_OPERATOR, role="ops", client="", user_agent="retention schedule")
PAGE = 100


def expired_cases_query(request: ExpiredCases) -> str:
    """The visibility query for the closed cases of the task queue that closed before the cut-off (a
    case continued as new runs on, and is not among them)."""
    if "'" in request.task_queue:
        raise ValueError(f"a task queue name with a quote cannot be queried: {request.task_queue!r}")
    before = request.closed_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f"WorkflowType = '{WORKFLOW_TYPE}' AND TaskQueue = '{request.task_queue}' "
        "AND ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew' "
        f"AND CloseTime < '{before}'"
    )


class RetentionActivities:
    def __init__(self, client: Client | None, database: ServiceDatabase | None) -> None:
        self.client = client
        self.database = database

    @activity.defn(name=ERASE_EXPIRED_CASES)
    async def erase_expired_cases(self, request: ExpiredCases) -> RetentionCounts:
        """Erase every case of ``request.task_queue`` closed before ``request.closed_before``."""
        if self.client is None or self.database is None:
            raise RuntimeError("this worker has no Temporal client or service database to erase with")
        counts = RetentionCounts()
        page: list[str] = []
        async for execution in self.client.list_workflows(expired_cases_query(request), page_size=PAGE):
            page.append(application_id_of(execution.id))
            if len(page) == PAGE:
                await self._erase(page, counts)
                page = []
        await self._erase(page, counts)
        log.info("retention run", closed_before=request.closed_before.isoformat(), **counts.model_dump())
        return counts

    async def _erase(self, page: list[str], counts: RetentionCounts) -> None:
        assert self.client is not None and self.database is not None
        earlier = await (await self.database.case_keys()).erased(page)
        counts.found += len(page)
        counts.already_erased += len(earlier)
        for application_id in (a for a in page if a not in earlier):
            try:
                done = await erasure.erase(
                    self.client, self.database, application_id, by=RETENTION_OPERATOR, reason=RETENTION_REASON
                )
            except (cases.CaseNotFound, cases.CaseStateConflict):
                counts.skipped += 1
            else:
                if done.first:
                    counts.erased += 1
                    # Erased by the schedule, as an operator's erasure is: in the audit log.
                    await audit.record(
                        self.database, SCHEDULE_ACCESS, "erase", cases=[application_id], detail=done.reason
                    )
                else:
                    counts.already_erased += 1
            activity.heartbeat(counts.model_dump())
