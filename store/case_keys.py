"""Each case's data key, wrapped by the master key, and the record of its erasure (``case_keys``).

One row per case: the case's random 32-byte data key as ``nonce + AES-GCM(master, key)`` and the id
of the ``ODS_CODEC_KEYS`` key that wrapped it (``infra/case_keys.py`` wraps and unwraps; this module
only stores). The row is made the first time the case's payloads are encrypted, by whichever process
gets there first (an insert that ignores a duplicate, then a read: every process ends with the same
key). Erasing a case (``service/erasure.py``) destroys the wrapped key and keeps the row: when, by
whom, why, and the status document without personal data that ``GET /v1/applications/{id}`` answers
from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CheckConstraint, LargeBinary, String, Table, Text, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from domain.actions import OPERATOR_MAX_LENGTH
from store.db import insert_ignoring_duplicates, transaction
from store.schema import AwareDateTime, Base


class CaseKeyRow(Base):
    """The data key of one case, or the record that it was erased."""

    __tablename__ = "case_keys"
    __table_args__ = (
        # A key until erased, none after: an erased key is never written again.
        CheckConstraint("(wrapped_key IS NULL) = (erased_at IS NOT NULL)", name="key_or_erased"),
        CheckConstraint("(erased_at IS NULL) = (erased_by IS NULL)", name="erased_together"),
    )

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The id (in ODS_CODEC_KEYS) of the master key that wrapped it; kept after erasure for the record.
    wrapped_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    erased_by: Mapped[str | None] = mapped_column(String(OPERATOR_MAX_LENGTH))
    erasure_reason: Mapped[str | None] = mapped_column(Text)
    # The status document as it was, without personal data (JSON): what the case answers afterwards.
    erased_status: Mapped[str | None] = mapped_column(Text)


case_keys_table = cast(Table, CaseKeyRow.__table__)


@dataclass(frozen=True)
class CaseKeyRecord:
    application_id: str
    wrapped_key: bytes | None
    wrapped_by: str | None
    created_at: datetime
    erased_at: datetime | None = None
    erased_by: str | None = None
    erasure_reason: str | None = None
    erased_status: str | None = None

    @property
    def erased(self) -> bool:
        return self.erased_at is not None


def _record(row: Any) -> CaseKeyRecord:
    values = dict(row._mapping)
    if values["wrapped_key"] is not None:
        values["wrapped_key"] = bytes(values["wrapped_key"])  # memoryview on some drivers
    return CaseKeyRecord(**values)


class CaseKeyStore:
    """The ``case_keys`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, application_id: str) -> CaseKeyRecord | None:
        query = select(case_keys_table).where(case_keys_table.c.application_id == application_id)
        async with transaction(self._engine) as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else _record(row)

    async def add(
        self, application_id: str, wrapped_key: bytes, wrapped_by: str, at: datetime
    ) -> CaseKeyRecord:
        """The case's row: this key when the case had none, else the one it has (or its erasure)."""
        values = {
            "application_id": application_id,
            "wrapped_key": wrapped_key,
            "wrapped_by": wrapped_by,
            "created_at": at,
        }
        query = select(case_keys_table).where(case_keys_table.c.application_id == application_id)
        async with transaction(self._engine, write=True) as conn:
            await conn.execute(
                insert_ignoring_duplicates(conn, case_keys_table, "application_id").values(**values)
            )
            row = (await conn.execute(query)).one()
        return _record(row)

    async def erase(
        self, application_id: str, *, by: str, reason: str, status: str, at: datetime
    ) -> tuple[CaseKeyRecord, bool]:
        """Destroy the case's key and record the erasure (a row is made for a case that never had a
        key). Answers the row and whether this call erased it (False: it was erased before, and
        the first erasure stands)."""
        t = case_keys_table
        query = select(t).where(t.c.application_id == application_id)
        async with transaction(self._engine, write=True) as conn:
            inserted = await conn.execute(
                insert_ignoring_duplicates(conn, t, "application_id").values(
                    application_id=application_id,
                    wrapped_key=None,
                    wrapped_by=None,
                    created_at=at,
                    erased_at=at,
                    erased_by=by,
                    erasure_reason=reason,
                    erased_status=status,
                )
            )
            done = await conn.execute(
                update(t)
                .where(t.c.application_id == application_id, t.c.erased_at.is_(None))
                .values(
                    wrapped_key=None, erased_at=at, erased_by=by, erasure_reason=reason, erased_status=status
                )
            )
            row = (await conn.execute(query)).one()
        return _record(row), inserted.rowcount == 1 or done.rowcount == 1

    async def erased(self, application_ids: list[str]) -> set[str]:
        """Which of these cases are erased."""
        t = case_keys_table
        if not application_ids:
            return set()
        query = select(t.c.application_id).where(
            t.c.application_id.in_(application_ids), t.c.erased_at.is_not(None)
        )
        async with transaction(self._engine) as conn:
            return set((await conn.execute(query)).scalars())
