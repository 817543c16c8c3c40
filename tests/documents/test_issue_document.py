"""The ``issue_document`` activity tells its two ways to fail apart (``activities/documents.py``): a
service database that does not answer is retried for as long as it takes, a document that cannot be
drawn is tried a few times and then given up (the case notes it and goes on). Real activity
environment, real databases: a PostgreSQL nobody listens on, and the session's real one."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import activities.documents as documents_module
from activities.documents import (
    RENDER_ATTEMPTS,
    RENDER_FAILED,
    STORE_UNAVAILABLE,
    DocumentActivities,
    DocumentRequest,
)
from store.db import create_engine
from store.documents import CaseDocuments
from tests.documents import APPLICATION_ID, receipt


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_drawn_document_is_stored_and_named(engine: AsyncEngine) -> None:
    activities = DocumentActivities(CaseDocuments(engine))
    assert await ActivityEnvironment().run(activities.issue_document, DocumentRequest(data=receipt())) == (
        "acceptance_receipt"
    )
    pdf = await CaseDocuments(engine).read(APPLICATION_ID, "acceptance_receipt")
    assert pdf.startswith(b"%PDF-")


async def test_a_database_that_does_not_answer_is_retried_not_given_up() -> None:
    engine = create_engine(f"postgresql+asyncpg://ods@127.0.0.1:{closed_port()}/ods")
    try:
        activities = DocumentActivities(CaseDocuments(engine))
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, attempt=50)
        with pytest.raises(ApplicationError) as failed:
            await env.run(activities.issue_document, DocumentRequest(data=receipt()))
    finally:
        await engine.dispose()
    assert failed.value.type == STORE_UNAVAILABLE
    assert not failed.value.non_retryable, "even on the 50th attempt"


@pytest.mark.parametrize("attempt", range(1, RENDER_ATTEMPTS + 2))
async def test_a_document_that_cannot_be_drawn_is_given_up_after_its_attempts(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, attempt: int
) -> None:
    def broken_font(_data: object) -> bytes:
        raise KeyError("glyph 0x4e00")  # the kind of fault reportlab's subsetting once raised

    monkeypatch.setattr(documents_module, "render_case_document", broken_font)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    with pytest.raises(ApplicationError) as failed:
        await env.run(
            DocumentActivities(CaseDocuments(engine)).issue_document, DocumentRequest(data=receipt())
        )
    assert failed.value.type == RENDER_FAILED
    assert failed.value.non_retryable == (attempt >= RENDER_ATTEMPTS)
    assert "晨曦" not in str(failed.value), "the case's data stays out of the failure"
