"""The audit log in the service database (``domain/audit.py``): append-only, one hash chain.

Every gateway appends to the same chain: an append reads the last entry and writes the next one in
one write transaction that holds the audit log's lock (``store.db.serialize_writers``: SQLite's
write lock, a transaction-scoped advisory lock on PostgreSQL), so two gateways never both chain to
the same entry. The tables refuse UPDATE and DELETE (and on PostgreSQL TRUNCATE) by triggers
(``store/migrations/versions/0005_audit_log.py``); the chain shows anything done around them
(``AuditLog.verify``). ``audit_log_cases`` indexes the entries by case for ``?case=``; the chain
covers the ``cases`` of each entry itself.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Table, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from domain.audit import (
    AUDIT_ACTIONS,
    AUDIT_ROLES,
    GENESIS_HASH,
    AuditAction,
    AuditEntry,
    AuditRole,
    entry_id,
)
from store.db import serialize_writers, transaction
from store.schema import AwareDateTime, Base

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_BATCH = 1000


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AuditRow(Base):
    """One audit entry (``domain.audit.AuditEntry``); ``seq`` is its place in the chain."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(_in("action", AUDIT_ACTIONS), name="action"),
        CheckConstraint(_in("role", AUDIT_ROLES), name="role"),
        CheckConstraint("payloads >= 0", name="payloads_not_negative"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index(None, "at"),
    )

    # Given by the append (the last one's + 1, under the lock), never by the database.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    id: Mapped[str] = mapped_column(String(20), unique=True)
    at: Mapped[datetime] = mapped_column(AwareDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    # The application ids, as a JSON list (what the hash covers); audit_log_cases indexes them.
    cases: Mapped[str] = mapped_column(Text)
    payloads: Mapped[int] = mapped_column(Integer)
    client: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(String(200))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCaseRow(Base):
    """Which entries concern a case: ``GET /v1/audit?case=`` without reading every entry."""

    __tablename__ = "audit_log_cases"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)


audit_log_table = cast(Table, AuditRow.__table__)
audit_log_cases_table = cast(Table, AuditCaseRow.__table__)


@dataclass(frozen=True)
class ChainCheck:
    """What ``AuditLog.verify`` found: how many entries it checked, and the first broken one."""

    checked: int
    broken: str | None = None
    """The id of the first entry that breaks the chain; None when it holds."""
    problem: str | None = None

    @property
    def holds(self) -> bool:
        return self.broken is None


def _entry(row: object) -> AuditEntry:
    values = dict(row._mapping)  # type: ignore[attr-defined]
    values.pop("seq")
    values["cases"] = json.loads(values["cases"])
    return AuditEntry.model_validate(values)


class AuditLog:
    """The audit log: ``append`` one entry, read pages, export, verify the chain."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def append(
        self,
        *,
        actor: str,
        role: AuditRole,
        action: AuditAction,
        cases: Sequence[str] = (),
        payloads: int = 0,
        client: str = "",
        user_agent: str = "",
        detail: str = "",
    ) -> AuditEntry:
        """Append one entry at the end of the chain (values as ``AuditEntry`` bounds them; a
        ``ValidationError`` otherwise, and nothing written)."""
        t = audit_log_table
        async with transaction(self._engine, write=True) as conn:
            await serialize_writers(conn, "audit_log")
            last = (await conn.execute(select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1))).first()
            seq = 1 if last is None else last.seq + 1
            entry = AuditEntry(
                id=entry_id(seq),
                at=datetime.now(UTC),
                actor=actor,
                role=role,
                action=action,
                cases=list(cases),
                payloads=payloads,
                client=client,
                user_agent=user_agent,
                detail=detail,
                prev_hash=GENESIS_HASH if last is None else last.hash,
                hash=GENESIS_HASH,
            )
            entry = entry.model_copy(update={"hash": entry.computed_hash()})
            row = entry.model_dump(exclude={"cases"}) | {"seq": seq, "cases": json.dumps(entry.cases)}
            await conn.execute(insert(t).values(**row))
            if entry.cases:
                await conn.execute(
                    insert(audit_log_cases_table),
                    [{"application_id": case, "seq": seq} for case in dict.fromkeys(entry.cases)],
                )
        return entry

    async def page(
        self,
        *,
        case: str | None = None,
        actor: str | None = None,
        action: AuditAction | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> tuple[list[AuditEntry], str | None]:
        """Entries oldest first, after the entry ``after`` (an entry id), at ``since`` or later and
        before ``until``; and the cursor of the next page (None on the last)."""
        t = audit_log_table
        query = select(t).order_by(t.c.seq).limit(min(max(limit, 1), MAX_PAGE_SIZE) + 1)
        if case is not None:
            c = audit_log_cases_table
            query = query.where(t.c.seq.in_(select(c.c.seq).where(c.c.application_id == case)))
        if actor is not None:
            query = query.where(t.c.actor == actor)
        if action is not None:
            query = query.where(t.c.action == action)
        if since is not None:
            query = query.where(t.c.at >= since)
        if until is not None:
            query = query.where(t.c.at < until)
        if after is not None:
            query = query.where(t.c.seq > int(after))
        async with transaction(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        entries = [_entry(row) for row in rows]
        if len(entries) > limit:
            entries = entries[:limit]
            return entries, entries[-1].id
        return entries, None

    async def entries(self, *, since: datetime | None = None) -> AsyncIterator[AuditEntry]:
        """Every entry (recorded at ``since`` or later), oldest first, read a batch at a time."""
        after: str | None = None
        while True:
            batch, after = await self.page(since=since, after=after, limit=_BATCH)
            for entry in batch:
                yield entry
            if after is None:
                return

    async def verify(self) -> ChainCheck:
        """Check the whole chain: each entry's hash is that of its contents, its ``prev_hash`` that
        of the entry before it, and no entry is missing (ids 1, 2, 3, …)."""
        t = audit_log_table
        checked, prev_hash = 0, GENESIS_HASH
        while True:
            query = select(t).where(t.c.seq > checked).order_by(t.c.seq).limit(_BATCH)
            async with transaction(self._engine) as conn:
                rows = (await conn.execute(query)).all()
            if not rows:
                return ChainCheck(checked)
            for row in rows:
                expected = entry_id(checked + 1)
                if row.seq != checked + 1:
                    return ChainCheck(
                        checked, entry_id(row.seq), f"entries from {expected} are missing before it"
                    )
                try:
                    entry = _entry(row)
                except ValueError as err:  # pydantic's ValidationError and json's errors are ValueErrors
                    return ChainCheck(
                        checked, expected, f"it cannot be read as an entry ({type(err).__name__})"
                    )
                if entry.id != expected:
                    return ChainCheck(checked, expected, f"its id was changed to {entry.id[:20]!r}")
                if entry.prev_hash != prev_hash:
                    return ChainCheck(
                        checked,
                        expected,
                        "its prev_hash is not the hash of the entry before it (that one was changed, "
                        "or replaced)",
                    )
                if entry.computed_hash() != entry.hash:
                    return ChainCheck(
                        checked, expected, "it was changed: its hash does not match its contents"
                    )
                checked, prev_hash = checked + 1, entry.hash
