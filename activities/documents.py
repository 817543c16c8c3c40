"""The documents of a case (reportlab PDFs), stored in the service database (``store/documents.py``).

They run on a task queue of their own (``domain/task_queues.py``), so the PDFs are drawn by a
worker process that does nothing else (``python worker.py --role documents``, on any machine) and
never compete with the cases' workflow tasks for one interpreter.

Two ways to fail, two answers (the workflow's ``DOCUMENT_STORE_RETRY`` in ``workflows/calls.py``):
- the service database does not answer: ``DocumentStoreUnavailable``, retried until it does, so a
  case's document is never lost to a database restart;
- the document cannot be drawn: ``DocumentRenderFailed``, tried ``RENDER_ATTEMPTS`` times, then
  non-retryable; the case notes it and goes on (a document never holds a case).
"""

from __future__ import annotations

import asyncio
import threading

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from documents.models import CaseDocumentData, document_name
from documents.render import render_case_document
from infra.logging import get_logger
from store.documents import CaseDocuments

log = get_logger("documents")

RENDER_ATTEMPTS = 3
RENDER_FAILED = "DocumentRenderFailed"
STORE_UNAVAILABLE = "DocumentStoreUnavailable"


class DocumentRequest(BaseModel):
    data: CaseDocumentData


# reportlab's subsetting of the one shared TrueType font is not thread-safe (one render in a few
# hundred failed with a KeyError when several ran at once): one document is drawn at a time.
_RENDERING = threading.Lock()


def _render(data: CaseDocumentData) -> bytes:
    with _RENDERING:
        return render_case_document(data)


class DocumentActivities:
    def __init__(self, store: CaseDocuments) -> None:
        self.store = store

    @activity.defn
    async def issue_document(self, request: DocumentRequest) -> str:
        """Render one document and store it (a re-run replaces it with the same content)."""
        data = request.data
        name = document_name(data)
        try:
            pdf = await asyncio.to_thread(_render, data)
        except Exception as exc:
            attempt = activity.info().attempt
            # The data is the case's: only the error's type and the document's name are told.
            raise ApplicationError(
                f"{name} could not be drawn ({type(exc).__name__}); attempt {attempt} of {RENDER_ATTEMPTS}",
                type=RENDER_FAILED,
                non_retryable=attempt >= RENDER_ATTEMPTS,
            ) from None
        try:
            await self.store.save(data.application_id, name, pdf)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("document_store_unavailable", document=name, error=type(exc).__name__)
            raise ApplicationError(
                f"the service database did not take {name} ({type(exc).__name__}); retried until it does",
                type=STORE_UNAVAILABLE,
            ) from None
        return name
