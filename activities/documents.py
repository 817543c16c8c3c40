"""The documents of a case (reportlab PDFs), stored under ``$ODS_DATA_DIR/documents``."""

from __future__ import annotations

import asyncio
import threading

from pydantic import BaseModel
from temporalio import activity

from documents.models import CaseDocumentData, document_name
from documents.render import render_case_document
from documents.storage import DocumentStore


class DocumentRequest(BaseModel):
    data: CaseDocumentData


# reportlab's subsetting of the one shared TrueType font is not thread-safe (one render in a few
# hundred failed with a KeyError when several ran at once): one document is drawn at a time.
_RENDERING = threading.Lock()


def _render(data: CaseDocumentData) -> bytes:
    with _RENDERING:
        return render_case_document(data)


class DocumentActivities:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    @activity.defn
    async def issue_document(self, request: DocumentRequest) -> str:
        """Render one document and store it (a re-run overwrites it with the same content)."""
        data = request.data
        pdf = await asyncio.to_thread(_render, data)
        name = document_name(data)
        await asyncio.to_thread(self.store.save, data.application_id, name, pdf)
        return name
