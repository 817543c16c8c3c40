"""What names a case's document, and the folder where releases before the service database kept them.

A case's PDFs live in the service database (``store/documents.py``). Only the documents a case can
have (``documents.models.DOCUMENT_NAMES``, the names in the status document's ``documents``) under a
valid application id are ever stored or looked up, so no key or path built from a request reaches
anything else.

``LegacyDocumentFolder`` reads ``$ODS_DATA_DIR/documents/<application_id>/<name>.pdf``, where an
earlier release wrote them, so the gateway that has that folder still serves a case begun before the
upgrade. Nothing writes there any more.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path

from documents.models import DOCUMENT_NAMES, DocumentName
from domain.identifiers import APPLICATION_ID_RULE, is_application_id

_PDF_MAGIC = b"%PDF-"


class InvalidDocumentRef(ValueError):
    """An application id or document name that the store refuses (never turned into a key or path)."""


class DocumentNotFound(LookupError):
    """The document has not been generated (yet) for that application."""


def check_application_id(application_id: str) -> str:
    if not is_application_id(application_id):
        raise InvalidDocumentRef(APPLICATION_ID_RULE)
    return application_id


def check_document_name(name: str) -> DocumentName:
    for known in DOCUMENT_NAMES:
        if name == known:
            return known
    raise InvalidDocumentRef(f"unknown document {name!r}; documents are {', '.join(DOCUMENT_NAMES)}")


def check_pdf(name: str, application_id: str, pdf: bytes) -> bytes:
    if not pdf.startswith(_PDF_MAGIC):
        raise ValueError(f"{name} for {application_id} is not a PDF (it does not start with %PDF-)")
    return pdf


class LegacyDocumentFolder:
    """The PDFs an earlier release wrote under ``data_dir/documents``; read only."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir) / "documents"

    def path(self, application_id: str, name: str) -> Path:
        """Where the document was kept; refuses bad ids and unknown names."""
        return self.root / check_application_id(application_id) / f"{check_document_name(name)}.pdf"

    def read(self, application_id: str, name: str) -> bytes:
        try:
            return self.path(application_id, name).read_bytes()
        except FileNotFoundError:
            raise DocumentNotFound(f"{name} of {application_id} has not been generated") from None

    def list(self, application_id: str) -> builtins.list[DocumentName]:
        folder = self.root / check_application_id(application_id)
        return [name for name in DOCUMENT_NAMES if (folder / f"{name}.pdf").is_file()]
