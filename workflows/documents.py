"""``Documents``: the PDFs of a case (文书), issued as the case reaches each point.

Rendering is an activity (``activities/documents.py``) on the documents' own task queue
(``domain/task_queues.py``), stored in the service database; a document that cannot be drawn is
noted in the history and never holds the case, while one the database has not taken yet is
retried until it does. Cases that began before the free services make none; cases that began
before ``documents-apart-v1`` draw theirs on the cases' queue with the bounded retry they had.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.documents import DocumentActivities, DocumentRequest
    from documents.models import (
        AcceptanceReceiptData,
        BusinessLicenceData,
        CaseDocumentData,
        CompletionNoticeData,
        PostalParty,
    )
    from domain.delivery import Recipient
    from domain.partners import Licence
    from domain.sla_policy import SlaPolicy
    from domain.task_queues import documents_task_queue

from workflows.calls import (
    DOCUMENT_RETRY,
    DOCUMENT_STORE_RETRY,
    DOCUMENT_TIMEOUT,
    DOCUMENTS_APART_PATCH,
    execute,
    is_cancellation,
)
from workflows.case_record import CaseRecord
from workflows.versions import patched

# A case whose documents wait the policy's documents_patience for a worker to draw them says so (a
# needs_attention alert), once, and goes on waiting: a case never closes without the documents it
# made.
DOCUMENTS_LATE_PATCH = "documents-late-alert-v1"


class Documents:
    def __init__(
        self, record: CaseRecord, patience: timedelta, late: Callable[[str], None] | None = None
    ) -> None:
        self._record = record
        # Told, once, when the documents have waited past ``patience`` for a worker.
        self._patience = patience
        self._late = late
        self.enabled = False
        self._apart: bool | None = None
        self._drawing: list[asyncio.Task[None]] = []

    def enable(self) -> None:
        self.enabled = True
        self._record.documents_offered()

    async def issue(self, data: CaseDocumentData) -> None:
        """Have one document drawn and stored; a document never holds the case.

        Since ``documents-apart-v1`` it is drawn beside the case (on the documents' task queue)
        while the case goes on, and the case waits for it only as it closes (``drawn``): a
        service database that is down for a while delays the documents, not the partners' work.
        Before it, the case waited for each document where it was issued."""
        if not self.enabled:
            return
        if self._apart is None:
            self._apart = patched(DOCUMENTS_APART_PATCH)
        if self._apart:
            self._drawing.append(asyncio.create_task(self._draw(data)))
        else:
            await self._draw(data)

    async def drawn(self) -> None:
        """Every document asked for is stored (or given up): the case closes with all it made."""
        while self._drawing:
            drawing, self._drawing = self._drawing, []
            gathered = asyncio.gather(*drawing)
            if self._late is not None and patched(DOCUMENTS_LATE_PATCH):
                try:
                    await workflow.wait_condition(gathered.done, timeout=self._patience)
                except TimeoutError:
                    self._late(
                        f"the case's documents have waited {self._patience} to be drawn: is a "
                        "documents worker running (worker.py --role documents)?"
                    )
                    self._late = None
            await gathered

    async def _draw(self, data: CaseDocumentData) -> None:
        if self._apart:
            where: dict[str, Any] = {
                "task_queue": documents_task_queue(workflow.info().task_queue),
                "retry_policy": DOCUMENT_STORE_RETRY,
            }
        else:
            where = {"retry_policy": DOCUMENT_RETRY}
        try:
            name = await execute(
                DocumentActivities.issue_document,
                DocumentRequest(data=data),
                start_to_close_timeout=DOCUMENT_TIMEOUT,
                summary=f"文书 {data.document}",
                **where,
            )
        except ActivityError as err:
            if is_cancellation(err):
                raise  # the case is being withdrawn: not a document failure
            self._record.record("document.failed", f"{data.document}: {err.cause or err}")
            return
        self._record.document_issued(name)

    async def acceptance_receipt(self, policy: SlaPolicy) -> None:
        """受理回执: what was applied for, and by when the case is promised."""
        if not self.enabled:
            return
        status = self._record.status
        deadline = status.stages.overall.deadline
        await self.issue(
            AcceptanceReceiptData.from_application(
                self._record.app,
                workflow_id=status.workflow_id,
                accepted_at=status.accepted_at,
                generated_at=workflow.now(),
                policy=policy,
                deadlines={"overall": deadline} if deadline else None,
            )
        )

    async def business_licence(self, licence: Licence) -> None:
        if not self.enabled:
            return
        await self.issue(
            BusinessLicenceData(
                application_id=self._record.application_id, generated_at=workflow.now(), licence=licence
            )
        )

    async def completion_notice(self, policy: SlaPolicy) -> None:
        """一日办结告知单: each stage's times against its promise, as the case is closed."""
        if not self.enabled:
            return
        await self.issue(
            CompletionNoticeData.from_status(
                self._record.status,
                enterprise_name=self._record.app.enterprise.name,
                generated_at=workflow.now(),
                policy=policy,
            )
        )


def postal_party(recipient: Recipient) -> PostalParty:
    return PostalParty(
        name=recipient.name,
        phone=recipient.phone,
        district_code=recipient.district_code,
        address=recipient.address,
    )
