"""What names a document (no key or path is ever made from a bad id or name), and the read-only
folder where an earlier release kept them."""

from __future__ import annotations

from pathlib import Path

import pytest

from documents.storage import DocumentNotFound, InvalidDocumentRef, LegacyDocumentFolder, check_pdf

PDF = b"%PDF-1.4\n% a small stand-in\n%%EOF\n"
APPLICATION_ID = "AY20261127-0001"


def test_a_document_an_earlier_release_wrote_is_read_and_listed(tmp_path: Path) -> None:
    folder = tmp_path / "documents" / APPLICATION_ID
    folder.mkdir(parents=True)
    (folder / "business_licence.pdf").write_bytes(PDF)
    (folder / "acceptance_receipt.pdf").write_bytes(PDF + b" ")
    (folder / ".business_licence.x.tmp").write_bytes(b"half")  # a save the old release never finished
    legacy = LegacyDocumentFolder(tmp_path)
    assert legacy.read(APPLICATION_ID, "business_licence") == PDF
    # In the status document's order, whatever the files' order.
    assert legacy.list(APPLICATION_ID) == ["acceptance_receipt", "business_licence"]
    assert legacy.list("AY20261127-0002") == []
    with pytest.raises(DocumentNotFound):
        legacy.read(APPLICATION_ID, "subsidy_voucher")


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
    legacy = LegacyDocumentFolder(tmp_path)
    with pytest.raises(InvalidDocumentRef):
        legacy.path(application_id, "acceptance_receipt")
    with pytest.raises(InvalidDocumentRef):
        legacy.list(application_id)


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
    with pytest.raises(InvalidDocumentRef):
        LegacyDocumentFolder(tmp_path).read(APPLICATION_ID, name)


def test_only_pdfs_pass() -> None:
    assert check_pdf("acceptance_receipt", APPLICATION_ID, PDF) == PDF
    with pytest.raises(ValueError, match="not a PDF"):
        check_pdf("acceptance_receipt", APPLICATION_ID, b"<html>")
