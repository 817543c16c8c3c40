"""The document store: atomic saves under the data dir, and no path ever built from a bad id or name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from documents.storage import DocumentNotFound, DocumentStore, InvalidDocumentRef

PDF = b"%PDF-1.4\n% a small stand-in\n%%EOF\n"
APPLICATION_ID = "AY20261127-0001"


def test_a_saved_document_is_kept_under_the_data_dir_and_listed(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path)
    assert store.list(APPLICATION_ID) == []
    path = store.save(APPLICATION_ID, "business_licence", PDF)
    store.save(APPLICATION_ID, "acceptance_receipt", PDF + b" ")
    assert path == tmp_path / "documents" / APPLICATION_ID / "business_licence.pdf"
    assert store.path(APPLICATION_ID, "business_licence") == path
    assert store.read(APPLICATION_ID, "business_licence") == PDF
    assert store.exists(APPLICATION_ID, "acceptance_receipt")
    # In the status document's order (documents/storage.py), whatever the order of saving.
    assert store.list(APPLICATION_ID) == ["acceptance_receipt", "business_licence"]
    assert store.list("AY20261127-0002") == []


def test_saving_again_replaces_the_document_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path)
    store.save(APPLICATION_ID, "completion_notice", PDF)
    store.save(APPLICATION_ID, "completion_notice", PDF + b"% second\n")
    assert store.read(APPLICATION_ID, "completion_notice").endswith(b"% second\n")
    assert sorted(p.name for p in (tmp_path / "documents" / APPLICATION_ID).iterdir()) == [
        "completion_notice.pdf"
    ]


def test_a_failed_save_keeps_the_previous_document_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DocumentStore(tmp_path)
    store.save(APPLICATION_ID, "waybill_label", PDF)

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError):
        store.save(APPLICATION_ID, "waybill_label", PDF + b"% newer\n")
    monkeypatch.undo()
    assert store.read(APPLICATION_ID, "waybill_label") == PDF
    assert [p.name for p in (tmp_path / "documents" / APPLICATION_ID).iterdir()] == ["waybill_label.pdf"]


def test_a_document_not_generated_yet_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(DocumentNotFound):
        DocumentStore(tmp_path).read(APPLICATION_ID, "subsidy_voucher")


@pytest.mark.parametrize(
    "application_id",
    [
        "../../etc",
        "..",
        "AY2026/../../x",
        "AY20261127-0001/..",
        "/etc/passwd",
        "short",
        "a" * 65,
        "AY 2026",
        "",
    ],
)
def test_an_application_id_that_could_leave_the_folder_is_refused(
    tmp_path: Path, application_id: str
) -> None:
    store = DocumentStore(tmp_path)
    with pytest.raises(InvalidDocumentRef):
        store.path(application_id, "acceptance_receipt")
    with pytest.raises(InvalidDocumentRef):
        store.save(application_id, "acceptance_receipt", PDF)
    with pytest.raises(InvalidDocumentRef):
        store.list(application_id)
    assert not any(tmp_path.rglob("*")), "nothing is written for a refused id"


@pytest.mark.parametrize(
    "name",
    [
        "../acceptance_receipt",
        "acceptance_receipt.pdf",
        "passwd",
        "../../etc/passwd",
        "subsidy_statement",
        "",
    ],
)
def test_a_name_that_is_not_a_case_document_is_refused(tmp_path: Path, name: str) -> None:
    store = DocumentStore(tmp_path)
    with pytest.raises(InvalidDocumentRef):
        store.path(APPLICATION_ID, name)
    with pytest.raises(InvalidDocumentRef):
        store.read(APPLICATION_ID, name)
    with pytest.raises(InvalidDocumentRef):
        store.save(APPLICATION_ID, name, PDF)


def test_only_pdfs_are_stored(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a PDF"):
        DocumentStore(tmp_path).save(APPLICATION_ID, "acceptance_receipt", b"<html>")
