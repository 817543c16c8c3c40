"""The cases' documents in the service database, on SQLite and PostgreSQL: stored once per (case,
name), replaced whole by a second save, refused for a bad id, name or content."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from documents.storage import DocumentNotFound, InvalidDocumentRef
from store.documents import CaseDocuments, case_documents_table

PDF = b"%PDF-1.4\n% a small stand-in\n%%EOF\n"
APPLICATION_ID = "AY20261127-0001"


async def test_a_saved_document_is_read_back_and_listed_in_the_status_documents_order(
    engine: AsyncEngine,
) -> None:
    documents = CaseDocuments(engine)
    assert await documents.list(APPLICATION_ID) == []
    digest = await documents.save(APPLICATION_ID, "business_licence", PDF)
    await documents.save(APPLICATION_ID, "acceptance_receipt", PDF + b" ")
    assert digest == hashlib.sha256(PDF).hexdigest()
    assert await documents.read(APPLICATION_ID, "business_licence") == PDF
    assert await documents.list(APPLICATION_ID) == ["acceptance_receipt", "business_licence"]
    assert await documents.list("AY20261127-0002") == []
    with pytest.raises(DocumentNotFound):
        await documents.read(APPLICATION_ID, "subsidy_voucher")


async def test_saving_again_replaces_the_document_in_one_row_even_when_saves_race(
    engine: AsyncEngine,
) -> None:
    documents = CaseDocuments(engine)
    await documents.save(APPLICATION_ID, "completion_notice", PDF)
    # A retried activity and its first attempt, still running, write at once: one row, whole.
    versions = [PDF + f"% version {n}\n".encode() for n in range(6)]
    await asyncio.gather(*(documents.save(APPLICATION_ID, "completion_notice", v) for v in versions))
    assert await documents.read(APPLICATION_ID, "completion_notice") in versions
    async with engine.connect() as conn:
        rows = await conn.scalar(select(func.count()).select_from(case_documents_table))
        size, sha = (
            await conn.execute(select(case_documents_table.c.size_bytes, case_documents_table.c.sha256))
        ).one()
    stored = await documents.read(APPLICATION_ID, "completion_notice")
    assert (rows, size, sha) == (1, len(stored), hashlib.sha256(stored).hexdigest())


@pytest.mark.parametrize("application_id", ["../../etc", "AY2026/../../x", "short", "a" * 65, ""])
async def test_a_bad_application_id_is_refused_and_nothing_is_stored(
    engine: AsyncEngine, application_id: str
) -> None:
    documents = CaseDocuments(engine)
    with pytest.raises(InvalidDocumentRef):
        await documents.save(application_id, "acceptance_receipt", PDF)
    with pytest.raises(InvalidDocumentRef):
        await documents.read(application_id, "acceptance_receipt")
    with pytest.raises(InvalidDocumentRef):
        await documents.list(application_id)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(case_documents_table)) == 0


@pytest.mark.parametrize("name", ["../acceptance_receipt", "acceptance_receipt.pdf", "subsidy_statement", ""])
async def test_a_name_that_is_not_a_case_document_is_refused(engine: AsyncEngine, name: str) -> None:
    with pytest.raises(InvalidDocumentRef):
        await CaseDocuments(engine).save(APPLICATION_ID, name, PDF)


async def test_only_pdfs_are_stored(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="not a PDF"):
        await CaseDocuments(engine).save(APPLICATION_ID, "acceptance_receipt", b"<html>")
