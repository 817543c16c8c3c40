"""The cases' documents in the service database (``ODS_DATABASE_URL``): one row per (case, name).

Whichever worker rendered a PDF, on whichever machine, every gateway serves it: nothing of a case
lives in a worker's local folder. A save replaces the row in one statement (``store.db.upsert``),
so a retried activity rewrites the same document and a reader sees the old PDF or the new one,
never half of one. Only the documents a case can have (``documents.models.DOCUMENT_NAMES``) under
a valid application id are stored or looked up (``documents/storage.py``).

Documents that an earlier release wrote to ``$ODS_DATA_DIR/documents`` are still served from that
folder by the gateway that has it (``gateway/routers/applications.py``), after this table.

With a ``DocumentSealer`` (the process's case keys, ``infra/case_keys.py``) a PDF is stored encrypted
under its case's data key (``sealed_with`` names that key), so erasing the case's key leaves nothing
readable here or in a backup; rows stored before that (``sealed_with`` NULL) are read as they are.
"""

from __future__ import annotations

import builtins
import hashlib
from datetime import UTC, datetime
from typing import Protocol, cast

from sqlalchemy import CheckConstraint, Integer, LargeBinary, String, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from documents.models import DOCUMENT_NAMES, DocumentName
from documents.storage import DocumentNotFound, check_application_id, check_document_name, check_pdf
from store.db import transaction, upsert
from store.schema import AwareDateTime, Base

_KEY = ("application_id", "name")


class DocumentSealer(Protocol):
    """Encrypts a case's bytes under the case's own key, bound to ``purpose`` (infra/case_keys.py)."""

    async def seal(self, application_id: str, purpose: str, data: bytes) -> tuple[str, bytes]:
        """The key id and the sealed bytes."""
        ...

    async def unseal(self, application_id: str, key_id: str, purpose: str, sealed: bytes) -> bytes: ...


class CaseDocumentRow(Base):
    """One generated PDF of one case."""

    __tablename__ = "case_documents"
    __table_args__ = (CheckConstraint("size_bytes > 0", name="not_empty"),)

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    stored_at: Mapped[datetime] = mapped_column(AwareDateTime())
    # The key the PDF is sealed under (``case/<application_id>``); NULL: in the clear (older rows).
    sealed_with: Mapped[str | None] = mapped_column(String(80))


case_documents_table = cast(Table, CaseDocumentRow.__table__)


class CaseDocuments:
    """Every case's PDFs, in the service database."""

    def __init__(self, engine: AsyncEngine, sealer: DocumentSealer | None = None) -> None:
        self._engine = engine
        self.sealer = sealer

    async def save(self, application_id: str, name: str, pdf: bytes) -> str:
        """Store the PDF, replacing an earlier one of the same name; answers its SHA-256."""
        values = {
            "application_id": check_application_id(application_id),
            "name": check_document_name(name),
            "pdf": check_pdf(name, application_id, pdf),
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "size_bytes": len(pdf),
            "stored_at": datetime.now(UTC),
            "sealed_with": None,
        }
        if self.sealer is not None:
            values["sealed_with"], values["pdf"] = await self.sealer.seal(application_id, _purpose(name), pdf)
        async with transaction(self._engine, write=True) as conn:
            await conn.execute(upsert(conn, case_documents_table, _KEY, values))
        return str(values["sha256"])

    async def read(self, application_id: str, name: str) -> bytes:
        t = case_documents_table
        query = select(t.c.pdf, t.c.sealed_with).where(
            t.c.application_id == check_application_id(application_id), t.c.name == check_document_name(name)
        )
        async with transaction(self._engine) as conn:
            row = (await conn.execute(query)).one_or_none()
        if row is None:
            raise DocumentNotFound(f"{name} of {application_id} has not been generated")
        if row.sealed_with is None:
            return bytes(row.pdf)
        if self.sealer is None:
            raise DocumentNotFound(f"{name} of {application_id} is sealed, and this process has no case keys")
        return await self.sealer.unseal(application_id, row.sealed_with, _purpose(name), bytes(row.pdf))

    async def delete_case(self, application_id: str) -> int:
        """Delete every document of the case (its erasure); answers how many there were."""
        t = case_documents_table
        async with transaction(self._engine, write=True) as conn:
            done = await conn.execute(
                delete(t).where(t.c.application_id == check_application_id(application_id))
            )
        return int(done.rowcount)

    async def list(self, application_id: str) -> builtins.list[DocumentName]:
        """The documents stored for the case, in ``DOCUMENT_NAMES`` order (the status document's)."""
        t = case_documents_table
        query = select(t.c.name).where(t.c.application_id == check_application_id(application_id))
        async with transaction(self._engine) as conn:
            stored = set((await conn.execute(query)).scalars())
        return [name for name in DOCUMENT_NAMES if name in stored]


def _purpose(name: str) -> str:
    # Bound into the sealed bytes: a document cannot be passed off as another of the case.
    return f"document/{name}"
