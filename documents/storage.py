"""Where a case's PDFs are kept: ``$ODS_DATA_DIR/documents/<application_id>/<name>.pdf``.

Only the documents a case can have (``documents.models.DOCUMENT_NAMES``, the names in the status
document's ``documents``) under a valid application id are ever read or written, so no path built
from a request escapes the folder. A save writes a temporary file beside the target and renames it
over, so a reader sees the old PDF or the new one, never half of one, and a retried activity simply
replaces what it wrote.
"""

from __future__ import annotations

import builtins
import os
import tempfile
from pathlib import Path

from documents.models import DOCUMENT_NAMES, DocumentName
from domain.identifiers import APPLICATION_ID_RULE, is_application_id

_PDF_MAGIC = b"%PDF-"


class InvalidDocumentRef(ValueError):
    """An application id or document name that the store refuses (never turned into a path)."""


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


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); best effort where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class DocumentStore:
    """The generated PDFs of every case, under ``data_dir/documents``."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir) / "documents"

    def _folder(self, application_id: str) -> Path:
        return self.root / check_application_id(application_id)

    def path(self, application_id: str, name: str) -> Path:
        """Where the document is (or would be) kept; refuses bad ids and unknown names."""
        return self._folder(application_id) / f"{check_document_name(name)}.pdf"

    def save(self, application_id: str, name: str, pdf: bytes) -> Path:
        """Store the PDF atomically (temporary file, fsync, rename); replaces an earlier one."""
        target = self.path(application_id, name)
        if not pdf.startswith(_PDF_MAGIC):
            raise ValueError(f"{name} for {application_id} is not a PDF (it does not start with %PDF-)")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pdf)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _sync_folder(target.parent)
        return target

    def exists(self, application_id: str, name: str) -> bool:
        return self.path(application_id, name).is_file()

    def read(self, application_id: str, name: str) -> bytes:
        path = self.path(application_id, name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise DocumentNotFound(f"{name} of {application_id} has not been generated") from None

    def list(self, application_id: str) -> builtins.list[DocumentName]:
        """The documents ready for the case, in ``DOCUMENT_NAMES`` order (the status document's list)."""
        folder = self._folder(application_id)
        return [name for name in DOCUMENT_NAMES if (folder / f"{name}.pdf").is_file()]
